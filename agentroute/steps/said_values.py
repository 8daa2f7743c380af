"""Dates and times as the user said them, resolved to the form a tool's schema declares.

A 135M model copies words well and computes badly. On the shipped pack's dev tool calls, 15 of
110 replies had every call and every other argument right and a date or time wrong: "4:00 pm"
written as ``20:00``, "June 2, 2026" as ``2026-06-20`` (the grammar's two-digit day after the
copied "2"), "next Friday" as another day. Here the model may instead copy the phrase
(``"date": "next Friday"``) and this module turns it into the declared form (``2026-10-02``)
against the date the conversation gives as today: the copying is the model's, the calendar
arithmetic is code's (``steps.said_phrases``, which reads the phrase and gives the grammar of
the phrases it reads).

A string parameter (or the one string alternative of an ``anyOf``/``oneOf``, as pydantic writes
``Optional[date]``) is a *date* or a *time* when its schema says so: a ``pattern`` that accepts a
zero-padded ISO date (``2026-03-04``) or a 24-hour ``HH:MM`` time and refuses their near misses,
or ``"format": "date"``; for a pack trained on said values also a description that names
``YYYY-MM-DD`` or a 24-hour ``HH:MM``. A value already in the declared form is never touched, so
resolving only rescues values the schema would refuse.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.steps.said_phrases import (
    DATE,
    PHRASE_PATTERNS,
    TIME,
    absolute_date,
    canonical,
    resolve_date,
    words_of,
)

# What a declared pattern must accept, and the near misses it must refuse, to be a date or a time:
_PATTERN_PROBES = {
    DATE: (("2026-03-04", "1999-12-31"), ("2026-3-4", "2026-03", "03-04", "26-03-04", "x", "")),
    TIME: (("13:45", "00:00", "23:59"), ("1:45 pm", "13:45:00", "1345", "x", "")),
}


# ---------------------------------------------------------------- which parameters are dates, times


def declared_kind(schema: Any, descriptions: bool = False) -> str | None:
    """``DATE`` or ``TIME`` where a string parameter's schema declares that form, else None; with
    ``descriptions``, also where only its description names the form."""
    if not isinstance(schema, Mapping) or schema.get("type") != "string" or "enum" in schema or "const" in schema:
        return None
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            return None
        for kind, (accepted, refused) in _PATTERN_PROBES.items():
            if all(compiled.search(s) for s in accepted) and not any(compiled.search(s) for s in refused):
                return kind
        return None
    if schema.get("format") == "date":
        return DATE
    if descriptions and "format" not in schema:
        description = str(schema.get("description", ""))
        if "YYYY-MM-DD" in description and "HH" not in description:
            return DATE
        if re.search(r"\bHH:MM\b", description) and "24" in description and "YYYY" not in description:
            return TIME
    return None


def _declared(schema: Any, descriptions: bool) -> tuple[str, Mapping[str, Any]] | None:
    """(kind, the declaring schema) for ``schema`` itself or the one string alternative of its
    ``anyOf``/``oneOf`` (``Optional[date]``), else None."""
    kind = declared_kind(schema, descriptions)
    if kind is not None:
        return kind, schema
    if not isinstance(schema, Mapping):
        return None
    for key in ("anyOf", "oneOf"):
        options = schema.get(key)
        if isinstance(options, list):
            strings = [o for o in options if isinstance(o, Mapping) and o.get("type") == "string"]
            kinds = [declared_kind(o, descriptions) for o in strings]
            if len(strings) == 1 and kinds[0] is not None:
                return kinds[0], strings[0]
    return None


# ------------------------------------------------------------------------- arguments of a call


@dataclass(frozen=True)
class SaidValue:
    path: str  # the argument's JSON path in the call ("date", "time.start", "slots[1]")
    said: str
    value: str | None  # None: not read (the call cannot run)
    kind: str = DATE


def declared_strings(value: Any, schema: Any, descriptions: bool, path: tuple = ()) -> Iterator[tuple]:
    """(path as keys and indices, value, kind, declaring schema) for every declared date or time
    string in ``value``: the one walk that resolving, training replies and the grammar
    (``phrase_parameters``) share."""
    declared = _declared(schema, descriptions)
    if declared is not None and isinstance(value, str):
        yield path, value, declared[0], declared[1]
    elif isinstance(schema, Mapping) and isinstance(value, Mapping):
        properties = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
        for key, item in value.items():
            yield from declared_strings(item, properties.get(key), descriptions, (*path, key))
    elif isinstance(schema, Mapping) and isinstance(value, list):
        for i, item in enumerate(value):
            yield from declared_strings(item, schema.get("items"), descriptions, (*path, i))


def path_text(path: Sequence) -> str:
    """``("slot", "start")`` as "slot.start", ``("days", 1)`` as "days[1]"."""
    return "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))


def _in_declared_form(value: str, kind: str, schema: Mapping[str, Any]) -> bool:
    if "pattern" in schema:
        return re.search(schema["pattern"], value) is not None
    return re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}" if kind == DATE else r"[0-9]{2}:[0-9]{2}", value) is not None


def set_at(container: Any, path: Sequence, value: Any) -> None:
    for step in path[:-1]:
        container = container[step]
    container[path[-1]] = value


def resolve_arguments(
    arguments: Mapping[str, Any], parameters: Mapping[str, Any], today: dt.date | None, descriptions: bool = False
) -> tuple[dict[str, Any], list[SaidValue]]:
    """``arguments`` with every declared date or time written in words put in its declared form,
    and each such value (``SaidValue.value`` None where the phrase was not read: the call must not
    run). Values already in the declared form stay as they are."""
    out = copy.deepcopy(dict(arguments))
    said: list[SaidValue] = []
    for path, value, kind, schema in list(declared_strings(out, parameters, descriptions)):
        if _in_declared_form(value, kind, schema):
            continue
        found = canonical(kind, value, today)
        said.append(SaidValue(path_text(path), value, found, kind))
        if found is not None:
            set_at(out, path, found)
    return out, said


# ------------------------------------------------------------------------- today, as stated

# "Today is Friday, 2026-03-13.", "Today's date: March 13, 2026", "Current date: 2026-03-13": at
# the start of a message, line or sentence, so "the deadline today is 2026-05-01" sets nothing.
_TODAY = re.compile(
    r"(?:^|(?<=[.!?\n]))[ \t]*(?:today(?:['’]s date)?|(?:the )?current date|the date today)"
    r"[ \t]*(?:is|:)[ \t]*([^\n]{0,48})",
    re.IGNORECASE,
)


def stated_today(messages: Sequence[Mapping[str, Any]]) -> dt.date | None:
    """The date the conversation gives as today: the latest statement in a system or developer
    message, else in a user message; None if none states one."""
    found: dict[bool, dt.date] = {}
    for message in messages:
        role, content = message.get("role"), message.get("content")
        if role not in ("system", "developer", "user") or not isinstance(content, str):
            continue
        for match in _TODAY.finditer(content):
            day = _stated_day(match.group(1))
            if day is not None:
                found[role != "user"] = day
    return found.get(True) or found.get(False)


def _stated_day(text: str) -> dt.date | None:
    iso = re.search(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text)
    if iso:
        return resolve_date(iso.group(), None)
    words = words_of(text.split(".")[0].replace(",", " "))
    for end in range(len(words), 1, -1):  # "Friday, March 13, 2026 and ..." -> its longest date
        day = absolute_date(words[:end], None)
        if day is not None:
            return day
    return None


# ------------------------------------------------------------- the grammar of a said-values pack

# Where a schema declares a date or a time, a pack trained on said values may write a phrase of
# that kind the reader reads (``PHRASE_PATTERNS``), the declared form among them.
_LOOSENED = ("pattern", "format", "minLength", "maxLength")


def phrase_schema(kind: str) -> dict[str, str]:
    """The string schema a said-values pack's grammar admits for a date or a time."""
    return {"type": "string", "pattern": PHRASE_PATTERNS[kind]}


