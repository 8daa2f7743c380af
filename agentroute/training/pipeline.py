"""``train_pack``: the stages of ``agentroute train``, each cached under ``OUT/work``.

1. teacher replies of the base model for planning and reasoning steps (distillation targets; tool
   calls and final answers train on their gold replies);
2. the program library (Block Influence order of the base model, per step type, plus searched
   skip programs from ``--programs``); the cached adapter must have trained under the same one;
3. the LoRA adapter (``adapter``), resumable from its last checkpoint;
4. the router (``router_fit``): features and safety labels on train steps the adapter never saw,
   computed with the adapter loaded exactly as inference loads it;
5. the no-tool-fits head (``decline_fit``), on data with no-tool-fits rows: the last prompt
   token's hidden state after ``decline_layer`` layers on held-out tool-call steps, with the adapter
   applied as for the router;
6. ``pack.json`` with the fingerprint, policy, library, data version, command, seed and metrics;
7. the reply store (``replies``): full-depth replies of the pack as users load it, on free-text
   train steps, which lossless mode drafts from; ``pack.json`` then names it.
"""

from __future__ import annotations

import json
import random
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from agentroute.evaluation.steps import EvalStep
from agentroute.model.calibration import layer_importance
from agentroute.pack import (
    ADAPTER_DIR,
    DECLINE_FILE,
    PACK_FORMAT,
    ROUTER_FILE,
    model_fingerprint,
    write_manifest,
)
from agentroute.steps.records import StepType
from agentroute.steps.router_net import safety_columns
from agentroute.steps.tools import check_tool_style
from agentroute.training.adapter import AdapterConfig, adapter_seconds, check_adapter_config, train_adapter
from agentroute.training.decline_fit import MIN_ROWS_PER_KIND, decline_layer, fit_decline_head
from agentroute.training.decline_rows import decline_rows, foreign_rows, question_rows
from agentroute.training.examples import full_prompt_example, has_gold, tool_call_example
from agentroute.training.library import build_library, check_cached_library
from agentroute.training.replies import build_reply_store
from agentroute.training.router_fit import fit_router
from agentroute.training.router_rows import router_rows, steps_key
from agentroute.training.run_state import check_run, settings_before_recording
from agentroute.training.teacher import teacher_replies
from agentroute.training.train_data import (
    QUESTION_CALLS_KEY,
    ROUTED_TYPES,
    data_version,
    length_matched_steps,
    question_call_steps,
    sha256,
    split_steps,
    train_steps,
    type_files_sha256,
)

# Planning and reasoning keep full depth: no library program at 80-90% of the layers reproduced
# full depth on a single router row of theirs (safe rate 0.0, for this pack and the previous one),
# and at 0.9 the previous pack's routed replies kept token agreements of 0.07 and 0.13 on the test
# split. Final answers keep 0.9 (safe on 75-81% of their rows, test agreement 0.83). Users who
# accept that trade lower them.
# Tool calls decode at full depth: drafting them did not pay on either CPU measured (dev-split
# medians 0.97x-1.01x of full depth's decode, single calls down to 0.75x; even an oracle draft,
# the reply itself, reached only 1.42x-1.57x under int4 verification: docs/speed.md), since the
# grammar already writes about two thirds of a call's tokens in full depth's own passes. Their
# library programs (45-60% of the layers) stay in the pack for policies that ask for them.
DEFAULT_BUDGETS = {"tool_call": 1.0, "planning": 1.0, "reasoning": 1.0, "final_answer": 0.9}
# Lossless drafts of free text run full depth on int8 weights: on a CPU they agree with full depth
# more often than a skipping draft does and cost less (benchmarks/lossless.py).
DEFAULT_DRAFT_BUDGETS = {"planning": 1.0, "reasoning": 1.0, "final_answer": 1.0}
# Free-text types decode losslessly by default (tool calls at full depth, above): drafts are
# verified by full depth, so a step's reply is the full-depth reply (in the float32 design, int8
# drafts decoded test tool calls 1.11x-1.36x as fast over two runs, free text 1.0x-1.24x). Lossy
# routing at budgets of 0.6 for tool calls and 0.9 for final answers changed 71% of test tool
# calls (29% equal to full depth at 58% of the layers) and miscopied numbers in final answers (the
# demo: 0/5 routed, 3/5 at full depth and with these modes); agents act on exact arguments, so
# lossy decoding is opt-in (a policy without these modes).
DEFAULT_MODES = {t.value: "lossless" for t in ROUTED_TYPES if t != StepType.TOOL_CALL}

Stage = Callable[[str, int, int], None]  # progress(label, done, total)


