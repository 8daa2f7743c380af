"""Reading tool calls out of reply text: where the attempts are, their JSON, their schema checks.

The helpers behind ``tools.parse_tool_calls``; see its docstring and ``tools``'s for the formats.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import jsonschema

CALL_OPEN, CALL_CLOSE = "<tool_call>", "</tool_call>"
_LIST_MARKER = "[TOOL_CALLS]"
# The info string is limited to word characters so that an inline ```{"name": ...}``` keeps its JSON.
_FENCE = re.compile(r"```[\w+-]*[ \t]*\n?(.*?)(?:```|\Z)", re.DOTALL)
_DECODER = json.JSONDecoder()


def find_attempts(text: str) -> tuple[list[str], str]:
    """The tool-call attempts in ``text`` and the text left once they are removed (stripped)."""
    bodies: list[str] = []
    if CALL_OPEN in text:
        pieces, pos = [], 0
        while (start := text.find(CALL_OPEN, pos)) != -1:
            pieces.append(text[pos:start])
            body_start = start + len(CALL_OPEN)
            end, following = text.find(CALL_CLOSE, body_start), text.find(CALL_OPEN, body_start)
            if end == -1 or (following != -1 and following < end):
                # Unclosed: the call runs to the next call or, in a cut-off reply, to the end.
                end = pos = following if following != -1 else len(text)
            else:
                pos = end + len(CALL_CLOSE)
            bodies.append(text[body_start:end])
        pieces.append(text[pos:])
        content = "".join(pieces)
    else:
        # Fenced JSON counts only when it looks like a call: a reply may well show other JSON.
        kept = [m for m in _FENCE.finditer(text) if _looks_like_call(m.group(1))]
        bodies = [m.group(1) for m in kept]
        content = text
        for m in reversed(kept):
            content = content[: m.start()] + content[m.end() :]
        stripped = text.strip()
        marked = stripped.startswith(_LIST_MARKER)  # Mistral's calls, when the marker is text
        stripped = stripped[len(_LIST_MARKER) :].strip() if marked else stripped
        if not kept and (marked or stripped.startswith(("{", "[")) and _looks_like_call(stripped)):
            _, end, problem = decode_values(stripped)
            bodies, content = [stripped], "" if problem else stripped[end:]
    return bodies, content.replace(CALL_CLOSE, "").strip()


def _looks_like_call(body: str) -> bool:
    """Whether fenced or bare JSON is a call attempt (broken JSON counts if it mentions a name)."""
    body = body.strip()
    if not body.startswith(("{", "[")):
        return False
    values, _, problem = decode_values(body)
    if not values:
        return problem is not None and ('"name"' in body or '"function"' in body)
    first = values[0][0] if isinstance(values[0], list) and values[0] else values[0]
    return isinstance(first, dict) and (
        isinstance(first.get("function"), dict) or "name" in first and ("arguments" in first or "parameters" in first)
    )


def decode_values(body: str) -> tuple[list[Any], int, str | None]:
    """The JSON values from the first ``{`` or ``[`` on, separated by whitespace or commas.

    Returns the values, the index after the last one, and what stopped decoding if it was an error.
    """
    starts = [i for i in (body.find("{"), body.find("[")) if i != -1]
    if not starts:
        return [], 0, "is not a JSON object" if body.strip() else "is empty"
    values: list[Any] = []
    pos = min(starts)
    while True:
        try:
            value, pos = _DECODER.raw_decode(body, pos)
        except json.JSONDecodeError as exc:
            # An unterminated string is reported where it starts; in practice the reply stopped there.
            if exc.pos >= len(body.rstrip()) or exc.msg.startswith("Unterminated string"):
                return values, pos, "is not valid JSON: it ends before the JSON is complete"
            return values, pos, f"is not valid JSON: {exc.msg} (char {exc.pos - pos} of the call)"
        except RecursionError:
            return values, pos, "is not valid JSON: it is nested too deeply"
        values.append(value)
        following = pos
        while following < len(body) and body[following] in " \t\r\n,":
            following += 1
        if following == len(body) or body[following] not in "{[":
            return values, pos, None
        pos = following


def _name_and_arguments(obj: Mapping[str, Any]) -> tuple[Any, Any]:
    """Name and raw arguments of a flat ``{"name", "arguments"}`` or OpenAI ``{"function": ...}`` call."""
    if isinstance(obj.get("function"), Mapping):
        obj = obj["function"]
    # "parameters" is a common slip of small models, which see the word in the tool list.
    return obj.get("name"), obj["arguments"] if "arguments" in obj else obj.get("parameters")


def read_call(obj: Any) -> tuple[str, dict[str, Any], str | None]:
    """A decoded call's name and arguments, or what is wrong with it."""
    if not isinstance(obj, dict):
        return "", {}, f"is not a JSON object but {type(obj).__name__}"
    name, arguments = _name_and_arguments(obj)
    if not isinstance(name, str) or not name.strip():
        return "", {}, "has no tool name"
    name = name.strip()
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except (ValueError, RecursionError) as exc:
            return name, {}, f"({name}) has arguments that are not valid JSON: {exc}"
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        return name, {}, f"({name}) has arguments that are not a JSON object but {type(arguments).__name__}"
    return name, arguments, None


def closed_parameters(parameters: dict) -> dict:
    """The arguments schema without undeclared arguments, unless it allows them explicitly.

    JSON Schema admits extra properties by default, but a function rejects a keyword it does not
    declare; this is OpenAI's strict mode for tool arguments. Top level only (a nested object's
    keys are the tool's business); structured output closes every level (``closed_objects``).
    """
    if "additionalProperties" in parameters or "properties" not in parameters:
        return parameters
    return {**parameters, "additionalProperties": False}


def closed_objects(schema):
    """``schema`` with every object that lists its properties closed to them (at any depth), unless
    it says otherwise: structured output in OpenAI's strict sense. JSON Schema admits extra keys by
    default, and a small model fills them (``"temp_d": 4, "temp_f": 4, ...``) until the reply runs
    out of tokens; a pydantic model's schema never sets ``additionalProperties``."""
    if isinstance(schema, list):
        return [closed_objects(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    closed = {key: closed_objects(value) for key, value in schema.items()}
    if "properties" in schema and "additionalProperties" not in schema:
        closed["additionalProperties"] = False
    return closed


def schema_violation(parameters: dict, arguments: dict[str, Any]) -> str | None:
    """The most relevant way ``arguments`` break the tool's (closed) schema, or None."""
    schema = closed_parameters(parameters)
    try:
        validator = jsonschema.validators.validator_for(schema)(schema)
        violation = jsonschema.exceptions.best_match(validator.iter_errors(arguments))
    except Exception as exc:  # a checked schema can still fail here: an unresolvable $ref, too deep an input
        return f"could not be checked against its schema: {exc}"
    if violation is None:
        return None
    where = "/".join(str(p) for p in violation.absolute_path)
    return f"has arguments that break its schema: {violation.message}" + (f" (at {where})" if where else "")
