"""Dates and times in words: the reader that resolves them, and the grammar that admits them.

A said-values pack (``steps.said_values``) writes a declared date or time as the user said it;
this module reads such a phrase into the declared form, and gives, per kind, the pattern of the
phrases it reads, which is what that pack's grammar admits in such a field: a phrase the reader
cannot read ("2 days", a booking code, an e-mail copied into a date) cannot be written, so a call
is never lost to one. English phrasings, in Monday-first weeks:

- dates: ISO (also unpadded, ``2026-6-2``); month names with or without a year and weekday
  ("June 2, 2026", "the 1st of September", "Wed, Sep 2nd 2026"; no year: the next such day on
  or after today); "today", "tomorrow", "the day after tomorrow"; "in 5 days", "in two weeks",
  "3 days from now", "a week from today"; "this Friday" and "Friday" (the next one on or after
  today), "next Friday" and "Friday next week" (next week's);
- times: ``HH:MM``, "4pm", "4:30 p.m.", "7 o'clock in the evening", "two in the afternoon",
  "half past four in the afternoon", "quarter to nine at night", "one at night" (01:00), "noon",
  "midnight"; a bare "seven" or "7" is no time (morning or evening?), "7:30" and "19" are read
  as written.

The grammar admits the usual spellings of what the reader reads (no "19" alone), and nothing
else but two kinds of phrase it cannot check: a day the month does not have ("June 31") and a
weekday that is not the date's ("Friday, June 2, 2026"); the reader refuses those and the call
reports it. The tests hold every other admitted phrase to the reader.
"""

from __future__ import annotations

import datetime as dt
import re

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


def words_of(phrase: str) -> list[str]:
    return re.findall(r"[a-z]+\.?|[0-9]+(?:st|nd|rd|th)?", phrase.lower())


def absolute_date(words: list[str], today: dt.date | None) -> dt.date | None:
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
    words = words_of(phrase.replace(",", " "))
    if not words:
        return None
    return _relative_date(words, today) or absolute_date(words, today)


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


# ------------------------------------------------------------------------ the phrases admitted
# Built from parts so each reads as what it admits; a word may open lower or upper case.


def _either(*alternatives: str) -> str:
    return "(?:" + "|".join(alternatives) + ")"


def _cased(word: str) -> str:
    return f"[{word[0].upper()}{word[0]}]{word[1:]}"


def _name(full: str, *short: str) -> str:
    """A weekday or month: its full name, its three-letter short form with or without a dot, and
    the other short forms people write ("Tues", "Sept")."""
    spellings = [full, *(s + r"\.?" for s in (*short, full[:3]))] if len(full) > 3 else [full]
    return _either(*(_cased(s) for s in spellings))


_WEEKDAY = _either(*(_name(d, *{"tuesday": ("tues",), "thursday": ("thurs", "thur")}.get(d, ())) for d in _WEEKDAYS))
_MONTH = _either(*(_name(m, *{"september": ("sept",)}.get(m, ())) for m in _MONTHS))
_DAY_NUMBER = r"(?:0?[1-9]|[12][0-9]|3[01])"
_DAY_OF_MONTH = _DAY_NUMBER + r"(?:st|nd|rd|th)?"
_YEAR = r"(?:,? [12][0-9]{3})?"  # years 1000-2999
_HOURS = [w for w, n in _NUMBER_WORDS.items() if 1 <= n <= 12]
_COUNTS = [w for w in _NUMBER_WORDS if w != "zero"]


def _span(opening: bool) -> str:
    """A count of days or weeks ("5 days", "two weeks", "a week"; capitalized where it opens the
    phrase), within _MAX_DAYS_AHEAD: up to 999 days, 99 weeks."""
    words = [_cased(w) if opening else w for w in ("a", "an", *_COUNTS)]
    return _either(_either(r"[1-9][0-9]{0,2}", *words) + " days?", _either(r"[1-9][0-9]?", *words) + " weeks?")


_DATE_PHRASES = [
    r"[12][0-9]{3}-(?:0?[1-9]|1[0-2])-" + _DAY_NUMBER,
    _either(*(_cased(w) for w in ("today", "tomorrow", "yesterday", "day after tomorrow", "the day after tomorrow"))),
    # "in 5 days", "in two weeks", "3 days from now", "a week from today"
    _cased("in ") + _span(opening=False) + "(?: from (?:today|now))?",
    _span(opening=True) + " from (?:today|now)",
    # "Friday", "this Friday", "next Friday", "Friday next week", "next week on Friday"
    _either(_cased("this "), _cased("next ")) + "?" + _WEEKDAY,
    _WEEKDAY + " (?:this|next) week",
    _cased("next week ") + "(?:on )?" + _WEEKDAY,
    # "June 2, 2026", "Wed, Sep 2nd 2026", "the 1st of September", "2 June 2026"
    f"(?:{_WEEKDAY},? )?" + _MONTH + f" (?:the )?{_DAY_OF_MONTH}{_YEAR}",
    f"(?:{_WEEKDAY},? )?" + f"(?:{_cased('the ')})?{_DAY_OF_MONTH} (?:of )?{_MONTH}{_YEAR}",
]
_HOUR_DIGITS = r"(?:1[0-2]|0?[1-9])"  # on a 12-hour clock
_CLOCK_FACE = _HOUR_DIGITS + r"(?:[:.][0-5][0-9])?"
_AM_PM = r"(?:[AaPp][Mm]|[AaPp]\.[Mm]\.?)"
_SPOKEN = _either(_cased("half past "), _cased("quarter past "), _cased("quarter to ")) + _either(_HOUR_DIGITS, *_HOURS)
_HOUR_WORD = _either(*(_cased(w) for w in _HOURS))  # "Seven", "seven"
_DAY_PART = r"(?:in the (?:morning|afternoon|evening)|at night|tonight)"
_TIME_PHRASES = [
    r"(?:[01]?[0-9]|2[0-3])[:.][0-5][0-9]",  # as written: "16:00", "7:30"
    _CLOCK_FACE + " ?" + _AM_PM,  # "4pm", "4:30 p.m."
    _either(_HOUR_WORD, _SPOKEN) + " " + _AM_PM,  # "seven am", "quarter to nine pm"
    _either(_CLOCK_FACE, _HOUR_WORD, _SPOKEN)
    + "(?: o'?clock)? "
    + _DAY_PART,  # "seven in the evening", "half past four in the afternoon", "1 at night"
    _either(*(_cased(w) for w in ("noon", "midday", "midnight")), "12 noon", "12 midnight"),
]
PHRASE_PATTERNS = {DATE: "^" + _either(*_DATE_PHRASES) + "$", TIME: "^" + _either(*_TIME_PHRASES) + "$"}
