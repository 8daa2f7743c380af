"""Training replies that copy dates and times as the user said them (``steps.said_values``).

A pack trained with ``TrainConfig.said_values`` learns to write a declared date or time argument
as the phrase the request used ("next Friday", "4:00 pm"), which decoding then resolves to the
declared form. The data carries only the resolved value, so the phrase is found again: the
longest run of words in the conversation's user messages (the latest first) that resolves to
exactly that value, against the date the conversation gives as today, and that the pack's
grammar admits (``PHRASE_PATTERNS``). A value no such run resolves to (a default, a date read from a tool
result) stays as it is, and the model learns to write it in the declared form, as before. Data of
any origin works the same way: only the expected calls and the messages are read.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.steps.said_phrases import PHRASE_PATTERNS, TIME, canonical
from agentroute.steps.said_values import (
    declared_strings,
    set_at,
    stated_today,
)
from agentroute.steps.tools import ToolSpec

MAX_WORDS = 8  # "half past four in the afternoon" is 6, "the day after tomorrow" 4
# A run may not open with one of these: "on Friday" and "at 4pm" resolve, but the model should
# copy the date itself, as a date field would hold it.
_LEADING = {"on", "at", "by", "for", "until", "till", "from", "to", "and", "or"}
_EDGE = ",;:!?\"'()[]"
# A time copied from a request names a clock: a bare "14" in "for 14 guests" resolves to 14:00
# but is a count, and a model taught to copy it would copy counts into time fields.
_CLOCK = re.compile(
    r":|[0-9] ?[ap]\.?m\b|\b[ap]\.?m\b|\b(?:noon|midday|midnight|o'?clock|morning|afternoon|evening|night|tonight)\b"
)
_ADMITTED = {kind: re.compile(pattern) for kind, pattern in PHRASE_PATTERNS.items()}


def said_phrase(kind: str, value: str, texts: Sequence[str], today: dt.date | None) -> str | None:
    """The longest run of words in ``texts`` (searched in order) that ``canonical`` resolves to
    ``value`` and a said-values grammar admits; the first of equal length; None if none does."""
    for text in texts:
        words = text.split()
        best = None
        for i in range(len(words)):
            for j in range(i + 1, min(i + MAX_WORDS, len(words)) + 1):
                span = _trimmed(" ".join(words[i:j]))
                if not span or span.split()[0].lower() in _LEADING or (best is not None and len(span) <= len(best)):
                    continue
                if kind == TIME and not _CLOCK.search(span.lower()):
                    continue
                if _ADMITTED[kind].fullmatch(span) and canonical(kind, span, today) == value:
                    best = span
        if best is not None:
            return best
    return None


def _trimmed(span: str) -> str:
    span = span.strip(_EDGE)
    if span.endswith(".") and not re.search(r"\b[ap]\.m\.$", span, re.IGNORECASE):
        span = span.rstrip(".").rstrip(_EDGE)
    return span


def said_calls(
    expected: Sequence[Mapping[str, Any]], tools: Sequence[ToolSpec], messages: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``expected`` calls with each declared date or time replaced by the phrase the user said
    (dates and times declared by a description too: a said-values pack words those as well)."""
    specs = {spec.name: spec for spec in tools}
    texts = [m["content"] for m in reversed(messages) if m.get("role") == "user" and isinstance(m.get("content"), str)]
    today = stated_today(messages)
    calls = copy.deepcopy([dict(call) for call in expected])
    for call in calls:
        spec = specs.get(call.get("name"))
        arguments = call.get("arguments")
        if spec is None or not isinstance(arguments, dict):
            continue
        for path, value, kind, _ in list(declared_strings(arguments, spec.parameters, descriptions=True)):
            phrase = said_phrase(kind, value, texts, today)
            if phrase is not None:
                set_at(arguments, path, phrase)
    return calls
