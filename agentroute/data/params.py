"""Parameter templates: the JSON Schema of an argument and a sampler of (value, how a user says it).

A ``Param`` may cover several arguments that belong together (a stay's check-in and check-out).
Tools are composed from these templates (see ``catalogue``); the factories here cover every JSON
type: strings, ids with a pattern, integers, numbers, enums, booleans, dates, times, arrays of
strings, numbers and objects, and nested objects. The templates themselves are data
(``catalogues/kinds_*.yaml``, built by ``kinds``); the defaults of optional arguments are in
``catalogue_schema``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from agentroute.data import phrasing as ph

Sample = tuple[dict[str, Any], str]  # the arguments and the phrase that asks for them


@dataclass(frozen=True, eq=False)
class Param:
    """Schemas of one or more arguments and a sampler returning their values and a phrase."""

    props: Mapping[str, dict[str, Any]]
    sampler: Callable[[random.Random], Sample]
    optional: tuple[str, ...] = ()  # props never required, even when the parameter is (a sampler may omit them)

    def sample(self, rng: random.Random) -> Sample:
        return self.sampler(rng)


def _one(name: str, schema: dict[str, Any], sampler: Callable[[random.Random], tuple[Any, str]]) -> Param:
    def sample(rng: random.Random) -> Sample:
        value, phrase = sampler(rng)
        return {name: value}, phrase

    return Param({name: schema}, sample)


def _split(item: str | tuple[str, str]) -> tuple[str, str]:
    """A pool item as (value, display): a plain string is both."""
    return (item, item) if isinstance(item, str) else item


def text(name: str, desc: str, pool: Sequence[Any], templates: Sequence[str]) -> Param:
    """A free string from ``pool``; templates use ``{v}`` (the value) and ``{p}`` (a display form)."""

    def sampler(rng: random.Random) -> tuple[str, str]:
        value, display = _split(rng.choice(list(pool)))
        return value, ph.fill(rng, templates, v=value, p=display)

    return _one(name, {"type": "string", "description": desc}, sampler)


def ident(name: str, desc: str, fmt: str, templates: Sequence[str]) -> Param:
    """An id such as ``R-48213`` made from ``fmt`` (see ``phrasing.ident``), with a schema pattern."""

    def sampler(rng: random.Random) -> tuple[str, str]:
        value = ph.ident(rng, fmt)
        return value, ph.fill(rng, templates, v=value)

    return _one(name, {"type": "string", "description": desc, "pattern": ph.ident_pattern(fmt)}, sampler)


def integer(name: str, desc: str, lo: int, hi: int, templates: Sequence[str], step: int) -> Param:
    """An integer in ``lo..hi`` (a multiple of ``step``), said as ``{n}`` in digits or words; ``{s}`` pluralizes."""

    def sampler(rng: random.Random) -> tuple[int, str]:
        value = rng.randrange(lo, hi + 1, step)
        return value, ph.fill(rng, templates, n=ph.say_int(rng, value), s="" if value == 1 else "s")

    return _one(name, {"type": "integer", "description": desc, "minimum": lo, "maximum": hi}, sampler)


def number(name: str, desc: str, lo: float, hi: float, templates: Sequence[str], decimals: int, say: str) -> Param:
    """A number; ``say`` is "plain" (``{x}``), "money", "kg" or "km" (how ``{x}`` is written)."""
    sayers = {
        "plain": lambda rng, x: ph.say_number(x),
        "money": ph.say_money,
        "kg": ph.say_kg,
        "km": ph.say_km,
    }

    def sampler(rng: random.Random) -> tuple[float | int, str]:
        value = ph.plain_number(round(rng.uniform(lo, hi), decimals))
        return value, ph.fill(rng, templates, x=sayers[say](rng, value))

    return _one(name, {"type": "number", "description": desc, "minimum": 0 if lo >= 0 else lo}, sampler)


def minutes(name: str, desc: str, choices: Sequence[int], templates: Sequence[str]) -> Param:
    """A duration in whole minutes, said as "90 minutes", "an hour and a half", ..."""

    def sampler(rng: random.Random) -> tuple[int, str]:
        value = rng.choice(list(choices))
        return value, ph.fill(rng, templates, d=ph.say_minutes(rng, value))

    return _one(name, {"type": "integer", "description": desc + " (minutes)", "minimum": 1}, sampler)


def enum(name: str, desc: str, phrases: Mapping[str, Sequence[str]]) -> Param:
    """A string from a fixed set; ``phrases`` maps each value to its ways of being said."""
    values = list(phrases)

    def sampler(rng: random.Random) -> tuple[str, str]:
        value = rng.choice(values)
        return value, rng.choice(list(phrases[value]))

    return _one(name, {"type": "string", "description": desc, "enum": values}, sampler)


def boolean(name: str, desc: str, true: Sequence[str], false: Sequence[str]) -> Param:
    """A flag that is only passed when the request says so, one way or the other.

    A filter ("only nonstop flights") has no ``false`` phrases: "stops are fine" would be as well
    served by leaving the flag out, so the request only ever asks for it to be true.
    """

    def sampler(rng: random.Random) -> tuple[bool, str]:
        value = not false or rng.random() < 0.6
        return value, rng.choice(list(true if value else false))

    return _one(name, {"type": "boolean", "description": desc}, sampler)


# Templates a date relative to today reads well in ("on {d}" drops its "on": "tomorrow"); a
# past-tense one ("since {d}", "that happened on {d}") never gets a future date said relatively.
_RELATIVE_TEMPLATE = re.compile(r"(?:on|for|leaving|due|scheduled for) \{d\}")


def date(name: str, desc: str, templates: Sequence[str]) -> Param:
    """An ISO date (YYYY-MM-DD), said as ``{d}`` in a natural form (relative to a stated today
    where the template reads well with it)."""
    schema = {"type": "string", "description": desc + " (YYYY-MM-DD)", "pattern": r"^\d{4}-\d{2}-\d{2}$"}

    def sampler(rng: random.Random) -> tuple[str, str]:
        day = ph.random_date(rng)
        template = rng.choice(list(templates))
        said = ph.say_date(rng, day, relative_ok=bool(_RELATIVE_TEMPLATE.fullmatch(template)))
        if ph.is_relative(said):
            template = re.sub(r"\b(?:on|for) \{d\}", "{d}", template)
        return day.isoformat(), template.format(d=said)

    return _one(name, schema, sampler)


def date_range(first: str, last: str, desc: str, templates: Sequence[str], max_days: int) -> Param:
    """Two ISO dates, ``last`` after ``first``; templates use ``{a}`` and ``{b}``."""
    schema = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    props = {first: {**schema, "description": f"first day of the {desc}"}}
    props[last] = {**schema, "description": f"last day of the {desc}"}

    def sample(rng: random.Random) -> Sample:
        start = ph.random_date(rng, 1, 11)
        end = start + ph.dt.timedelta(days=rng.randint(1, max_days))
        phrase = ph.fill(rng, templates, a=ph.say_date(rng, start), b=ph.say_date(rng, end))
        return {first: start.isoformat(), last: end.isoformat()}, phrase

    return Param(props, sample)


def clock(name: str, desc: str, templates: Sequence[str], first_hour: int, last_hour: int) -> Param:
    """A 24-hour time HH:MM, said as ``{t}`` ("7pm", "19:00", "half past seven in the evening")."""
    schema = {"type": "string", "description": desc + " (24-hour HH:MM)", "pattern": r"^\d{2}:\d{2}$"}

    def sampler(rng: random.Random) -> tuple[str, str]:
        hour, minute = ph.random_time(rng, first_hour, last_hour)
        return ph.hhmm(hour, minute), ph.fill(rng, templates, t=ph.say_time(rng, hour, minute))

    return _one(name, schema, sampler)


def string_list(name: str, desc: str, pool: Sequence[str], templates: Sequence[str], most: int) -> Param:
    """An array of 1..``most`` distinct strings from ``pool``, said as ``{items}`` ("a, b and c")."""

    def sampler(rng: random.Random) -> tuple[list[str], str]:
        values = rng.sample(list(pool), rng.randint(1, most))
        return values, ph.fill(rng, templates, items=ph.join_and(values))

    return _one(name, {"type": "array", "description": desc, "items": {"type": "string"}, "minItems": 1}, sampler)


def enum_list(name: str, desc: str, phrases: Mapping[str, str], templates: Sequence[str], most: int) -> Param:
    """An array of distinct enum strings; ``phrases`` maps each value to its words."""
    values = list(phrases)
    schema = {"type": "array", "description": desc, "items": {"type": "string", "enum": values}, "minItems": 1}

    def sampler(rng: random.Random) -> tuple[list[str], str]:
        chosen = rng.sample(values, rng.randint(1, most))
        return chosen, ph.fill(rng, templates, items=ph.join_and([phrases[v] for v in chosen]))

    return _one(name, schema, sampler)


def number_list(
    name: str, desc: str, lo: float, hi: float, templates: Sequence[str], decimals: int, most: int
) -> Param:
    """An array of 2..``most`` numbers, said as ``{items}``."""
    schema = {"type": "array", "description": desc, "items": {"type": "number"}, "minItems": 1}

    def sampler(rng: random.Random) -> tuple[list[float | int], str]:
        values = [ph.plain_number(round(rng.uniform(lo, hi), decimals)) for _ in range(rng.randint(2, most))]
        return values, ph.fill(rng, templates, items=ph.join_and([ph.say_number(v) for v in values]))

    return _one(name, schema, sampler)


def obj(name: str, desc: str, props: Mapping[str, dict[str, Any]], sampler: Callable[[random.Random], Sample]) -> Param:
    """A nested object with all of ``props`` required; ``sampler`` returns (object, phrase)."""
    schema = {
        "type": "object",
        "description": desc,
        "properties": dict(props),
        "required": list(props),
        "additionalProperties": False,
    }

    return _one(name, schema, sampler)


def obj_list(
    name: str,
    desc: str,
    props: Mapping[str, dict[str, Any]],
    item: Callable[[random.Random], Sample],
    templates: Sequence[str],
) -> Param:
    """An array of 1..3 objects; ``item`` returns one object and its words, joined as ``{items}``."""
    item_schema = {"type": "object", "properties": dict(props), "required": list(props), "additionalProperties": False}
    schema = {"type": "array", "description": desc, "items": item_schema, "minItems": 1}

    def sampler(rng: random.Random) -> tuple[list[dict[str, Any]], str]:
        pairs: list[Sample] = []
        for _ in range(rng.randint(1, 3)):
            value, words = item(rng)
            first = next(iter(value.values()))
            if all(next(iter(seen.values())) != first for seen, _ in pairs):  # no item twice
                pairs.append((value, words))
        return [p[0] for p in pairs], ph.fill(rng, templates, items=ph.join_and([p[1] for p in pairs]))

    return _one(name, schema, sampler)


def pair(first: str, second: str, desc: tuple[str, str], pool: Sequence[Any], templates: Sequence[str]) -> Param:
    """Two different strings from ``pool`` (origin and destination, ...); templates use ``{a}`` and ``{b}``."""
    props = {first: {"type": "string", "description": desc[0]}, second: {"type": "string", "description": desc[1]}}

    def sample(rng: random.Random) -> Sample:
        (a, da), (b, db) = (_split(item) for item in rng.sample(list(pool), 2))
        return {first: a, second: b}, ph.fill(rng, templates, a=da, b=db)

    return Param(props, sample)
