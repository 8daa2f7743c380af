"""Tool definitions and how tools and tool calls are written into a prompt.

The default model's chat template (SmolLM2, ChatML) reads only ``role`` and ``content``, so tools
travel as plain text in a Hermes/Qwen-style format:

* The tool block goes at the end of the system message (a system message is created when there is
  none)::

      You can call tools to help with the request. The tools, one JSON object per line:
      <tools>
      {"name": "get_weather", "description": "Current weather in a city", "parameters": {"type": "object", ...}}
      </tools>
      To call a tool, reply with one line per call, in this form:
      <tool_call>{"name": <tool name>, "arguments": {<argument name>: <value>, ...}}</tool_call>
      Several calls in one reply are allowed.

* An assistant turn that made calls becomes its text (if any) followed by one line per call::

      <tool_call>{"name": "get_weather", "arguments": {"city": "Paris"}}</tool_call>

* Tool results become one ``user`` turn per run of consecutive results, one line per result::

      <tool_response>{"name": "get_weather", "content": "18 C, sunny"}</tool_response>

  When a tokenizer is given whose chat template mentions ``tool``, results stay ``tool`` messages.

A checkpoint whose chat template takes ``tools=`` gets its own format instead (``call_formats``).

Conversations with calls and results are rendered by ``tool_turns``; replies are read back by
``reply_parsing``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, get_args

import jsonschema
from pydantic import BaseModel, Field

from agentroute.errors import MessageError, ToolSchemaError
from agentroute.steps.call_parsing import (
    CALL_CLOSE,
    CALL_OPEN,
    read_call,
)
from agentroute.steps.records import ToolCall
from agentroute.steps.tool_signatures import signature_line

_NAME = re.compile(r"[A-Za-z0-9_.-]+")

# How tools are written into the prompt (``tool_block``): "json", one JSON object per tool (the
# default, and every pack before signatures), or "signature", one signature per tool
# (``tool_signatures``: 1.7x fewer tokens per tool). A pack is trained on one and records it.
ToolStyle = Literal["json", "signature"]
TOOL_STYLES: tuple[str, ...] = get_args(ToolStyle)
_INTROS = {
    "json": "You can call tools to help with the request. The tools, one JSON object per line:",
    "signature": "You can call tools to help with the request. The tools, one signature per line:",
}
_HOW_TO_CALL = (
    "To call a tool, reply with one line per call, in this form:\n"
    '<tool_call>{"name": <tool name>, "arguments": {<argument name>: <value>, ...}}</tool_call>\n'
    "Several calls in one reply are allowed."
)


class ToolSpec(BaseModel):
    """A tool the model may call: its name, what it does and a JSON Schema of its arguments."""

    name: str
    description: str = ""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})


def normalize_tools(tools: Any) -> list[ToolSpec]:
    """Check tool definitions and return them as ``ToolSpec``s, in the given order.

    Accepts None, ``ToolSpec``s, ``{"name", "description", "parameters"}`` dicts and the OpenAI shape
    ``{"type": "function", "function": {...}}``. Raises ToolSchemaError naming the bad tool.
    """
    if tools is None:
        return []
    if isinstance(tools, (str, bytes, Mapping)) or not isinstance(tools, Sequence):
        raise ToolSchemaError(f"tools must be a list of tool definitions, got {type(tools).__name__}")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(tools):
        spec = _to_spec(i, tool)
        if any(s.name == spec.name for s in specs):
            raise ToolSchemaError(f"tool {i} ({spec.name!r}): another tool already has this name; names must be unique")
        specs.append(spec)
    return specs


def _to_spec(i: int, tool: Any) -> ToolSpec:
    if isinstance(tool, ToolSpec):
        fields: Mapping[str, Any] = tool.model_dump()
    elif isinstance(tool, Mapping):
        fields = tool["function"] if isinstance(tool.get("function"), Mapping) else tool
    else:
        raise ToolSchemaError(
            f"tool {i} must be a ToolSpec or a dict with 'name' and 'parameters', got {type(tool).__name__}"
        )
    name = fields.get("name")
    if not isinstance(name, str) or not name:
        raise ToolSchemaError(f"tool {i} has no name; give it a non-empty string 'name'")
    label = f"tool {i} ({name!r})"
    if not _NAME.fullmatch(name):
        raise ToolSchemaError(f"{label}: a name may only use letters, digits, '_', '-' and '.'; rename it")
    description = fields.get("description") or ""
    if not isinstance(description, str):
        raise ToolSchemaError(f"{label}: 'description' must be a string, got {type(description).__name__}")
    parameters = fields.get("parameters")
    if parameters is None:
        parameters = {"type": "object", "properties": {}}
    if not isinstance(parameters, Mapping):
        raise ToolSchemaError(
            f"{label}: 'parameters' must be a JSON Schema dict, got {type(parameters).__name__}; "
            'use {"type": "object", "properties": {...}}'
        )
    parameters = dict(parameters)
    try:
        _check_schema(parameters)
    except jsonschema.exceptions.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "top level"
        raise ToolSchemaError(
            f"{label}: 'parameters' is not a valid JSON Schema ({exc.message}, at {where}); fix the schema"
        ) from None
    except TypeError as exc:  # validator_for looks "$schema" up in a dict: a list there is unhashable
        raise ToolSchemaError(f"{label}: 'parameters' is not a valid JSON Schema ({exc}); fix the schema") from None
    if parameters.get("type") != "object":
        raise ToolSchemaError(
            f'{label}: \'parameters\' must have "type": "object" (its properties are the arguments), '
            f"got type {parameters.get('type')!r}"
        )
    return ToolSpec(name=name, description=description, parameters=parameters)


def _check_schema(parameters: dict[str, Any]) -> None:
    """``jsonschema``'s meta-schema check of ``parameters`` (raises its SchemaError), done once per
    distinct schema: an agent sends the same tools with every step, and the check costs about 1.5 ms
    per tool (9 ms for 6 tools, several times a step)."""
    try:
        key = json.dumps(parameters, sort_keys=True)
    except (TypeError, ValueError):  # not JSON: check it as it is, and let the check say what is wrong
        _meta_check(parameters)
        return
    _checked_once(key)


@functools.lru_cache(maxsize=1024)
def _checked_once(key: str) -> bool:
    _meta_check(json.loads(key))  # an error is raised, and not cached
    return True


def _meta_check(parameters: dict[str, Any]) -> None:
    jsonschema.validators.validator_for(parameters).check_schema(parameters)


def check_tool_style(style: Any) -> str:
    if style not in TOOL_STYLES:
        raise ValueError(f"tool_style must be one of {', '.join(map(repr, TOOL_STYLES))}, got {style!r}")
    return style


def tool_block(tools: Any, style: str = "json") -> str:
    """The text that offers ``tools`` to the model (see the module docstring), each tool as a JSON
    object or, with ``style="signature"``, as a signature line; "" for no tools."""
    check_tool_style(style)
    specs = normalize_tools(tools)
    if not specs:
        return ""
    lines = []
    for spec in specs:
        if style == "signature":
            lines.append(signature_line(spec.name, spec.description, spec.parameters or {}))
            continue
        # An empty description costs prompt tokens and tells the model nothing.
        entry = {"name": spec.name, **({"description": spec.description} if spec.description else {})}
        lines.append(json.dumps({**entry, "parameters": spec.parameters}, ensure_ascii=False))
    return "\n".join([_INTROS[style], "<tools>", *lines, "</tools>", _HOW_TO_CALL])


def format_tool_call(call: ToolCall | Mapping[str, Any]) -> str:
    """One call as the model writes it: ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.

    Accepts a ToolCall, a ``{"name", "arguments"}`` dict or the OpenAI shape, with arguments as a
    dict or a JSON string. Raises MessageError for a call without a name or with bad arguments.
    """
    return call_line(*checked_call(call))


def call_line(name: str, arguments: dict[str, Any]) -> str:
    return f"{CALL_OPEN}{json.dumps({'name': name, 'arguments': arguments}, ensure_ascii=False)}{CALL_CLOSE}"


def checked_call(call: Any) -> tuple[str, dict[str, Any]]:
    """Name and arguments of a call in a message, or MessageError saying what is wrong with it."""
    if isinstance(call, ToolCall):
        return call.name, call.arguments
    name, arguments, problem = read_call(dict(call) if isinstance(call, Mapping) else call)
    if problem:
        raise MessageError(f"tool call {call!r} {problem}")
    return name, arguments
