"""A checkpoint's own tool-call format, read from its chat template, and the prompt it renders.

Qwen2.5, Llama 3.1 and Mistral checkpoints were trained on the tool prompt their chat template writes
when given ``tools=``: the tools, earlier calls and results in the template's words, and calls in
the model's format. Where a template takes ``tools`` (its source reads that variable), the prompt is
rendered by the template itself (:func:`native_messages`, :func:`native_tools`) and tool-call
steps are constrained to the model's format (:class:`CallFormat`), which :func:`native_call_format`
reads off the template by rendering probe calls:

* Qwen2.5 / Hermes: ``<tool_call>\\n{"name": ..., "arguments": {...}}\\n</tool_call>`` per call;
* Llama 3.1 / 3.2: one bare ``{"name": ..., "parameters": {...}}`` object;
* Mistral: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]``.

A format counts only when ``parse_tool_calls`` reads its calls back; otherwise, and for templates
without tools support (SmolLM2, the default model, whose route pack was trained on it), the prompt
stays the hand-written one of ``tools.py`` (:data:`HAND_WRITTEN`).
"""

from __future__ import annotations

import hashlib
import json
import re
import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import jinja2
import jinja2.meta

from agentroute.steps.messages import render_prompt
from agentroute.steps.reply_parsing import parse_tool_calls
from agentroute.steps.tool_turns import read_tool_turns, render_tool_messages
from agentroute.steps.tools import ToolSpec, normalize_tools


@dataclass(frozen=True)
class CallFormat:
    """How a model writes the calls of one reply: ``prefix``, then each call as ``call_open`` +
    ``{"name": ..., <arguments_key>: {...}}`` (JSON with these separators) + ``call_close``, with
    ``separator`` between calls (one call only unless ``multiple``), then ``suffix``.
    ``short_ids``: the template wants 9-character call ids (Mistral). ``bare``: the reply's text
    (special tokens dropped) opens with JSON or a marker other than ``<tool_call>`` (Llama's object,
    Mistral's ``[TOOL_CALLS][``), so a free-text reply may not start with ``{`` or ``[``."""

    name: str
    prefix: str = ""
    call_open: str = ""
    call_close: str = ""
    separator: str = "\n"
    suffix: str = ""
    arguments_key: str = "arguments"
    multiple: bool = True
    key_separator: str = ": "
    item_separator: str = ", "
    short_ids: bool = False
    bare: bool = False

    def write(self, calls: Sequence[tuple[str, dict[str, Any]]]) -> str:
        """The text of a reply making ``calls`` ((name, arguments) pairs), as the model writes it."""
        separators = (self.item_separator, self.key_separator)
        bodies = [
            self.call_open
            + json.dumps({"name": name, self.arguments_key: arguments}, separators=separators, ensure_ascii=False)
            + self.call_close
            for name, arguments in calls
        ]
        return self.prefix + self.separator.join(bodies) + self.suffix


def special_pieces(text: str, tokens: Mapping[str, int]) -> list[str]:
    """``text`` split around the texts ``tokens`` holds as single special tokens (longest first), in
    order, empty pieces left out: each grammar writes a special piece as the token, the rest as text."""
    found = sorted((t for t in tokens if t in text), key=len, reverse=True)
    pieces = re.split("(" + "|".join(map(re.escape, found)) + ")", text) if found else [text]
    return [piece for piece in pieces if piece]


# The format of tools.py's prompt, the one the default model's route pack was trained on.
HAND_WRITTEN = CallFormat("hand-written", call_open="<tool_call>", call_close="</tool_call>")


def native_tools(specs: Sequence[ToolSpec]) -> list[dict[str, Any]] | None:
    """Tools as chat templates take them (OpenAI's shape); None for no tools, since a template such
    as Llama's writes its tool instructions for any list that is not None, an empty one too."""
    if not specs:
        return None
    return [
        {"type": "function", "function": {"name": s.name, "description": s.description, "parameters": s.parameters}}
        for s in specs
    ]


def native_messages(messages: Any, call_format: CallFormat) -> list[dict[str, Any]]:
    """Messages as a chat template with tools support reads them: assistant ``tool_calls`` in
    OpenAI's shape with arguments as objects, ``tool`` results with their ``tool_call_id`` and
    ``name``. The template renders both; the input is not modified."""
    ids = _CallIds(call_format.short_ids)
    out = []
    for message, calls, tool_name in read_tool_turns(messages):
        message = dict(message)
        message.pop("tool_calls", None)  # an empty list reads as a call turn to Llama's template
        if calls:
            message["tool_calls"] = [
                {**ids.call(call_id), "type": "function", "function": {"name": name, "arguments": arguments}}
                for call_id, name, arguments in calls
            ]
        elif message["role"] == "tool":
            message.update(ids.result(message.get("tool_call_id")))
            if tool_name:
                message["name"] = tool_name
        out.append(message)
    return out


