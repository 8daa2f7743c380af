"""What a caller hands one agent step, checked and gathered into a ``StepContext``.

``RoutedModel.generate`` and the served client (``agentroute.serve``) take the same arguments, so
both build their context here: a plain string is one user message, messages and tools are
checked, hints are kept JSON-safe for traces, a caller's step type and budget are parsed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.errors import GenerationError, MessageError
from agentroute.steps.messages import validate_messages
from agentroute.steps.policy import check_budget
from agentroute.steps.records import StepType
from agentroute.steps.step_types import StepContext, parse_step_type
from agentroute.steps.tools import normalize_tools


def step_context(
    messages_or_prompt: str | Sequence[Mapping[str, Any]],
    tools: Sequence[Any] | None = None,
    step_type: StepType | str | None = None,
    budget: float | None = None,
    hints: Mapping[str, Any] | None = None,
) -> StepContext:
    """The checked context of one step; a named error for anything that cannot be one."""
    return StepContext(
        messages=validate_messages(as_messages(messages_or_prompt)),
        tools=normalize_tools(tools),
        hints=json_safe(hints),
        step_type=parse_step_type(step_type) if step_type is not None else None,
        budget=check_budget(budget) if budget is not None else None,
    )


def as_messages(messages_or_prompt) -> Any:
    """A plain string is one user message; anything else is left for ``validate_messages``."""
    if isinstance(messages_or_prompt, str):
        if not messages_or_prompt:
            raise MessageError("the prompt is empty")
        return [{"role": "user", "content": messages_or_prompt}]
    return messages_or_prompt


def json_safe(hints: Mapping[str, Any] | None) -> dict[str, Any]:
    """Hints go into JSON traces: keep plain values, stringify the rest."""
    if hints is not None and not isinstance(hints, Mapping):
        raise GenerationError(
            f"hints must be a mapping such as {{'node': 'planner'}}, got {type(hints).__name__} {hints!r:.60}"
        )
    safe = {}
    for key, value in (hints or {}).items():
        safe[str(key)] = value if isinstance(value, (str, int, float, bool, type(None))) else str(value)
    return safe