@dataclass
class TrainConfig:
    seed: int = 0
    # Tool-call steps for the adapter (test tools at full depth: 28% correct after 480, 30% after
    # 600, 38% after 820 on data v2, 33% after 820 on v3). Data v4 (`--train 6000`) holds ~3300
    # tool-call steps with gold replies (calls, or text where no tool fits); 1000 with the final
    # answers and distilled steps train in under an hour on two CPU cores (the v4 pack's budget).
    tool_examples: int = 1000
    answer_examples: int = 150  # final-answer steps with gold answers, for the adapter
    # Tool-call steps of the data's question-call pairs, for the adapter too: the split asks for
    # every call with an instruction, and the shipped pack (its router fitted on the pairs, its
    # adapter on the split alone) still calls `calculate` for "How many kilometres is 26.2 miles?"
    # beside a unit converter and for a handbook question beside a search tool. 0 until a whole
    # pack trained with them (e.g. 200) is measured.
    question_call_examples: int = 0
    # Shares of the adapter's tool-call examples by the steps' category ({"parallel": 0.4}); the
    # rest come from the other categories in the split's own mix. None: the split's mix (parallel
    # 27% of tool calls in data v4, a third of those over two different tools; on dev, 20% of
    # parallel steps right and none over two tools, after 1000 examples). Not yet measured.
    tool_mix: dict[str, float] | None = None
    teacher_examples: int = 32  # per distilled step type (planning, reasoning), for the adapter
    router_tool_steps: int = 120  # held-out tool-call steps for router safety labels
    router_teacher_steps: int = 16  # held-out steps per free-text type for safety labels (final answers too)
    type_steps: int = 160  # steps per type for the step-type head
    teacher_tokens: int = 48
    # Tools besides the expected ones in a training prompt (the prompt dominates a CPU's training
    # cost); v4 steps offer 4-12, near misses first, and a model must learn to choose among them.
    max_distractors: int = 3
    router_layer: int = 4
    # Held-out tool-call steps (after the adapter's and the router's) for the no-tool-fits head;
    # the dev-split probe behind ``DECLINE_L2`` was fitted on 1500 (~300 with no tool fitting).
    decline_steps: int = 1200
    decline_layer: int | None = None  # None: two thirds of the model's depth (``decline_fit.decline_layer``)
    # The head's threshold: at most this share of the steps whose tools fit may decline (out of
    # fold). Scores run higher outside the data's catalogues: over the 14 hand-written requests of
    # benchmarks/data/decline_ood.jsonl that a tool fits, 2% (threshold 0.79) declined 7, 1% (0.86)
    # 3 and 0.5% (0.90) 2, while 10, 10 and 9 of the 10 that no tool fits declined; in the data
    # (out of fold) 71%, 61% and 51% of no-tool-fits steps decline. A wrong decline costs more.
    decline_false_rate: float = 0.005
    # Rows of a request whose tools fit read beside another step's unrelated tools, as "no tool fits"
    # (``decline_rows.foreign_offers``): most of the data's no-tool-fits rows offer near misses.
    decline_foreign_rows: int = 300
    # Free-text train steps per type (planning, reasoning, final answers) whose full-depth replies
    # form the pack's reply store. On 60 dev steps (simulated), a store of 30 per type decoded
    # 1.30x as fast as full depth over all, 60 per type 1.33x (prompt lookup alone 1.17x); measured
    # on 24 dev steps, 200 per type decoded 1.40x against 1.32x for 100 (docs/speed.md).
    reply_steps: int = 200
    reply_tokens: int = 96
    programs: str | None = None  # programs.json from `agentroute search`: joins the pack's library
    # How prompts write tools (``steps.tools.TOOL_STYLES``); the pack records it and is prompted so.
    # Signature lines: a whole pack trained on them (data v4, seed 0) decoded dev tool calls as well
    # as one trained on JSON lines (33% against 35% of 110, CE 0.189 against 0.18) in 1.46x less
    # adapter time, since prompts are 1.6x shorter (docs/route-packs.md).
    tool_style: str = "signature"
    # Declared dates and times trained as the user said them ("next Friday", "4:00 pm") and resolved
    # after decoding (``steps.said_values``), instead of computed by the model. Data v4, 1214
    # examples, seed 0: 45% of the 110 dev tool calls right at full depth, against 35% for the
    # shipped pack (JSON tool lines) and 33% for signature lines alone (docs/route-packs.md).
    said_values: bool = True
    adapter: AdapterConfig = field(default_factory=AdapterConfig)


