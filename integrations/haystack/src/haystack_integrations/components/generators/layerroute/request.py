"""One ``LayerRouteGenerator`` run resolved into the prompt and the keywords of ``RoutedModel.generate``."""

from __future__ import annotations

from typing import Any

from haystack.dataclasses import ChatMessage
from haystack.tools import ToolsType

from agentroute.decode.options import framework_overrides
from agentroute.steps.step_types import tool_choice_of

from .convert import to_agentroute_messages, to_agentroute_tools
from .settings import canonical_generation_kwargs, split_generation_kwargs


def build_request(
    generator: Any,
    messages: list[ChatMessage] | str,
    generation_kwargs: dict[str, Any] | None,
    tools: ToolsType | None,
    step_type: str | None,
    tools_strict: bool | None,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The prompt messages and the keyword arguments of ``generate`` for one run of ``generator``; checks all input.

    The call's ``generation_kwargs`` are merged over the init ones, its ``tools`` and ``tools_strict``
    replace them. (With a ``response_format``, ``generate`` leaves out tools that already answered.)
    """
    strict = generator.tools_strict if tools_strict is None else tools_strict
    if not isinstance(strict, bool):
        raise ValueError(f"tools_strict must be True, False or None, got {tools_strict!r}")
    merged = {
        **canonical_generation_kwargs(generator.generation_kwargs),
        **canonical_generation_kwargs(generation_kwargs or {}),
    }
    options, step = split_generation_kwargs(merged, strict=strict)
    specs = to_agentroute_tools(tools if tools is not None else generator.tools)
    if isinstance(messages, str):  # as Haystack's chat generators take it: one user message
        messages = [ChatMessage.from_user(messages)]
    prompt = to_agentroute_messages(messages)
    choice = step.get("tool_choice")
    if choice == "none":
        specs = []
    elif choice not in (None, "required"):
        tool_choice_of(choice, [spec["name"] for spec in specs])  # ValueError naming the offered tools
        specs = [spec for spec in specs if spec["name"] == choice]
    name = getattr(generator, "__component_name__", None)  # set when the component is added to a pipeline
    hints = {"component": name, "tool_choice": choice if specs else None}
    request = {
        "tools": specs or None,
        "step_type": step_type or step.get("step_type"),
        "budget": step.get("budget"),
        "hints": {k: v for k, v in hints.items() if v is not None} or None,
        "mode": None,  # the policy's, unless the generator's mode sets one
        **framework_overrides(generator.mode, budget=step.get("budget")),
        **options,
    }
    return prompt, request
