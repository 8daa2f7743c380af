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
    json_schema: Mapping[str, Any] | None = None,
) -> StepContext:
    """The checked context of one step; a named error for anything that cannot be one.

    With ``json_schema`` (structured output) and tools, a tool whose result is already in the
    conversation is not offered again: the step answers in the format or calls a tool that has not
    answered yet, so an agent ends with the structured answer instead of repeating a call (a 135M
    model otherwise calls the same tool until its context is full)."""
    messages = validate_messages(as_messages(messages_or_prompt))
    specs = normalize_tools(tools)
    if json_schema is not None and specs:
        answered = answered_tools(messages)
        specs = [spec for spec in specs if spec.name not in answered]
    return StepContext(
        messages=messages,
        tools=specs,
        hints=json_safe(hints),
        step_type=parse_step_type(step_type) if step_type is not None else None,
        budget=check_budget(budget) if budget is not None else None,
    )


def answered_tools(messages: Sequence[Mapping[str, Any]]) -> set[str]:
    """Names of the tools whose results answer the latest request: tool messages after the last
    user message (by the tool message's name, or the name of the call its ``tool_call_id``
    answers). A result from an earlier request does not answer a new one that asks again."""
    users = [i for i, m in enumerate(messages) if m["role"] == "user"]
    start = users[-1] + 1 if users else 0
    results = [m for m in messages[start:] if m["role"] == "tool"]
    answered = {m.get("tool_call_id") for m in results}
    names = {m["name"] for m in results if m.get("name")}
    for message in messages[start:]:
        for call in message.get("tool_calls") or []:
            function = call.get("function") if isinstance(call.get("function"), Mapping) else call
            if call.get("id") in answered and isinstance(function.get("name"), str):
                names.add(function["name"])
    return names


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
