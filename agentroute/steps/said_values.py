"""Dates and times as the user said them, resolved to the form a tool's schema declares.

A 135M model copies words well and computes badly. On the shipped pack's dev tool calls, 15 of
110 replies had every call and every other argument right and a date or time wrong: "4:00 pm"
written as ``20:00``, "June 2, 2026" as ``2026-06-20`` (the grammar's two-digit day after the
copied "2"), "next Friday" as another day. Here the model may instead copy the phrase
(``"date": "next Friday"``) and this module turns it into the declared form (``2026-10-02``)
against the date the conversation gives as today: the copying is the model's, the calendar
arithmetic is code's.

A string parameter is a *date* or a *time* when its schema says so unambiguously: a ``pattern``
that accepts a zero-padded ISO date (``2026-03-04``) or a 24-hour ``HH:MM`` time and nothing
looser, ``"format": "date"``, or a description naming ``YYYY-MM-DD`` or a 24-hour ``HH:MM``.
Only such parameters are touched, and only when their value is not already in the declared form;
a phrase this module cannot read stays as written (the schema check then refuses the call and
says why). English phrasings, in Monday-first weeks:

- dates: ISO (also unpadded, ``2026-6-2``); month names with or without a year and weekday
  ("June 2, 2026", "the 1st of September", "Tue, Sep 2nd 2026"; no year: the next such day from
  today); "today", "tomorrow", "the day after tomorrow"; "in 5 days", "in two weeks", "3 days
  from now", "a week from today"; "this Friday" (this week's), "next Friday" and "Friday next
  week" (next week's), "Friday" or "on Friday" (the next one after today);
- times: ``HH:MM``, "4pm", "4:30 p.m.", "7 o'clock in the evening", "two in the afternoon",
  "half past four in the afternoon", "quarter to nine at night", "noon", "midnight"; a bare
  "seven" or "7" is no time (morning or evening?), "7:30" and "19" are read as written.
"""

from __future__ import annotations

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
_NUMBER_WORDS.update({"a": 1, "an": 1})

_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_HHMM = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")
_SAMPLE_DATE, _LOOSE_DATE = "2026-03-04", "2026-3-4"
_SAMPLE_TIME, _LOOSE_TIME = "13:45", "1:45 pm"


# ---------------------------------------------------------------- which parameters are dates, times


def declared_kind(schema: Any) -> str | None:
    """``DATE`` or ``TIME`` where a string parameter's schema declares that form, else None."""
    if not isinstance(schema, Mapping) or schema.get("type") != "string" or "enum" in schema or "const" in schema:
        return None
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            compiled = re.compile(pattern)
        except re.error:
            return None
        for kind, sample, loose in ((DATE, _SAMPLE_DATE, _LOOSE_DATE), (TIME, _SAMPLE_TIME, _LOOSE_TIME)):
            if compiled.search(sample) and not compiled.search(loose) and not compiled.search("x"):
                return kind
        return None
    if schema.get("format") == "date":
        return DATE
    description = str(schema.get("description", ""))
    if "YYYY-MM-DD" in description and "HH" not in description:
        return DATE
    if re.search(r"\bHH:MM\b", description) and "24" in description and "YYYY" not in description:
        return TIME
    return None


# ---------------------------------------------------------------------------------- resolving


def _number(word: str) -> int | None:
    word = word.lower()
    if word.isdigit():
        return int(word)
    return _NUMBER_WORDS.get(word)


def _month(word: str) -> int | None:
    word = word.lower().rstrip(".")
    if len(word) < 3:
        return None
    for i, name in enumerate(_MONTHS):
        if name.startswith(word) and (len(word) >= 3):
            return i + 1
    return None


def _weekday(word: str) -> int | None:
    word = word.lower().rstrip(".")
    if len(word) < 3:
        return None
    for i, name in enumerate(_WEEKDAYS):
        if name.startswith(word):
            return i
    return None


def _words(phrase: str) -> list[str]:
    return re.findall(r"[a-z]+\.?|\d+(?:st|nd|rd|th)?", phrase.lower())


def _day_of_month(word: str) -> int | None:
    match = re.fullmatch(r"(\d{1,2})(st|nd|rd|th)?", word)
    if match:
        return int(match.group(1))
    return None


