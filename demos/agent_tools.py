"""Real local tools for the demo agents, and the demo tasks with their answer checks.

Plain functions with type hints and docstrings, so both frameworks can turn them into tools
(LangChain's ``@tool``/``StructuredTool.from_function`` and Haystack's ``create_tool_from_function``).
"""

from __future__ import annotations

import ast
import datetime as dt
import operator
import re
from pathlib import Path

DOCS = Path(__file__).parent / "docs"

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression such as "(12.5 + 7) * 3" or "2 ** 10" and return the result."""

    def walk(node: ast.AST) -> float:
        # Only numbers and arithmetic operators: no names, calls or attributes, so no eval() risk.
        if isinstance(node, ast.Expression):
            return walk(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            left, right = walk(node.left), walk(node.right)
            if isinstance(node.op, ast.Pow) and abs(right) > 100:
                raise ValueError("exponent too large")
            return _OPS[type(node.op)](left, right)
        if isinstance(node, ast.UnaryOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](walk(node.operand))
        raise ValueError(f"unsupported expression element: {ast.dump(node)[:40]}")

    try:
        value = walk(ast.parse(expression.replace("^", "**").replace("×", "*"), mode="eval"))
    except (SyntaxError, ValueError, ZeroDivisionError, TypeError) as exc:
        return f"error: cannot evaluate {expression!r}: {exc}"
    return f"{value:g}" if isinstance(value, float) else str(value)


# unit -> (dimension, factor to the base unit); temperatures are handled separately.
_UNITS = {
    "m": ("length", 1.0),
    "km": ("length", 1000.0),
    "cm": ("length", 0.01),
    "mm": ("length", 0.001),
    "mi": ("length", 1609.344),
    "mile": ("length", 1609.344),
    "miles": ("length", 1609.344),
    "ft": ("length", 0.3048),
    "foot": ("length", 0.3048),
    "feet": ("length", 0.3048),
    "in": ("length", 0.0254),
    "inch": ("length", 0.0254),
    "inches": ("length", 0.0254),
    "yd": ("length", 0.9144),
    "kg": ("mass", 1.0),
    "g": ("mass", 0.001),
    "lb": ("mass", 0.45359237),
    "lbs": ("mass", 0.45359237),
    "pound": ("mass", 0.45359237),
    "pounds": ("mass", 0.45359237),
    "oz": ("mass", 0.028349523125),
    "l": ("volume", 1.0),
    "ml": ("volume", 0.001),
    "gal": ("volume", 3.785411784),
    "gallon": ("volume", 3.785411784),
    "s": ("time", 1.0),
    "min": ("time", 60.0),
    "h": ("time", 3600.0),
    "hour": ("time", 3600.0),
    "hours": ("time", 3600.0),
    "day": ("time", 86400.0),
    "days": ("time", 86400.0),
}
_TEMPS = {"c": "c", "celsius": "c", "f": "f", "fahrenheit": "f", "k": "k", "kelvin": "k"}


def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units of length, mass, volume, time or temperature (e.g. 5, "km", "mi")."""
    src, dst = from_unit.strip().lower(), to_unit.strip().lower()
    if src in _TEMPS and dst in _TEMPS:
        celsius = {"c": value, "f": (value - 32) * 5 / 9, "k": value - 273.15}[_TEMPS[src]]
        result = {"c": celsius, "f": celsius * 9 / 5 + 32, "k": celsius + 273.15}[_TEMPS[dst]]
        return f"{value:g} {from_unit} = {result:.4g} {to_unit}"
    if src not in _UNITS or dst not in _UNITS:
        known = ", ".join(sorted(set(_UNITS) | set(_TEMPS)))
        return f"error: unknown unit {from_unit if src not in _UNITS else to_unit!r}; known units: {known}"
    (dim_a, fa), (dim_b, fb) = _UNITS[src], _UNITS[dst]
    if dim_a != dim_b:
        return f"error: cannot convert {dim_a} ({from_unit}) to {dim_b} ({to_unit})"
    return f"{value:g} {from_unit} = {value * fa / fb:.4g} {to_unit}"


def search_docs(query: str, top_k: int = 2) -> str:
    """Search the local document collection (company handbook, product notes) and return the best passages."""
    words = set(re.findall(r"[a-z0-9]+", query.lower()))
    scored = []
    for path in sorted(DOCS.glob("*.md")):
        for passage in path.read_text().split("\n\n"):
            tokens = re.findall(r"[a-z0-9]+", passage.lower())
            score = sum(tokens.count(w) for w in words if len(w) > 2)
            if score:
                scored.append((score, path.stem, passage.strip()))
    scored.sort(key=lambda item: (-item[0], item[1]))
    if not scored:
        return f"no passage matches {query!r}"
    return "\n".join(f"[{name}] {text}" for _, name, text in scored[: max(1, min(top_k, 5))])


def date_calc(start: str, days: int = 0, end: str | None = None) -> str:
    """Date arithmetic: add `days` to an ISO date `start` (YYYY-MM-DD), or count the days from `start` to `end`."""
    try:
        first = dt.date.fromisoformat(start)
        if end:
            return f"{(dt.date.fromisoformat(end) - first).days} days from {start} to {end}"
        result = first + dt.timedelta(days=int(days))
    except (ValueError, OverflowError) as exc:
        return f"error: {exc}; use ISO dates like 2026-03-01"
    return f"{start} + {days} days = {result.isoformat()} ({result.strftime('%A')})"


TOOLS = [calculate, convert_units, search_docs, date_calc]

# Each task: the question, and a check of the final answer (a number or a phrase it must contain).
TASKS = [
    {"question": "What is 17.5 * 48 + 12?", "answer": "852"},
    {"question": "How many kilometres is 26.2 miles?", "answer": "42.16"},
    {"question": "What date is 45 days after 2026-11-24?", "answer": "2027-01-08"},
    {"question": "According to the handbook, how many vacation days do new employees get per year?", "answer": "25"},
    {"question": "Convert 98.6 degrees Fahrenheit to Celsius.", "answer": "37"},
]


def answer_is_correct(answer: str, expected: str) -> bool:
    """True when the final answer states the expected value.

    A number must appear as a whole number within 1% (42.16 ~ 42.165; "8,520" is not 852, which a
    substring check accepted); anything else (a date) must appear as written.
    """
    text = answer.replace(",", "")
    try:
        target = float(expected)
    except ValueError:
        return expected in text
    numbers = re.findall(r"(?<![\d.])-?\d+(?:\.\d+)?", text)
    return any(abs(float(n) - target) <= 0.01 * max(1.0, abs(target)) for n in numbers)
