"""Reading a reply back into text and tool calls, checked against the offered tools.

Accepts the prompt's format (``tools``) and what small models write instead: a missing
``</tool_call>`` at the end, code fences, a bare JSON object or list as the whole reply,
``"arguments"`` as a JSON string, ``"parameters"`` for ``"arguments"`` and the OpenAI
``{"function": {...}}`` shape; with them the native formats: Qwen's ``<tool_call>`` blocks, Llama
3.1's bare ``{"name", "parameters"}`` object and Mistral's ``[TOOL_CALLS][...]`` list.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence

from pydantic import BaseModel, Field

from agentroute.steps.call_parsing import decode_values, find_attempts, read_call, schema_violation
from agentroute.steps.records import SaidArgument, ToolCall
from agentroute.steps.said_values import resolve_arguments
from agentroute.steps.tools import ToolSpec, normalize_tools


class ParsedReply(BaseModel):
    """A reply split into its text and its tool calls, with what went wrong reading the calls."""

    content: str = ""
    tool_calls: list[ToolCall] = Field(default_factory=list)
    error: str | None = None
    said_arguments: list[SaidArgument] = Field(default_factory=list)


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
