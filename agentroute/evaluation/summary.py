"""Per-mode summaries of evaluated steps: one entry per step type present, plus ``"all"``."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from typing import Any

from agentroute.evaluation.call_errors import tally
from agentroute.steps.records import StepType


def summarize(
    steps: Sequence[dict[str, Any]], full_steps: Sequence[dict[str, Any]], by: str = "step_type"
) -> dict[str, dict[str, Any]]:
    """Summary of one mode's step results, grouped by step type (StepType order) and ``"all"``;
    ``by="category"`` groups by the skill each step tests instead (``simple``, ``multiple``,
    ``parallel``, ``no_tool_fits``, ``real_world``, ... in alphabetical order).

    ``full_steps`` are full depth's results for the same steps in the same order; they give the
    reference speed of each step. See the ``agentroute.evaluation`` docstring for the fields.
    """
    if len(steps) != len(full_steps):
        raise ValueError(f"{len(steps)} step results but {len(full_steps)} full-depth results")
    pairs = list(zip(steps, full_steps, strict=True))
    names = [t.value for t in StepType] if by == "step_type" else sorted({s[by] for s in steps})
    groups: dict[str, list[tuple[dict, dict]]] = {name: [] for name in names}
    for pair in pairs:
        groups[pair[0][by]].append(pair)
    out = {name: _stats(group) for name, group in groups.items() if group}
    out["all"] = _stats(pairs)
    return out


def _stats(pairs: list[tuple[dict[str, Any], dict[str, Any]]]) -> dict[str, Any]:
    steps = [step for step, _ in pairs]
    speedups = [
        step["decode_tokens_per_s"] / full["decode_tokens_per_s"]
        for step, full in pairs
        if step["decode_tokens_per_s"] and full["decode_tokens_per_s"]
    ]
    return {
        "n": len(steps),
        "layers_fraction": _mean([s["layers_fraction"] for s in steps]),
        "decode_speedup": statistics.median(speedups) if speedups else None,
        "matches_full": _mean([float(s["matches_full"]) for s in steps]),
        "token_agreement": _mean([s["token_agreement"] for s in steps]),
        "tool_calls_match_full": _mean(
            [float(s["tool_calls_match_full"]) for s in steps if _known(s, "tool_calls_match_full")]
        ),
        "accuracy": _mean([float(s["correct"]) for s in steps if _known(s, "correct")]),
        "forced_agreement": _mean([s["forced_agreement"] for s in steps if _known(s, "forced_agreement")]),
        "call_errors": tally([s.get("call_error") for s in steps]),
    }


def _known(step: dict[str, Any], key: str) -> bool:
    return step.get(key) is not None


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
