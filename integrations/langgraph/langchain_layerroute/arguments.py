"""Checks of ``ChatLayerRoute``'s arguments at construction, and the capabilities it declares.

LangChain builds chat models long before they run (in a graph's setup, from a config), so a wrong
keyword or value fails here with a message naming it, not at the first step.
"""

from __future__ import annotations

import difflib
from typing import Any

from langchain_core.language_models import ModelProfile

from agentroute import AgentRouteError, GenerationError
from agentroute.decode.options import framework_overrides, parse_options
from agentroute.steps.step_types import parse_step_type

from .request import merge_max_tokens

# Fields that are generation options: agentroute's GenerationOptions checks them at construction.
OPTION_FIELDS = ("max_new_tokens", "temperature", "top_p", "top_k", "seed", "stop")
# What create_agent and other LangChain code read to pick strategies: native structured output
# (create_agent then uses ProviderStrategy: the reply is decoded under the schema's grammar).
PROFILE = ModelProfile(
    text_inputs=True,
    text_outputs=True,
    tool_calling=True,
    tool_choice=True,
    tool_call_streaming=True,
    structured_output=True,
    temperature=True,
)


def check_arguments(data: Any, known: set[str]) -> Any:
    """Unknown keywords and unusable generation values fail; ``max_tokens`` becomes ``max_new_tokens``."""
    if not isinstance(data, dict):
        return data
    for name in data:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"ChatLayerRoute got an unknown argument {name!r}; {hint}see help(ChatLayerRoute)")
    data = merge_max_tokens(data)
    try:
        parse_options({k: data[k] for k in OPTION_FIELDS if k in data})
    except GenerationError as exc:  # not a ValueError to pydantic's eyes unless raised as one
        raise ValueError(str(exc)) from None
    return data


def known_mode(mode: Any) -> Any:
    """The old ``mode="routed"`` (now ``"policy"``) gets an error naming the new word."""
    if mode == "routed":
        framework_overrides(mode)  # raises, naming "policy"
    return mode


def known_step_types(mapping: dict[str, str]) -> dict[str, str]:
    """``node_step_types`` with each step type checked and spelled as the core spells it."""
    try:
        return {node: parse_step_type(step).value for node, step in mapping.items()}
    except AgentRouteError as exc:  # not a ValueError: pydantic would not report it as a field error
        raise ValueError(str(exc)) from None


def chat_profile(context: int | None, max_new_tokens: int) -> ModelProfile:
    """The declared capabilities, with ``max_input_tokens`` (the longest prompt a step takes: the
    context less the reply's tokens) where the context is known."""
    limits = {"max_input_tokens": context - max_new_tokens} if context and context > max_new_tokens else {}
    return ModelProfile(**PROFILE, **limits)
