"""Which kind of agent step a call is: predicted before generation, observed after it.

Prediction, first match wins (the record keeps the source):

1. ``caller``  - an explicit ``step_type=`` argument;
2. ``hint``    - a framework hint (LangGraph node name, Haystack component, agent role) looked up in
                 the policy's ``hint_map``, e.g. ``{"planner": "planning"}``;
3. ``rule``    - structure that settles it: ``tool_choice`` that forces a call -> tool_call; the
                 last message is a tool result -> final_answer;
4. ``router``  - a learned predictor, when a route pack provides one (it reads the prompt, so it
                 tells a planning request from a tool request even when tools are offered);
5. ``rule``    - the weak structural guess: tools are offered for a new user turn -> tool_call;
6. ``default`` - ``other``.

Observation is structural too: a reply that holds tool calls is a tool_call; a text reply to a
tool result, or one that declined the offered tools, is a final_answer; an enumerated list of two
or more steps is planning; any other text is other. Comparing predicted with observed in a trace
measures the classifier.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from agentroute.errors import AgentRouteError
from agentroute.steps.records import StepType, StepTypeSource

_PLAN_LINE = re.compile(r"^\s*(?:\d+[.)]|[-*•]|step \d+[:.)]?)\s+\S", re.IGNORECASE | re.MULTILINE)
_FORCING_TOOL_CHOICE = ("required", "any")

StepPredictor = Callable[["StepContext"], StepType | None]


class StepContext(BaseModel):
    """Everything known about a step before generation."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    messages: list[dict[str, Any]]
    tools: list[Any] = Field(default_factory=list, description="normalised tool specs offered for this step")
    hints: dict[str, Any] = Field(
        default_factory=dict, description="framework hints: node, agent_step, tool_choice, component, ..."
    )
    step_type: StepType | None = Field(None, description="caller override")
    budget: float | None = Field(None, description="caller override of the policy's budget")


def parse_step_type(value: StepType | str) -> StepType:
    """A StepType from its value (``"tool_call"``) or name (``"TOOL_CALL"``); clear error otherwise."""
    if isinstance(value, StepType):
        return value
    try:
        return StepType(str(value).lower())
    except ValueError:
        raise AgentRouteError(
            f"unknown step type {value!r}; use one of {', '.join(t.value for t in StepType)}"
        ) from None


def predict_step_type(
    context: StepContext, hint_map: dict[str, StepType], predictor: StepPredictor | None = None
) -> tuple[StepType, StepTypeSource]:
    """The predicted step type of ``context`` and where it came from."""
    if context.step_type is not None:
        return context.step_type, "caller"
    for key in ("node", "langgraph_node", "component", "role"):
        hint = context.hints.get(key)
        if isinstance(hint, str) and hint in hint_map:
            return hint_map[hint], "hint"
    by_rule = _settling_rule(context)
    if by_rule is not None:
        return by_rule, "rule"
    if predictor is not None:
        predicted = predictor(context)
        if predicted is not None:
            return predicted, "router"
    last = context.messages[-1]["role"] if context.messages else None
    if context.tools and last == "user" and context.hints.get("tool_choice") != "none":
        return StepType.TOOL_CALL, "rule"
    return StepType.OTHER, "default"


class ToolChoiceError(AgentRouteError, ValueError):
    """A ``tool_choice`` in none of the forms the frameworks use, or naming a tool not offered."""


def tool_choice_of(choice: Any, names: list[str] | None = None) -> str | None:
    """A framework's ``tool_choice`` as None (the model decides: None, "auto", False), "none",
    "required" (also "any", True) or the one tool's name (a string, OpenAI's ``{"type": "function",
    "function": {"name": ...}}`` or Anthropic's ``{"type": "tool", "name": ...}``). ``names``: the
    offered tools a name must be one of (None: not known yet, any name passes).

    One reading for every door: the OpenAI-compatible server and both integrations call this."""
    if choice is None or choice is False or choice == "auto":
        return None
    if choice is True or choice in _FORCING_TOOL_CHOICE:
        return "required"
    if choice == "none":
        return choice
    if isinstance(choice, dict):
        function = choice.get("function")
        name = choice.get("name") or (function.get("name") if isinstance(function, dict) else None)
        if name is None and choice.get("type") in ("auto", "none", "any", "required"):
            return tool_choice_of(choice["type"], names)
        choice = name
    if isinstance(choice, str) and choice and (names is None or choice in names):
        return choice
    offered = f" ({', '.join(names) or 'none offered'})" if names is not None else ""
    raise ToolChoiceError(
        f"tool_choice must be 'auto', 'none', 'required', 'any' or name an offered tool{offered} "
        f"(as a string or {{'type': 'function', 'function': {{'name': ...}}}}), got {choice!r:.80}"
    )


def call_required(context: StepContext) -> bool:
    """Whether the caller demands a tool call: ``tool_choice`` "required"/"any" or one tool's name
    (a string or an OpenAI ``{"type": "function", ...}`` dict). Otherwise a tool-call step may
    decline in text when no offered tool fits."""
    tool_choice = context.hints.get("tool_choice")
    if not context.tools or tool_choice in (None, "auto", "none"):
        return False
    return tool_choice in _FORCING_TOOL_CHOICE or isinstance(tool_choice, (str, dict))


def _settling_rule(context: StepContext) -> StepType | None:
    if call_required(context):
        return StepType.TOOL_CALL
    last = context.messages[-1]["role"] if context.messages else None
    if last == "tool":
        return StepType.FINAL_ANSWER
    return None


def observe_step_type(context: StepContext, text: str, n_tool_calls: int) -> StepType:
    """The type the reply turned out to have (see the module docstring)."""
    if n_tool_calls:
        return StepType.TOOL_CALL
    last = context.messages[-1]["role"] if context.messages else None
    if last == "tool" or context.tools:
        return StepType.FINAL_ANSWER
    if len(_PLAN_LINE.findall(text)) >= 2:
        return StepType.PLANNING
    return StepType.OTHER
