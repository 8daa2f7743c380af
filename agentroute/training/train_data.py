"""The train split as ``agentroute train`` reads it: the steps (a bad line stops training), the
data version a pack records, and the seeded, disjoint subsets each stage trains or fits on."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from agentroute.evaluation.steps import EvalError, EvalStep, load_steps
from agentroute.steps.records import StepType
from agentroute.training.examples import has_gold

ROUTED_TYPES = [StepType.TOOL_CALL, StepType.PLANNING, StepType.REASONING, StepType.FINAL_ANSWER]
LENGTH_MATCHED_FILE = "train_length_matched.jsonl"
QUESTION_CALLS_FILE = "train_question_calls.jsonl"
QUESTION_CALLS_KEY = "train_question_calls_sha256"  # its hash in a pack's data record


def train_steps(data_dir: Path) -> list[EvalStep]:
    """The steps of ``DATA/train.jsonl`` (``agentroute data build``)."""
    return read_steps(data_dir / "train.jsonl")


def read_steps(path: Path) -> list[EvalStep]:
    """Every step of a training file; a bad line stops training (unlike eval, which skips it)."""
    steps, problems = load_steps(path)
    if problems:
        raise EvalError(f"{path}: {len(problems)} bad line(s), first: {problems[0]}")
    return steps


def split_steps(steps: list[EvalStep], config) -> dict[str, list[EvalStep]]:
    """Disjoint, seeded subsets: adapter steps, router-label steps, step-type steps (the counts
    from ``config``, a ``pipeline.TrainConfig``: not imported here, which would be a cycle)."""
    rng = random.Random(config.seed)
    by_type: dict[StepType, list[EvalStep]] = {t: [] for t in ROUTED_TYPES}
    for step in steps:
        if step.step_type in by_type:
            by_type[step.step_type].append(step)
    for group in by_type.values():
        rng.shuffle(group)
    tools = [s for s in by_type[StepType.TOOL_CALL] if has_gold(s)]
    need = config.tool_examples + config.router_tool_steps
    if len(tools) < need:
        raise EvalError(f"train data has {len(tools)} tool-call steps with gold replies; training needs {need}")
    if config.tool_mix:
        tools = mixed_first(tools, config.tool_examples, config.tool_mix)
    split = {
        "tool_train": tools[: config.tool_examples],
        "tool_router": tools[config.tool_examples : need],
        # Steps that may decline (no tool_choice demanding a call) for the no-tool-fits head.
        "tool_decline": [s for s in tools[need:] if s.tool_choice is None][: config.decline_steps],
        "teacher_train": [],
        "teacher_router": [],
    }
    for step_type in ROUTED_TYPES[1:]:
        group = by_type[step_type]
        # Final answers with gold texts train like tool calls, on more examples; the rest are distilled.
        gold = step_type == StepType.FINAL_ANSWER and all(has_gold(s) for s in group)
        count = config.answer_examples if gold else config.teacher_examples
        split["teacher_train"] += group[:count]
        split["teacher_router"] += group[count : count + config.router_teacher_steps]
    split["type"] = [s for t in ROUTED_TYPES for s in by_type[t][-config.type_steps :]]
    # Replies for the reply store: any free-text steps (the store holds phrasing, not answers).
    split["replies"] = [s for t in ROUTED_TYPES[1:] for s in by_type[t][: config.reply_steps]]
    return split


def mixed_first(steps: list[EvalStep], count: int, mix: dict[str, float]) -> list[EvalStep]:
    """``steps`` reordered so that the first ``count`` hold each category of ``mix`` at its share
    (rounded), filled up from the other categories; within each part the order stays ``steps``'s.

    Only the adapter's examples change: the steps after them (the router's, the no-tool-fits
    head's) are the rest in the split's order, so they keep its mix as far as the rows allow."""
    if sum(mix.values()) > 1 + 1e-9 or any(not 0 < share <= 1 for share in mix.values()):
        raise EvalError(f"tool mix {mix}: each share must be above 0 and at most 1, together at most 1")
    present = {s.category for s in steps}
    unknown = sorted(set(mix) - present)
    if unknown:
        raise EvalError(
            f"tool mix names {', '.join(unknown)}, which no tool-call step of the data has; "
            f"its categories: {', '.join(sorted(c for c in present if c))}"
        )
    chosen: set[int] = set()
    for category, share in mix.items():
        want = round(share * count)
        rows = [i for i, s in enumerate(steps) if s.category == category][:want]
        if len(rows) < want:
            raise EvalError(
                f"tool mix {category}={share} asks for {want} of {count} examples; the data has {len(rows)} "
                "such tool-call steps with gold replies (lower the share or --tool-examples, or build more data)"
            )
        chosen.update(rows)
    rest = [i for i, s in enumerate(steps) if s.category not in mix]
    if len(rest) < count - len(chosen):
        # Filling up from the mix's own categories would silently raise their shares.
        raise EvalError(
            f"tool mix {mix} leaves {count - len(chosen)} of {count} examples to the other categories; "
            f"the data has {len(rest)} such tool-call steps with gold replies "
            "(raise the shares, lower --tool-examples, or build more data)"
        )
    chosen.update(rest[: count - len(chosen)])
    return [steps[i] for i in sorted(chosen)] + [s for i, s in enumerate(steps) if i not in chosen]


def length_matched_steps(data_dir: Path) -> list[EvalStep]:
    """Tool-call/planning pairs of equal prompt length and the same tools from the train domains
    (``agentroute data build --train-length-matched``), for the step-type head; none if absent.

    The train split's planning steps offer fewer tools and shorter prompts than its tool calls, so
    a head fitted on them alone also learns length: it scored 93% on dev-domain pairs like these,
    99% with them (``TYPE_L2`` on in both: 97% and 99.5%)."""
    path = data_dir / LENGTH_MATCHED_FILE
    return read_steps(path) if path.is_file() else []


def question_call_steps(data_dir: Path) -> list[EvalStep]:
    """Pairs of a question an offered tool answers (a tool call) and one none of the same tools
    answers (reasoning), for the step-type head (``agentroute data build --train-question-calls``);
    none if absent. Without them every question in the train split is reasoning and every tool
    call an instruction, and a head learns that (``agentroute.data.question_calls``)."""
    path = data_dir / QUESTION_CALLS_FILE
    return read_steps(path) if path.is_file() else []


def type_files_sha256(data_dir: Path) -> dict[str, str]:
    """Hashes of the step-type head's extra files that ``data_dir`` holds, for the pack's record."""
    files = (LENGTH_MATCHED_FILE, QUESTION_CALLS_FILE)
    return {
        f"{name.removesuffix('.jsonl')}_sha256": sha256(data_dir / name)
        for name in files
        if (data_dir / name).is_file()
    }


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def data_version(data_dir: Path) -> dict:
    manifest = data_dir / "manifest.json"
    if not manifest.is_file():
        return {"dir": str(data_dir)}
    data = json.loads(manifest.read_text())
    return {
        "version": data.get("version"),
        "seed": data.get("seed"),
        "train_sha256": data.get("files", {}).get("train.jsonl", {}).get("sha256"),
    }