def _absolute_date(words: list[str], today: dt.date | None) -> dt.date | None:
    """Month-name dates: "june 2 2026", "2 june", "the 1st of september 2026", an optional weekday
    before them (checked against the date when a year is given)."""
    words = [w for w in words if w not in ("the", "of", "on")]
    weekday = None
    if words and _weekday(words[0]) is not None and len(words) > 1:
        weekday, words = _weekday(words[0]), words[1:]
    month = day = year = None
    for word in words:
        if _month(word) is not None and month is None and not word[0].isdigit():
            month = _month(word)
        elif re.fullmatch(r"\d{4}", word) and year is None:
            year = int(word)
        elif _day_of_month(word) is not None and day is None:
            day = _day_of_month(word)
        else:
            return None
    if month is None or day is None:
        return None
    try:
        if year is not None:
            found = dt.date(year, month, day)
        elif today is None:
            return None
        else:
            found = dt.date(today.year, month, day)
            if found < today:
                found = dt.date(today.year + 1, month, day)
    except ValueError:
        return None
    if weekday is not None and found.weekday() != weekday:
        return None
    return found


def _relative_date(words: list[str], today: dt.date | None) -> dt.date | None:
    if today is None:
        return None
    text = " ".join(w.rstrip(".") for w in words)
    fixed = {"today": 0, "tomorrow": 1, "the day after tomorrow": 2, "day after tomorrow": 2, "yesterday": -1}
    if text in fixed:
        return today + dt.timedelta(days=fixed[text])
    span = re.fullmatch(r"(?:in )?(\w+) (day|week)s?(?: from (?:today|now))?", text)
    if span and (text.startswith("in ") or " from " in text):
        count = _number(span.group(1))
        if count is not None:
            return today + dt.timedelta(days=count * (7 if span.group(2) == "week" else 1))
    week_start = today - dt.timedelta(days=today.weekday())
    patterns = (
        (r"this (\w+)", 0),
        (r"(\w+) this week", 0),
        (r"next (\w+)", 7),
        (r"(\w+) next week", 7),
        (r"next week (?:on )?(\w+)", 7),
        (r"(?:on )?(\w+)", None),
    )
    for pattern, offset in patterns:
        match = re.fullmatch(pattern, text)
        day = _weekday(match.group(1)) if match else None
        if day is None:
            continue
        if offset is None:  # a bare weekday: the next one after today
            return today + dt.timedelta(days=(day - today.weekday() - 1) % 7 + 1)
        return week_start + dt.timedelta(days=offset + day)
    return None


def resolve_date(phrase: str, today: dt.date | None) -> dt.date | None:
    """The day ``phrase`` names, relative to ``today``; None if it names none this module reads
    (without ``today``, only dates that give their year are read)."""
    phrase = phrase.strip()
    iso = _ISO_DATE.fullmatch(phrase)
    if iso:
        try:
            return dt.date(*(int(g) for g in iso.groups()))
        except ValueError:
            return None
    words = _words(phrase.replace(",", " "))
    if not words:
        return None
    return _relative_date(words, today) or _absolute_date(words, today)


_DAY_PARTS = {
    "in the morning": "am",
    "am": "am",
    "a.m.": "am",
    "in the afternoon": "pm",
    "in the evening": "pm",
    "at night": "pm",
    "tonight": "pm",
    "pm": "pm",
    "p.m.": "pm",
}


def resolve_time(phrase: str) -> tuple[int, int] | None:
    """The clock time ``phrase`` names as (hour, minute) on a 24-hour clock, or None."""
    text = re.sub(r"\s+", " ", phrase.strip().lower())
    if text in ("noon", "midday", "12 noon"):
        return 12, 0
    if text == "midnight":
        return 0, 0
    part = None
    for words, meaning in _DAY_PARTS.items():
        if text.endswith(words) and (len(text) == len(words) or not text[-len(words) - 1].isalpha()):
            part, text = meaning, text[: -len(words)].strip()
            break
    text = re.sub(r"\s*o'?clock$", "", text)
    hour = minute = None
    clock = re.fullmatch(r"(\d{1,2})(?:[:.](\d{2}))?", text)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2) or 0)
    else:
        spoken = re.fullmatch(r"(half past|quarter past|quarter to) (\w+)", text)
        if spoken:
            base = _number(spoken.group(2))
            if base is None:
                return None
            hour, minute = {"half past": (base, 30), "quarter past": (base, 15), "quarter to": (base - 1, 45)}[
                spoken.group(1)
            ]
        elif _number(text) is not None and text not in ("a", "an"):
            hour, minute = _number(text), 0
    if hour is None or minute is None or minute > 59:
        return None
    if part is None:
        # "16:00" and "7:30" stand as written; a bare word or number needs no day part to be a
        # time only when it is a 24-hour one ("19"), so "seven" alone is refused.
        return (hour, minute) if (clock and (clock.group(2) or hour > 12)) and hour <= 23 else None
    if not 1 <= hour <= 12 and not (hour == 0 and part == "am"):
        return None
    if part == "pm" and hour != 12:
        hour += 12
    if part == "am" and hour == 12:
        hour = 0
    return hour, minute