def phrase_specs(specs: Sequence[Any]) -> list[Any]:
    """``ToolSpec``s with their parameters' dates and times open to phrases (``phrase_parameters``)."""
    return [spec.model_copy(update={"parameters": phrase_parameters(spec.parameters)}) for spec in specs]


def phrase_parameters(schema: Any) -> Any:
    """``schema`` with every date or time a said-values pack may word (``_declared``, where the
    resolver looks: properties, items, an ``anyOf``/``oneOf``'s string alternative) open to a short
    phrase of its kind (``phrase_schema``); its description stays, so the model still reads which
    field it is."""
    if not isinstance(schema, Mapping):
        return schema
    kind = declared_kind(schema, descriptions=True)
    if kind is not None:
        return {**{k: v for k, v in schema.items() if k not in _LOOSENED}, **phrase_schema(kind)}
    out = dict(schema)
    if isinstance(schema.get("properties"), Mapping):
        out["properties"] = {key: phrase_parameters(value) for key, value in schema["properties"].items()}
    if isinstance(schema.get("items"), Mapping):
        out["items"] = phrase_parameters(schema["items"])
    declared = _declared(schema, descriptions=True)
    if declared is not None:
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list):
                out[key] = [phrase_parameters(o) if o is declared[1] else o for o in schema[key]]
    return out


def worded_tool_names(tools: Sequence[Any]) -> frozenset[str]:
    """Names of ``tools`` (``ToolSpec``s or ``{"name", "parameters"}`` dicts) with a date or time a
    said-values pack may word: their calls' arguments change when parsed, so they stream whole."""
    names = set()
    for tool in tools:
        name = tool.get("name") if isinstance(tool, Mapping) else getattr(tool, "name", None)
        parameters = tool.get("parameters") if isinstance(tool, Mapping) else getattr(tool, "parameters", None)
        if isinstance(parameters, Mapping) and phrase_parameters(parameters) != parameters:
            names.add(name)
    return frozenset(names)
