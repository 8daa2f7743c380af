"""Made-up tool results, the assistant's answer to them and the key fact a final answer must state."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from agentroute.data import phrasing as ph
from agentroute.data.catalogue import Domain, Tool
from agentroute.data.catalogue_files import vocab

_LANGUAGES = {"es": "Spanish", "fr": "French", "de": "German"}


@dataclass(frozen=True)
class Result:
    content: str  # the tool message's content: JSON, "key: value" lines or plain text (see _render)
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
        return Result(
            _render(data, f"Confirmed. Confirmation ID: {confirmation}"), answer.format(confirmation), confirmation
        )
    if kind == "value":
        field, unit, lo, hi = rest.split(":")
        value = _number(rng, lo, hi)
        data = {field: value, "unit": unit}
        # The answer copies the number as the tool wrote it: v2 answers reformatted it ("8,520"), and the
        # trained model then garbled plain results (852 -> "8,520"). Unit conversions stay a tool's job.
        said = f"{value} {unit}"
        answer = rng.choice(["The {} is {}.", "Result: {} of {}."]).format(field.replace("_", " "), said)
        return Result(_render(data, said), answer, said)
    if kind == "pick":
        field, _, options = rest.partition(":")
        value = rng.choice(options.split("|"))
        data = {field: value}
        return Result(_render(data, value), f"The {field.replace('_', ' ')} is: {value}.", value)
    if kind == "translate":
        language = arguments["target_language"]
        translated = vocab().translatable[arguments["text"]][language]
        data = {"translated_text": translated, "language": language}
        text = f"{translated} ({_LANGUAGES[language]})"
        return Result(_render(data, text), f'In {_LANGUAGES[language]}: "{translated}"', translated)
    if kind == "detect":
        language = vocab().foreign[arguments["text"]]
        data = {"language": language, "confidence": 0.98}
        return Result(
            _render(data, f"Detected language: {language} (confidence {data['confidence']})"),
            f"The text is in {language}.",
            language,
        )
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
    label = field.replace("_", " ")
    listed = ph.join_and([f"{r['name']} ({label} {r[field]})" for r in rows])
    answer = f"I found {len(rows)} results: {listed}."
    text = f"{len(rows)} results:\n" + "\n".join(f"- {r['name']}: {label} {r[field]}" for r in rows)
    return Result(_render(data, text), answer, rows[0]["name"])


def _render(data: dict[str, Any], text: str) -> str:
    """The tool message's content: JSON half the time, else "key: value" lines or plain ``text``.

    Real tools return all three (a Haystack or LangChain tool's result is often a bare string), and a
    model trained on JSON results alone misread the plain ones. The style comes from a generator
    seeded by the data itself, so it draws nothing from the split's generator: v3 keeps v2's steps.
    """
    dumped = _dump(data)
    style = random.Random(f"style:{dumped}").random()
    if style < 0.5:
        return dumped
    if style < 0.75:
        return "\n".join(_line(key, value) for key, value in data.items())
    return text


def _line(key: str, value: Any) -> str:
    if isinstance(value, list):  # a list result's rows, one per line
        return f"{key}:\n" + "\n".join("- " + ", ".join(f"{k}: {x}" for k, x in row.items()) for row in value)
    return f"{key}: {value}"


def _dump(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
