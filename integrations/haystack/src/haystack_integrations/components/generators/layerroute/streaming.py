"""Turn AgentRoute's text callback into Haystack ``StreamingChunk``s.

The model streams raw text. When tools are offered, part of that text is tool-call markup that
ends up in the reply's ``tool_calls``, not in its text, so the stream holds it back: text after a
``<tool_call>`` tag (or a tail that could begin one), and a reply that opens like a bare or fenced
JSON call, are sent only once the reply is parsed. The calls themselves stream as they form
(``agentroute.decode.call_stream.CallScanner``): a ``ToolCallDelta`` with the tool's name once it is
complete, then the arguments' JSON text in fragments, each call in its own content block. The last
chunks carry the call ids (derived from the whole reply), any call that did not stream (whole),
and the finish reason, usage and step record; a streamed call the parser dropped gets a fragment
that makes its arguments unreadable, so Haystack's ``_convert_streaming_chunks_to_chat_message``
skips it. The chunks add up as that function reads them: content = the reply's text, the calls =
the reply's calls.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from haystack.dataclasses import ChatMessage, ComponentInfo, StreamingCallbackT, StreamingChunk
from haystack.dataclasses.streaming_chunk import ToolCallDelta, _invoke_streaming_callback

from agentroute import GenerationResult, RoutedModel, ToolCall
from agentroute.decode.call_stream import CallScanner, spoiled, streamed_calls_agree
from agentroute.decode.cancellation import generate_async
from agentroute.steps.call_formats import HAND_WRITTEN, CallFormat

from .convert import reply_message

_CALL_TAG = "<tool_call>"
_CALL_OPENERS = ("{", "[", "```")  # how a reply that is only a call (bare or fenced JSON) begins
_CALL_MARKERS = (_CALL_TAG, "```")  # where a call may start after some text


class ChunkStream:
    """Builds the chunks of one reply; ``text`` runs on the generating thread, ``final`` after it."""

    def __init__(
        self,
        model: str,
        component_info: ComponentInfo | None,
        tool_names: list[str],
        call_format: CallFormat = HAND_WRITTEN,
        held: Sequence[str] = (),
    ) -> None:
        self.model = model
        self.component_info = component_info
        self.tools_offered = bool(tool_names)
        self._calls = CallScanner(tool_names, call_format=call_format, held=held) if tool_names else None
        self._first_block: int | None = None  # the content block of the first streamed call
        self._text = ""  # everything the model produced so far
        self._sent = ""  # the content already streamed
        self._first_at: str | None = None  # when the first chunk went out (time to first token)

    def text(self, delta: str) -> list[StreamingChunk]:
        """Chunks for newly generated text (none while it may be tool-call markup) and for the
        tool calls it forms."""
        self._text += delta
        visible = self._visible(self._text)
        chunks = self._content(visible[len(self._sent) :])
        for call in self._calls.push(delta) if self._calls is not None else []:
            if self._first_block is None:  # content block 0 is the text, as Haystack's generators number them
                self._first_block = 1 if self._sent else 0
            block = self._first_block + call.index
            fields = {"tool_name": call.name} if call.name is not None else {}
            tool = ToolCallDelta(index=block, arguments=call.arguments or None, **fields)
            chunks.append(self._chunk(content="", index=block, start=call.name is not None, tool_calls=[tool]))
        return chunks

    def final(self, reply: ChatMessage) -> list[StreamingChunk]:
        """The held-back text, the calls' ids (and the calls that did not stream, whole), and the
        closing chunk with finish reason and usage. The reply's meta gains
        ``completion_start_time``, as Haystack's streaming generators set it (tracers read it as
        the time to first token)."""
        text = reply.text or ""
        # The parsed text normally extends what was streamed; when it does not (the parser trimmed
        # whitespace the stream had already sent), nothing more is sent rather than a duplicate.
        chunks = self._content(text[len(self._sent) :]) if text.startswith(self._sent) else []
        streamed = self._calls.calls if self._calls is not None else []
        first = self._first_block if self._first_block is not None else (1 if self._sent else 0)
        calls = [(c.tool_name, c.arguments, c.id) for c in reply.tool_calls]
        parsed = [ToolCall(id=i, name=n, arguments=a) for n, a, i in calls]
        if streamed_calls_agree(streamed, parsed):
            for i, ((_, arguments, call_id), seen) in enumerate(zip(calls, streamed, strict=False)):
                whole = json.dumps(arguments) if seen.held else None  # a held call's arguments, parsed
                delta = ToolCallDelta(index=first + i, id=call_id, arguments=whole)
                chunks.append(self._chunk(content="", index=first + i, tool_calls=[delta]))
            rest = calls[len(streamed) :]
        else:
            for i, call in enumerate(streamed):
                spoil = ToolCallDelta(index=first + i, arguments=spoiled(call.arguments))
                chunks.append(self._chunk(content="", index=first + i, tool_calls=[spoil]))
            rest = calls
        block = first + len(streamed)
        for name, arguments, call_id in rest:
            delta = ToolCallDelta(index=block, tool_name=name, arguments=json.dumps(arguments), id=call_id)
            chunks.append(self._chunk(content="", index=block, start=True, tool_calls=[delta]))
            block += 1
        meta = reply.meta
        meta["completion_start_time"] = self._first_at or datetime.now().isoformat()
        chunks.append(
            self._chunk(
                content="",
                finish_reason=meta.get("finish_reason"),
                extra_meta={k: meta[k] for k in ("finish_reason", "usage", "layerroute") if k in meta},
            )
        )
        return chunks

    def _visible(self, text: str) -> str:
        """The prefix of ``text`` that is certainly reply text."""
        if not self.tools_offered:
            return text
        head = text.lstrip()
        # Leading whitespace waits too: the parser strips it from a reply whose rest is a call.
        if not head or head.startswith(_CALL_OPENERS) or _CALL_TAG.startswith(head):
            return ""
        # A call may also start later in the reply: at its tag, or at a fence (the parser reads
        # fenced JSON calls anywhere), so text stops at the first of either, or a start of one.
        cuts = [cut for marker in _CALL_MARKERS if (cut := text.find(marker)) != -1]
        if cuts:
            text = text[: min(cuts)]
        for k in range(min(len(_CALL_TAG) - 1, len(text)), 0, -1):
            if any(marker.startswith(text[-k:]) for marker in _CALL_MARKERS):
                text = text[:-k]
                break
        # Trailing whitespace waits for what follows: before a call the parser strips it.
        return text.rstrip()

    def _content(self, content: str) -> list[StreamingChunk]:
        if not content:
            return []
        chunk = self._chunk(content=content, index=0, start=not self._sent)
        self._sent += content
        return [chunk]

    def _chunk(self, extra_meta: dict[str, Any] | None = None, **fields: Any) -> StreamingChunk:
        meta = {"model": self.model, "received_at": datetime.now().isoformat(), **(extra_meta or {})}
        self._first_at = self._first_at or meta["received_at"]
        return StreamingChunk(component_info=self.component_info, meta=meta, **fields)


async def generate_streaming(
    model: RoutedModel,
    prompt: list[dict[str, Any]],
    request: dict[str, Any],
    stream: ChunkStream,
    callback: StreamingCallbackT,
) -> tuple[GenerationResult, ChatMessage]:
    """Generate in a worker thread and hand ``stream``'s chunks to ``callback`` on the event loop, in order."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue = asyncio.Queue()

    def on_text(delta: str) -> None:  # runs on the worker thread
        for chunk in stream.text(delta):
            loop.call_soon_threadsafe(queue.put_nowait, chunk)

    async def forward() -> None:
        while (chunk := await queue.get()) is not None:
            await _invoke_streaming_callback(callback, chunk)

    forwarder = asyncio.create_task(forward())
    try:
        result = await generate_async(model.generate, prompt, **request, on_text=on_text)
    finally:
        # The thread's call_soon_threadsafe puts were all scheduled before its result came back,
        # so the end marker queues after the last text chunk.
        queue.put_nowait(None)
        await forwarder
    reply = reply_message(result, tools_offered=bool(request["tools"]))
    for chunk in stream.final(reply):
        await _invoke_streaming_callback(callback, chunk)
    return result, reply
