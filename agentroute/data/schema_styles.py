"""Rewrite a generated step's tools as real APIs write them, or mask their names (data v4).

The catalogue's tools are tidy: snake_case names, one-line descriptions, only the parameters a
request uses. Real schemas are not: ``calendar.createEvent`` or ``GetStockQuote``, camelCase
parameters, descriptions of several sentences and optional parameters nobody asked for (which a
call must leave out). ``real_world`` rewrites a step that way; ``masked`` (training only, the
function-masking recipe of small function-calling models) replaces tool and parameter names by
random identifiers, so that the model has to read the descriptions to choose and fill a call.

Both rename consistently everywhere a step names a tool or an argument: the offered tools, the
expected calls, earlier assistant calls and tool results.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from typing import Any

# Optional parameters real APIs carry and a request never sets: a call leaves them out.
EXTRA_PARAMETERS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("locale", {"type": "string", "description": "Language and region of the response, e.g. en-US. Optional."}),
    ("dry_run", {"type": "boolean", "description": "Validate the request without performing it. Default false."}),
    ("request_id", {"type": "string", "description": "Client-chosen id to make retries idempotent. Optional."}),
    ("timeout_ms", {"type": "integer", "description": "Give up after this many milliseconds. Default 30000."}),
    ("fields", {"type": "array", "items": {"type": "string"}, "description": "Only return these fields."}),
    (
        "response_format",
        {"type": "string", "enum": ["json", "text"], "description": "Shape of the response. Default json."},
    ),
)
# Sentences API documentation adds to a tool's description; {verb} is one of its verbs.
EXTRA_SENTENCES = (
    "Returns a JSON object describing the result.",
    "Use this when the user wants to {verb}.",
    "Requires an authenticated user session.",
    "Rate limited to 60 requests per minute per user.",
    "Fails with an error if the input is not valid.",
    "Part of the v2 API; the v1 endpoint is deprecated.",
)
NAME_STYLES = ("dotted", "camel", "pascal", "namespaced", "kebab_dotted")


def camel(name: str) -> str:
    """``max_prep_minutes`` -> ``maxPrepMinutes``."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def pascal(name: str) -> str:
    """``play_song`` -> ``PlaySong``."""
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def styled_name(name: str, domain: str, style: str) -> str:
    """A tool name as an API of ``style`` would spell it (``music.playSong``, ``PlaySong``, ...)."""
    prefix = domain.replace("_", "")
    return {
        "dotted": f"{prefix}.{camel(name)}",
        "camel": camel(name),
        "pascal": pascal(name),
        "namespaced": f"{prefix}_api.{name}",
        "kebab_dotted": f"{prefix}.{name.replace('_', '-')}",
    }[style]


def real_world(
    rng: random.Random, step: dict[str, Any], known: dict[str, tuple[str, tuple[str, ...]]]
) -> dict[str, Any]:
    """``step`` with real-API-style tools: one naming style for all of them, camelCase parameters
    where the style is camel, longer descriptions and 1-3 extra optional parameters per tool.
    ``known`` maps tool names to their domain and the ways users ask for them."""
    style = rng.choice(NAME_STYLES)
    camel_params = style in ("dotted", "camel", "pascal")
    tool_names = {t["name"]: styled_name(t["name"], known[t["name"]][0], style) for t in step["tools"]}
    param_names = {
        t["name"]: {p: camel(p) if camel_params else p for p in t["parameters"]["properties"]} for t in step["tools"]
    }
    out = rename(step, tool_names.__getitem__, lambda tool, p: param_names[tool].get(p, p))
    for spec, original in zip(out["tools"], step["tools"], strict=True):
        sentences = rng.sample(EXTRA_SENTENCES, rng.randint(1, 3))
        verb = rng.choice(known[original["name"]][1])
        spec["description"] = " ".join([spec["description"].rstrip(".") + ".", *sentences]).format(verb=verb)
        properties = spec["parameters"]["properties"]
        for name, schema in rng.sample(EXTRA_PARAMETERS, rng.randint(1, 3)):
            key = camel(name) if camel_params else name
            if key not in properties:
                properties[key] = copy.deepcopy(schema)
    return out


def masked(rng: random.Random, step: dict[str, Any]) -> dict[str, Any]:
    """``step`` with every tool and top-level parameter name replaced by a random identifier
    (descriptions kept): the model must choose and fill calls from the descriptions alone."""
    tool_names: dict[str, str] = {}
    for spec in step["tools"]:
        tool_names[spec["name"]] = _fresh(rng, "fn_", set(tool_names.values()))
    param_names: dict[tuple[str, str], str] = {}
    for spec in step["tools"]:
        taken: set[str] = set()
        for p in spec["parameters"]["properties"]:
            param_names[spec["name"], p] = name = _fresh(rng, "arg_", taken)
            taken.add(name)
    return rename(step, tool_names.__getitem__, lambda tool, p: param_names.get((tool, p), p))


def _fresh(rng: random.Random, prefix: str, taken: set[str]) -> str:
    while True:
        name = prefix + "".join(rng.choice("abcdefghijkmnpqrstuvwxyz0123456789") for _ in range(4))
        if name not in taken:
            return name


def rename(step: dict[str, Any], tool: Callable[[str], str], param: Callable[[str, str], str]) -> dict[str, Any]:
    """A copy of ``step`` with tool names mapped by ``tool`` and each tool's top-level parameter
    names by ``param(original tool name, parameter)``, wherever the step names them."""
    out = copy.deepcopy(step)

    def args(name: str, arguments: dict[str, Any]) -> dict[str, Any]:
        return {param(name, key): value for key, value in arguments.items()}

    for spec in out.get("tools", []):
        original, parameters = spec["name"], spec["parameters"]
        parameters["properties"] = {param(original, k): v for k, v in parameters["properties"].items()}
        parameters["required"] = [param(original, k) for k in parameters.get("required", [])]
        spec["name"] = tool(original)
    for call in out.get("expected", {}).get("tool_calls", []):
        call["arguments"] = args(call["name"], call["arguments"])
        call["name"] = tool(call["name"])
    for message in out["messages"]:
        for call in message.get("tool_calls") or []:
            call["arguments"] = args(call["name"], call["arguments"])
            call["name"] = tool(call["name"])
        if message["role"] == "tool" and "name" in message:
            message["name"] = tool(message["name"])
    return out
