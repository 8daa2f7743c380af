"""One ``ChatLayerRoute`` call resolved into what ``RoutedModel.generate`` takes: a ``Step``.

The model's fields, the keywords bound with ``bind``/``bind_tools`` and the graph context
(``langgraph_node``, ``langgraph_step``) become the messages, the tool specs, the step hints and
the generation options; every value is checked here, before the model runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.utils.function_calling import convert_to_openai_tool

from agentroute.decode.options import framework_overrides
from agentroute.errors import AgentRouteError
from agentroute.steps.step_types import tool_choice_of
from agentroute.steps.tools import normalize_tools

from .messages import to_agentroute_messages
from .structured import request_schema

CHOICE_WORDS = ("none", "required")  # what parse_tool_choice returns besides None and a tool's name
# Per-call options that go straight to RoutedModel.generate (besides tools, tool_choice, hints).
GENERATE_OPTIONS = (
    "step_type",
    "budget",
    "program",
    "max_new_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "constrain",
    "json_schema",
)
# Call options read here rather than passed on.
_OWN_OPTIONS = ("tools", "tool_choice", "parallel_tool_calls", "strict", "hints", "response_format")


@dataclass
class Step:
    """One call, resolved from the model's fields, bound kwargs and the graph context."""

    messages: list[dict[str, Any]]
    options: dict[str, Any]
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_calls: int | None = None  # 1 with parallel_tool_calls=False


def build_step(chat: Any, messages: list[BaseMessage], stop, run_manager, kwargs: dict[str, Any]) -> Step:
    """Resolve one call of ``chat`` (a ChatLayerRoute): messages, tools, step type, depth, sampling, hints.

    With a response format (``response_format`` or ``json_schema``), ``generate`` leaves out tools
    that already answered, so an agent ends with the structured answer instead of repeating a call.
    """
    kwargs = {k: v for k, v in kwargs.items() if not k.startswith("ls_") and k != "stream"}
    # bind_tools already converted these; tools bound with plain .bind() are converted here.
    tools = tool_specs(kwargs.pop("tools", None) or [])
    tool_choice = parse_tool_choice(kwargs.pop("tool_choice", None), [t["name"] for t in tools])
    max_calls = parse_max_calls(kwargs.pop("parallel_tool_calls", None))
    check_strict(kwargs.pop("strict", None), kwargs.get("constrain"))
    extra_hints = dict(kwargs.pop("hints", None) or {})
    kwargs = merge_max_tokens(kwargs)
    schema = request_schema(kwargs.pop("response_format", None), kwargs.pop("json_schema", None))
    unknown = sorted(set(kwargs) - set(GENERATE_OPTIONS))
    if unknown:
        raise ValueError(
            f"ChatLayerRoute got unknown call option(s) {unknown}; use {', '.join(_OWN_OPTIONS)}, "
            f"{', '.join(GENERATE_OPTIONS)}"
        )
    if tool_choice == "none":
        tools = []  # a text answer is wanted: leave the tool list out of the prompt
    elif tool_choice is not None and tool_choice not in CHOICE_WORDS:
        tools = [t for t in tools if t["name"] == tool_choice]

    metadata = graph_metadata(run_manager)
    node = metadata.get("langgraph_node")
    hints = {"node": node, "langgraph_node": node, "agent_step": metadata.get("langgraph_step")}
    hints = {k: v for k, v in {**hints, "tool_choice": tool_choice, **extra_hints}.items() if v is not None}

    options: dict[str, Any] = {
        "max_new_tokens": chat.max_new_tokens,
        "temperature": chat.temperature,
        "top_p": chat.top_p,
        "top_k": chat.top_k,
        "seed": chat.seed,
        "stop": stop if stop is not None else chat.stop,
        **kwargs,
        "json_schema": schema,
        "hints": hints,
    }
    if options.get("step_type") is None and node in chat.node_step_types:
        options["step_type"] = chat.node_step_types[node]
    options.update(framework_overrides(chat.mode, budget=options.get("budget"), program=options.get("program")))
    return Step(messages=to_agentroute_messages(messages), options=options, tools=tools, max_calls=max_calls)


def check_strict(strict: Any, constrain: Any) -> None:
    """``strict`` as ChatOpenAI's ``bind_tools`` takes it. Calls are always held to their tools'
    schemas by the call grammar (``constrain``, on by default), so ``strict=True`` only makes that
    a requirement: with ``constrain=False`` it is an error. False or None change nothing."""
    if strict is not None and not isinstance(strict, bool):
        raise ValueError(f"strict must be True, False or None, got {strict!r}")
    if strict and constrain is False:
        raise ValueError(
            "strict=True holds tool calls to their schemas, which the call grammar does; "
            "constrain=False turns the grammar off: drop one of the two"
        )


def tool_specs(tools: Sequence[Any]) -> list[dict[str, Any]]:
    """Any LangChain tool shape -> AgentRoute ``{"name", "description", "parameters"}`` dicts, validated."""
    specs = []
    for tool in tools:
        function = convert_to_openai_tool(tool)["function"]
        specs.append({key: function[key] for key in ("name", "description", "parameters") if key in function})
    normalize_tools(specs)  # raises ToolSchemaError (a ValueError) naming a bad or duplicate tool
    return specs


def parse_tool_choice(choice: Any, names: list[str]) -> str | None:
    """Normalise a LangChain/OpenAI/Anthropic tool_choice to None, "none", "required" or a tool name."""
    try:
        return tool_choice_of(choice, names)
    except AgentRouteError as exc:
        raise ValueError(str(exc)) from None


def parse_max_calls(parallel_tool_calls: Any) -> int | None:
    """``parallel_tool_calls`` as the number of calls a reply keeps (None: all)."""
    if parallel_tool_calls is None or parallel_tool_calls is True:
        return None
    if parallel_tool_calls is False:
        return 1
    raise ValueError(f"parallel_tool_calls must be True, False or None, got {parallel_tool_calls!r}")


def merge_max_tokens(options: dict[str, Any]) -> dict[str, Any]:
    """``max_tokens`` (the name other LangChain chat models use) as ``max_new_tokens``; both must agree."""
    if "max_tokens" not in options:
        return options
    options = dict(options)
    value = options.pop("max_tokens")
    if options.setdefault("max_new_tokens", value) != value:
        raise ValueError(
            f"max_tokens={value!r} and max_new_tokens={options['max_new_tokens']!r} disagree; they are one setting"
        )
    return options


def graph_metadata(run_manager) -> Mapping[str, Any]:
    """The run's metadata, where LangGraph puts ``langgraph_node`` and ``langgraph_step``.

    ``stream()`` in langchain-core 1.7 calls ``_stream`` without a run manager; the node's config
    is then still in LangChain's context variable.
    """
    metadata = getattr(run_manager, "metadata", None) or {}
    if "langgraph_node" not in metadata:
        config = var_child_runnable_config.get() or {}
        metadata = {**(config.get("metadata") or {}), **metadata}
    return metadata
