"""Training replies that copy dates and times as the user said them (``steps.said_values``).

A pack trained with ``TrainConfig.said_values`` learns to write a declared date or time argument
as the phrase the request used ("next Friday", "4:00 pm"), which decoding then resolves to the
declared form. The data carries only the resolved value, so the phrase is found again: the
longest run of words in the conversation's user messages (the latest first) that resolves to
exactly that value, against the date the conversation gives as today. A value no such run
resolves to (a default, a date read from a tool result) stays as it is, and the model learns to
write it in the declared form, as before. Data of any origin works the same way: only the
expected calls and the messages are read.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.steps.said_values import canonical, declared_kind, stated_today
from agentroute.steps.tools import ToolSpec

MAX_WORDS = 8  # "half past four in the afternoon" is 6, "the day after tomorrow" 4
# A run may not open with one of these: "on Friday" and "at 4pm" resolve, but the model should
# copy the date itself, as a date field would hold it.
_LEADING = {"on", "at", "by", "for", "until", "till", "from", "to", "and", "or"}
_EDGE = ",;:!?\"'()[]"


def said_phrase(kind: str, value: str, texts: Sequence[str], today: dt.date | None) -> str | None:
    """The longest run of words in ``texts`` (searched in order) that ``canonical`` resolves to
    ``value``; the first of equal length; None if none does."""
    for text in texts:
        words = list(re.finditer(r"\S+", text))
        best = None
        for i in range(len(words)):
            for j in range(i, min(i + MAX_WORDS, len(words))):
                span = _trimmed(text[words[i].start() : words[j].end()])
                if not span or span.split()[0].lower() in _LEADING:
                    continue
                if (best is None or len(span) > len(best)) and canonical(kind, span, today) == value:
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
    """``expected`` calls with each declared date or time replaced by the phrase the user said."""
    specs = {spec.name: spec for spec in tools}
    texts = [m["content"] for m in reversed(messages) if m.get("role") == "user" and isinstance(m.get("content"), str)]
    today = stated_today(messages)
    calls = copy.deepcopy([dict(call) for call in expected])
    for call in calls:
        spec = specs.get(call.get("name"))
        if spec is not None:
            call["arguments"] = _said(call.get("arguments", {}), spec.parameters, texts, today)
    return calls


def _said(value: Any, schema: Any, texts: Sequence[str], today: dt.date | None) -> Any:
    if not isinstance(schema, Mapping):
        return value
    kind = declared_kind(schema)
    if kind is not None and isinstance(value, str):
        return said_phrase(kind, value, texts, today) or value
    if isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        return {key: _said(item, properties.get(key), texts, today) for key, item in value.items()}
    if isinstance(value, list):
        return [_said(item, schema.get("items"), texts, today) for item in value]
    return value
