"""Parameter templates with structure: nested objects, arrays of objects and linked arguments (data only)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from agentroute.data import phrasing as ph
from agentroute.data import vocab as v
from agentroute.data.params import Param, Sample, obj, obj_list, pair

_STR = {"type": "string"}
_INT = {"type": "integer"}
_NUM = {"type": "number"}
_HHMM = {"type": "string", "pattern": r"^\d{2}:\d{2}$"}
_ADDRESS_PROPS = {"street": _STR, "city": _STR, "postal_code": _STR, "country": {**_STR, "description": "ISO code"}}


def _address(rng: random.Random) -> Sample:
    value = {
        "street": rng.choice(v.STREETS),
        "city": rng.choice(v.CITIES),
        "postal_code": rng.choice(v.POSTAL_CODES),
        "country": rng.choice(v.COUNTRIES),
    }
    return value, f"{value['street']}, {value['city']} {value['postal_code']}, {value['country']}"


def address(name: str, desc: str, templates: list[str]) -> Param:
    def sampler(rng: random.Random) -> Sample:
        value, words = _address(rng)
        return value, ph.fill(rng, templates, a=words)

    return obj(name, desc, _ADDRESS_PROPS, sampler)


def _range(name: str, desc: str, lo: int, hi: int, step: int, templates: list[str]) -> Param:
    def sampler(rng: random.Random) -> Sample:
        low = rng.randrange(lo, hi, step)
        high = low + step * rng.randint(1, 5)
        words = ph.fill(rng, templates, a=ph.say_money(rng, low), b=ph.say_money(rng, high))
        return {"min": low, "max": high}, words

    return obj(name, desc + " in USD", {"min": _NUM, "max": _NUM}, sampler)


def _window(name: str, desc: str, templates: list[str]) -> Param:
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
    make, model = rng.choice(v.VEHICLES)
    year = rng.randint(2008, 2026)
    return {"make": make, "model": model, "year": year}, rng.choice(
        [f"my {year} {make} {model}", f"a {year} {model} made by {make}"]
    )


def _beneficiary(rng: random.Random) -> Sample:
    name = rng.choice(v.PEOPLE)
    relationship = rng.choice(("spouse", "child", "parent", "sibling"))
    share = rng.choice((25, 50, 75, 100))
    words = rng.choice([f"{name}, my {relationship}, with a {share}% share", f"my {relationship} {name} at {share}%"])
    return {"name": name, "relationship": relationship, "share_percent": share}, words


def _recipient(rng: random.Random) -> Sample:
    name = rng.choice(v.PEOPLE)
    where, words = _address(rng)
    return {"name": name, "address": where}, f"{name} at {words}"


def _traveler(rng: random.Random) -> Sample:
    name = rng.choice(v.PEOPLE)
    kind = rng.choice(("adult", "adult", "child"))
    return {"name": name, "type": kind}, f"{name} ({kind})"


def _line_item(rng: random.Random) -> Sample:
    sku, quantity = rng.choice(v.SKUS), rng.randint(1, 5)
    return {"sku": sku, "quantity": quantity}, f"{ph.say_int(rng, quantity)} of {sku}"


def _track(rng: random.Random) -> Sample:
    title, artist = rng.choice(v.SONGS)
    return {"title": title, "artist": artist}, f'"{title}" by {artist}'


def _set(rng: random.Random) -> Sample:
    reps, kg = rng.randint(3, 12), rng.randrange(20, 140, 5) / 1.0
    return {"reps": reps, "weight_kg": ph.plain_number(kg)}, f"{reps} reps at {ph.say_kg(rng, kg)}"


def _expense(rng: random.Random) -> Sample:
    what = rng.choice(("taxi", "hotel night", "client lunch", "train ticket", "conference fee"))
    amount = ph.plain_number(round(rng.uniform(8, 600), 2))
    return {"description": what, "amount": amount}, f"{ph.say_money(rng, amount)} for a {what}"


def _grade(rng: random.Random) -> Sample:
    course, grade, credits = rng.choice(v.COURSES), rng.choice("ABCDF"), rng.randint(1, 5)
    return {
        "course": course,
        "grade": grade,
        "credits": credits,
    }, f"{grade} in {course} ({credits} credit{'s' if credits > 1 else ''})"


def _package(rng: random.Random) -> Sample:
    kg = ph.plain_number(round(rng.uniform(0.3, 25), 1))
    what = rng.choice(("books", "a lamp", "clothes", "documents", "a printer"))
    return {"contents": what, "weight_kg": kg}, f"{what} weighing {ph.say_kg(rng, kg)}"


def _said_as(sampler: Callable[[random.Random], Sample], template: str) -> Callable[[random.Random], Sample]:
    """``sampler`` with its phrase put into ``template`` ("for {}")."""

    def sample(rng: random.Random) -> Sample:
        value, words = sampler(rng)
        return value, template.format(words)

    return sample


def _linked(
    props: dict[str, dict[str, Any]], sampler: Callable[[random.Random], Sample], optional: tuple[str, ...] = ()
) -> Param:
    """Arguments that are sampled together (a song's title and artist, an order type and its limit)."""
    return Param(props, sampler, optional)


def _song(rng: random.Random) -> Sample:
    title, artist = rng.choice(v.SONGS)
    return {"title": title, "artist": artist}, rng.choice([f'"{title}" by {artist}', f"{artist}'s {title}"])


def _pet(rng: random.Random) -> Sample:
    name, species = rng.choice(v.PETS)
    return {"pet_name": name, "species": species}, rng.choice([f"for my {species} {name}", f"for {name}, my {species}"])


def _order_terms(rng: random.Random) -> Sample:
    if rng.random() < 0.5:
        return {"order_type": "market"}, rng.choice(["at market", "at the market price"])
    price = ph.plain_number(round(rng.uniform(10, 900), 2))
    return {"order_type": "limit", "limit_price": price}, f"with a limit of {ph.say_money(rng, price)}"


_CURRENCIES = {
    "USD": ("dollars", "US dollars"),
    "EUR": ("euros",),
    "GBP": ("pounds", "British pounds"),
    "JPY": ("yen",),
    "CAD": ("Canadian dollars",),
}


def _conversion(rng: random.Random) -> Sample:
    source, target = rng.sample(list(_CURRENCIES), 2)
    amount = ph.plain_number(round(rng.uniform(10, 5000), rng.choice((0, 2))))
    words = f"{ph.say_number(amount)} {rng.choice(_CURRENCIES[source])} {rng.choice(('to', 'into'))} " + rng.choice(
        _CURRENCIES[target]
    )
    return {"amount": amount, "from_currency": source, "to_currency": target}, words


_UNITS = {"cup": "cups", "ml": "milliliters", "tbsp": "tablespoons", "g": "grams", "oz": "ounces"}


def _cooking(rng: random.Random) -> Sample:
    source, target = rng.sample(list(_UNITS), 2)
    quantity = rng.choice((0.5, 1, 1.5, 2, 3, 250, 100))
    return {"quantity": quantity, "from_unit": source, "to_unit": target}, (
        f"{ph.say_number(quantity)} {_UNITS[source]} to {_UNITS[target]}"
    )


def _to_translate(rng: random.Random) -> Sample:
    phrase = rng.choice(sorted(v.TRANSLATABLE))
    return {"text": phrase}, f'"{phrase}"'


def _glossary(rng: random.Random) -> Sample:
    source, target = rng.choice(v.GLOSSARY)
    return {"source_term": source, "target_term": target}, f'"{source}" as "{target}"'


_CURRENCY_ENUM = {"type": "string", "enum": list(_CURRENCIES)}
_UNIT_ENUM = {"type": "string", "enum": list(_UNITS)}

STRUCTURED: dict[str, Param] = {
    "shipping_address": address("shipping_address", "Delivery address", ["shipped to {a}", "delivered to {a}"]),
    "destination_address": address("destination", "Where it goes", ["to {a}", "going to {a}"]),
    "pickup_address": address("address", "Where to collect it", ["from {a}", "at {a}"]),
    "property_address": address("address", "Property address", ["for {a}", "of {a}"]),
    "geo_address": address("address", "Address to locate", ["for {a}", "of {a}"]),
    "price_range": _range("price_range", "Price bounds", 20, 400, 20, ["between {a} and {b}", "from {a} to {b}"]),
    "home_price_range": _range("price_range", "Price bounds", 200000, 900000, 50000, ["between {a} and {b}"]),
    "time_window": _window("time", "Start and end", ["from {a} to {b}", "between {a} and {b}"]),
    "pickup_window": _window("window", "Pickup window", ["between {a} and {b}"]),
    "package_dimensions": obj(
        "dimensions",
        "Box size",
        {"length_cm": _NUM, "width_cm": _NUM, "height_cm": _NUM},
        _said_as(_dimensions, "measuring {}"),
    ),
    "vehicle": obj(
        "vehicle",
        "The car",
        {"make": _STR, "model": _STR, "year": _INT},
        _said_as(_vehicle, "for {}"),
    ),
    "beneficiary": obj(
        "beneficiary",
        "New beneficiary",
        {
            "name": _STR,
            "relationship": {**_STR, "enum": ["spouse", "child", "parent", "sibling"]},
            "share_percent": _INT,
        },
        _said_as(_beneficiary, "to {}"),
    ),
    "recipient": obj(
        "recipient",
        "Who receives it",
        {
            "name": _STR,
            "address": {
                "type": "object",
                "properties": _ADDRESS_PROPS,
                "required": list(_ADDRESS_PROPS),
                "additionalProperties": False,
            },
        },
        _said_as(_recipient, "to {}"),
    ),
    "travelers": obj_list(
        "travelers",
        "Who flies",
        {"name": _STR, "type": {**_STR, "enum": ["adult", "child"]}},
        _traveler,
        ["for {items}"],
    ),
    "line_items": obj_list("items", "What to order", {"sku": _STR, "quantity": _INT}, _line_item, ["with {items}"]),
    "tracks": obj_list("tracks", "Songs", {"title": _STR, "artist": _STR}, _track, ["with {items}"]),
    "sets": obj_list("sets", "Sets done", {"reps": _INT, "weight_kg": _NUM}, _set, ["with sets of {items}"]),
    "expenses": obj_list("expenses", "Costs", {"description": _STR, "amount": _NUM}, _expense, ["with {items}"]),
    "course_grades": obj_list(
        "courses",
        "Grades",
        {"course": _STR, "grade": {**_STR, "enum": list("ABCDF")}, "credits": _INT},
        _grade,
        ["with grades of {items}"],
    ),
    "packages": obj_list("packages", "Boxes", {"contents": _STR, "weight_kg": _NUM}, _package, ["with {items}"]),
    "city_pair": pair("origin", "destination", ("Departure city", "Arrival city"), v.CITIES, ["from {a} to {b}"]),
    "account_pair": pair(
        "from_account",
        "to_account",
        ("Account to debit", "Account to credit"),
        ("checking", "savings", "brokerage"),
        ["from {a} to {b}", "from my {a} to my {b} account"],
    ),
    "route": pair("origin", "destination", ("Start", "End"), v.LANDMARKS, ["from {a} to {b}"]),
    "ride": pair(
        "pickup",
        "dropoff",
        ("Pickup point", "Drop-off point"),
        v.LANDMARKS,
        ["from {a} to {b}", "picking me up at {a} for {b}"],
    ),
    "song": _linked(
        {"title": {**_STR, "description": "Song title"}, "artist": {**_STR, "description": "Artist"}}, _song
    ),
    "pet": _linked({"pet_name": _STR, "species": {**_STR, "enum": ["dog", "cat", "parrot"]}}, _pet),
    "order_terms": _linked(
        {"order_type": {**_STR, "enum": ["market", "limit"]}, "limit_price": _NUM}, _order_terms, ("limit_price",)
    ),
    "currency_conversion": _linked(
        {"amount": _NUM, "from_currency": _CURRENCY_ENUM, "to_currency": _CURRENCY_ENUM}, _conversion
    ),
    "cooking_conversion": _linked({"quantity": _NUM, "from_unit": _UNIT_ENUM, "to_unit": _UNIT_ENUM}, _cooking),
    "text_to_translate": _linked({"text": {**_STR, "description": "Text to translate"}}, _to_translate),
    "glossary_entry": _linked(
        {"source_term": {**_STR, "description": "English term"}, "target_term": {**_STR, "description": "Translation"}},
        _glossary,
    ),
}