class _CallIds:
    """Call ids as the template gets them: as given, or for ``short`` templates (Mistral checks
    for 9 alphanumeric characters) a 9-hex-digit digest, one per call, which a result without an
    id takes from the earliest call not yet answered."""

    def __init__(self, short: bool) -> None:
        self.short = short
        self.pending: list[str] = []
        self.count = 0

    def call(self, call_id: str | None) -> dict[str, str]:
        self.count += 1
        if not self.short:
            return {"id": call_id} if call_id else {}
        short = self._digest(call_id or f"call {self.count}")
        self.pending.append(short)
        return {"id": short}

    def result(self, call_id: str | None) -> dict[str, str]:
        if not self.short:
            return {"tool_call_id": call_id} if call_id else {}
        short = self._digest(call_id) if call_id else (self.pending[0] if self.pending else None)
        if short in self.pending:
            self.pending.remove(short)
        return {"tool_call_id": short} if short else {}

    @staticmethod
    def _digest(call_id: str) -> str:
        return hashlib.sha256(call_id.encode("utf-8", "surrogatepass")).hexdigest()[:9]


# -- reading the format off the template --------------------------------------------------------

_FORMATS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> (template key, format)
# Private-use characters mark the probe's texts: no template writes them, so they bound what it adds.
_QUESTION, _ANSWER = "\ue000question\ue001", "\ue000answer\ue001"
_PROBE_NAME = "probe_tool"
_PROBE_TOOL = {
    "type": "function",
    "function": {
        "name": _PROBE_NAME,
        "description": "A probe.",
        "parameters": {"type": "object", "properties": {"probe_a": {"type": "string"}, "probe_b": {"type": "integer"}}},
    },
}


