"""Agent steps as a user gets them, against stock transformers and full depth, in one run.

For the first ``per_type`` held-out test-split steps of each step type (file order, never chosen by
their answers; generated tools and domains that training never saw), each repeat runs, back to
back, on the same prompt ids:

* ``stock fp32``: stock ``hf_model.generate()`` in float32 on the same (pack-merged) weights,
  greedy, the prompt encoded from scratch: what a user of plain transformers runs. It cannot
  take the tool-call grammar, so its reply may differ in content and length;
* ``full depth``: ``agentroute.load(pack="default")`` as shipped (default dtype), every step
  decoded plainly at full depth (``mode="routed", budget=1.0``);
* ``as shipped``: the same model under its default policy (lossless drafting per step type).

Every call encodes its prompt from scratch (no prefix reuse), so a step stands alone as stock
``generate()`` does. Per step: the median latency of each method over its repeats; per type: the
median over its steps of the latency ratios. ``identical`` says whether the shipped reply was
token for token full depth's (it must be: lossless).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from agentroute.bench.common import run_header
from agentroute.model.dtype_choice import dtype_name
from agentroute.steps.records import StepType

STEP_TYPES = (StepType.TOOL_CALL, StepType.PLANNING, StepType.REASONING, StepType.FINAL_ANSWER)
METHODS = ("stock fp32", "full depth", "as shipped")


def pick_steps(per_type: int, seed: int, max_new_tokens: int) -> list:
    from agentroute.data import BuildConfig, build_dataset
    from agentroute.evaluation.steps import load_steps

    with tempfile.TemporaryDirectory() as tmp:
        build_dataset(tmp, BuildConfig(seed=seed, train=10, dev=10, test=300))
        steps, _ = load_steps(Path(tmp) / "test.jsonl")
    picked = [s for t in STEP_TYPES for s in [s for s in steps if s.step_type == t][:per_type]]
    return [replace(s, max_new_tokens=min(s.max_new_tokens, max_new_tokens)) for s in picked]


def run(
    per_type: int = 5,
    repeats: int = 3,
    max_new_tokens: int = 96,
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[dict[str, Any], str]:
    import agentroute

    torch.manual_seed(seed)
    steps = pick_steps(per_type, seed, max_new_tokens)
    shipped = agentroute.load(pack="default").warm_up()
    stock = agentroute.load(pack="default", dtype="float32", kernels="plain")
    rows = []
    for index, step in enumerate(steps, 1):
        progress(f"agent steps: {index}/{len(steps)} {step.id} ({step.step_type.value})")
        rows.append(_measure(shipped, stock, step, repeats))
    results = {
        **run_header(
            shipped,
            dtype=dtype_name(shipped.dtype),
            quantization=shipped.quantization,
            stock_dtype="float32",
            seed=seed,
            repeats=repeats,
            max_new_tokens=max_new_tokens,
        ),  # fmt: skip
        "steps": rows,
        "summary": summarise(rows),
    }
    return results, markdown(results)


def _measure(shipped, stock, step, repeats: int) -> dict[str, Any]:
    prompt = shipped.encode(step.messages, step.tools or None)
    options = {"tools": step.tools or None, "step_type": step.step_type, "max_new_tokens": step.max_new_tokens}
    options["hints"] = step.hints
    calls = {
        "stock fp32": lambda: _stock(stock, prompt, step.max_new_tokens),
        "full depth": lambda: _ours(shipped, step, {**options, "mode": "routed", "budget": 1.0}),
        "as shipped": lambda: _ours(shipped, step, options),
    }
    times: dict[str, list[float]] = {m: [] for m in METHODS}
    decode: dict[str, list[float]] = {m: [] for m in METHODS[1:]}  # after the first token (ours only)
    tokens: dict[str, list[int]] = {}
    layers: dict[str, float] = {}
    records: dict[str, Any] = {}
    for _ in range(repeats):
        for method, call in calls.items():
            seconds, ids, decode_seconds, layers[method], records[method] = call()
            times[method].append(seconds)
            tokens[method] = ids
            if decode_seconds is not None:
                decode[method].append(decode_seconds)
    latency = {m: statistics.median(v) for m, v in times.items()}
    decode_s = {m: statistics.median(v) for m, v in decode.items()}
    return {
        "id": step.id,
        "step_type": step.step_type.value,
        "prompt_tokens": len(prompt),
        "tokens": {m: len(ids) for m, ids in tokens.items()},
        "latency_s": latency,
        "identical_to_full_depth": tokens["as shipped"] == tokens["full depth"],
        "layers_fraction_as_shipped": layers["as shipped"],
        "speedup_vs_stock_fp32": latency["stock fp32"] / latency["as shipped"],
        "speedup_vs_full_depth": latency["full depth"] / latency["as shipped"],
        "decode_s": decode_s,
        "drafts_as_shipped": _drafts(records["as shipped"]),
        # None for a one-token reply: there is no decode to compare
        "decode_speedup_vs_full_depth": decode_s["full depth"] / decode_s["as shipped"]
        if decode_s["as shipped"]
        else None,
    }


def _stock(model, prompt: list[int], max_new_tokens: int) -> tuple[float, list[int], None, float, None]:
    began = time.perf_counter()
    with torch.inference_mode():
        out = model.hf_model.generate(torch.tensor([prompt]), do_sample=False, max_new_tokens=max_new_tokens)
    return time.perf_counter() - began, out[0, len(prompt) :].tolist(), None, 1.0, None


def _ours(model, step, options: dict) -> tuple[float, list[int], float, float, Any]:
    """Seconds for the step, its token ids, seconds after the first token (its decode), the layer
    passes per decoded token as a share of full depth's (lossless: draft and verify passes together)
    and the step's record."""
    began = time.perf_counter()
    result = model.generate(step.messages, reuse_prefix=False, **options)
    record = result.record
    seconds = time.perf_counter() - began
    return seconds, list(result.token_ids), record.latency_s - record.ttft_s, record.layers_fraction, record


