"""Run one generation in a worker thread and hand its text to the caller as it is produced.

``RoutedModel.generate`` reports text through an ``on_text`` callback while it decodes; these
helpers move that text through a queue so a (sync or async) generator can yield it as tokens
arrive. The worker runs in a copy of the caller's context, so ``agentroute.Trace`` scopes and
LangChain's run context reach the generation exactly as they would on the calling thread.

Closing the stream early cancels the generation: its ``cancelled`` check (asked at every token)
turns true, which stops the decode loop and drops the half-written KV cache. ``ReplyChunks`` turns the text
and the final result into LangChain chunks that add up to the message ``invoke`` returns.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from langchain_core.messages import AIMessageChunk
from langchain_core.outputs import ChatGenerationChunk

from agentroute import GenerationResult
from agentroute.steps.call_formats import HAND_WRITTEN, CallFormat

from .messages import final_chunk, kept_calls
from .tool_stream import ToolCallStream

if TYPE_CHECKING:
    from .request import Step

# Called with the keywords ``on_text`` and ``cancelled`` (RoutedModel.generate's).
Generate = Callable[..., GenerationResult]

_TEXT, _DONE, _ERROR = "text", "done", "error"


def stream_generation(generate: Generate) -> Iterator[str | GenerationResult]:
    """Yield text pieces as ``generate(on_text=..., cancelled=...)`` produces them, then its GenerationResult."""
    pieces: queue.SimpleQueue = queue.SimpleQueue()
    cancelled = threading.Event()

    def on_text(piece: str) -> None:
        pieces.put((_TEXT, piece))

    def work() -> None:
        try:
            pieces.put((_DONE, generate(on_text=on_text, cancelled=cancelled.is_set)))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            pieces.put((_ERROR, exc))

    worker = threading.Thread(target=contextvars.copy_context().run, args=(work,), name="layerroute-stream")
    worker.start()
    try:
        while True:
            kind, value = pieces.get()
            if kind == _TEXT:
                yield value
            elif kind == _DONE:
                yield value
                return
            else:
                raise value
    finally:
        cancelled.set()
        # Cancellation makes this quick (the worker stops at its next token); joining means a
        # closed stream leaves no generation running behind the caller's back.
        worker.join()


async def astream_generation(generate: Generate) -> AsyncIterator[str | GenerationResult]:
    """Async twin of ``stream_generation``: the worker thread feeds an asyncio queue."""
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()

    def on_text(piece: str) -> None:
        loop.call_soon_threadsafe(pieces.put_nowait, (_TEXT, piece))

    # to_thread copies the context; its completion is scheduled after every text piece it queued.
    task = asyncio.ensure_future(asyncio.to_thread(generate, on_text=on_text, cancelled=cancelled.is_set))
    task.add_done_callback(lambda _: pieces.put_nowait((_DONE, None)))
    try:
        while True:
            kind, value = await pieces.get()
            if kind != _TEXT:
                break
            yield value
        yield await task
    finally:
        cancelled.set()
        # Nobody may await the task any more: fetch its outcome so asyncio does not log it as lost.
        task.add_done_callback(lambda t: t.cancelled() or t.exception())


class ToolSafeText:
    """Decides how much of a reply can be streamed when tools are offered.

    With tools the final content is the reply minus its tool calls, stripped, while a reply with
    no call keeps its raw text. Streamed text can never be taken back, so only text that is a
    prefix of the content in both cases goes out early: nothing when the reply starts with
    whitespace or with ``{``/``[`` (a bare JSON call), and otherwise the text before the first
    ``<``, backtick, ``{`` or ``[`` (where a call could begin) without trailing whitespace. The
    rest arrives with the final chunk.
    """

    _CALL_START = "<`{["

    def __init__(self) -> None:
        self.text = ""
        self.emitted = 0

    def push(self, piece: str) -> str:
        """Add generated text; return the newly safe part (possibly "")."""
        self.text += piece
        end = self._safe_end()
        if end <= self.emitted:
            return ""
        out, self.emitted = self.text[self.emitted : end], end
        return out

    def _safe_end(self) -> int:
        text = self.text
        if not text or text[0].isspace() or text[0] in "{[":
            return 0
        cut = min((i for i in (text.find(c) for c in self._CALL_START) if i != -1), default=len(text))
        return len(text[:cut].rstrip())


class ReplyChunks:
    """One streamed reply: text deltas and the final result as chunks that add up to ``invoke``'s message.

    With tools, text that may be call markup waits (``ToolSafeText``) while the calls themselves
    stream as ``tool_call_chunks`` (``ToolCallStream``).
    """

    def __init__(self, step: Step, call_format: CallFormat = HAND_WRITTEN, held: Sequence[str] = ()) -> None:
        self.max_calls = step.max_calls
        self.safe = ToolSafeText() if step.tools else None
        names = [t["name"] for t in step.tools]
        self.calls = ToolCallStream(names, step.max_calls, call_format, held) if step.tools else None
        self.sent = ""

    def chunk(self, item: str | GenerationResult) -> ChatGenerationChunk | None:
        """A text delta as a chunk (None when nothing of it can go out yet), or the final chunk."""
        if isinstance(item, str):
            text = self.safe.push(item) if self.safe is not None else item
            calls = self.calls.push(item) if self.calls is not None else []
            if not text and not calls:
                return None
            self.sent += text
            return ChatGenerationChunk(message=AIMessageChunk(content=text, tool_call_chunks=calls))
        # By construction the streamed text is a prefix of the final content (see ToolSafeText).
        rest = item.text[len(self.sent) :] if item.text.startswith(self.sent) else item.text
        calls = self.calls.final_chunks(kept_calls(item, self.max_calls)) if self.calls is not None else []
        return ChatGenerationChunk(message=final_chunk(item, rest, calls))