def native_call_format(tokenizer) -> CallFormat | None:
    """The call format of ``tokenizer``'s chat template when it takes ``tools=`` and its calls are
    ones ``parse_tool_calls`` reads back; None otherwise (the hand-written prompt is then used).
    Read once per template (a few renders) and kept with the tokenizer."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        return None
    key = json.dumps([template, getattr(tokenizer, "special_tokens_map", {}), len(tokenizer)], default=str)
    try:
        cached = _FORMATS.get(tokenizer)
    except TypeError:  # a tokenizer that cannot be weakly referenced is read each time
        cached = None
    if cached is not None and cached[0] == key:
        return cached[1]
    found = _read_format(tokenizer)
    try:
        _FORMATS[tokenizer] = (key, found)
    except TypeError:
        pass
    return found


def _read_format(tokenizer) -> CallFormat | None:
    try:
        source = tokenizer.get_chat_template(None, tools=[_PROBE_TOOL])
    except Exception:  # no usable template: the hand-written prompt goes through the plain path
        return None
    if not _takes_tools(source):
        return None

    def render(*turns: dict[str, Any], start: bool = False) -> str | None:
        messages = [{"role": "user", "content": _QUESTION}, *turns]
        try:
            return tokenizer.apply_chat_template(
                messages, tools=[_PROBE_TOOL], chat_template=source, add_generation_prompt=start, tokenize=False
            )
        except Exception:  # the template refuses the probe (raise_exception): read what it allows
            return None

    start, answer = render(start=True), render({"role": "assistant", "content": _ANSWER})
    one = render(_probe_turn(1))
    if start is None or answer is None or one is None or not one.startswith(start) or _ANSWER not in answer:
        return None
    end = _common_suffix(one, answer, len(one) - len(start))  # the end of the turn, after the calls
    reply = one[len(start) : len(one) - end]
    calls = _probe_calls(reply)
    if len(calls) != 1:
        return None
    (first, last, key), style = calls[0], _json_style(reply[calls[0][0] : calls[0][1]], calls[0][2])
    before, after = reply[:first], reply[last:]
    found = CallFormat("json", prefix=before, suffix=after, arguments_key=key, multiple=False, **style)
    two = render(_probe_turn(1, 2))
    if two is not None and two.startswith(start) and two.endswith(one[len(one) - end :]):
        reply = two[len(start) : len(two) - end]
        pair = _probe_calls(reply)
        if len(pair) == 2 and reply[: pair[0][0]] == before and reply[pair[1][1] :] == after:
            found = _split_wrappers(found, reply[pair[0][1] : pair[1][0]])
    if render(_probe_turn(1, call_id="call_probe_long_id")) is None:
        found = replace(found, short_ids=True)
    shown = _decoded(tokenizer, found.prefix + found.call_open).strip()  # what the reply's text opens with
    bare = "<tool_call>" not in shown
    found = replace(found, name="list" if shown.endswith("[") else "json" if bare else "tagged", bare=bare)
    return found if _reads_back(tokenizer, found) else None


def _takes_tools(source: str) -> bool:
    """Whether the template reads a ``tools`` variable (parsed with transformers' own extensions,
    such as ``{% generation %}``, so that any template it renders parses)."""
    try:
        from transformers.utils.chat_template_utils import _compile_jinja_template

        environment = _compile_jinja_template(source).environment
    except Exception:
        environment = jinja2.Environment(extensions=["jinja2.ext.loopcontrols"])
    try:
        return "tools" in jinja2.meta.find_undeclared_variables(environment.parse(source))
    except jinja2.TemplateError:
        return False


def _probe_turn(*numbers: int, call_id: str | None = None) -> dict[str, Any]:
    calls = [
        {
            "id": call_id or f"probe{n:04d}",  # 9 alphanumeric characters, as Mistral's template wants
            "type": "function",
            "function": {"name": _PROBE_NAME, "arguments": {"probe_a": f"v{n}", "probe_b": n}},
        }
        for n in numbers
    ]
    return {"role": "assistant", "content": "", "tool_calls": calls}


def _common_suffix(a: str, b: str, limit: int) -> int:
    n = 0
    while n < min(len(a), len(b), limit) and a[-1 - n] == b[-1 - n]:
        n += 1
    return n


def _probe_calls(text: str) -> list[tuple[int, int, str]]:
    """(start, end, arguments key) of each probe call object written flat in ``text``."""
    found, pos, decoder = [], 0, json.JSONDecoder()
    while (pos := text.find("{", pos)) != -1:
        try:
            obj, end = decoder.raw_decode(text, pos)
        except ValueError:
            pos += 1
            continue
        keys = list(obj) if isinstance(obj, dict) else []
        if keys[:1] == ["name"] and obj["name"] == _PROBE_NAME and len(keys) > 1 and set(keys[2:]) <= {"id"}:
            key = keys[1]
            number = len(found) + 1
            if key not in ("arguments", "parameters") or obj[key] != {"probe_a": f"v{number}", "probe_b": number}:
                return []  # arguments as a JSON string, or another shape: not a format the grammar writes
            found.append((pos, end, key))
            pos = end
        else:
            pos += 1
    return found


def _json_style(call: str, key: str) -> dict[str, str]:
    """The key and item separators of the template's call JSON; ``json.dumps``'s own (the grammar's
    default) when it does not write every level alike (an indented ``tojson``)."""
    key_sep = call[call.find('"probe_a"') + len('"probe_a"') : call.find('"v1"')]
    item_sep = call[call.find('"v1"') + len('"v1"') : call.find('"probe_b"')]
    arguments = {"name": _PROBE_NAME, key: {"probe_a": "v1", "probe_b": 1}}
    if not call.startswith(json.dumps(arguments, separators=(item_sep, key_sep))[:-1]):
        return {}
    return {"key_separator": key_sep, "item_separator": item_sep}


def _split_wrappers(single: CallFormat, middle: str) -> CallFormat:
    """With two calls rendered, what wraps each call and what wraps them all: ``middle`` (between
    the calls) is the close of one, the separator and the open of the next."""
    before, after = single.prefix, single.suffix
    opening = max(n for n in range(min(len(before), len(middle)) + 1) if middle.endswith(before[len(before) - n :]))
    room = len(middle) - opening
    closing = max(n for n in range(min(len(after), room) + 1) if middle.startswith(after[:n]))
    return replace(
        single,
        prefix=before[: len(before) - opening],
        call_open=before[len(before) - opening :],
        call_close=after[:closing],
        separator=middle[closing : len(middle) - opening],
        suffix=after[closing:],
        multiple=True,
    )


def _reads_back(tokenizer, found: CallFormat) -> bool:
    """Whether ``parse_tool_calls`` reads the format's calls from the reply's text as decoded."""
    arguments = [{"probe_a": "v1", "probe_b": 1}, {"probe_a": "v2", "probe_b": 2}][: 2 if found.multiple else 1]
    written = _decoded(tokenizer, found.write([(_PROBE_NAME, a) for a in arguments]))
    parsed = parse_tool_calls(written, normalize_tools([_PROBE_TOOL]))
    return parsed.error is None and [c.arguments for c in parsed.tool_calls] == arguments


def _decoded(tokenizer, text: str) -> str:
    """``text`` as a reply's text reads once generated: encoded, then decoded without special tokens."""
    return tokenizer.decode(tokenizer(text, add_special_tokens=False)["input_ids"], skip_special_tokens=True)


def step_prompt_ids(
    tokenizer, messages: list[dict[str, Any]], specs: list[ToolSpec], tool_style: str = "json"
) -> list[int]:
    """A step's prompt ids as the core writes them: a template that takes ``tools=`` renders tools,
    calls and results itself; any other (the default model's) gets the hand-written prompt, its
    tools written in ``tool_style`` (the pack's). The in-process model and a served model's client
    (rendering for an engine) share this one reading."""
    if (fmt := native_call_format(tokenizer)) is None:
        return render_prompt(tokenizer, render_tool_messages(messages, specs, tokenizer, tool_style))
    return render_prompt(tokenizer, native_messages(messages, fmt), native_tools(specs))