def _drafts(record) -> dict[str, int | None]:
    """Where a lossless step's drafts came from and how many were accepted (its last run)."""
    return {name: getattr(record, field, None) for name, field in DRAFT_FIELDS.items()}


# Result key -> StepRecord field, for ``_drafts``.
DRAFT_FIELDS = {
    "drafted": "drafted_tokens",
    "accepted": "accepted_tokens",
    "looked_up": "looked_up_tokens",
    "looked_up_accepted": "looked_up_accepted",
    "retrieved": "retrieved_tokens",
    "retrieved_accepted": "retrieved_accepted",
}


def summarise(rows: list[dict]) -> dict[str, Any]:
    summary = {}
    for step_type in [t.value for t in STEP_TYPES] + ["all"]:
        chosen = [r for r in rows if step_type in ("all", r["step_type"])]
        if not chosen:
            continue
        summary[step_type] = {
            "steps": len(chosen),
            "identical": sum(r["identical_to_full_depth"] for r in chosen),
            "speedup_vs_stock_fp32": statistics.median(r["speedup_vs_stock_fp32"] for r in chosen),
            "speedup_vs_full_depth": statistics.median(r["speedup_vs_full_depth"] for r in chosen),
            "decode_speedup_vs_full_depth": statistics.median(
                [r["decode_speedup_vs_full_depth"] for r in chosen if r["decode_speedup_vs_full_depth"]] or [1.0]
            ),
            "latency_s": {m: statistics.median(r["latency_s"][m] for r in chosen) for m in METHODS},
            "layers_fraction_as_shipped": statistics.median(r["layers_fraction_as_shipped"] for r in chosen),
        }
    return summary


def markdown(results: dict) -> str:
    machine_ = results["machine"]
    lines = [
        f"Agent steps on SmolLM2-135M-Instruct, {machine_['processor']} CPU ({machine_['threads']} threads): "
        f"{results['summary']['all']['steps']} held-out test-split steps, at most {results['max_new_tokens']} "
        f"new tokens, every prompt encoded from scratch, median of {results['repeats']} interleaved runs per "
        f"step, seed {results['seed']}. *Stock transformers* is `generate()` in float32 on the same weights; "
        f'*full depth* is `agentroute.load(pack="default")` in {results["dtype"]}{_int4(results)} running every '
        "layer for every token; *as shipped* is the same model under its default policy (lossless: drafts copied "
        "from the context, retrieved from the pack's store of the model's own replies or chosen by the step's "
        "layer program, verified by full depth).",
        "",
        "| step type | steps | stock transformers (s) | full depth (s) | as shipped (s) | faster than stock "
        "| faster than full depth | decoding faster than full depth | layer passes as shipped "
        "| same output as full depth |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for step_type, row in results["summary"].items():
        lat = row["latency_s"]
        same = "yes" if row["identical"] == row["steps"] else f"{row['identical']} of {row['steps']}"
        lines.append(
            f"| {step_type.replace('_', ' ')} | {row['steps']} | {lat['stock fp32']:.2f} | {lat['full depth']:.2f} | "
            f"{lat['as shipped']:.2f} | {row['speedup_vs_stock_fp32']:.2f}x | {row['speedup_vs_full_depth']:.2f}x "
            f"| {row['decode_speedup_vs_full_depth']:.2f}x | {row['layers_fraction_as_shipped']:.0%} | {same} |"
        )
    lines.append("")
    lines.append(
        "Seconds are whole steps, prompt included (median over a type's steps); a *faster than* column is the "
        "median of the per-step ratios, so it need not equal the ratio of two medians. *Decoding* leaves the "
        "prompt out (time after the first token). *Layer passes*: layers run per decoded token, draft and verify "
        "passes together, as a share of full depth's (median over a type's steps; grammar-forced tokens run "
        "with the next pass). Stock `generate()` cannot take the tool-call grammar, so its "
        "replies are its own (token counts per step in `benchmarks/results/steps.json`)."
    )
    return "\n".join(lines) + "\n"


def _int4(results: dict) -> str:
    """How the table names the default's 4-bit decode passes (``quantization="auto"`` on this CPU)."""
    return " with int4 decode passes (the file's own Q4_1 weights)" if results.get("quantization") == "int4" else ""
