"""Tool calls read out of a reply's raw text while it streams, for the integrations' streamed chunks.

A call is written in the model's call format (``agentroute.steps.call_formats``): for the default
model ``<tool_call>{"name": "<tool>", "arguments": {...}}</tool_call>``, the format the prompt shows,
the route packs train on and the tool-call grammar enforces; for a checkpoint whose chat template
takes tools, the template's own (Qwen's tags, Llama's one bare object with ``"parameters"``,
Mistral's list after ``[TOOL_CALLS]``). ``CallScanner`` reads each call in that shape as the text
grows: once its name is complete and names an offered tool it reports the call (its index and
name), then the arguments' JSON text in fragments as they arrive. A call in another shape (fenced
JSON, arguments as a string, keys in another order), and every call after it, is not streamed: it
arrives whole when the reply is parsed. Each integration turns the fragments into its framework's
chunks (LangChain ``tool_call_chunks``, Haystack ``ToolCallDelta``s) and reconciles them with the
parsed reply at the end (``streamed_calls_agree``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace

from agentroute.steps.call_formats import HAND_WRITTEN, CallFormat, native_call_format
from agentroute.steps.records import ToolCall


def as_streamed(call_format: CallFormat, decode=lambda text: text) -> CallFormat:
    """``call_format`` as its calls read in a reply's decoded text, as streamed: each wrapper through
    ``decode`` (the tokenizer's round trip without special tokens: Mistral's ``[TOOL_CALLS]`` is
    one) and stripped of whitespace, which the scanner skips wherever it stands."""
    return replace(
        call_format,
        prefix=decode(call_format.prefix).strip(),
        call_open=decode(call_format.call_open).strip(),
        call_close=decode(call_format.call_close).strip(),
        separator=decode(call_format.separator).strip(),
        suffix=decode(call_format.suffix).strip(),
    )


def streamed_call_format(tokenizer) -> CallFormat:
    """How the calls of a model with ``tokenizer`` read in its streamed text: its chat template's own
    format where the prompt uses one (``native_call_format``), else the hand-written one."""
    found = native_call_format(tokenizer)
    if found is None:
        return HAND_WRITTEN

    def decode(text: str) -> str:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        return tokenizer.decode(ids, skip_special_tokens=True)

    return as_streamed(found, decode)


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
    held: bool = False  # its arguments did not stream: they go out whole with the parsed call


class CallScanner:
    """Reads tool calls out of the raw reply text as it grows; one scanner per reply.

    ``names``: the offered tools (a call to another name is not streamed: the parser drops it).
    ``max_calls``: stream at most this many calls (1 when parallel tool calls are off).
    ``call_format``: how the model's calls read in its text (``streamed_call_format(tokenizer)``);
    the hand-written format by default. Tagged formats wrap each call in ``call_open``/``call_close``;
    in bare ones (``call_open`` empty) the call objects follow ``prefix`` one after another, with
    ``separator`` between them. Inside a call the keys come in the grammar's order and separators.
    ``held``: tools whose calls stream their name only, the arguments going out whole with the
    parsed call (a said-values model's dates and times change when parsed: ``steps.said_values``).
    """

    def __init__(
        self,
        names: Sequence[str],
        max_calls: int | None = None,
        call_format: CallFormat = HAND_WRITTEN,
        held: Sequence[str] = (),
    ) -> None:
        self.names = set(names)
        self.held = set(held)
        self.format = call_format
        self.max_calls = max_calls if call_format.multiple else 1
        key, item = call_format.key_separator, call_format.item_separator
        self.name_key = '{"name"' + key + '"'
        # What follows the name's closing quote, up to the arguments object.
        self.arguments_opening = '"' + item + '"' + call_format.arguments_key + '"' + key
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
        name_key, arguments_key = self.name_key, self.arguments_opening
        if not (head.startswith(name_key) or name_key.startswith(head)):
            self.stopped = True
            return False
        name_end = head.find('"', len(name_key))
        if len(head) <= len(name_key) or name_end == -1:
            return False
        name = head[len(name_key) : name_end]
        after = head[name_end:]
        if "\\" in name or name not in self.names:
            self.stopped = True
            return False
        if not (after.startswith(arguments_key) or arguments_key.startswith(after)):
            self.stopped = True
            return False
        if len(after) <= len(arguments_key):
            return False  # wait for the whole arguments key: only then is the call's shape certain
        self.calls.append(StreamedCall(name, held=name in self.held))
        deltas.append(CallDelta(len(self.calls) - 1, name, ""))
        return True

    def _grow(self, index: int) -> list[CallDelta]:
        """The new part of call ``index``'s arguments text."""
        call = self.calls[index]
        body = self._body(index) or ""
        start = body.find(self.arguments_opening) + len(self.arguments_opening)
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
        return [CallDelta(index, None, new)] if new and not call.held else []

    def _body(self, index: int) -> str | None:
        """The text of call ``index`` from its opening (after its tag, if tagged) up to its closing tag
        or the next call; None if not begun."""
        if not self.format.call_open:
            return self._bare_body(index)
        opening, closing = self.format.call_open, self.format.call_close
        pos = -1
        for _ in range(index + 1):
            pos = self.text.find(opening, pos + 1)
            if pos == -1:
                return None
        start = pos + len(opening)
        closes = self.text.find(closing, start) if closing else -1
        ends = [i for i in (closes, self.text.find(opening, start)) if i != -1]
        return self.text[start : min(ends, default=len(self.text))]

    def _bare_body(self, index: int) -> str | None:
        """Bare calls: the reply opens with the prefix, then call objects follow one another."""
        text = self.text.lstrip()
        prefix = self.format.prefix
        if not text.startswith(prefix):
            if not prefix.startswith(text):
                self.stopped = True  # a reply in words (or another shape): no call streams
            return None
        pos = len(prefix)
        for _ in range(index):
            # Past the previous call's object, then its separator, to where the next one opens.
            start = len(text) - len(text[pos:].lstrip())
            end = scan_json(text[start:])[3]
            if end is None:
                return None
            rest = text[start + end :].lstrip()
            if not rest:
                return None
            separator = self.format.separator
            if separator:
                if not rest.startswith(separator):
                    if not separator.startswith(rest):
                        self.stopped = True  # the list closed (or something else follows): no more calls
                    return None
                rest = rest[len(separator) :]
            pos = len(text) - len(rest)
        return text[pos:]


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
    """Whether every streamed call is, in order, the parsed call at its index (a held call: by name;
    its arguments go out with the parsed call)."""
    if len(streamed) > len(calls):
        return False
    for seen, call in zip(streamed, calls, strict=False):
        try:
            same = seen.complete and seen.name == call.name
            same = same and (seen.held or json.loads(seen.arguments) == call.arguments)
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
