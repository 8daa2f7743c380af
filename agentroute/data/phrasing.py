"""How values are said in a request: numbers in digits or words, dates, times, money, durations, units.

Every function takes the generator's ``random.Random`` and returns the text a user would write; the
value that goes into the expected arguments is computed by the caller, so text and value cannot drift.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_MONTHS = "January February March April May June July August September October November December".split()
_WEEKDAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
YEAR = 2026  # the year generated dates fall in (relative ones may run into the next)
# The date a step's system prompt gives as today (``today_is``): while set, dates are drawn near it
# and half of them said relative to it ("tomorrow", "next Friday"), as users write them.
_TODAY: contextvars.ContextVar[dt.date | None] = contextvars.ContextVar("today", default=None)


def words(n: int) -> str:
    """``n`` (0..999999) in English words: 45 -> "forty-five", 1200 -> "one thousand two hundred"."""
    if n < 20:
        return _ONES[n]
    if n < 100:
        return _TENS[n // 10] + ("" if n % 10 == 0 else "-" + _ONES[n % 10])
    if n < 1000:
        rest = n % 100
        return f"{_ONES[n // 100]} hundred" + (f" {words(rest)}" if rest else "")
    rest = n % 1000
    return f"{words(n // 1000)} thousand" + (f" {words(rest)}" if rest else "")


def say_int(rng: random.Random, n: int) -> str:
    """An integer as digits or (for small or round numbers, half of the time) as words; from 10000 on
    also with thousands separators ("329,000"), and round hundreds from 1000 on in thousands ("12k",
    "1.5k"): the argument is still the plain integer. (No separators below 10000: years such as
    2019 are integers too, and nobody writes "2,019".)"""
    if (n <= 20 or (n < 1000 and n % 10 == 0)) and rng.random() < 0.5:
        return words(n)
    options = [str(n)]
    if n >= 10000:
        options += [f"{n:,}", f"{n:,}"]
    if n >= 1000 and n % 100 == 0:
        options.append(f"{n // 100 / 10:g}k")
    return rng.choice(options) if len(options) > 1 else options[0]


def plain_number(x: float | int) -> int | float:
    """A JSON number without a pointless ``.0``: 250.0 -> 250, 12.5 stays."""
    return int(x) if float(x).is_integer() else x


def say_number(x: float | int) -> str:
    """A number as a user writes it: 12.5, 3, 1,250.75."""
    x = plain_number(x)
    return f"{x:,}" if isinstance(x, int) else f"{x:,.2f}".rstrip("0").rstrip(".")


def say_money(rng: random.Random, amount: float | int) -> str:
    """A dollar amount: "$1,250.50", "250 dollars", "two hundred dollars"."""
    amount = plain_number(amount)
    if isinstance(amount, int):
        options = [f"${amount:,}", f"{amount} dollars", f"{amount:,} USD"]
        if amount < 1000 and amount % 10 == 0:
            options.append(f"{words(amount)} dollars")
    else:
        options = [f"${amount:,.2f}", f"{amount:.2f} dollars", f"USD {amount:,.2f}"]
    return rng.choice(options)


def random_date(rng: random.Random, start_month: int = 1, end_month: int = 12) -> dt.date:
    """A date of ``YEAR``; with a ``today_is`` date set, 70% of the time one of the next 13 days."""
    today = _TODAY.get()
    if today is not None and rng.random() < 0.7:
        return today + dt.timedelta(days=rng.randint(1, 13))
    return dt.date(YEAR, rng.randint(start_month, end_month), rng.randint(1, 28))


@contextmanager
def today_is(day: dt.date) -> Iterator[None]:
    """Within the block, dates may be said relative to ``day`` (the date a system prompt states)."""
    token = _TODAY.set(day)
    try:
        yield
    finally:
        _TODAY.reset(token)


def say_today(day: dt.date) -> str:
    """How a system prompt states the date: "Today is Friday, 2026-03-13."."""
    return f"Today is {_WEEKDAYS[day.weekday()]}, {day.isoformat()}."


def is_relative(said: str) -> bool:
    """Whether ``say_date`` said a date relative to today (it then needs no "on" before it)."""
    return said.startswith(("tomorrow", "the day after", "in ", "a week from", "this ", "next ")) or said.endswith(
        " next week"
    )


def _relative(day: dt.date, today: dt.date) -> list[str]:
    """Ways to say ``day`` relative to ``today`` (none when it is not 1..13 days ahead)."""
    ahead = (day - today).days
    if not 1 <= ahead <= 13:
        return []
    weekday = _WEEKDAYS[day.weekday()]
    options = {1: ["tomorrow"], 2: ["the day after tomorrow"], 7: ["a week from today"]}.get(ahead, [])
    if ahead > 1:
        options.append(f"in {ahead} days")
    if ahead <= 6 - today.weekday():
        options.append(f"this {weekday}")  # later in the same (Monday-first) week
    elif ahead <= 13 - today.weekday():
        options.append(f"{weekday} next week")
        if ahead < 7:
            options.append(f"next {weekday}")  # the coming one and next week's are the same day
    return options


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def say_date(rng: random.Random, day: dt.date, relative_ok: bool = False) -> str:
    """A date in one of several unambiguous forms; the expected value is ``day.isoformat()``.

    With ``relative_ok``, a ``today_is`` date set and ``day`` less than two weeks after it, half of
    the time (70%) relative to it ("tomorrow", "in 5 days", "Monday next week"); see ``is_relative``."""
    today = _TODAY.get()
    relative = _relative(day, today) if today is not None and relative_ok else []
    if relative and rng.random() < 0.7:
        return rng.choice(relative)
    month = _MONTHS[day.month - 1]
    return rng.choice(
        [
            f"{month} {day.day}, {day.year}",
            f"{day.day} {month} {day.year}",
            day.isoformat(),
            f"the {_ordinal(day.day)} of {month} {day.year}",
            f"{_WEEKDAYS[day.weekday()]}, {month} {day.day}, {day.year}",
            f"{month[:3]} {_ordinal(day.day)} {day.year}",
        ]
    )


def random_time(rng: random.Random, first_hour: int = 7, last_hour: int = 21) -> tuple[int, int]:
    return rng.randint(first_hour, last_hour), rng.choice((0, 0, 15, 30, 45))


def hhmm(hour: int, minute: int) -> str:
    return f"{hour:02d}:{minute:02d}"


def say_time(rng: random.Random, hour: int, minute: int) -> str:
    """A clock time: "7pm", "7:30 pm", "19:30", "half past seven in the evening", "noon"."""
    twelve = hour % 12 or 12
    ampm = "am" if hour < 12 else "pm"
    part = "in the morning" if hour < 12 else "in the afternoon" if hour < 18 else "in the evening"
    options = [hhmm(hour, minute), f"{twelve}:{minute:02d} {ampm}"]
    if minute == 0:
        options += [f"{twelve}{ampm}", f"{words(twelve)} {part}" if hour != 12 else "noon"]
    elif minute == 30:
        options.append(f"half past {words(twelve)} {part}")
    elif minute == 15:
        options.append(f"quarter past {twelve} {part}")
    return rng.choice(options)


def say_minutes(rng: random.Random, minutes: int) -> str:
    """A duration whose expected value is in minutes: "90 minutes", "an hour and a half", "2 hours"."""
    options = [f"{minutes} minutes", f"{say_int(rng, minutes)} minutes"]
    if minutes == 30:
        options.append("half an hour")
    elif minutes == 60:
        options += ["an hour", "one hour"]
    elif minutes == 90:
        options += ["an hour and a half", "1.5 hours"]
    elif minutes % 60 == 0:
        options.append(f"{say_int(rng, minutes // 60)} hours")
    return rng.choice(options)


def say_kg(rng: random.Random, kg: float) -> str:
    """A weight whose expected value is in kilograms, sometimes said in grams."""
    options = [f"{say_number(kg)} kg", f"{say_number(kg)} kilograms"]
    if kg < 5:
        options += [f"{round(kg * 1000)} grams", f"{round(kg * 1000)} g"]
    return rng.choice(options)


def say_km(rng: random.Random, km: float) -> str:
    """A distance whose expected value is in kilometres, sometimes said in metres."""
    options = [f"{say_number(km)} km", f"{say_number(km)} kilometers"]
    if km < 5:
        options.append(f"{round(km * 1000)} meters")
    return rng.choice(options)


def join_and(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def fill(rng: random.Random, templates: Sequence[str], **values: str) -> str:
    """One of ``templates`` with ``{name}`` fields filled from ``values``."""
    return rng.choice(list(templates)).format(**values)


def ident(rng: random.Random, fmt: str) -> str:
    """An id from a format: ``#`` a digit, ``@`` an upper-case letter, ``?`` either; other characters stay."""
    letters, digits = "ABCDEFGHJKLMNPQRSTUVWXYZ", "0123456789"
    out = []
    for ch in fmt:
        if ch == "#":
            out.append(rng.choice(digits))
        elif ch == "@":
            out.append(rng.choice(letters))
        elif ch == "?":
            out.append(rng.choice(letters + digits))
        else:
            out.append(ch)
    return "".join(out)


def ident_pattern(fmt: str) -> str:
    """The JSON Schema ``pattern`` matching every id ``ident`` makes from ``fmt``."""
    parts = {"#": "[0-9]", "@": "[A-Z]", "?": "[A-Z0-9]"}
    return "^" + "".join(parts.get(ch, "\\" + ch if not ch.isalnum() else ch) for ch in fmt) + "$"


def capitalize(text: str) -> str:
    return text[:1].upper() + text[1:]