def train_pack(
    model_name: str,
    data_dir: Path,
    out: Path,
    config: TrainConfig,
    command: str,
    progress: Stage,
    resume: bool = False,
) -> dict:
    """Train a pack into ``out`` (stages cached in ``out/work``); ``resume`` continues a run that
    ``out/work`` holds, which must have the same model, data and settings (``run_state``)."""
    from agentroute.loading import load

    began = time.perf_counter()
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    steps = train_steps(data_dir)
    split = split_steps(steps, config)
    split["question_calls"] = question_call_steps(data_dir)
    split["type"] += length_matched_steps(data_dir) + split["question_calls"]
    # Adapters train on float32 weights (bf16 runs under accelerate's autocast with --mixed-precision)
    # and on plain modules: packed decode kernels have no backward.
    model = load(model_name, dtype="float32", kernels="plain", pack=None)
    model.tool_style = check_tool_style(config.tool_style)
    model.said_values = config.said_values
    check_adapter_config(config.adapter, model.n_layers)  # bad adapter settings fail before any work
    fingerprint = model_fingerprint(model)
    if resume:
        for name, value in settings_before_recording(work).items():
            setattr(config, name, value)
    settings = {k: v for k, v in asdict(config).items() if k != "programs"}  # programs: the library check
    # Compiling changes how the adapter's steps run, not what they compute: a run may resume either way.
    settings["adapter"] = {k: v for k, v in settings["adapter"].items() if k != "compile"}
    # The train file's hash even for data without a manifest: the pack records it, `--store-only` checks it.
    version = {**data_version(data_dir), "train_sha256": sha256(data_dir / "train.jsonl")}
    data = {key: value for key, value in version.items() if key != "dir"}
    # The step-type head's extra files are recorded but not part of the run's identity: its type
    # rows are recomputed when their steps change. Question-call pairs that the adapter trains on
    # are (None: no file), so a resumed run cannot train on other ones.
    version.update(type_files_sha256(data_dir))
    if config.question_call_examples:
        data[QUESTION_CALLS_KEY] = version.get(QUESTION_CALLS_KEY)
    check_run(work, {"model": fingerprint, "data": data, "config": settings}, resume)
    # The library first: a programs file that does not fit fails before hours of training.
    protected = {0, model.n_layers - 1}
    searched = None
    if config.programs is not None:
        from agentroute.program_library import load_library

        searched = load_library(model, config.programs).skip_programs()
    library = build_library(layer_importance(model), protected, searched=searched)
    check_cached_library(work, library)

    free_text = [s for s in split["teacher_train"] + split["teacher_router"] if not has_gold(s)]
    teacher = teacher_replies(
        model, free_text, work / "teacher.jsonl", config.teacher_tokens, lambda d, t: progress("teacher replies", d, t)
    )

    rng = random.Random(config.seed)
    examples = [tool_call_example(model, s, rng, config.max_distractors) for s in split["tool_train"]]
    examples += [full_prompt_example(model, s, teacher) for s in split["teacher_train"]]
    asked = [s for s in split["question_calls"] if s.step_type == StepType.TOOL_CALL]
    examples += [
        tool_call_example(model, s, rng, config.max_distractors) for s in asked[: config.question_call_examples]
    ]
    adapter_began = time.perf_counter()
    peft_model = train_adapter(
        model,
        examples,
        library,
        config.adapter,
        work,
        config.seed,
        lambda d, t, _loss: progress("adapter (LoRA)", d, t),
    )
    adapter_run_s = time.perf_counter() - adapter_began
    # Kept with the checkpoint, so runs stopped mid-stage count too (a sum over the runs that
    # finished the stage would drop them).
    adapter_s = adapter_seconds(work)
    _save_adapter(peft_model, out / ADAPTER_DIR)

    # Router rows with the adapter applied as inference applies it (merged, reloaded from disk).
    from agentroute.pack import apply_adapter

    model = load(model_name, dtype="float32", kernels="plain", pack=None)
    model.tool_style, model.said_values = config.tool_style, config.said_values
    apply_adapter(model, out / ADAPTER_DIR)
    rows, label_stats = router_rows(model, split, teacher, library, ROUTED_TYPES, config.router_layer, work, progress)
    hidden = model.hf_model.config.hidden_size
    _, n_programs = safety_columns(library, ROUTED_TYPES)
    net, fit_stats = fit_router(hidden, ROUTED_TYPES, n_programs, rows["type"], rows["safe"], config.seed)
    net.save(out / ROUTER_FILE)
    decline, decline_stats = _decline_head(
        model, split["tool_decline"], split["question_calls"], config, work, out, progress
    )

    log = _read_log(work / "train_log.jsonl")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    other = time.perf_counter() - began - adapter_run_s  # every stage but the adapter's, this run
    totals = _add_run(work, other_seconds=other, peak_rss_mb=peak_mb, runs=1)
    manifest = {
        "format": PACK_FORMAT,
        "model": fingerprint,
        "tool_style": config.tool_style,
        "said_values": config.said_values,
        "policy": {
            "budgets": DEFAULT_BUDGETS,
            "draft_budgets": DEFAULT_DRAFT_BUDGETS,
            "modes": DEFAULT_MODES,
            "default_budget": 1.0,
            "protected_layers": [0, -1],
        },
        "library": {
            t.value: [{"budget": round(p.cost, 4), "program": str(p)} for p in library[t]] for t in ROUTED_TYPES
        },
        "router": {"layer": config.router_layer, "step_types": [t.value for t in ROUTED_TYPES], "threshold": 0.5},
        **({"decline": decline} if decline is not None else {}),
        "data": version,
        "training": {
            "command": command,
            "seed": config.seed,
            "config": asdict(config),
            "examples": len(examples),
            "adapter_seconds": adapter_s,
            "total_seconds": round(adapter_s + totals["other_seconds"], 1),
            "peak_rss_mb": totals["peak_rss_mb"],
            "runs": totals["runs"],
            "device": "cuda" if torch.cuda.is_available() else "cpu",
            "torch": torch.__version__,
        },
        "metrics": {**log, **fit_stats, **label_stats, **decline_stats},
    }
    write_manifest(out, manifest)
    replies = build_reply_store(
        model_name, out, split["replies"], config.reply_tokens, work, lambda d, t: progress("reply store", d, t)
    )
    if replies is not None:
        manifest["replies"] = replies
        write_manifest(out, manifest)
    return manifest


