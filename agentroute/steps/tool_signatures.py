"""Tools written as signatures: one short line per tool instead of its JSON Schema.

A tool's JSON line spends most of its tokens on schema syntax (a median of 184 tokens per tool
over the dev split's tools, about 120 of them ``"type": "string"``-style keys, quotes and braces):
every prompt pays for them in prefill and every training example in its prompt's encoding. A
signature says the same in the form code writes (the tool-prompt style of TypeScript-like
renderings)::

    get_weather(city: string /* The city name */, unit?: "c" | "f" = "c") - Current weather in a city.

What a signature keeps: every parameter name as the call must write it, which are required (``?``
marks the optional ones), types (unions, arrays, nested objects, enums and constants as JSON
literals), formats, patterns, bounds, defaults and every description. What it drops is only
syntax, and keywords that shape no value a call writes (``title``, ``examples``, ``$schema``).
Calls are still written and parsed as JSON, held to the full schema by the grammar.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# Bounds as comparisons: ``integer(3..20)``, ``number(>=0)``.
_BOUNDS = (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"))
_LENGTHS = (("minLength", "maxLength", "length"), ("minItems", "maxItems", "items"))
_MAX_DEPTH = 6  # a $ref cycle stops here, written as its definition's name


def signature_line(name: str, description: str, parameters: Mapping[str, Any]) -> str:
    """``name(parameters) - description`` for one tool (the description left out when it has none)."""
    line = f"{name}({_members(parameters, parameters, 0)})"
    return f"{line} - {_one_line(description)}" if description else line


def _members(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> str:
    """An object's properties as ``name: type`` items, optional ones marked ``?``, in schema order."""
    required = set(schema.get("required") or ())
    items = []
    for name, prop in (schema.get("properties") or {}).items():
        prop = prop if isinstance(prop, Mapping) else {}
        item = f"{name}{'' if name in required else '?'}: {_type(prop, root, depth + 1)}"
        if "default" in prop:
            item += f" = {_literal(prop['default'])}"
        if prop.get("description"):
            item += f" /* {_one_line(str(prop['description']))} */"
        items.append(item)
    extra = schema.get("additionalProperties")
    if isinstance(extra, Mapping) and extra:
        items.append(f"[key: string]: {_type(extra, root, depth + 1)}")
    return ", ".join(items)


def _type(schema: Mapping[str, Any], root: Mapping[str, Any], depth: int) -> str:
    if depth > _MAX_DEPTH:
        return "any"
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(ref, root)
        if target is None or depth >= _MAX_DEPTH - 1:  # a remote or cyclic reference: its name
            return ref.rsplit("/", 1)[-1] or "any"
        return _type({**target, **{k: v for k, v in schema.items() if k != "$ref"}}, root, depth + 1)
    if "const" in schema:
        return _literal(schema["const"])
    if isinstance(schema.get("enum"), list):
        return " | ".join(_literal(v) for v in schema["enum"]) or "never"
    for key in ("anyOf", "oneOf"):
        if isinstance(schema.get(key), list):
            return " | ".join(_grouped(_type(s, root, depth + 1)) for s in schema[key] if isinstance(s, Mapping))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_grouped(_type({**schema, "type": k}, root, depth)) for k in kind)
    if kind == "array" or (kind is None and "items" in schema):
        items = schema.get("items")
        inner = _type(items, root, depth + 1) if isinstance(items, Mapping) and items else "any"
        return _narrowed(f"{_grouped(inner)}[]", schema)
    if kind == "object" or (kind is None and "properties" in schema):
        members = _members(schema, root, depth)
        return f"{{{members}}}" if members else "object"
    return _narrowed(kind if isinstance(kind, str) else "any", schema)


def _narrowed(written: str, schema: Mapping[str, Any]) -> str:
    """``written`` with what narrows its values in parentheses: ``string(date)``, ``integer(3..20)``,
    ``string(/^ORD-\\d+$/)``, ``string[](items 1..3)``."""
    notes = [str(schema["format"])] if "format" in schema else []
    if "pattern" in schema:
        notes.append(f"/{schema['pattern']}/")
    bounds = {key: schema[key] for key, _ in _BOUNDS if isinstance(schema.get(key), (int, float))}
    if "minimum" in bounds and "maximum" in bounds:
        notes.append(f"{_literal(bounds.pop('minimum'))}..{_literal(bounds.pop('maximum'))}")
    notes += [f"{sign}{_literal(bounds[key])}" for key, sign in _BOUNDS if key in bounds]
    if "multipleOf" in schema:
        notes.append(f"multiple of {_literal(schema['multipleOf'])}")
    for low, high, what in _LENGTHS:
        if low in schema or high in schema:
            notes.append(f"{what} {schema.get(low, 0)}..{schema.get(high, '')}")
    return f"{written}({', '.join(notes)})" if notes else written


def _grouped(written: str) -> str:
    """A union in parentheses where it is an array's items or one member of another union."""
    return f"({written})" if " | " in written else written


def _one_line(text: str) -> str:
    """A description on the tool's one line: its whitespace runs (newlines too) as single spaces."""
    return " ".join(text.split())


def _literal(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """A local ``#/...`` reference inside the tool's parameters; None for any other."""
    if not ref.startswith("#/"):
        return None
    node: Any = root
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, Mapping) else None
