"""How well the model predicts step types: ``agentroute eval STEPS.jsonl --step-types``.

Each step's ``step_type`` is the label and is withheld from the model; the routing decision is
made exactly as ``generate`` makes it (hints, rules, the pack's router), without generating. The
length-matched test file (tool-call and planning prompts of equal token length) checks that the
predictor reads the request, not its length.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from agentroute.evaluation.steps import EvalStep
from agentroute.steps.step_types import StepContext


def step_type_report(model, steps: Sequence[EvalStep]) -> dict[str, Any]:
    """Accuracy, accuracy per true type, where the predictions came from, and the confusion counts."""
    rows = []
    for step in steps:
        if step.step_type is None:
            continue
        context = StepContext(messages=step.messages, tools=step.tools)
        decision = model.router.decide(context, None, model.encode(step.messages, step.tools))
        rows.append((step.step_type.value, decision.step_type.value, decision.source, decision.program.cost))
    by_type: dict[str, list[bool]] = {}
    for true, predicted, _, _ in rows:
        by_type.setdefault(true, []).append(true == predicted)
    return {
        "n": len(rows),
        "accuracy": sum(t == p for t, p, _, _ in rows) / len(rows) if rows else None,
        "by_type": {t: sum(v) / len(v) for t, v in by_type.items()},
        "sources": dict(Counter(source for _, _, source, _ in rows)),
        "confusion": {f"{t}->{p}": n for (t, p), n in sorted(Counter((t, p) for t, p, _, _ in rows).items())},
        "layers_fraction": {t: sum(c for tt, _, _, c in rows if tt == t) / len(v) for t, v in by_type.items()},
    }
