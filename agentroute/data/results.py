"""Made-up tool results, the assistant's answer to them and the key fact a final answer must state."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from agentroute.data import phrasing as ph
from agentroute.data import vocab as v
from agentroute.data.catalogue import Domain, Tool

_LANGUAGES = {"es": "Spanish", "fr": "French", "de": "German"}


@dataclass(frozen=True)
class Result:
    content: str  # the tool message's content (JSON text)
    answer: str  # what the assistant tells the user
    reference: str  # the fact the answer must contain


def _number(rng: random.Random, lo: str, hi: str) -> int | float:
    low, high = float(lo), float(hi)
    decimals = 2 if "." in lo + hi else 1 if high - low < 10 else 0
    return ph.plain_number(round(rng.uniform(low, high), decimals))


def tool_result(rng: random.Random, tool: Tool, domain: Domain, arguments: dict[str, Any]) -> Result:
    """A plausible result of calling ``tool`` with ``arguments``, per the action's ``result`` spec."""
    kind, _, rest = tool.action.result.partition(":")
    if kind == "confirm":
        confirmation = ph.ident(rng, f"{rest}-#####")
        data: dict[str, Any] = {"status": "confirmed", "confirmation_id": confirmation}
        answer = rng.choice(["Done - the confirmation number is {}.", "All set. Your confirmation is {}."])
        return Result(_dump(data), answer.format(confirmation), confirmation)
    if kind == "value":
        field, unit, lo, hi = rest.split(":")
        value = _number(rng, lo, hi)
        data = {field: value, "unit": unit}
        said = f"{ph.say_number(value)} {unit}"
        answer = rng.choice(["The {} is {}.", "Result: {} of {}."]).format(field.replace("_", " "), said)
        return Result(_dump(data), answer, said)
    if kind == "pick":
        field, _, options = rest.partition(":")
        value = rng.choice(options.split("|"))
        data = {field: value}
        return Result(_dump(data), f"The {field.replace('_', ' ')} is: {value}.", value)
    if kind == "translate":
        language = arguments["target_language"]
        translated = v.TRANSLATABLE[arguments["text"]][language]
        data = {"translated_text": translated, "language": language}
        return Result(_dump(data), f'In {_LANGUAGES[language]}: "{translated}"', translated)
    if kind == "detect":
        language = v.FOREIGN[arguments["text"]]
        return Result(_dump({"language": language, "confidence": 0.98}), f"The text is in {language}.", language)
    if kind == "list":
        if rest:  # "list:FIELD:LOW:HIGH:item|item|item" replaces the domain's items and metric
            field, lo, hi, items = rest.split(":", 3)
            return _list_result(rng, (field, lo, hi), tuple(items.split("|")))
        return _list_result(rng, domain.metric, domain.items)
    raise ValueError(f"{tool.name}: unknown result kind {tool.action.result!r}")


def _list_result(rng: random.Random, metric: tuple[str, Any, Any], items: tuple[str, ...]) -> Result:
    field, lo, hi = metric
    names = rng.sample(list(items), min(len(items), rng.randint(2, 3)))
    rows = [{"name": name, field: _number(rng, str(lo), str(hi))} for name in names]
    data = {"results": rows, "count": len(rows)}
    listed = ph.join_and([f"{r['name']} ({field.replace('_', ' ')} {ph.say_number(r[field])})" for r in rows])
    answer = f"I found {len(rows)} results: {listed}."
    return Result(_dump(data), answer, rows[0]["name"])


def _dump(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False)
