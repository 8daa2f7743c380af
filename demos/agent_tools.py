"""Real local tools for the demo agents, and the demo tasks with their answer checks.

Plain functions with type hints and docstrings, so both frameworks can turn them into tools
(LangChain's ``@tool``/``StructuredTool.from_function`` and Haystack's ``create_tool_from_function``).
Every tool is safe on any input the model writes: it never raises, hangs or eats memory, and
answers a refused input with an ``error: ...`` string the agent reads as the tool's result.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
import operator
import re
import time
from pathlib import Path

DOCS = Path(__file__).parent / "docs"

# Calculator bounds: with operands and results within MAX_MAGNITUDE and exponents within
# MAX_EXPONENT every single operation is cheap, and the deadline bounds the whole evaluation.
MAX_EXPRESSION_CHARS = 200
MAX_DEPTH = 40
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300
_TOO_LARGE = "result too large (max 10**300)"
TIME_LIMIT_S = 1.0
MAX_DAY_OFFSET = 100_000  # about 274 years
MAX_QUERY_CHARS = 500

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}


class ToolInputError(ValueError):
    """An input a tool refuses, worded for the agent that wrote it."""


def evaluate(expression: str) -> int | float:
    """The value of an arithmetic expression; ToolInputError says why there is none.

    Only numbers, + - * / // % ** and brackets: no names, calls or attributes, so no eval() risk.
    """
    text = str(expression).replace("^", "**").replace("×", "*").replace("÷", "/").strip()
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ToolInputError(f"expression too long ({len(text)} characters, max {MAX_EXPRESSION_CHARS})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise ToolInputError("not an arithmetic expression (use numbers, + - * / // % ** and brackets)") from None
    except (RecursionError, MemoryError):
        raise ToolInputError(f"expression nested too deeply (max {MAX_DEPTH} levels)") from None
    return _walk(tree.body, 0, time.monotonic() + TIME_LIMIT_S)


def _walk(node: ast.AST, depth: int, deadline: float) -> int | float:
    if depth > MAX_DEPTH:
        raise ToolInputError(f"expression nested too deeply (max {MAX_DEPTH} levels)")
    if time.monotonic() > deadline:
        raise ToolInputError(f"calculation took too long (limit {TIME_LIMIT_S:g} s)")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return _bounded(node.value)
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_walk(node.operand, depth + 1, deadline))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _walk(node.left, depth + 1, deadline), _walk(node.right, depth + 1, deadline)
        if isinstance(node.op, ast.Pow):
            if abs(right) > MAX_EXPONENT:
                raise ToolInputError(f"exponent too large (max {MAX_EXPONENT})")
            if left and right * math.log10(abs(left)) > math.log10(MAX_MAGNITUDE):
                raise ToolInputError(_TOO_LARGE)
        try:
            return _bounded(_BINARY[type(node.op)](left, right))
        except ZeroDivisionError:
            raise ToolInputError("division by zero") from None
        except OverflowError:
            raise ToolInputError(_TOO_LARGE) from None
    raise ToolInputError(f"unsupported element {type(node).__name__} (use numbers, + - * / // % ** and brackets)")


def _bounded(value):
    if isinstance(value, complex):
        raise ToolInputError("result is not a real number")
    if (isinstance(value, float) and not math.isfinite(value)) or abs(value) > MAX_MAGNITUDE:
        raise ToolInputError(_TOO_LARGE)
    return value


def calculate(expression: str) -> str:
    """Evaluate an arithmetic expression such as "(12.5 + 7) * 3" or "2 ** 10" and return the result."""
    try:
        value = evaluate(expression)
    except ToolInputError as exc:
        return f"error: {exc}; expression {_short(expression)}"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _short(text) -> str:
    text = repr(text)
    return text if len(text) <= 60 else text[:57] + "..."


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
    try:
        value = float(value)
    except (TypeError, ValueError):
        return f"error: value must be a number, got {_short(value)}"
    src, dst = str(from_unit).strip().lower(), str(to_unit).strip().lower()
    if src in _TEMPS and dst in _TEMPS:
        celsius = {"c": value, "f": (value - 32) * 5 / 9, "k": value - 273.15}[_TEMPS[src]]
        result = {"c": celsius, "f": celsius * 9 / 5 + 32, "k": celsius + 273.15}[_TEMPS[dst]]
    elif src not in _UNITS or dst not in _UNITS:
        known = ", ".join(sorted(set(_UNITS) | set(_TEMPS)))
        return f"error: unknown unit {_short(from_unit if src not in _UNITS else to_unit)}; known units: {known}"
    elif _UNITS[src][0] != _UNITS[dst][0]:
        return f"error: cannot convert {_UNITS[src][0]} ({from_unit}) to {_UNITS[dst][0]} ({to_unit})"
    else:
        result = value * _UNITS[src][1] / _UNITS[dst][1]
    if not (math.isfinite(value) and math.isfinite(result) and abs(result) <= MAX_MAGNITUDE):
        return f"error: {_TOO_LARGE}"
    return f"{value:g} {from_unit} = {result:.4g} {to_unit}"


def search_docs(query: str, top_k: int = 2) -> str:
    """Search the local document collection (company handbook, product notes) and return the best passages."""
    query = str(query)
    if len(query) > MAX_QUERY_CHARS:
        return f"error: query too long ({len(query)} characters, max {MAX_QUERY_CHARS})"
    words = {w for w in re.findall(r"[a-z0-9]+", query.lower()) if len(w) > 2}
    scored = []
    for path in sorted(DOCS.glob("*.md")):
        for passage in path.read_text().split("\n\n"):
            tokens = re.findall(r"[a-z0-9]+", passage.lower())
            score = sum(tokens.count(w) for w in words)
            if score:
                scored.append((score, path.stem, passage.strip()))
    scored.sort(key=lambda item: (-item[0], item[1]))
    if not scored:
        return f"no passage matches {_short(query)}"
    try:
        shown = max(1, min(int(top_k), 5))
    except (TypeError, ValueError, OverflowError):
        shown = 2
    return "\n".join(f"[{name}] {text}" for _, name, text in scored[:shown])


def date_calc(start: str, days: int = 0, end: str | None = None) -> str:
    """Date arithmetic: add `days` to an ISO date `start` (YYYY-MM-DD), or count the days from `start` to `end`."""
    try:
        first = _iso_date(start)
        if end:
            return f"{(_iso_date(end) - first).days} days from {start} to {end}"
        offset = _day_offset(days)
        result = first + dt.timedelta(days=offset)
    except ToolInputError as exc:
        return f"error: {exc}"
    except OverflowError:
        return f"error: {start} {offset:+d} days falls outside the calendar (years 1 to 9999)"
    return f"{start} + {offset} days = {result.isoformat()} ({result.strftime('%A')})"


def _iso_date(text) -> dt.date:
    if isinstance(text, str) and len(text) <= 32:
        try:
            return dt.date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise ToolInputError(f"{_short(text)} is not a date; use ISO dates like 2026-03-01")


def _day_offset(days) -> int:
    try:
        offset = float(days) if isinstance(days, str) else days
        if isinstance(offset, bool) or not float(offset).is_integer():
            raise ValueError
        offset = int(offset)
    except (TypeError, ValueError, OverflowError):
        raise ToolInputError(f"days must be a whole number, got {_short(days)}") from None
    if abs(offset) > MAX_DAY_OFFSET:
        raise ToolInputError(f"day offset too large (max {MAX_DAY_OFFSET} days)")
    return offset


TOOLS = [calculate, convert_units, search_docs, date_calc]

# Each task: the question and the value its final answer must state (a number, or an ISO date).
TASKS = [
    {"question": "What is 17.5 * 48 + 12?", "answer": "852"},
    {"question": "How many kilometres is 26.2 miles?", "answer": "42.16"},
    {"question": "What date is 45 days after 2026-11-24?", "answer": "2027-01-08"},
    {"question": "According to the handbook, how many vacation days do new employees get per year?", "answer": "25"},
    {"question": "Convert 98.6 degrees Fahrenheit to Celsius.", "answer": "37"},
]

_DATE = r"\d{4}-\d{2}-\d{2}"
# A number is whole: "8,520" is 8520 (commas go first), "-37" is negative, "2026-11-24" is a date.
_NUMBER = r"(?:(?<![\w.])-)?(?<![\w.])\d+(?:\.\d+)?"
# Words and signs that introduce a claimed value: "... is 852", "= 42.16 km", "get 25 days".
_CLAIM = re.compile(r"\b(?:is|are|was|equals?|gets?|makes?|comes to)\b|=|≈|:", re.IGNORECASE)
_DATE_SUM = re.compile(rf"({_DATE})(?:\s*\(\w+\))?\s*([+-])\s*(\d+)\s*days?\s*=\s*({_DATE})", re.IGNORECASE)
_NUMBER_SUM = re.compile(r"([\d.\s()+\-*/×÷^]*\d[\d.\s()+\-*/×÷^]*)=\s*(-?\d+(?:\.\d+)?)")


def answer_is_correct(answer: str, expected: str) -> bool:
    """True when the result the answer states is the expected value and every sum it writes holds.

    The stated result is the first value after the answer's last claim ("is", "=", "get", ...) that
    a value follows, else its last value: a number must equal the expected one within 1% ("8,520"
    is not 852, "-37" is not 37), a date must be the expected date. A sum the answer writes out
    ("2027-01-08 + 45 days = 2027-01-08", "852 + 12 = 852") must hold, so a garbled answer that
    merely contains the value does not count.
    """
    text = " ".join(str(answer).replace(",", "").split())
    if re.fullmatch(_DATE, expected):
        matches = list(re.finditer(_DATE, text))
    else:
        matches = list(re.finditer(_NUMBER, re.sub(_DATE, lambda m: " " * len(m[0]), text)))
    stated = stated_result(text, matches)
    if stated is None or not sums_hold(text):
        return False
    if re.fullmatch(_DATE, expected):
        return stated == expected
    return abs(float(stated) - float(expected)) <= 0.01 * max(1.0, abs(float(expected)))


def stated_result(text: str, matches: list[re.Match]) -> str | None:
    """Of the values found in ``text`` (``matches``), the one the text asserts as its result."""
    if not matches:
        return None
    claims = [c.end() for c in _CLAIM.finditer(text) if c.end() <= matches[-1].start()]
    if not claims:
        return matches[-1][0]
    return next(m[0] for m in matches if m.start() >= claims[-1])


def sums_hold(text: str) -> bool:
    """False when the text writes out a sum that is wrong (dates plus days, or arithmetic)."""
    for start, sign, days, result in _DATE_SUM.findall(text):
        try:
            if dt.date.fromisoformat(start) + dt.timedelta(days=int(days) * (1 if sign == "+" else -1)) != (
                dt.date.fromisoformat(result)
            ):
                return False
        except (ValueError, OverflowError):
            return False
    for expression, result in _NUMBER_SUM.findall(re.sub(_DATE, " ", text)):
        if not re.search(r"\d\s*[-+*/×÷^]+\s*\(?\s*-?\d", expression):
            continue  # a lone number ("is 42.16 km = 42.16"): nothing to check
        try:
            value = evaluate(expression.strip().lstrip("."))
        except ToolInputError:
            continue  # not a sum after all (text around it); the stated result decides
        if abs(value - float(result)) > 0.01 * max(1.0, abs(float(result))):
            return False
    return True
