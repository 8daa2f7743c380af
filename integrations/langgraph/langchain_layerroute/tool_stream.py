"""Tool calls streamed as they form: LangChain ``tool_call_chunks`` from the core's ``CallScanner``.

``agentroute.decode.call_stream.CallScanner`` reads each call (in the model's format) out of the raw reply as it
grows: a chunk with the name and the call's index once the name is complete, then the arguments'
JSON text in fragments. Call ids are derived from the whole reply, so they travel in the final
chunk; LangChain merges chunks by index. A call in another shape, and every call after it, arrives
whole in the final chunk. ``ToolCallStream.final_chunks`` checks what was streamed against the
parsed reply. Streamed text cannot be taken back, so a streamed call that the parser dropped (the
reply was cut off, or the call broke its tool's schema) gets one more fragment that makes its
arguments unreadable (``spoiled``): the merged message lists it under ``invalid_tool_calls``, never
as a call an agent would run, and the parsed calls follow at fresh indices.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk

from agentroute import ToolCall
from agentroute.decode.call_stream import CallScanner, spoiled, streamed_calls_agree
from agentroute.steps.call_formats import HAND_WRITTEN, CallFormat


class ToolCallStream:
    """One reply's streamed tool calls as LangChain chunks (``names``: the offered tools;
    ``max_calls``: stream at most this many, 1 when parallel tool calls are off; ``call_format``:
    how the model's calls read in its text, ``RoutedModel.streamed_call_format``)."""

    def __init__(
        self,
        names: Sequence[str],
        max_calls: int | None = None,
        call_format: CallFormat = HAND_WRITTEN,
        held: Sequence[str] = (),
    ) -> None:
        self.scanner = CallScanner(names, max_calls, call_format, held)

    def push(self, delta: str) -> list[ToolCallChunk]:
        """Add generated text; return the tool-call chunks it completes (possibly none)."""
        return [
            tool_call_chunk(name=d.name, args=d.arguments, id=None, index=d.index) for d in self.scanner.push(delta)
        ]

    def final_chunks(self, calls: Sequence[ToolCall]) -> list[ToolCallChunk]:
        """The final chunk's tool-call chunks, given the reply's parsed (and kept) calls."""
        streamed = self.scanner.calls
        if streamed_calls_agree(streamed, calls):
            ends = [
                tool_call_chunk(name=None, args=_held_arguments(s, c), id=c.id, index=i)
                for i, (s, c) in enumerate(zip(streamed, calls, strict=False))
            ]
            rest = calls[len(streamed) :]
        else:
            ends = [
                tool_call_chunk(name=None, args=spoiled(s.arguments), id=None, index=i) for i, s in enumerate(streamed)
            ]
            rest = calls
        whole = [
            tool_call_chunk(name=c.name, args=json.dumps(c.arguments, ensure_ascii=False), id=c.id, index=i)
            for i, c in enumerate(rest, start=len(streamed))
        ]
        return ends + whole


def _held_arguments(streamed, call: ToolCall) -> str | None:
    """A held call's arguments, whole (``CallScanner``'s ``held``); None for one that streamed them."""
    return json.dumps(call.arguments, ensure_ascii=False) if streamed.held else None
