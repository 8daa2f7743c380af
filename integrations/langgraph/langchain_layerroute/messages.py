"""LangChain messages <-> AgentRoute chat dicts, and a finished step -> ``AIMessage`` / final chunk."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.messages.tool import ToolCallChunk, invalid_tool_call, tool_call

from agentroute import GenerationResult, StepRecord, ToolCall

# LangChain's provider name for this integration: ``ls_provider`` in traces, ``model_provider`` on replies.
PROVIDER = "agentroute"

_ACCEPTED = "SystemMessage, HumanMessage, AIMessage and ToolMessage"
# ChatMessage carries a free-form role: accept the ones that mean a known turn.
_CHAT_ROLES = {"system": "system", "user": "user", "human": "user", "assistant": "assistant", "ai": "assistant"}
# Blocks of an AIMessage's content that are not its words: its calls, which ``message.tool_calls``
# carries (LangChain writes them into content under ``output_version="v1"``, and other providers'
# replies do), and reasoning, which the model does not read back.
_AI_BLOCKS_SKIPPED = frozenset(
    {"tool_call", "tool_call_chunk", "invalid_tool_call", "server_tool_call", "server_tool_result", "tool_use"}
    | {"reasoning", "thinking", "redacted_thinking"}
)


def to_agentroute_messages(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    """Convert LangChain messages to the ``{"role", "content", ...}`` dicts ``RoutedModel.generate`` takes.

    AIMessage tool calls become ``"tool_calls": [{"id", "name", "arguments"}]`` and ToolMessages
    ``{"role": "tool", "tool_call_id", "name", "content"}``; AgentRoute writes both into the prompt.
    Raises ValueError naming the message index for an unsupported message type, non-text content or
    a ToolMessage that answers no earlier AIMessage's tool call (the model would read a result of a
    call it never made).
    """
    out = []
    call_ids: set[str | None] = set()
    for i, message in enumerate(messages):
        if isinstance(message, SystemMessage):
            out.append({"role": "system", "content": _text(i, message)})
        elif isinstance(message, HumanMessage):
            out.append({"role": "user", "content": _text(i, message)})
        elif isinstance(message, AIMessage):
            converted: dict[str, Any] = {"role": "assistant", "content": _text(i, message, _AI_BLOCKS_SKIPPED)}
            if message.tool_calls:
                call_ids.update(call.get("id") for call in message.tool_calls)
                converted["tool_calls"] = [
                    {"id": call.get("id"), "name": call["name"], "arguments": call.get("args") or {}}
                    for call in message.tool_calls
                ]
            out.append(converted)
        elif isinstance(message, ToolMessage):
            if message.tool_call_id not in call_ids:
                known = ", ".join(sorted(repr(c) for c in call_ids if c)) or "none"
                raise ValueError(
                    f"message {i} is a ToolMessage for tool call {message.tool_call_id!r}, which no earlier AIMessage "
                    f"made (earlier call ids: {known}); keep each ToolMessage after the AIMessage whose tool_calls "
                    "hold its tool_call_id"
                )
            out.append(
                {
                    "role": "tool",
                    "tool_call_id": message.tool_call_id,
                    "name": message.name,
                    "content": _text(i, message),
                }
            )
        elif isinstance(message, ChatMessage) and message.role in _CHAT_ROLES:
            out.append({"role": _CHAT_ROLES[message.role], "content": _text(i, message)})
        else:
            kind = type(message).__name__
            detail = f" with role {message.role!r}" if isinstance(message, ChatMessage) else ""
            raise ValueError(f"message {i} is a {kind}{detail}; ChatLayerRoute accepts {_ACCEPTED}")
    return out


def _text(i: int, message: BaseMessage, skipped: frozenset[str] = frozenset()) -> str:
    """The message's text; a list of text blocks is joined, blocks of a ``skipped`` type are left out,
    anything else (images, audio, ...) is refused."""
    content = message.content
    if isinstance(content, str):
        return content
    parts = []
    for block in content:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text" and isinstance(block.get("text"), str):
            parts.append(block["text"])
        elif isinstance(block, dict) and block.get("type") in skipped:
            continue
        else:
            what = block.get("type") if isinstance(block, dict) else type(block).__name__
            raise ValueError(
                f"message {i} ({type(message).__name__}) has a non-text content block ({what!r}); "
                "the local model reads text only"
            )
    return "".join(parts)


def usage_metadata(record: StepRecord) -> UsageMetadata:
    """Exact token counts from the step record (``cache_read``: prompt tokens whose KV was reused)."""
    return UsageMetadata(
        input_tokens=record.prompt_tokens,
        output_tokens=record.completion_tokens,
        total_tokens=record.prompt_tokens + record.completion_tokens,
        input_token_details={"cache_read": record.reused_prompt_tokens},
    )


def response_metadata(record: StepRecord) -> dict[str, Any]:
    """``model_name``, ``finish_reason``, the whole record under ``layerroute`` and, if any, its ``error``."""
    metadata: dict[str, Any] = {
        "model_name": record.model,
        "model_provider": PROVIDER,
        "finish_reason": record.finish_reason,
        "layerroute": record.model_dump(mode="json"),
    }
    if record.error:
        metadata["error"] = record.error
    return metadata


def kept_calls(result: GenerationResult, max_calls: int | None) -> list[ToolCall]:
    """The reply's parsed calls, the first ``max_calls`` of them when that is set."""
    return list(result.tool_calls if max_calls is None else result.tool_calls[:max_calls])


def to_ai_message(result: GenerationResult, max_calls: int | None = None, tools_offered: bool = True) -> AIMessage:
    """The step's reply as an AIMessage: text, tool calls (ids from the record), usage and metadata.

    A reply that tried to call a tool but yielded no usable call keeps its raw text as content and
    gets one ``invalid_tool_calls`` entry carrying the parser's error. It has no id, so agents end
    the turn on it instead of answering a call that never parsed. ``max_calls``: keep only the
    first calls (``parallel_tool_calls=False``); the record still lists all the model wrote.
    ``tools_offered=False``: the step had no tools, so its error (a structured reply cut off) is
    not a call's; it stays in ``response_metadata["error"]``.
    """
    record = result.record
    calls = [tool_call(name=c.name, args=c.arguments, id=c.id) for c in kept_calls(result, max_calls)]
    invalid = []
    if record.error and not calls and tools_offered:
        invalid = [invalid_tool_call(name=None, args=result.text, id=None, error=record.error)]
    return AIMessage(
        content=result.text,
        tool_calls=calls,
        invalid_tool_calls=invalid,
        usage_metadata=usage_metadata(record),
        response_metadata=response_metadata(record),
    )


def final_chunk(result: GenerationResult, content: str, tool_call_chunks: list[ToolCallChunk]) -> AIMessageChunk:
    """The last streamed chunk: the text not yet streamed, the calls' ids and rest, usage and metadata.

    ``tool_call_chunks`` complete what streamed earlier (``tool_stream.ToolCallStream.final_chunks``) so
    that merging the chunks gives the same ``tool_calls`` as ``invoke``. Invalid calls are left out:
    as chunks they would be re-parsed on merge and could come back as a call with an empty name; the
    error stays in ``response_metadata``.
    """
    return AIMessageChunk(
        content=content,
        tool_call_chunks=tool_call_chunks,
        usage_metadata=usage_metadata(result.record),
        response_metadata=response_metadata(result.record),
        chunk_position="last",
    )
