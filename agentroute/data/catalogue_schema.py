"""What the catalogue files in ``catalogues/`` may hold: pydantic models, checked when a file is read.

References between files are checked against the validation context ``catalogue_files.read`` passes:
``vocab`` (the loaded ``Vocab``) for pools, ``samplers`` (names) for structured templates and ``kinds``
(template keys) for an action's parameters. Strict strings and numbers keep YAML's guesses out
(``NO`` read as false, ``0755`` as the number 493): such a value is an error that names its field.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainValidator,
    RootModel,
    StrictBool,
    StrictInt,
    StrictStr,
    Tag,
    ValidationInfo,
    field_validator,
    model_validator,
)

Str = StrictStr


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"should be a number, not {value!r}")
    return value  # an int stays an int: results write "900", not "900.0"


Num = Annotated[int | float, PlainValidator(_number)]
Texts = Annotated[tuple[Str, ...], Field(min_length=1)]
Pairs = tuple[tuple[Str, Str], ...]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Vocab(_Model):
    """vocab.yaml: the word pools, by name."""

    cities: Texts
    streets: Texts
    postal_codes: Texts
    countries: Texts
    people: Texts
    last_names: Texts
    emails: Texts
    restaurants: Texts
    hotels: Texts
    flights: Texts
    tickers: Pairs  # (symbol, company)
    products: Texts
    skus: Texts
    songs: Pairs  # (title, artist)
    ingredients: Texts
    recipes: Texts
    services: Texts
    databases: Texts
    tables: Texts
    sql: Texts
    teams: Texts
    players: Texts
    news_topics: Texts
    subjects: Texts
    bodies: Texts
    tasks: Texts
    projects: Texts
    pets: Pairs  # (name, species)
    courses: Texts
    vehicles: Pairs  # (make, model)
    events: Texts
    handles: Texts
    complaints: Texts
    notes: Texts
    dishes: Texts
    landmarks: Texts
    payees: Texts
    search_terms: Texts
    meeting_titles: Texts
    urls: Texts
    pharmacies: Texts
    pet_foods: Texts
    translatable: dict[Str, dict[Str, Str]]  # English text -> language code -> translation
    foreign: dict[Str, Str]  # text -> its language code
    tags: Texts
    glossary: Pairs  # (English term, translation)
    posts: Texts
    venues: Texts
    images: Texts
    sprints: Texts
    currencies: dict[Str, Texts]  # code -> how it is said
    cooking_units: dict[Str, Str]  # unit -> its plural words


class PoolRef(_Model):
    """A pool taken from vocab.yaml: ``{vocab: NAME}``, optionally one ``column`` of its rows, sorted, with
    ``extra`` values appended. The pool of a mapping (``foreign``) is its keys."""

    vocab: Str
    column: StrictInt | None = None
    sort: StrictBool = False
    extra: tuple[Str, ...] = ()

    @model_validator(mode="after")
    def _resolves(self, info: ValidationInfo) -> PoolRef:
        if info.context and "vocab" in info.context:
            self.resolve(info.context["vocab"])
        return self

    def resolve(self, vocab: Vocab) -> tuple[Any, ...]:
        if self.vocab not in Vocab.model_fields:
            raise ValueError(f"no pool {self.vocab!r} in vocab.yaml")
        rows = tuple(getattr(vocab, self.vocab))
        if self.column is not None:
            if not all(isinstance(row, tuple) and 0 <= self.column < len(row) for row in rows):
                raise ValueError(f"pool {self.vocab!r} has no column {self.column}")
            rows = tuple(row[self.column] for row in rows)
        return (tuple(sorted(rows)) if self.sort else rows) + self.extra


Pool = Annotated[  # values (or (value, display) pairs), or a reference to vocab.yaml
    Annotated[tuple[Str | tuple[Str, Str], ...], Tag("values")] | Annotated[PoolRef, Tag("ref")],
    Discriminator(lambda pool: "ref" if isinstance(pool, dict | PoolRef) else "values"),
]


def pool_values(pool: Pool, vocab: Vocab) -> tuple[Any, ...]:
    return pool.resolve(vocab) if isinstance(pool, PoolRef) else pool


def _known_sampler(name: str, info: ValidationInfo) -> str:
    known = (info.context or {}).get("samplers")
    if known is not None and name not in known:
        raise ValueError(f"no sampler {name!r} in kinds_structured.SAMPLERS")
    return name


Sampler = Annotated[Str, AfterValidator(_known_sampler)]  # a key of kinds_structured.SAMPLERS
Props = dict[Str, dict[Str, Any]]  # argument name -> its JSON Schema


class _Named(_Model):
    name: Str | None = None  # the argument's name; None: the template's key
    desc: Str


class _Range(_Named):
    @model_validator(mode="after")
    def _ordered(self) -> _Range:
        if self.lo > self.hi:  # type: ignore[attr-defined]
            raise ValueError("lo is above hi")
        return self


class Text(_Named):
    kind: Literal["text"]
    pool: Pool
    templates: Texts


class Ident(_Named):
    kind: Literal["ident"]
    fmt: Str
    templates: Texts


class Integer(_Range):
    kind: Literal["integer"]
    lo: StrictInt
    hi: StrictInt
    templates: Texts
    step: StrictInt = 1


class Number(_Range):
    kind: Literal["number"]
    lo: Num
    hi: Num
    templates: Texts
    decimals: StrictInt = 1
    say: Literal["plain", "money", "kg", "km"] = "plain"


class Minutes(_Named):
    kind: Literal["minutes"]
    choices: Annotated[tuple[StrictInt, ...], Field(min_length=1)]
    templates: Texts


class Enum(_Named):
    kind: Literal["enum"]
    phrases: Annotated[dict[Str, Texts], Field(min_length=1)]  # value -> ways to say it


class EnumList(_Named):
    kind: Literal["enum_list"]
    phrases: Annotated[dict[Str, Str], Field(min_length=1)]  # value -> its words
    templates: Texts
    most: StrictInt = 2


class Boolean(_Named):
    kind: Literal["boolean"]
    true: Texts
    false: tuple[Str, ...] = ()  # none: a filter only ever asked for as true


class Date(_Named):
    kind: Literal["date"]
    templates: Texts


class Clock(_Named):
    kind: Literal["clock"]
    templates: Texts
    first_hour: StrictInt = 7
    last_hour: StrictInt = 21


class DateRange(_Model):
    kind: Literal["date_range"]
    first: Str
    last: Str
    desc: Str
    templates: Texts
    max_days: StrictInt = 14


class StringList(_Named):
    kind: Literal["string_list"]
    pool: Pool
    templates: Texts
    most: StrictInt = 3


class NumberList(_Range):
    kind: Literal["number_list"]
    lo: Num
    hi: Num
    templates: Texts
    decimals: StrictInt = 0
    most: StrictInt = 4


class Pair(_Model):
    kind: Literal["pair"]
    first: Str
    second: Str
    desc: tuple[Str, Str]
    pool: Pool
    templates: Texts


class Address(_Named):
    kind: Literal["address"]
    templates: Texts


class MoneyRange(_Range):
    kind: Literal["money_range"]
    lo: StrictInt
    hi: StrictInt
    step: StrictInt
    templates: Texts


class Window(_Named):
    kind: Literal["window"]
    templates: Texts


class SampledObject(_Named):
    kind: Literal["object"]
    props: Props
    sampler: Sampler
    said_as: Str  # "for {}": the sampler's words put in


class SampledObjectList(_Named):
    kind: Literal["object_list"]
    props: Props
    item: Sampler
    templates: Texts


class Linked(_Model):
    kind: Literal["linked"]
    props: Props
    sampler: Sampler
    optional: tuple[Str, ...] = ()  # props the sampler may leave out


Kind = Annotated[
    Text
    | Ident
    | Integer
    | Number
    | Minutes
    | Enum
    | EnumList
    | Boolean
    | Date
    | Clock
    | DateRange
    | StringList
    | NumberList
    | Pair
    | Address
    | MoneyRange
    | Window
    | SampledObject
    | SampledObjectList
    | Linked,
    Field(discriminator="kind"),
]


class KindsFile(RootModel[dict[Str, Kind]]):
    """kinds_*.yaml: parameter templates by key."""


# What results.tool_result understands: "confirm:PREFIX" (a confirmation id), "list" (a few of the domain's
# items) or "list:FIELD:LOW:HIGH:a|b|c" (its own items), "value:FIELD:UNIT:LOW:HIGH" (a measurement),
# "pick:FIELD:a|b|c" (one of some states), "translate" or "detect" (the language of the request's text).
RESULT = (
    r"^(confirm:[\w-]+|list|list:\w+:-?[\d.]+:-?[\d.]+:[^:]+|value:\w+:[^:]+:-?[\d.]+:-?[\d.]+"
    r"|pick:\w+:[^:]+|translate|detect)$"
)


class ActionEntry(_Model):
    """One thing a domain's tools can do; it compiles to one tool named by its key."""

    description: Str
    verbs: Texts  # how a user asks for it
    # Question stems that ask for a lookup's answer ("how long will it take to get"); its phrases
    # follow as after a verb. Only the step-type rows of `data build --train-question-calls` use them.
    asks: tuple[Str, ...] = ()
    required: tuple[Str, ...] = ()  # parameter template keys
    optional: tuple[Str, ...] = ()
    result: Annotated[Str, Field(pattern=RESULT)] = "confirm:OK"

    @field_validator("required", "optional")
    @classmethod
    def _known(cls, keys: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        known = (info.context or {}).get("kinds")
        unknown = [key for key in keys if known is not None and key not in known]
        if unknown:
            raise ValueError(f"no parameter template {', '.join(map(repr, unknown))} in kinds_*.yaml")
        return keys


class Metric(_Model):
    field: Str  # shown next to each listed item
    low: Num
    high: Num


class Goods(_Model):
    one: Str  # something bought, singular
    many: Str
    low: StrictInt  # lowest and highest price
    high: StrictInt


class DomainEntry(_Model):
    goal: Str  # what a user in this domain is trying to get done
    items: Pool  # names listed in search results
    metric: Metric
    goods: Goods
    event: Str  # something scheduled, for time questions ("the flight")
    actions: Annotated[dict[Str, ActionEntry], Field(min_length=1)]


class DomainsFile(RootModel[dict[Str, DomainEntry]]):
    """domains_*.yaml: domains by name, in catalogue order."""
