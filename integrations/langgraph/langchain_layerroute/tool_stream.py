"""Tool calls streamed as they form: LangChain ``tool_call_chunks`` read from the reply's raw text.

A call is written ``<tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>``: the format the
prompt shows, the route packs train on and the tool-call grammar enforces (``agentroute.steps.tools``,
``agentroute.decode.tool_grammar``). While the reply is generated, ``CallScanner`` reads each call in
that shape: once its name is complete and names an offered tool it yields a chunk with the name and
the call's index, then the arguments' JSON text in fragments as they arrive. Call ids are derived
from the whole reply, so they travel in the final chunk; LangChain merges chunks by index.

A call in another shape (bare or fenced JSON, ``"parameters"``, a list), and every call after it,
is not streamed: it arrives whole in the final chunk. ``CallScanner.final_chunks`` checks what was
streamed against the parsed reply. Streamed text cannot be taken back, so a streamed call that the
parser dropped (the reply was cut off, or the call broke its tool's schema) gets one more fragment
that makes its arguments unreadable: the merged message lists it under ``invalid_tool_calls``,
never as a call an agent would run, and the parsed calls follow at fresh indices.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from langchain_core.messages.tool import ToolCallChunk, tool_call_chunk

from agentroute import ToolCall

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_NAME_KEY = '{"name": "'
_ARGUMENTS_KEY = '", "arguments": '


@dataclass
class _Streamed:
    """One call as streamed so far."""

    name: str
    arguments: str = ""
    complete: bool = False  # the arguments object has closed


class CallScanner:
    """Reads tool calls out of the raw reply text as it grows; one scanner per reply.

    ``names``: the offered tools (a call to another name is not streamed: the parser drops it).
    ``max_calls``: stream at most this many calls (1 when parallel tool calls are off).
    """

    def __init__(self, names: Sequence[str], max_calls: int | None = None) -> None:
        self.names = set(names)
        self.max_calls = max_calls
        self.text = ""
        self.calls: list[_Streamed] = []
        self.stopped = False  # a call in another shape was seen: nothing more streams

    def push(self, delta: str) -> list[ToolCallChunk]:
        """Add generated text; return the tool-call chunks it completes (possibly none)."""
        self.text += delta
        chunks: list[ToolCallChunk] = []
        while not self.stopped:
            index = len(self.calls) - 1
            if index >= 0 and not self.calls[index].complete:
                chunks.extend(self._grow(index))
                if not self.calls[index].complete:
                    break
            elif not self._start_next(chunks):
                break
        return _one_per_index(chunks)

    def final_chunks(self, calls: Sequence[ToolCall]) -> list[ToolCallChunk]:
        """The final chunk's tool-call chunks, given the reply's parsed (and kept) calls."""
        streamed = self.calls
        if _agree(streamed, calls):
            ends = [
                tool_call_chunk(name=None, args=None, id=c.id, index=i) for i, c in enumerate(calls[: len(streamed)])
            ]
            rest = calls[len(streamed) :]
        else:
            ends = [
                tool_call_chunk(name=None, args=_spoiler(s.arguments), id=None, index=i) for i, s in enumerate(streamed)
            ]
            rest = calls
        whole = [
            tool_call_chunk(name=c.name, args=json.dumps(c.arguments, ensure_ascii=False), id=c.id, index=i)
            for i, c in enumerate(rest, start=len(streamed))
        ]
        return ends + whole

    def _start_next(self, chunks: list[ToolCallChunk]) -> bool:
        """Open the next call once its name is complete; False while it is not (or never will be) readable."""
        if self.max_calls is not None and len(self.calls) >= self.max_calls:
            return False
        body = self._body(len(self.calls))
        if body is None:
            return False
        head = body.lstrip()
        if not head:
            return False
        if not (head.startswith(_NAME_KEY) or _NAME_KEY.startswith(head)):
            self.stopped = True
            return False
        name_end = head.find('"', len(_NAME_KEY))
        if len(head) <= len(_NAME_KEY) or name_end == -1:
            return False
        name = head[len(_NAME_KEY) : name_end]
        after = head[name_end:]
        if "\\" in name or name not in self.names:
            self.stopped = True
            return False
        if not (after.startswith(_ARGUMENTS_KEY) or _ARGUMENTS_KEY.startswith(after)):
            self.stopped = True
            return False
        if len(after) <= len(_ARGUMENTS_KEY):
            return False  # wait for the whole arguments key: only then is the call's shape certain
        self.calls.append(_Streamed(name))
        chunks.append(tool_call_chunk(name=name, args="", id=None, index=len(self.calls) - 1))
        return True

    def _grow(self, index: int) -> list[ToolCallChunk]:
        """The new part of call ``index``'s arguments text."""
        call = self.calls[index]
        body = self._body(index) or ""
        start = body.find(_ARGUMENTS_KEY) + len(_ARGUMENTS_KEY)
        text = body[start:]
        if not text:
            return []
        if not text.startswith("{"):
            self.stopped = True  # arguments that are not an object (or a string of JSON): the parser decides
            return []
        end = _scan(text)[3]
        if end is not None:
            text, call.complete = text[:end], True
        new = text[len(call.arguments) :]
        call.arguments = text
        return [tool_call_chunk(name=None, args=new, id=None, index=index)] if new else []

    def _body(self, index: int) -> str | None:
        """The text after call ``index``'s opening tag, up to its closing tag or the next call; None if not begun."""
        pos = -1
        for _ in range(index + 1):
            pos = self.text.find(_OPEN, pos + 1)
            if pos == -1:
                return None
        start = pos + len(_OPEN)
        ends = [i for i in (self.text.find(_CLOSE, start), self.text.find(_OPEN, start)) if i != -1]
        return self.text[start : min(ends, default=len(self.text))]