def _add_run(work: Path, **values: float) -> dict[str, float]:
    """Accumulate one run's ``values`` in ``work/timings.json`` and return the totals over all runs.

    A resumed run only spends the time of the stages it redoes; summing keeps the reported training
    time that of the whole pack, not of its last run. Peak memory is the maximum over the runs.
    """
    path = work / "timings.json"
    totals = json.loads(path.read_text()) if path.is_file() else {}
    for key, value in values.items():
        total = max(totals.get(key, 0.0), value) if key == "peak_rss_mb" else totals.get(key, 0.0) + value
        totals[key] = int(total) if key == "runs" else round(total, 1)
    path.write_text(json.dumps(totals, indent=2) + "\n")
    return totals


def _save_adapter(peft_model, path: Path) -> None:
    """Save the LoRA weights in bfloat16: half the size, and merging rounds far below that anyway."""
    from peft import get_peft_model_state_dict
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    peft_model.peft_config["default"].save_pretrained(str(path))
    # peft writes target_modules from a set, in hash order: sort it so a rerun writes the same file.
    config_file = path / "adapter_config.json"
    config = json.loads(config_file.read_text())
    if isinstance(config.get("target_modules"), list):
        config["target_modules"] = sorted(config["target_modules"])
        config_file.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    state = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in get_peft_model_state_dict(peft_model).items()}
    save_file(state, str(path / "adapter_model.safetensors"), metadata={"format": "pt"})


def _decline_head(
    model, steps: list[EvalStep], asked: list[EvalStep], config: TrainConfig, work: Path, out: Path, progress: Stage
):
    """The no-tool-fits head's manifest entry and metrics, its weights written to ``out``; (None, {})
    when the data has too few steps of either kind (data before v4 has no no-tool-fits rows)."""
    labels = [s.expected == [] for s in steps]
    (out / DECLINE_FILE).unlink(missing_ok=True)
    if min(sum(labels), len(labels) - sum(labels)) < MIN_ROWS_PER_KIND:  # checked before the dear rows
        return None, {}
    layer = config.decline_layer or decline_layer(model.n_layers)
    rows = decline_rows(model, steps, layer, config.seed, steps_key(steps), work, progress)
    foreign = foreign_rows(
        model, steps, config.decline_foreign_rows, layer, config.seed, steps_key(steps), work, progress
    )
    # A question an offered tool answers: a tool fits (the pairs' tool-call steps).
    questions = [s for s in asked if s.step_type == StepType.TOOL_CALL and s.expected]
    asking = question_rows(model, questions, layer, config.seed, steps_key(questions), work, progress)
    hidden_size = model.hf_model.config.hidden_size
    labels += [True] * len(foreign) + [False] * len(asking)
    head, threshold, stats = fit_decline_head(
        hidden_size, torch.cat([rows, foreign, asking]), torch.tensor(labels), config.seed, config.decline_false_rate
    )
    stats.update(decline_foreign_rows=len(foreign), decline_question_rows=len(asking))
    head.save(out / DECLINE_FILE)
    return {"layer": layer, "threshold": round(threshold, 6)}, stats


def _read_log(path: Path) -> dict:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []
    if not rows:
        return {}
    tail = rows[-50:]
    mean = {k: round(sum(r[k] for r in tail) / len(tail), 4) for k in ("ce_full", "ce_program", "kl")}
    # Rows before selective backprop existed carry no "backward" key: they were all backpropagated.
    skipped = sum(1 for r in rows if not r.get("backward", True))
    return {"train_loss_last50": mean, "train_log_rows": len(rows), "train_backward_skipped": skipped}


def command_line() -> str:
    return "agentroute " + " ".join(sys.argv[1:])
