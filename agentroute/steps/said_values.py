"""Dates and times as the user said them, resolved to the form a tool's schema declares.

A 135M model copies words well and computes badly. On the shipped pack's dev tool calls, 15 of
110 replies had every call and every other argument right and a date or time wrong: "4:00 pm"
written as ``20:00``, "June 2, 2026" as ``2026-06-20`` (the grammar's two-digit day after the
copied "2"), "next Friday" as another day. Here the model may instead copy the phrase
(``"date": "next Friday"``) and this module turns it into the declared form (``2026-10-02``)
against the date the conversation gives as today: the copying is the model's, the calendar
arithmetic is code's.

A string parameter (or the one string alternative of an ``anyOf``/``oneOf``, as pydantic writes
``Optional[date]``) is a *date* or a *time* when its schema says so: a ``pattern`` that accepts a
zero-padded ISO date (``2026-03-04``) or a 24-hour ``HH:MM`` time and refuses their near misses,
or ``"format": "date"``; for a pack trained on said values also a description that names
``YYYY-MM-DD`` or a 24-hour ``HH:MM``. A value already in the declared form is never touched, so
resolving only rescues values the schema would refuse. English phrasings, in Monday-first weeks:

- dates: ISO (also unpadded, ``2026-6-2``); month names with or without a year and weekday
  ("June 2, 2026", "the 1st of September", "Tue, Sep 2nd 2026"; no year: the next such day on
  or after today); "today", "tomorrow", "the day after tomorrow"; "in 5 days", "in two weeks",
  "3 days from now", "a week from today"; "this Friday" and "Friday" (the next one on or after
  today), "next Friday" and "Friday next week" (next week's);
- times: ``HH:MM``, "4pm", "4:30 p.m.", "7 o'clock in the evening", "two in the afternoon",
  "half past four in the afternoon", "quarter to nine at night", "one at night" (01:00), "noon",
  "midnight"; a bare "seven" or "7" is no time (morning or evening?), "7:30" and "19" are read
  as written.
"""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

DATE, TIME = "date", "time"

_WEEKDAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
_MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_NUMBER_WORDS = {
    w: i
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
        "sixteen seventeen eighteen nineteen twenty".split()
    )
}
_MAX_DAYS_AHEAD = 3660  # "in N days/weeks" beyond ten years is no date an agent step means

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
# What a declared pattern must accept, and the near misses it must refuse, to be a date or a time:
# a pattern that accepts "2026-03" or "03-04" alone is a month or a sort code, not a day.
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


# ---------------------------------------------------------------------------------- resolving


def _number(word: str) -> int | None:
    word = word.lower()
    if re.fullmatch(r"[0-9]{1,4}", word):  # ASCII digits only: str.isdigit() admits "²"
        return int(word)
    return _NUMBER_WORDS.get(word)


def _prefixed(word: str, names: list[str]) -> int | None:
    """The index of the name ``word`` abbreviates (at least three letters: "sep", "sept", "thu")."""
    word = word.lower().rstrip(".")
    if len(word) < 3 or not word.isalpha():
        return None
    for i, name in enumerate(names):
        if name.startswith(word):
            return i
    return None


def _month(word: str) -> int | None:
    found = _prefixed(word, _MONTHS)
    return None if found is None else found + 1


def _weekday(word: str) -> int | None:
    return _prefixed(word, _WEEKDAYS)


def _words(phrase: str) -> list[str]:
    return re.findall(r"[a-z]+\.?|[0-9]+(?:st|nd|rd|th)?", phrase.lower())


def _absolute_date(words: list[str], today: dt.date | None) -> dt.date | None:
    """Month-name dates: "june 2 2026", "2 june", "the 1st of september 2026", an optional weekday
    before them (which must be the date's)."""
    words = [w for w in words if w not in ("the", "of", "on")]
    weekday = None
    if len(words) > 1 and _weekday(words[0]) is not None:
        weekday, words = _weekday(words[0]), words[1:]
    month = day = year = None
    for word in words:
        if month is None and _month(word) is not None:
            month = _month(word)
        elif year is None and re.fullmatch(r"[0-9]{4}", word):
            year = int(word)
        elif day is None and re.fullmatch(r"[0-9]{1,2}(st|nd|rd|th)?", word):
            day = int(re.match(r"[0-9]+", word).group())
        else:
            return None
    if month is None or day is None:
        return None
    try:
        if year is not None:
            found = dt.date(year, month, day)
        elif today is None:
            return None
        else:  # no year: the next such day on or after today (agent steps mostly book ahead)
            found = next(d for y in range(today.year, today.year + 5) if (d := _day(y, month, day)) and d >= today)
    except (ValueError, StopIteration):
        return None
    if weekday is not None and found.weekday() != weekday:
        return None
    return found


def _day(year: int, month: int, day: int) -> dt.date | None:
    try:
        return dt.date(year, month, day)
    except ValueError:  # February 29th in another year
        return None


def _relative_date(words: list[str], today: dt.date | None) -> dt.date | None:
    if today is None:
        return None
    text = " ".join(w.rstrip(".") for w in words)
    fixed = {"today": 0, "tomorrow": 1, "the day after tomorrow": 2, "day after tomorrow": 2, "yesterday": -1}
    if text in fixed:
        return today + dt.timedelta(days=fixed[text])
    span = re.fullmatch(r"(?:in )?(\w+) (day|week)s?(?: from (?:today|now))?", text)
    if span and (text.startswith("in ") or " from " in text):
        count = {"a": 1, "an": 1}.get(span.group(1), _number(span.group(1)))
        if count is not None:
            days = count * (7 if span.group(2) == "week" else 1)
            return today + dt.timedelta(days=days) if days <= _MAX_DAYS_AHEAD else None
    week_start = today - dt.timedelta(days=today.weekday())
    for pattern, offset in ((r"next (\w+)", 7), (r"(\w+) next week", 7), (r"next week (?:on )?(\w+)", 7),
                            (r"(\w+) this week", 0), (r"(?:this |on )?(\w+)", None)):  # fmt: skip
        match = re.fullmatch(pattern, text)
        day = _weekday(match.group(1)) if match else None
        if day is None:
            continue
        if offset is None:  # "Friday", "this Friday": the next one on or after today
            return today + dt.timedelta(days=(day - today.weekday()) % 7)
        return week_start + dt.timedelta(days=offset + day)
    return None


