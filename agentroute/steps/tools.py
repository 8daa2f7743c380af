"""Tool definitions, how tools and tool calls are written into a prompt, and how calls are read back.

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

:func:`parse_tool_calls` reads that format back and also accepts what small models write instead:
a missing ``</tool_call>`` at the end, code fences, a bare JSON object or list as the whole reply,
``"arguments"`` as a JSON string, ``"parameters"`` for ``"arguments"`` and the OpenAI
``{"function": {...}}`` shape; with them the native formats: Qwen's ``<tool_call>`` blocks, Llama
3.1's bare ``{"name", "parameters"}`` object and Mistral's ``[TOOL_CALLS][...]`` list.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple, get_args

import jsonschema
from pydantic import BaseModel, Field

from agentroute.errors import MessageError, ToolSchemaError
from agentroute.steps.call_parsing import (
    CALL_CLOSE,
    CALL_OPEN,
    decode_values,
    find_attempts,
    read_call,
    schema_violation,
)
from agentroute.steps.messages import validate_messages
from agentroute.steps.records import SaidArgument, ToolCall
from agentroute.steps.said_values import resolve_arguments
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


class ParsedReply(BaseModel):
    """A reply split into its text and its tool calls, with what went wrong reading the calls."""

    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    error: str | None = None
    said_arguments: list[SaidArgument] = Field(default_factory=list)


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
    return _call_line(*_checked_call(call))


def _call_line(name: str, arguments: dict[str, Any]) -> str:
    return f"{CALL_OPEN}{json.dumps({'name': name, 'arguments': arguments}, ensure_ascii=False)}{CALL_CLOSE}"


def _checked_call(call: Any) -> tuple[str, dict[str, Any]]:
    """Name and arguments of a call in a message, or MessageError saying what is wrong with it."""
    if isinstance(call, ToolCall):
        return call.name, call.arguments
    name, arguments, problem = read_call(dict(call) if isinstance(call, Mapping) else call)
    if problem:
        raise MessageError(f"tool call {call!r} {problem}")
    return name, arguments


class ToolTurn(NamedTuple):
    """A checked message with its tool calls read: (id or None, name, arguments) per call of an
    assistant message, and for a tool result the tool's name (its own, or the answered call's)."""

    message: dict[str, Any]
    calls: list[tuple[str | None, str, dict[str, Any]]]
    tool_name: str | None


def read_tool_turns(messages: Any) -> list[ToolTurn]:
    """The checked messages with their calls read; MessageError for a call without a name or with
    bad arguments, and for a tool result that answers no earlier call. The input is not modified."""
    names_by_id: dict[str, str] = {}  # lets a result without a name take it from the call it answers
    calls_made = 0
    turns = []
    for i, message in enumerate(validate_messages(messages)):
        calls: list[tuple[str | None, str, dict[str, Any]]] = []
        tool_name = None
        if message["role"] == "tool":
            _check_answers_a_call(i, message, calls_made, names_by_id)
            tool_name = message.get("name") or names_by_id.get(message.get("tool_call_id") or "")
        elif message["role"] == "assistant":
            for call in message.get("tool_calls") or []:
                name, arguments = _checked_call(call)
                call_id = call.id if isinstance(call, ToolCall) else call.get("id")
                calls.append((call_id, name, arguments))
                if call_id:
                    names_by_id[call_id] = name
            calls_made += len(calls)
        turns.append(ToolTurn(message, calls, tool_name))
    return turns


def render_tool_messages(
    messages: Any, tools: Any = None, tokenizer: Any = None, tool_style: str = "json"
) -> list[dict[str, Any]]:
    """Messages with tools (written in ``tool_style``), tool calls and tool results written as text
    the chat template can render.

    Adds the tool block to the first system message (or a new one), turns assistant ``tool_calls``
    into ``<tool_call>`` lines and ``tool`` results into ``<tool_response>`` lines of a user turn,
    unless ``tokenizer.chat_template`` mentions ``tool``. The input is not modified.
    """
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    native_tool_role = "tool" in str(template or "")
    out: list[dict[str, Any]] = []
    results_turn: dict[str, Any] | None = None  # the user turn collecting consecutive tool results
    for message, calls, tool_name in read_tool_turns(messages):
        if message["role"] == "tool" and not native_tool_role:
            content = message["content"]
            result = {"name": tool_name, "content": content} if tool_name else {"content": content}
            line = f"<tool_response>{json.dumps(result, ensure_ascii=False)}</tool_response>"
            if results_turn is None:
                results_turn = {"role": "user", "content": line}
                out.append(results_turn)
            else:
                results_turn["content"] += "\n" + line
            continue
        results_turn = None
        message = dict(message)
        if message["role"] == "assistant" and message.get("tool_calls"):
            del message["tool_calls"]
            lines = [message["content"]] if message["content"] else []
            message["content"] = "\n".join(lines + [_call_line(name, arguments) for _, name, arguments in calls])
        out.append(message)
    block = tool_block(tools, tool_style)
    if block:
        if out[0]["role"] == "system":
            system = out[0]["content"]
            out[0] = {**out[0], "content": f"{system}\n\n{block}" if system else block}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def _check_answers_a_call(i: int, message: dict[str, Any], calls_made: int, names_by_id: dict[str, str]) -> None:
    """A tool result must answer a call made earlier in the conversation: an orphan result is
    either a lost call (a bug in the agent loop) or text injected as if a tool had said it."""
    call_id = message.get("tool_call_id")
    if call_id and call_id not in names_by_id:
        known = ", ".join(repr(k) for k in names_by_id) or "none"
        raise MessageError(
            f"message {i} (tool) answers tool call id {call_id!r}, but no earlier assistant message made "
            f"that call (call ids so far: {known})"
        )
    if not calls_made:
        raise MessageError(
            f"message {i} (tool) is a tool result, but no earlier assistant message made a tool call; "
            "put the assistant message with its tool_calls before the results"
        )


def parse_tool_calls(
    text: str,
    tools: Sequence[ToolSpec] | None = None,
    context: str = "",
    today: dt.date | None = None,
    said_values: bool = False,
) -> ParsedReply:
    """Split a reply into text and tool calls; never raises on any reply text.

    Calls that cannot be read are left out and described in ``error``. With ``tools`` (an empty list
    is the same as None), a call to a tool not offered is dropped and reported, and so is a call whose
    arguments break its tool's schema (undeclared arguments included, unless the schema sets
    ``additionalProperties``): only calls a tool can run reach ``tool_calls``. Call ids are
    ``call_<8 hex>``, derived from the text, the call's position and ``context`` (the step passes a
    digest of its conversation): the same reply to the same conversation always gives the same
    ids, and the same call made again in a later turn gets a new one, so no two results in one
    conversation answer the same id.

    A date or time argument that a tool's schema declares (``steps.said_values``; with
    ``said_values``, the model's training, also by its description alone) and that the reply wrote
    in words ("next Friday", "4:00 pm") is put in the declared form before the schema is checked,
    against ``today`` (the conversation's, else the machine's); ``said_arguments`` lists each. A
    phrase that cannot be read drops its call, like any argument the schema refuses.
    """
    text = text if isinstance(text, str) else ""
    offered = {spec.name: spec for spec in normalize_tools(tools)}
    bodies, content = find_attempts(text)
    calls: list[ToolCall] = []
    errors: list[str] = []
    said: list[SaidArgument] = []
    number = 0  # 1-based count of calls attempted, for the messages
    for body in bodies:
        values, _, problem = decode_values(body)
        objects = [item for value in values for item in (value if isinstance(value, list) else [value])]
        for obj in objects:
            number += 1
            name, arguments, bad = read_call(obj)
            if bad:
                errors.append(f"tool call {number} {bad}")
                continue
            if offered:
                if name not in offered:
                    errors.append(
                        f"tool call {number} calls unknown tool {name!r}; offered tools: {', '.join(offered)}"
                    )
                    continue
                parameters = offered[name].parameters
                arguments, resolved = resolve_arguments(arguments, parameters, today or dt.date.today(), said_values)
                said += [SaidArgument(call=number, argument=r.path, said=r.said, value=r.value) for r in resolved]
                unread = next((r for r in resolved if r.value is None), None)
                if unread is not None:
                    form = "YYYY-MM-DD" if unread.kind == "date" else "24-hour HH:MM"
                    errors.append(
                        f"tool call {number} ({name}) gives {unread.path} as {unread.said!r}, which is no "
                        f"{unread.kind} this release reads; its schema asks for {form}"
                    )
                    continue
                violation = schema_violation(parameters, arguments)
                if violation:
                    # Dropped, not passed on: a tool must never run with arguments its schema refuses.
                    errors.append(f"tool call {number} ({name}) {violation}")
                    continue
            seed = f"{context}:{len(calls)}:{text}" if context else f"{len(calls)}:{text}"
            digest = hashlib.sha256(seed.encode("utf-8", "surrogatepass")).hexdigest()
            calls.append(ToolCall(id=f"call_{digest[:8]}", name=name, arguments=arguments))
        if problem:
            number += 1
            errors.append(f"tool call {number} {problem}")
    return ParsedReply(content=content, tool_calls=calls, error="; ".join(errors) or None, said_arguments=said)
