"""Conversations with tool calls and tool results, checked and written as text a chat template renders.

Assistant ``tool_calls`` become ``<tool_call>`` lines and ``tool`` results ``<tool_response>`` lines of
a user turn (the format is described in ``tools``); a result must answer a call made before it.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from agentroute.errors import MessageError
from agentroute.steps.messages import validate_messages
from agentroute.steps.records import ToolCall
from agentroute.steps.tools import call_line, checked_call, tool_block


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
                name, arguments = checked_call(call)
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
            message["content"] = "\n".join(lines + [call_line(name, arguments) for _, name, arguments in calls])
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