def canonical(kind: str, phrase: str, today: dt.date | None) -> str | None:
    """``phrase`` in the declared form of ``kind`` (``YYYY-MM-DD``, ``HH:MM``), or None."""
    if kind == DATE:
        day = resolve_date(phrase, today)
        return day.isoformat() if day else None
    time = resolve_time(phrase)
    return f"{time[0]:02d}:{time[1]:02d}" if time else None


# ------------------------------------------------------------------------- arguments of a call


@dataclass(frozen=True)
class SaidValue:
    path: str  # the argument's JSON path in the call ("date", "time.start", "slots[1]")
    said: str
    value: str


def _walk(value: Any, schema: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """(path, value, kind) for every declared date or time string in ``value``."""
    if not isinstance(schema, Mapping):
        return
    kind = declared_kind(schema)
    if kind is not None and isinstance(value, str):
        yield path, value, kind
    elif isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        for key, item in value.items():
            yield from _walk(item, properties.get(key), f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        items = schema.get("items")
        for i, item in enumerate(value):
            yield from _walk(item, items, f"{path}[{i}]")


def _replace(value: Any, schema: Any, today: dt.date, resolved: list[SaidValue], path: str = "") -> Any:
    if not isinstance(schema, Mapping):
        return value
    kind = declared_kind(schema)
    if kind is not None and isinstance(value, str):
        if re.search(schema["pattern"], value) if "pattern" in schema else _is_canonical(kind, value):
            return value
        found = canonical(kind, value, today)
        if found is None:
            return value
        resolved.append(SaidValue(path, value, found))
        return found
    if isinstance(value, Mapping):
        properties = schema.get("properties") or {}
        return {
            key: _replace(item, properties.get(key), today, resolved, f"{path}.{key}" if path else key)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_replace(item, schema.get("items"), today, resolved, f"{path}[{i}]") for i, item in enumerate(value)]
    return value


def _is_canonical(kind: str, value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}" if kind == DATE else r"\d{2}:\d{2}", value))


def resolve_arguments(
    arguments: Mapping[str, Any], parameters: Mapping[str, Any], today: dt.date
) -> tuple[dict[str, Any], list[SaidValue]]:
    """``arguments`` with every declared date or time said in words put in its declared form, and
    what was resolved. Values already in that form, and phrases not read, stay as they are."""
    resolved: list[SaidValue] = []
    out = _replace(dict(arguments), parameters, today, resolved)
    return out, resolved


def declared_values(arguments: Mapping[str, Any], parameters: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(path, value, kind) of every declared date or time in ``arguments``."""
    return list(_walk(dict(arguments), parameters, ""))


# ------------------------------------------------------------------------- today, as stated

_TODAY = re.compile(r"\btoday(?:'s date)? is\b[^.\d]{0,40}?(\d{4}-\d{2}-\d{2})", re.IGNORECASE)


def stated_today(messages: Sequence[Mapping[str, Any]]) -> dt.date | None:
    """The date a system or user message gives as today ("Today is Friday, 2026-03-13."), the
    latest one stated; None if no message states one."""
    found = None
    for message in messages:
        content = message.get("content")
        if message.get("role") not in ("system", "developer", "user") or not isinstance(content, str):
            continue
        for match in _TODAY.finditer(content):
            try:
                found = dt.date.fromisoformat(match.group(1))
            except ValueError:
                continue
    return found


# ------------------------------------------------------------- the grammar of a said-values pack

# What a pack trained on said values may write where a schema declares a date or time: a short
# phrase on one line, no quote (the grammar's string escapes stay out of a date), no leading space.
PHRASE = {"type": "string", "pattern": r"^[^ \"\\\n][^\"\\\n]{0,39}$"}


def phrase_specs(specs: Sequence[Any]) -> list[Any]:
    """``ToolSpec``s with their parameters' dates and times open to phrases (``phrase_parameters``)."""
    return [spec.model_copy(update={"parameters": phrase_parameters(spec.parameters)}) for spec in specs]


def phrase_parameters(schema: Any) -> Any:
    """``schema`` with every declared date or time (``declared_kind``) open to a short phrase
    (``PHRASE``); its description stays, so the grammar still knows which field it is."""
    if isinstance(schema, list):
        return [phrase_parameters(s) for s in schema]
    if not isinstance(schema, Mapping):
        return schema
    if declared_kind(schema) is not None:
        return {**{k: v for k, v in schema.items() if k not in ("pattern", "format")}, **PHRASE}
    return {key: phrase_parameters(value) for key, value in schema.items()}
