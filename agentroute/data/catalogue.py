"""The tool catalogue: domains × actions × parameter templates -> tool schemas with request samplers.

A domain lists its actions; an action names its verbs (how a user asks for it), its required and
optional parameter templates (keys of ``KINDS``) and the shape of its result. ``catalogue()``
compiles them into ``Tool``s whose ``spec`` is a ``{"name", "description", "parameters"}`` dict
that ``agentroute.steps.tools.normalize_tools`` accepts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from functools import cache
from typing import Any

from agentroute.data.kinds_enums import ENUM_KINDS
from agentroute.data.kinds_structured import STRUCTURED
from agentroute.data.kinds_text import TEXT_KINDS
from agentroute.data.kinds_values import NUMBER_KINDS, VALUE_KINDS
from agentroute.data.params import Param

KINDS: dict[str, Param] = {**TEXT_KINDS, **NUMBER_KINDS, **ENUM_KINDS, **VALUE_KINDS, **STRUCTURED}
MAX_OPTIONAL = 2  # most optional arguments one request mentions


@dataclass(frozen=True)
class Action:
    """One thing a domain's tools can do; see ``A``."""

    name: str
    description: str
    verbs: tuple[str, ...]
    required: tuple[str, ...]
    optional: tuple[str, ...]
    result: str


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


def A(name: str, description: str, verbs: str, required: str = "", optional: str = "", result: str = "confirm:OK"):
    """An action: ``verbs`` separated by "|", parameter template keys separated by spaces.

    ``result`` is "confirm:PREFIX" (a confirmation id), "list" (a few of the domain's items; or
    "list:FIELD:LOW:HIGH:a|b|c" with its own items),
    "value:FIELD:UNIT:LOW:HIGH" (a measurement), "pick:FIELD:a|b|c" (one of some states) or
    "translate" (a translation of the request's text) or "detect" (the language of the request's text).
    """
    return Action(name, description, tuple(verbs.split("|")), tuple(required.split()), tuple(optional.split()), result)


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
            values, phrase = KINDS[key].sample(rng)
            arguments.update(values)
            phrases.append(phrase)
        order = list(self.spec["parameters"]["properties"])
        return {k: arguments[k] for k in order if k in arguments}, phrases


def _compile(domain: Domain, action: Action) -> Tool:
    properties: dict[str, Any] = {}
    required: list[str] = []
    for key in action.required + action.optional:
        param = KINDS[key]
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
    from agentroute.data.domains_home import DOMAINS_HOME
    from agentroute.data.domains_money import DOMAINS_MONEY
    from agentroute.data.domains_travel import DOMAINS_TRAVEL
    from agentroute.data.domains_work import DOMAINS_WORK

    return DOMAINS_TRAVEL + DOMAINS_MONEY + DOMAINS_WORK + DOMAINS_HOME


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