def _one_per_index(chunks: list[ToolCallChunk]) -> list[ToolCallChunk]:
    """Chunks of one message with one entry per call: LangChain merges by index across messages only."""
    merged: list[ToolCallChunk] = []
    for chunk in chunks:
        if merged and merged[-1]["index"] == chunk["index"]:
            merged[-1] = {**merged[-1], "args": (merged[-1]["args"] or "") + (chunk["args"] or "")}
        else:
            merged.append(chunk)
    return merged


def _agree(streamed: Sequence[_Streamed], calls: Sequence[ToolCall]) -> bool:
    """Whether every streamed call is, in order, the parsed call at its index."""
    if len(streamed) > len(calls):
        return False
    for seen, call in zip(streamed, calls, strict=False):
        try:
            same = seen.complete and seen.name == call.name and json.loads(seen.arguments) == call.arguments
        except ValueError:
            same = False
        if not same:
            return False
    return True


def _scan(text: str) -> tuple[bool, bool, list[str], int | None]:
    """JSON reading state of ``text``: inside a string, after a backslash, the open brackets, and the
    index after the first value's closing bracket (None while it is open); reading stops there."""
    in_string = escaped = False
    stack: list[str] = []
    for i, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "{[":
            stack.append(char)
        elif char in "}]":
            if stack:
                stack.pop()
            if not stack:
                return in_string, escaped, stack, i + 1
    return in_string, escaped, stack, None


def _spoiler(arguments: str) -> str:
    """A fragment after which LangChain's partial-JSON reader gives up on ``arguments``.

    It closes an open string (two quotes after a pending backslash), then adds a closing bracket
    that matches nothing open: ``parse_partial_json`` returns None on a mismatched closer, and the
    chunk becomes an invalid tool call.
    """
    in_string, escaped, stack, _ = _scan(arguments)
    close = ('""' if escaped else '"') if in_string else ""
    return close + ("]" if stack and stack[-1] == "{" else "}")
