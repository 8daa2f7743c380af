"""Structured parameter templates in code: the samplers of nested objects, arrays of objects and linked
arguments, and the factories that catalogues/kinds_structured.yaml names (``address``, ``money_range``,
``window``, ``sampled_object``, ``sampled_object_list``, ``linked``); a template's ``sampler`` or ``item``
is a key of ``SAMPLERS``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentroute.data import phrasing as ph
from agentroute.data.catalogue_files import vocab
from agentroute.data.params import Param, Sample, obj, obj_list

_STR = {"type": "string"}
_NUM = {"type": "number"}
_HHMM = {"type": "string", "pattern": r"^\d{2}:\d{2}$"}
Props = Mapping[str, dict[str, Any]]
_ADDRESS_PROPS = {"street": _STR, "city": _STR, "postal_code": _STR, "country": {**_STR, "description": "ISO code"}}


def _address(rng: random.Random) -> Sample:
    value = {
        "street": rng.choice(vocab().streets),
        "city": rng.choice(vocab().cities),
        "postal_code": rng.choice(vocab().postal_codes),
        "country": rng.choice(vocab().countries),
    }
    return value, f"{value['street']}, {value['city']} {value['postal_code']}, {value['country']}"


def address(name: str, desc: str, templates: Sequence[str]) -> Param:
    def sampler(rng: random.Random) -> Sample:
        value, words = _address(rng)
        return value, ph.fill(rng, templates, a=words)

    return obj(name, desc, _ADDRESS_PROPS, sampler)


def money_range(name: str, desc: str, lo: int, hi: int, step: int, templates: Sequence[str]) -> Param:
    def sampler(rng: random.Random) -> Sample:
        low = rng.randrange(lo, hi, step)
        high = low + step * rng.randint(1, 5)
        words = ph.fill(rng, templates, a=ph.say_money(rng, low), b=ph.say_money(rng, high))
        return {"min": low, "max": high}, words

    return obj(name, desc + " in USD", {"min": _NUM, "max": _NUM}, sampler)


def window(name: str, desc: str, templates: Sequence[str]) -> Param:
    def sampler(rng: random.Random) -> Sample:
        hour, minute = ph.random_time(rng, 8, 18)
        length = rng.choice((30, 60, 90, 120))
        end = hour * 60 + minute + length
        words = ph.fill(rng, templates, a=ph.say_time(rng, hour, minute), b=ph.say_time(rng, end // 60, end % 60))
        return {"start": ph.hhmm(hour, minute), "end": ph.hhmm(end // 60, end % 60)}, words

    return obj(name, desc + " (24-hour HH:MM)", {"start": _HHMM, "end": _HHMM}, sampler)


def _dimensions(rng: random.Random) -> Sample:
    sides = sorted((rng.randint(5, 80) for _ in range(3)), reverse=True)
    value = dict(zip(("length_cm", "width_cm", "height_cm"), sides, strict=True))
    return value, rng.choice(["{} x {} x {} cm", "{} by {} by {} centimeters"]).format(*sides)


def _vehicle(rng: random.Random) -> Sample:
    make, model = rng.choice(vocab().vehicles)
    year = rng.randint(2008, 2026)
    return {"make": make, "model": model, "year": year}, rng.choice(
        [f"my {year} {make} {model}", f"a {year} {model} made by {make}"]
    )


def _beneficiary(rng: random.Random) -> Sample:
    name = rng.choice(vocab().people)
    relationship = rng.choice(("spouse", "child", "parent", "sibling"))
    share = rng.choice((25, 50, 75, 100))
    words = rng.choice([f"{name}, my {relationship}, with a {share}% share", f"my {relationship} {name} at {share}%"])
    return {"name": name, "relationship": relationship, "share_percent": share}, words


def _recipient(rng: random.Random) -> Sample:
    name = rng.choice(vocab().people)
    where, words = _address(rng)
    return {"name": name, "address": where}, f"{name} at {words}"


def _traveler(rng: random.Random) -> Sample:
    name = rng.choice(vocab().people)
    kind = rng.choice(("adult", "adult", "child"))
    return {"name": name, "type": kind}, f"{name} ({kind})"


def _line_item(rng: random.Random) -> Sample:
    sku, quantity = rng.choice(vocab().skus), rng.randint(1, 5)
    return {"sku": sku, "quantity": quantity}, f"{ph.say_int(rng, quantity)} of {sku}"


def _track(rng: random.Random) -> Sample:
    title, artist = rng.choice(vocab().songs)
    return {"title": title, "artist": artist}, f'"{title}" by {artist}'


def _set(rng: random.Random) -> Sample:
    reps, kg = rng.randint(3, 12), rng.randrange(20, 140, 5) / 1.0
    return {"reps": reps, "weight_kg": ph.plain_number(kg)}, f"{reps} reps at {ph.say_kg(rng, kg)}"


def _expense(rng: random.Random) -> Sample:
    what = rng.choice(("taxi", "hotel night", "client lunch", "train ticket", "conference fee"))
    amount = ph.plain_number(round(rng.uniform(8, 600), 2))
    return {"description": what, "amount": amount}, f"{ph.say_money(rng, amount)} for a {what}"


def _grade(rng: random.Random) -> Sample:
    course, grade, credits = rng.choice(vocab().courses), rng.choice("ABCDF"), rng.randint(1, 5)
    return {
        "course": course,
        "grade": grade,
        "credits": credits,
    }, f"{grade} in {course} ({credits} credit{'s' if credits > 1 else ''})"


def _package(rng: random.Random) -> Sample:
    kg = ph.plain_number(round(rng.uniform(0.3, 25), 1))
    what = rng.choice(("books", "a lamp", "clothes", "documents", "a printer"))
    return {"contents": what, "weight_kg": kg}, f"{what} weighing {ph.say_kg(rng, kg)}"


def _song(rng: random.Random) -> Sample:
    title, artist = rng.choice(vocab().songs)
    return {"title": title, "artist": artist}, rng.choice([f'"{title}" by {artist}', f"{artist}'s {title}"])


def _pet(rng: random.Random) -> Sample:
    name, species = rng.choice(vocab().pets)
    return {"pet_name": name, "species": species}, rng.choice([f"for my {species} {name}", f"for {name}, my {species}"])


def _order_terms(rng: random.Random) -> Sample:
    if rng.random() < 0.5:
        return {"order_type": "market"}, rng.choice(["at market", "at the market price"])
    price = ph.plain_number(round(rng.uniform(10, 900), 2))
    return {"order_type": "limit", "limit_price": price}, f"with a limit of {ph.say_money(rng, price)}"


def _conversion(rng: random.Random) -> Sample:
    currencies = vocab().currencies
    source, target = rng.sample(list(currencies), 2)
    amount = ph.plain_number(round(rng.uniform(10, 5000), rng.choice((0, 2))))
    words = f"{ph.say_number(amount)} {rng.choice(currencies[source])} {rng.choice(('to', 'into'))} " + rng.choice(
        currencies[target]
    )
    return {"amount": amount, "from_currency": source, "to_currency": target}, words


def _cooking(rng: random.Random) -> Sample:
    units = vocab().cooking_units
    source, target = rng.sample(list(units), 2)
    quantity = rng.choice((0.5, 1, 1.5, 2, 3, 250, 100))
    return {"quantity": quantity, "from_unit": source, "to_unit": target}, (
        f"{ph.say_number(quantity)} {units[source]} to {units[target]}"
    )


def _to_translate(rng: random.Random) -> Sample:
    phrase = rng.choice(sorted(vocab().translatable))
    return {"text": phrase}, f'"{phrase}"'


def _glossary(rng: random.Random) -> Sample:
    source, target = rng.choice(vocab().glossary)
    return {"source_term": source, "target_term": target}, f'"{source}" as "{target}"'


SAMPLERS: dict[str, Callable[[random.Random], Sample]] = {
    "dimensions": _dimensions,
    "vehicle": _vehicle,
    "beneficiary": _beneficiary,
    "recipient": _recipient,
    "traveler": _traveler,
    "line_item": _line_item,
    "track": _track,
    "set": _set,
    "expense": _expense,
    "grade": _grade,
    "package": _package,
    "song": _song,
    "pet": _pet,
    "order_terms": _order_terms,
    "conversion": _conversion,
    "cooking": _cooking,
    "to_translate": _to_translate,
    "glossary": _glossary,
}


def _said_as(sampler: Callable[[random.Random], Sample], template: str) -> Callable[[random.Random], Sample]:
    """``sampler`` with its phrase put into ``template`` ("for {}")."""

    def sample(rng: random.Random) -> Sample:
        value, words = sampler(rng)
        return value, template.format(words)

    return sample


def sampled_object(name: str, desc: str, props: Props, sampler: str, said_as: str) -> Param:
    """A nested object drawn by ``SAMPLERS[sampler]``, its words put into ``said_as`` ("for {}")."""
    return obj(name, desc, props, _said_as(SAMPLERS[sampler], said_as))


def sampled_object_list(name: str, desc: str, props: Props, item: str, templates: Sequence[str]) -> Param:
    """An array of objects, each drawn by ``SAMPLERS[item]``."""
    return obj_list(name, desc, props, SAMPLERS[item], templates)


def linked(props: Props, sampler: str, optional: tuple[str, ...]) -> Param:
    """Arguments that are sampled together (a song's title and artist, an order type and its limit)."""
    return Param(props, SAMPLERS[sampler], optional)
