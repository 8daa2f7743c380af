"""Parameter templates by key, built from ``catalogues/kinds_*.yaml``: an entry's ``kind`` names its factory."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from pydantic import BaseModel

from agentroute.data import kinds_structured as structured
from agentroute.data import params as p
from agentroute.data.catalogue_files import read_all, vocab
from agentroute.data.catalogue_schema import KindsFile, pool_values
from agentroute.data.params import Param

KIND_FILES = ("kinds_text", "kinds_numbers", "kinds_values", "kinds_enums", "kinds_structured")
FACTORIES: dict[str, Callable[..., Param]] = {
    "text": p.text,
    "ident": p.ident,
    "integer": p.integer,
    "number": p.number,
    "minutes": p.minutes,
    "enum": p.enum,
    "enum_list": p.enum_list,
    "boolean": p.boolean,
    "date": p.date,
    "clock": p.clock,
    "date_range": p.date_range,
    "string_list": p.string_list,
    "number_list": p.number_list,
    "pair": p.pair,
    "address": structured.address,
    "money_range": structured.money_range,
    "window": structured.window,
    "object": structured.sampled_object,
    "object_list": structured.sampled_object_list,
    "linked": structured.linked,
}


@cache
def kinds() -> dict[str, Param]:
    """Every parameter template, by key (keys are unique across the files)."""
    context = {"vocab": vocab(), "samplers": frozenset(structured.SAMPLERS)}
    entries = read_all(KIND_FILES, KindsFile, context)
    return {key: _build(key, entry) for key, entry in entries.items()}


def _build(key: str, entry: BaseModel) -> Param:
    """The factory named by ``entry.kind`` called with the entry's fields (its ``name`` defaulting to ``key``)."""
    args = {field: getattr(entry, field) for field in type(entry).model_fields if field != "kind"}
    if "name" in args:
        args["name"] = args["name"] or key
    if "pool" in args:
        args["pool"] = pool_values(args["pool"], vocab())
    return FACTORIES[entry.kind](**args)
