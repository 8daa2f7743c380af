"""Tool calls read out of a reply's raw text while it streams, for the integrations' streamed chunks.

A call is written ``<tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>``: the format the
prompt shows, the route packs train on and the tool-call grammar enforces (``agentroute.steps.tools``,
``agentroute.decode.tool_grammar``). ``CallScanner`` reads each call in that shape as the text
grows: once its name is complete and names an offered tool it reports the call (its index and
name), then the arguments' JSON text in fragments as they arrive. A call in another shape (bare or
fenced JSON, ``"parameters"``, a list), and every call after it, is not streamed: it arrives whole
when the reply is parsed. Each integration turns the fragments into its framework's chunks
(LangChain ``tool_call_chunks``, Haystack ``ToolCallDelta``s) and reconciles them with the parsed
reply at the end (``streamed_calls_agree``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from agentroute.steps.records import ToolCall

_OPEN, _CLOSE = "<tool_call>", "</tool_call>"
_NAME_KEY = '{"name": "'
_ARGUMENTS_KEY = '", "arguments": '


@dataclass(frozen=True)
class CallDelta:
    """New text of call ``index``: its ``name`` when the call opens (else None), then ``arguments``
    fragments (possibly empty at the opening)."""

    index: int
    name: str | None
    arguments: str


@dataclass
class StreamedCall:
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
        self.calls: list[StreamedCall] = []
        self.stopped = False  # a call in another shape was seen: nothing more streams

    def push(self, delta: str) -> list[CallDelta]:
        """Add generated text; return the call fragments it completes (possibly none), one per call."""
        self.text += delta
        deltas: list[CallDelta] = []
        while not self.stopped:
            index = len(self.calls) - 1
            if index >= 0 and not self.calls[index].complete:
                deltas.extend(self._grow(index))
                if not self.calls[index].complete:
                    break
            elif not self._start_next(deltas):
                break
        return _one_per_index(deltas)

    def _start_next(self, deltas: list[CallDelta]) -> bool:
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
        self.calls.append(StreamedCall(name))
        deltas.append(CallDelta(len(self.calls) - 1, name, ""))
        return True

    def _grow(self, index: int) -> list[CallDelta]:
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
        end = scan_json(text)[3]
        if end is not None:
            text, call.complete = text[:end], True
        new = text[len(call.arguments) :]
        call.arguments = text
        return [CallDelta(index, None, new)] if new else []

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


def _one_per_index(deltas: list[CallDelta]) -> list[CallDelta]:
    """One fragment per call and push: consecutive fragments of one call joined."""
    merged: list[CallDelta] = []
    for delta in deltas:
        if merged and merged[-1].index == delta.index:
            merged[-1] = CallDelta(delta.index, merged[-1].name, merged[-1].arguments + delta.arguments)
        else:
            merged.append(delta)
    return merged


def streamed_calls_agree(streamed: Sequence[StreamedCall], calls: Sequence[ToolCall]) -> bool:
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


def scan_json(text: str) -> tuple[bool, bool, list[str], int | None]:
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


def spoiled(arguments: str) -> str:
    """A fragment after which ``arguments`` no longer parse as JSON, even by a partial-JSON reader:
    it closes an open string (two quotes after a pending backslash), then adds a closing bracket
    that matches nothing open. Streamed text cannot be taken back; a streamed call the parser
    dropped gets this so that no framework runs it."""
    in_string, escaped, stack, _ = scan_json(arguments)
    close = ('""' if escaped else '"') if in_string else ""
    return close + ("]" if stack and stack[-1] == "{" else "}")
