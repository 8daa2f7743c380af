"""Structured output in the prompt: the schema a JSON reply must follow, told to the model.

The grammar (``json_schema=``) already makes the reply valid; telling the model the schema makes it
fill the right keys with the right values (without it a 135M model writes ``{"temp_c": 4000}``
for "4 C and rain in Oslo"). As hosted APIs do for their ``response_format``, the instruction
goes at the end of the system message (a system message is created when there is none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from agentroute.errors import AgentRouteError

OPENAI_KINDS = ("text", "json_object", "json_schema")  # the response_format types OpenAI's API takes
_INSTRUCTION = "Unless you call a tool, reply with one JSON value that follows this JSON Schema:"


def with_response_format(messages: list[dict[str, Any]], json_schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``messages`` with the schema instruction added to the system message; unchanged without a schema."""
    if json_schema is None:
        return messages
    note = f"{_INSTRUCTION}\n{json.dumps(json_schema, ensure_ascii=False)}"
    if messages and messages[0]["role"] == "system":
        system = messages[0]["content"]
        return [{**messages[0], "content": f"{system}\n\n{note}" if system else note}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]


class ResponseFormatError(AgentRouteError, ValueError):
    """An OpenAI ``response_format`` that is not one of its three shapes."""


def is_openai_response_format(value: Any) -> bool:
    """Whether ``value`` claims to be an OpenAI ``response_format`` (a dict with one of its types)."""
    return isinstance(value, Mapping) and value.get("type") in OPENAI_KINDS


def openai_response_format_schema(value: Any) -> dict[str, Any] | None:
    """OpenAI's ``response_format`` as ``generate``'s ``json_schema``: None for ``{"type": "text"}``
    (or None), any object for ``{"type": "json_object"}``, the schema of ``{"type": "json_schema",
    "json_schema": {"name": ..., "schema": {...}}}``; ResponseFormatError naming the shape otherwise.

    One reading for every door: the OpenAI-compatible server and both integrations call this, each
    adding only its framework's own forms (pydantic classes, TypedDicts, bare schemas)."""
    if value is None:
        return None
    kind = value.get("type") if isinstance(value, Mapping) else None
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "object"}
    if kind == "json_schema":
        spec = value.get("json_schema")
        schema = spec.get("schema") if isinstance(spec, Mapping) else None
        if isinstance(schema, Mapping):
            return dict(schema)
        raise ResponseFormatError(
            'response_format.json_schema.schema must be a JSON Schema object: {"type": "json_schema", '
            '"json_schema": {"name": ..., "schema": {...}}}'
        )
    raise ResponseFormatError(
        f"response_format must have type 'text', 'json_object' or 'json_schema', got {value!r:.80}"
    )
