"""Lossless decoding: jump-forward, self-speculative lossless mode, and ``transformers``'
``assistant_early_exit``, on the same steps in the same run.

For the first ``per_type`` tool-call and planning steps of a steps file (file order, never chosen
by their answers), each repeat runs, back to back:

* ``token by token``: our executor at full depth, one forward pass per token
  (``jump_forward=False``): how constrained decoding ran before jump-forward;
* ``full``: full depth with jump-forward (tokens the tool-call grammar forces ride along in the
  next pass); the reference for lossless mode;
* ``lossless``: the step's draft program (the policy's draft budget: the routed program for tool
  calls, full depth for planning in the default pack) drafts on int8 copies of the weights where
  the machine has them (``draft_weights="auto"``), full depth verifies (``mode="lossless"``);
* ``stock``: stock ``hf_model.generate``, greedy (the reference for early exit);

and once per step (it is several times slower than stock decoding on this model, so repeats
would only cost time), ``early exit``: stock ``generate(assistant_early_exit=K)``, where K is
the number of layers the policy's routed budget gives that step type (its float32 draft of the
first K layers is what ``transformers`` offers for self-speculation).

Speed-ups are per step (median decode rate of one method over its repeats / that of its
reference), then the median over the steps of a type. Stock ``generate`` cannot take our
tool-call grammar, so its replies are unconstrained: each method is compared with its own
full-depth reference, and ``identical`` says whether the reply was token for token that
reference's. All methods use the same (pack-merged) weights.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentroute.bench.common import run_header, stock_generate
from agentroute.bench.programs import test_steps
from agentroute.steps.records import StepType

STEP_TYPES = (StepType.TOOL_CALL, StepType.PLANNING)
METHODS = ("token by token", "full", "lossless", "stock", "early exit")
REFERENCE = {"full": "token by token", "lossless": "full", "early exit": "stock"}


def pick_steps(path: Path, per_type: int, max_new_tokens: int) -> list:
    """The first ``per_type`` steps of each measured type, replies capped at ``max_new_tokens``."""
    picked = [s for step_type in STEP_TYPES for s in test_steps(path, step_type, per_type)]
    return [replace(s, max_new_tokens=min(s.max_new_tokens, max_new_tokens)) for s in picked]


def run(
    model,
    steps_file: Path,
    per_type: int = 8,
    repeats: int = 3,
    max_new_tokens: int = 96,
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}")
    rows = []
    chosen = pick_steps(steps_file, per_type, max_new_tokens)
    for index, step in enumerate(chosen, 1):
        progress(f"lossless: step {index}/{len(chosen)} {step.id} ({step.step_type.value})")
        rows.append(_measure(model, step, repeats, seed))
    return {
        **run_header(model, steps_file=str(steps_file), seed=seed, repeats=repeats, max_new_tokens=max_new_tokens),
        "steps": rows,
        "summary": summarise(rows),
    }


def _measure(model, step, repeats: int, seed: int) -> dict[str, Any]:
    limit = step.max_new_tokens
    tools = step.tools or None
    options = {"tools": tools, "step_type": step.step_type, "max_new_tokens": limit, "temperature": 0.0, "seed": seed}
    options["hints"] = step.hints
    prompt_ids = model.encode(step.messages, tools=tools)
    rates: dict[str, list[float]] = {m: [] for m in METHODS}
    tokens: dict[str, list[int]] = {}
    record = None
    for repeat in range(repeats):
        # Interleaved, so that a slow spell of the shared machine hits every method alike.
        slow = model.generate(step.messages, budget=1.0, mode="routed", jump_forward=False, **options)
        full = model.generate(step.messages, budget=1.0, mode="routed", **options)
        forced = full.record.forced_tokens
        fast = model.generate(step.messages, mode="lossless", **options)
        record = fast.record
        draft_layers = len(model.program(record.draft_program)) if record.draft_program else model.n_layers
        early_layers = round(model.policy.budget_for(step.step_type) * model.n_layers)
        stock, stock_rate = stock_generate(model, prompt_ids, max_new_tokens=limit)
        runs = [
            ("token by token", slow.token_ids, slow.record.decode_tokens_per_s),
            ("full", full.token_ids, full.record.decode_tokens_per_s),
            ("lossless", fast.token_ids, record.decode_tokens_per_s),
            ("stock", stock, stock_rate),
        ]
        if repeat == 0:
            early = stock_generate(model, prompt_ids, max_new_tokens=limit, assistant_early_exit=early_layers)
            runs.append(("early exit", *early))
        for method, result_tokens, rate in runs:
            tokens.setdefault(method, list(result_tokens))
            if rate is not None:
                rates[method].append(rate)
    row: dict[str, Any] = {
        "id": step.id,
        "step_type": step.step_type.value,
        "draft_program": record.draft_program,
        "draft_layers": draft_layers,
        "draft_weights": record.draft_weights,
        "early_exit_layers": early_layers,
        "acceptance_rate": record.acceptance_rate,
        "forced_tokens": forced,
        "tokens": {m: len(tokens[m]) for m in METHODS},
        "decode_tokens_per_s": {m: statistics.median(rates[m]) if rates[m] else None for m in METHODS},
    }
    for method, reference in REFERENCE.items():
        row[f"{method} identical"] = tokens[method] == tokens[reference]
        ours, base = row["decode_tokens_per_s"][method], row["decode_tokens_per_s"][reference]
        row[f"{method} speedup"] = ours / base if ours and base else None
    return row


def summarise(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = {}
    for step_type in STEP_TYPES:
        group = [r for r in rows if r["step_type"] == step_type.value]
        if not group:
            continue
        entry: dict[str, Any] = {"n": len(group)}
        for method in REFERENCE:
            speedups = [r[f"{method} speedup"] for r in group if r[f"{method} speedup"] is not None]
            entry[f"{method} speedup"] = statistics.median(speedups) if speedups else None
            entry[f"{method} identical"] = sum(r[f"{method} identical"] for r in group) / len(group)
        completion = sum(r["tokens"]["full"] for r in group)
        entry["forced_fraction"] = sum(r["forced_tokens"] for r in group) / completion if completion else None
        rates = [r["acceptance_rate"] for r in group if r["acceptance_rate"] is not None]
        entry["acceptance_rate"] = statistics.mean(rates) if rates else None
        entry["draft_layers"] = statistics.median(r["draft_layers"] for r in group)
        entry["draft_weights"] = "/".join(sorted({str(r["draft_weights"]) for r in group}))
        entry["early_exit_layers"] = statistics.median(r["early_exit_layers"] for r in group)
        out[step_type.value] = entry
    return out


def _fmt(value, spec: str = ".2f", suffix: str = "") -> str:
    return "-" if value is None else f"{value:{spec}}{suffix}"


def markdown(report: dict[str, Any]) -> str:
    lines = [
        f"Lossless decoding, {report['model']} with the default pack, first test-split steps of each type "
        f"(held-out tools), greedy, up to {report['max_new_tokens']} new tokens, median of {report['repeats']} "
        f"interleaved runs per step (early exit: one run), seed {report['seed']}; decode speed-ups, same run:",
        "",
        "| step type | n | forced tokens | jump-forward vs token by token | draft layers (weights) | acceptance "
        "| lossless vs full | early exit layers | early exit vs stock |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for step_type, row in report["summary"].items():
        lines.append(
            f"| {step_type} | {row['n']} | {_fmt(row['forced_fraction'], '.0%')} | "
            f"{_fmt(row['full speedup'], '.2f', 'x')} | {row['draft_layers']:g} ({row['draft_weights']}) | "
            f"{_fmt(row['acceptance_rate'])} | {_fmt(row['lossless speedup'], '.2f', 'x')} | "
            f"{row['early_exit_layers']:g} | {_fmt(row['early exit speedup'], '.2f', 'x')} |"
        )
    identical = {m: min(r[f"{m} identical"] for r in report["summary"].values()) for m in REFERENCE}
    lines += [
        "",
        f"Replies identical to their reference: jump-forward {identical['full']:.0%}, lossless "
        f"{identical['lossless']:.0%}, early exit {identical['early exit']:.0%} (lowest over the step types). "
        "Early exit drafts with the first K layers (K from the policy's budget for the step type); "
        "stock `generate` takes no tool grammar, so its replies are unconstrained and it is compared with "
        "stock greedy decoding.",
    ]
    return "\n".join(lines) + "\n"