def resolve_date(phrase: str, today: dt.date | None) -> dt.date | None:
    """The day ``phrase`` names, relative to ``today``; None if it names none this module reads
    (without ``today``, only dates that give their year are read)."""
    phrase = phrase.strip()
    iso = _ISO_DATE.fullmatch(phrase)
    if iso:
        return _day(*(int(g) for g in iso.groups()))
    if "-" in phrase or len(phrase) > 60:  # "in -5 days"; no date is worded at such length
        return None
    words = _words(phrase.replace(",", " "))
    if not words:
        return None
    return _relative_date(words, today) or _absolute_date(words, today)


# Day parts, longest first; "at night" and "tonight" read 12 as midnight and 1-4 as small hours.
_DAY_PARTS = [
    ("in the morning", "am"),
    ("in the afternoon", "pm"),
    ("in the evening", "pm"),
    ("at night", "night"),
    ("tonight", "night"),
    ("a.m.", "am"),
    ("p.m.", "pm"),
    ("a.m", "am"),
    ("p.m", "pm"),
    ("am", "am"),
    ("pm", "pm"),
]


def resolve_time(phrase: str) -> tuple[int, int] | None:
    """The clock time ``phrase`` names as (hour, minute) on a 24-hour clock, or None."""
    text = re.sub(r"\s+", " ", phrase.strip().lower())
    if text in ("noon", "midday", "12 noon"):
        return 12, 0
    if text in ("midnight", "12 midnight"):
        return 0, 0
    part = None
    for words, meaning in _DAY_PARTS:
        if text.endswith(words) and (len(text) == len(words) or not text[-len(words) - 1].isalpha()):
            part, text = meaning, text[: -len(words)].strip()
            break
    text = re.sub(r"\s*o'?clock$", "", text)
    before = 0  # minutes before the named hour ("quarter to nine")
    clock = re.fullmatch(r"([0-9]{1,2})(?:[:.]([0-9]{2}))?", text)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
    else:
        spoken = re.fullmatch(r"(half past|quarter past|quarter to) (\w+)", text)
        named = spoken.group(2) if spoken else text
        hour = _number(named)
        if hour is None:
            return None
        minute = {"half past": 30, "quarter past": 15}.get(spoken.group(1), 0) if spoken else 0
        before = 15 if spoken and spoken.group(1) == "quarter to" else 0
    if minute > 59:
        return None
    if part is None:
        # "16:00" and "7:30" stand as written; a bare number or word is a time only when it is a
        # 24-hour one ("19"): "seven" alone could be morning or evening.
        if not (clock and (clock.group(2) or 12 < hour <= 23)) or hour > 23 or before:
            return None
    else:
        if not 1 <= hour <= 12:
            return None
        if part == "night":  # "twelve at night" is midnight, "one at night" 01:00, "nine at night" 21:00
            part = "am" if hour == 12 or hour <= 4 else "pm"
        hour = hour % 12 + (12 if part == "pm" else 0)
    total = (hour * 60 + minute - before) % (24 * 60)
    return total // 60, total % 60


def canonical(kind: str, phrase: str, today: dt.date | None) -> str | None:
    """``phrase`` in the declared form of ``kind`` (``YYYY-MM-DD``, ``HH:MM``), or None; never raises."""
    try:
        if kind == DATE:
            day = resolve_date(phrase, today)
            return day.isoformat() if day else None
        time = resolve_time(phrase)
    except (ValueError, OverflowError):  # dates past year 9999, and the like
        return None
    return f"{time[0]:02d}:{time[1]:02d}" if time else None


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
        return _day(*(int(g) for g in iso.group().split("-")))
    words = _words(text.split(".")[0].replace(",", " "))
    for end in range(len(words), 1, -1):  # "Friday, March 13, 2026 and ..." -> its longest date
        day = _absolute_date(words[:end], None)
        if day is not None:
            return day
    return None


# ------------------------------------------------------------- the grammar of a said-values pack

# What a pack trained on said values may write where a schema declares a date or time: a short
# phrase on one line, no quote or escape (the grammar's string escapes stay out of a date), no
# leading space.
PHRASE = {"type": "string", "pattern": r'^[^ "\\\x00-\x1f][^"\\\x00-\x1f]{0,39}$'}
_LOOSENED = ("pattern", "format", "minLength", "maxLength")


def phrase_specs(specs: Sequence[Any]) -> list[Any]:
    """``ToolSpec``s with their parameters' dates and times open to phrases (``phrase_parameters``)."""
    return [spec.model_copy(update={"parameters": phrase_parameters(spec.parameters)}) for spec in specs]


def phrase_parameters(schema: Any) -> Any:
    """``schema`` with every date or time a said-values pack may word (``_declared``, where the
    resolver looks: properties, items, an ``anyOf``/``oneOf``'s string alternative) open to a short
    phrase (``PHRASE``); its description stays, so the model still reads which field it is."""
    if not isinstance(schema, Mapping):
        return schema
    if declared_kind(schema, descriptions=True) is not None:
        return {**{k: v for k, v in schema.items() if k not in _LOOSENED}, **PHRASE}
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
