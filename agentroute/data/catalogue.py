"""The tool catalogue: domains × actions × parameter templates -> tool schemas with request samplers.

A domain lists its actions; an action names its verbs (how a user asks for it), its required and
optional parameter templates (keys of ``kinds()``) and the shape of its result. The domains are data,
``catalogues/domains_*.yaml``. ``catalogue()`` compiles them into ``Tool``s whose ``spec`` is a
``{"name", "description", "parameters"}`` dict that ``agentroute.steps.tools.normalize_tools`` accepts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from typing import Any

from agentroute.data.catalogue_files import read_all, vocab
from agentroute.data.catalogue_schema import DomainEntry, DomainsFile, pool_values
from agentroute.data.kinds import kinds

DOMAIN_FILES = ("domains_travel", "domains_money", "domains_work", "domains_home")  # in catalogue order
MAX_OPTIONAL = 2  # most optional arguments one request mentions


@dataclass(frozen=True)
class Action:
    """One thing a domain's tools can do (the fields: ``catalogue_schema.ActionEntry``)."""

    name: str
    description: str
    verbs: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    result: str
    asks: tuple[str, ...] = ()  # question stems for a lookup's answer (``question_calls``)


@dataclass(frozen=True)
class Domain:
    """A domain: its actions and the words its planning, reasoning and result texts use."""

    name: str
    goal: str  # what a user in this domain is trying to get done ("organize a business trip")
    items: tuple[str, ...]  # names listed in search results
    metric: tuple[str, float, float]  # field shown next to each result (name, low, high)
    goods: tuple[str, str, int, int]  # something bought: singular, plural, lowest and highest price
    event: str  # something scheduled, for time questions ("the flight")
    actions: tuple[Action, ...]


@dataclass(frozen=True, eq=False)
class Tool:
    """A compiled tool: its schema and how to sample a request for it."""

    name: str
    domain: str
    action: Action
    spec: dict[str, Any]

    def sample_arguments(self, rng: random.Random, optional: int | None = None) -> tuple[dict[str, Any], list[str]]:
        """Arguments for one call and the phrases that ask for them (in schema order).

        Every required template is used; ``optional`` (default: random 0..2) optional ones too.
        """
        wanted = self.action.optional
        count = min(len(wanted), rng.randint(0, MAX_OPTIONAL) if optional is None else optional)
        chosen = set(rng.sample(range(len(wanted)), count))
        keys = list(self.action.required) + [k for i, k in enumerate(wanted) if i in chosen]
        arguments: dict[str, Any] = {}
        phrases: list[str] = []
        for key in keys:
            values, phrase = kinds()[key].sample(rng)
            arguments.update(values)
            phrases.append(phrase)
        order = list(self.spec["parameters"]["properties"])
        return {k: arguments[k] for k in order if k in arguments}, phrases


def _compile(domain: Domain, action: Action) -> Tool:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for key in action.required + action.optional:
        param = kinds()[key]
        for prop, schema in param.props.items():
            if prop in properties:
                raise ValueError(f"{action.name}: argument {prop!r} comes from two templates")
            properties[prop] = schema
            if key in action.required and prop not in param.optional:
                required.append(prop)
    parameters = {"type": "object", "properties": properties, "required": required, "additionalProperties": False}
    spec = {"name": action.name, "description": action.description, "parameters": parameters}
    return Tool(action.name, domain.name, action, spec)


@cache
def domains() -> tuple[Domain, ...]:
    """Every domain, in catalogue order (the files in ``DOMAIN_FILES`` order, each top to bottom)."""
    context = {"vocab": vocab(), "kinds": frozenset(kinds())}
    return tuple(_domain(name, entry) for name, entry in read_all(DOMAIN_FILES, DomainsFile, context).items())


def _domain(name: str, entry: DomainEntry) -> Domain:
    actions = tuple(
        Action(key, a.description, a.verbs, a.required, a.optional, a.result, a.asks)
        for key, a in entry.actions.items()
    )
    metric = (entry.metric.field, entry.metric.low, entry.metric.high)
    goods = (entry.goods.one, entry.goods.many, entry.goods.low, entry.goods.high)
    items = pool_values(entry.items, vocab())
    return Domain(name, entry.goal, items, metric, goods, entry.event, actions)


@cache
def catalogue() -> tuple[Tool, ...]:
    """Every tool of every domain, in table order; names are unique."""
    tools = tuple(_compile(domain, action) for domain in domains() for action in domain.actions)
    names = [t.name for t in tools]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"tool names used twice: {duplicates}")
    return tools


def domain(name: str) -> Domain:
    return next(d for d in domains() if d.name == name)
