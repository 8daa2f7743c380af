"""Conversions between Haystack chat data and AgentRoute's plain dicts, in both directions.

AgentRoute takes OpenAI-like dicts: ``{"role", "content"}``, assistant turns with
``"tool_calls": [{"id", "name", "arguments"}]`` and tool results as
``{"role": "tool", "tool_call_id", "name", "content"}``. Tools are
``{"name", "description", "parameters"}``. Only text reaches the model: images and files are
refused with an error naming the message rather than silently dropped, because an answer that
ignored half the input would look like a model failure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from haystack.dataclasses import ChatMessage, ChatRole, ReasoningContent, TextContent, ToolCall, ToolCallResult
from haystack.tools import Tool, Toolset, _check_duplicate_tool_names, flatten_tools_or_toolsets

from agentroute import GenerationResult
from agentroute.steps.call_parsing import find_attempts

_ROLES = {role.value for role in ChatRole}


def to_agentroute_messages(messages: Sequence[ChatMessage]) -> list[dict[str, Any]]:
    """Haystack ChatMessages -> AgentRoute message dicts; ValueError naming the first bad message.

    A tool result whose origin matches no call of an earlier assistant message is refused: the model
    would read the result of a call it never made.
    """
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise ValueError(f"messages must be a list of ChatMessage, got {type(messages).__name__}")
    if not messages:
        raise ValueError("messages is empty; pass at least one ChatMessage (e.g. ChatMessage.from_user(...))")
    out: list[dict[str, Any]] = []
    calls: list[ToolCall] = []  # every call made so far, to match each tool result to its origin
    for i, message in enumerate(messages):
        if not isinstance(message, ChatMessage):
            raise ValueError(f"message {i} must be a ChatMessage, got {type(message).__name__}")
        out.extend(_message_dicts(i, message))
        for result in message.tool_call_results:
            _check_origin(i, result.origin, calls)
        calls.extend(message.tool_calls)
    return out


def _check_origin(i: int, origin: ToolCall, calls: list[ToolCall]) -> None:
    """A tool result must answer a call made earlier in the conversation (by id, or the same call when ids are None)."""
    if origin.id is not None:
        if any(call.id == origin.id for call in calls):
            return
        what = f"tool call id {origin.id!r}"
    elif origin in calls:
        return
    else:
        what = f"call {origin.tool_name}({origin.arguments}) without an id"
    known = ", ".join(repr(c.id) for c in calls if c.id) or "none"
    raise ValueError(
        f"message {i} (tool) answers {what}, which no earlier assistant message made (earlier call ids: {known}); "
        "keep each tool result after the assistant message whose tool_calls hold its origin"
    )


def _message_dicts(i: int, message: ChatMessage) -> list[dict[str, Any]]:
    role = getattr(message.role, "value", message.role)
    if role not in _ROLES:
        raise ValueError(f"message {i} has unknown role {role!r}; use one of {', '.join(sorted(_ROLES))}")
    label = f"message {i} ({role})"
    texts: list[str] = []
    calls: list[ToolCall] = []
    results: list[ToolCallResult] = []
    # All parts, not the public per-kind accessors (.texts, .tool_calls, ...): a kind this code does not
    # know (a future Haystack content type) must raise here rather than vanish from the prompt.
    for part in message._content:
        if isinstance(part, TextContent):
            texts.append(part.text)
        elif isinstance(part, ToolCall):
            calls.append(part)
        elif isinstance(part, ToolCallResult):
            results.append(part)
        elif isinstance(part, ReasoningContent):
            # Another model's private reasoning; chat templates drop it too, and it is not part of the dialogue.
            continue
        else:
            raise ValueError(
                f"{label} has {type(part).__name__} content; LayerRouteGenerator runs text-only models, "
                "so pass text (describe the image or extract the file's text first)"
            )
    if calls and role != "assistant":
        raise ValueError(f"{label} has tool calls; only assistant messages may carry them")
    if results:
        if role != "tool" or texts or calls:
            raise ValueError(f"{label} mixes a tool result with other content; a tool message holds results only")
        return [_tool_result_dict(label, result) for result in results]
    if role == "tool":
        raise ValueError(f"{label} has no tool result; build it with ChatMessage.from_tool(result, origin=call)")
    content = "\n".join(texts)
    if role == "assistant" and calls:
        return [
            {
                "role": "assistant",
                "content": content,
                "tool_calls": [{"id": c.id, "name": c.tool_name, "arguments": dict(c.arguments)} for c in calls],
            }
        ]
    if not texts and role != "assistant":  # an empty assistant turn is a (useless) reply, not an error
        raise ValueError(f"{label} has no text")
    return [{"role": role, "content": content}]


def _tool_result_dict(label: str, result: ToolCallResult) -> dict[str, Any]:
    value = result.result
    if isinstance(value, str):
        content = value
    else:
        parts = list(value)
        if not all(isinstance(p, TextContent) for p in parts):
            kinds = sorted({type(p).__name__ for p in parts if not isinstance(p, TextContent)})
            raise ValueError(f"{label} has a tool result with {', '.join(kinds)}; only text results can be used")
        content = "\n".join(p.text for p in parts)
    return {"role": "tool", "tool_call_id": result.origin.id, "name": result.origin.tool_name, "content": content}


def to_chat_message(message: dict[str, Any]) -> ChatMessage:
    """One AgentRoute message dict -> a Haystack ChatMessage (the inverse of ``to_agentroute_messages``)."""
    role = message.get("role")
    content = message.get("content")
    if role == "system":
        return ChatMessage.from_system(content or "")
    if role == "user":
        return ChatMessage.from_user(content or "")
    if role == "assistant":
        calls = [
            ToolCall(tool_name=c["name"], arguments=dict(c.get("arguments") or {}), id=c.get("id"))
            for c in message.get("tool_calls") or []
        ]
        return ChatMessage.from_assistant(text=content or (None if calls else ""), tool_calls=calls or None)
    if role == "tool":
        origin = ToolCall(tool_name=message.get("name") or "", arguments={}, id=message.get("tool_call_id"))
        return ChatMessage.from_tool(tool_result=content or "", origin=origin)
    raise ValueError(f"unknown role {role!r}; use one of {', '.join(sorted(_ROLES))}")


def to_agentroute_tools(tools: list[Tool | Toolset] | Toolset | None) -> list[dict[str, Any]]:
    """Haystack Tools/Toolsets -> ``{"name", "description", "parameters"}`` dicts (names must be unique)."""
    flat = flatten_tools_or_toolsets(tools)
    _check_duplicate_tool_names(flat)
    return [dict(tool.tool_spec) for tool in flat]


def reply_message(result: GenerationResult, index: int = 0, tools_offered: bool = False) -> ChatMessage:
    """A GenerationResult -> the assistant ChatMessage a Haystack chat generator returns.

    With tool calls, the text is whatever the model wrote besides them, or None (what Haystack's
    generators return for a pure tool-call reply). A call attempt that did not parse is dropped
    from the text, as Haystack's generators drop malformed calls: an ``Agent`` then does not end on
    the raw call as its answer but runs another step (the parser's error stays in the record).
    Meta: ``model``, ``index``, ``finish_reason``, ``usage`` (exact token counts from the step
    record) and ``layerroute`` (the record as JSON-safe dict).
    """
    record = result.record
    calls = [ToolCall(tool_name=c.name, arguments=c.arguments, id=c.id) for c in result.tool_calls]
    text = result.text
    if tools_offered and not calls and record.error:
        attempts, words = find_attempts(text)
        text = words if attempts else text
    meta = {
        "model": record.model,
        "index": index,
        "finish_reason": record.finish_reason,
        "usage": {
            "prompt_tokens": record.prompt_tokens,
            "completion_tokens": record.completion_tokens,
            "total_tokens": record.prompt_tokens + record.completion_tokens,
        },
        "layerroute": record.model_dump(mode="json"),
    }
    text = (text or None) if calls else text
    return ChatMessage.from_assistant(text=text, tool_calls=calls or None, meta=meta)
