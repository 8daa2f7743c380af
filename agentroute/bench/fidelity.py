"""Fidelity of the training-free budget baseline: routed (lossy) vs full depth on the test split, per budget.

This is the number route packs and program search must beat. Steps are the first ``per_type``
steps of each step type in the generated test split, in file order (never chosen by looking at
answers); replies are capped at ``max_new_tokens`` so the run fits a CPU.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from agentroute.data import BuildConfig, build_dataset
from agentroute.evaluation import evaluate, load_steps
from agentroute.loading import load
from agentroute.steps.policy import DepthPolicy

BUDGETS = (0.9, 0.8, 0.6)
COLUMNS = (
    "layers_fraction",
    "token_agreement",
    "forced_agreement",
    "matches_full",
    "tool_calls_match_full",
    "accuracy",
    "decode_speedup",
)


def pick_steps(path: Path, per_type: int, max_new_tokens: int) -> list:
    steps, _ = load_steps(path)
    picked, counts = [], {}
    for step in steps:
        kind = step.step_type.value if step.step_type else "other"
        if counts.get(kind, 0) < per_type:
            counts[kind] = counts.get(kind, 0) + 1
            picked.append(replace(step, max_new_tokens=min(step.max_new_tokens, max_new_tokens)))
    return picked


def run(
    model: str = "default",
    seed: int = 0,
    per_type: int = 4,
    max_new_tokens: int = 48,
    budgets=BUDGETS,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[dict[str, Any], str]:
    with tempfile.TemporaryDirectory() as tmp:
        build_dataset(tmp, BuildConfig(seed=seed, train=10, dev=10, test=300))
        steps = pick_steps(Path(tmp) / "test.jsonl", per_type, max_new_tokens)
    routed = load(model, pack=None)  # the training-free baseline runs on the bare model
    results: dict[str, Any] = {"model": routed.name, "seed": seed, "steps": len(steps), "budgets": {}}
    for budget in budgets:
        routed.router.policy = DepthPolicy(default_budget=budget)
        progress(f"fidelity: budget {budget}, {len(steps)} steps, full vs routed")
        report = evaluate(routed, steps, modes=("full", "routed"), seed=seed)
        results["budgets"][str(budget)] = {
            "programs": sorted({row["program"] for row in report["modes"]["routed"]["steps"]}),
            "full_accuracy": report["modes"]["full"]["summary"]["all"]["accuracy"],
            "summary": report["modes"]["routed"]["summary"],
        }
    return results, markdown(results)


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"Training-free baseline (Block Influence skips), {results['model']}, {results['steps']} test-split steps "
        f"(held-out tools and domains), greedy, seed {results['seed']}; routed (lossy: the budget's program decodes "
        "alone) against full depth in the same run:",
        "",
        "| budget | step type | n | " + " | ".join(c.replace("_", " ") for c in COLUMNS) + " |",
        "|---|---|---|" + "---|" * len(COLUMNS),
    ]
    for budget, entry in results["budgets"].items():
        for step_type, row in entry["summary"].items():
            cells = " | ".join(_fmt(row.get(c)) for c in COLUMNS)
            lines.append(f"| {budget} | {step_type} | {row['n']} | {cells} |")
    full_acc = {b: e["full_accuracy"] for b, e in results["budgets"].items()}
    lines += ["", f"Full-depth tool-call accuracy on these steps: {_fmt(next(iter(full_acc.values()), None))}."]
    return "\n".join(lines) + "\n"
