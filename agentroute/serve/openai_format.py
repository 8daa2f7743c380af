"""The wire format both sides share: OpenAI's chat completions plus AgentRoute's ``"agentroute"`` key.

A completion (``chat.completion``) carries ``choices[0].message`` with ``content`` and OpenAI-style
``tool_calls`` (arguments as a JSON string), ``finish_reason`` and ``usage``, and at the top level::

    "agentroute": {"record": <StepRecord as JSON>, "token_ids": [...], "raw_text": "<reply as decoded>"}

``raw_text`` is the reply before its calls were read out of it (the ``<tool_call>`` markup the
model wrote), so a client parses and schema-checks the calls itself exactly as the core does and
gets the same call ids. A stream (``chat.completion.chunk`` events, then ``[DONE]``) carries the
same: each decoded piece as ``"agentroute": {"raw": piece}`` (and as a ``content`` delta when no
tools are offered; with tools, content and calls arrive parsed at the end), the last chunk the
record, token ids and raw text. Other engines leave the key out; clients fall back to OpenAI's
fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.errors import AgentRouteError, MessageError
from agentroute.steps.records import GenerationResult, ToolCall
from agentroute.steps.response_format import ResponseFormatError, openai_response_format_schema
from agentroute.steps.tool_turns import read_tool_turns
from agentroute.steps.tools import format_tool_call

EXTENSION = "agentroute"


class RequestError(AgentRouteError, ValueError):
    """A chat-completions request the server cannot serve; ``param`` names the field."""

    def __init__(self, message: str, param: str | None = None, status: int = 400) -> None:
        super().__init__(message)
        self.param = param
        self.status = status


def error_body(message: str, param: str | None = None, kind: str = "invalid_request_error") -> dict[str, Any]:
    """OpenAI's error shape."""
    return {"error": {"message": message, "type": kind, "param": param, "code": None}}


def openai_tool_calls(calls: Sequence[ToolCall]) -> list[dict[str, Any]]:
    """Parsed calls in OpenAI's shape (arguments as a JSON string)."""
    return [_function_call(call.id, call.name, call.arguments) for call in calls]


def _function_call(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    arguments_json = json.dumps(arguments, ensure_ascii=False)
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments_json}}


def openai_messages(messages: Any) -> list[dict[str, Any]]:
    """Checked messages in OpenAI's shape: assistant calls as ``{"id", "type", "function": {"name",
    "arguments": "<JSON>"}}`` (a call without an id gets one, unique in the request), tool results
    with their ``tool_call_id`` and the tool's name. MessageError as the core raises it."""
    out = []
    for i, (message, calls, tool_name) in enumerate(read_tool_turns(messages)):
        wire: dict[str, Any] = {"role": message["role"], "content": message["content"]}
        if message.get("name") and message["role"] != "tool":
            wire["name"] = message["name"]
        if calls:
            wire["tool_calls"] = [
                _function_call(call_id or f"call_{i}_{j}", name, arguments)
                for j, (call_id, name, arguments) in enumerate(calls)
            ]
            wire["content"] = message["content"] or None
        if message["role"] == "tool":
            wire.update({k: v for k, v in (("tool_call_id", message.get("tool_call_id")), ("name", tool_name)) if v})
        out.append(wire)
    return out


def response_format(json_schema: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``generate``'s ``json_schema`` as OpenAI's ``response_format``."""
    if json_schema is None:
        return None
    return {"type": "json_schema", "json_schema": {"name": "reply", "schema": dict(json_schema)}}


def json_schema_of(value: Any) -> dict[str, Any] | None:
    """OpenAI's ``response_format`` as ``generate``'s ``json_schema`` (``json_object``: any object)."""
    try:
        return openai_response_format_schema(value)
    except ResponseFormatError as exc:
        raise RequestError(str(exc), "response_format") from None


def usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def reply_message(result: GenerationResult, max_calls: int | None = None) -> dict[str, Any]:
    """``choices[0].message`` of a result: content (None when only calls), OpenAI tool calls."""
    calls = result.tool_calls[:max_calls] if max_calls is not None else result.tool_calls
    message: dict[str, Any] = {"role": "assistant", "content": result.text if result.text or not calls else None}
    if calls:
        message["tool_calls"] = openai_tool_calls(calls)
    return message


def extension(result: GenerationResult, raw_text: str) -> dict[str, Any]:
    return {"record": result.record.model_dump(mode="json"), "token_ids": result.token_ids, "raw_text": raw_text}


def completion_body(
    result: GenerationResult, *, completion_id: str, created: int, model: str, raw_text: str, max_calls: int | None
) -> dict[str, Any]:
    record = result.record
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "message": reply_message(result, max_calls), "finish_reason": record.finish_reason}],
        "usage": usage(record.prompt_tokens, record.completion_tokens),
        EXTENSION: extension(result, raw_text),
    }


def chunk_body(
    completion_id: str,
    created: int,
    model: str,
    delta: dict[str, Any],
    finish_reason: str | None = None,
    ours: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}],
    }
    if ours is not None:
        body[EXTENSION] = ours
    return body


def written_reply(content: str | None, tool_calls: Sequence[Mapping[str, Any]]) -> str:
    """The reply text an engine's parsed message stands for: its content, then each call as a
    ``<tool_call>`` line, so ``parse_tool_calls`` reads and checks the engine's calls as its own.
    A call whose arguments are not JSON keeps them as written, so the parser reports it."""
    lines = [content] if content else []
    for call in tool_calls:
        try:
            lines.append(format_tool_call(call))
        except MessageError:
            function = call.get("function") if isinstance(call.get("function"), Mapping) else call
            name = json.dumps(str(function.get("name", "")))
            lines.append(f'<tool_call>{{"name": {name}, "arguments": {function.get("arguments")}}}</tool_call>')
    return "\n".join(lines)
