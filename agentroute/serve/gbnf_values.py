"""GBNF for the schema keywords that narrow a value: a string's ``pattern`` and length, an
integer's bounds, an array's item count.

In process llguidance holds a call to these; llama-server gets them written out here, so a served
call that names a claim "POL-5131407" where the schema says ``^CLM-[0-9]{6}$``, or orders 4007
grams where the maximum is 500, cannot be written (each seen on the test split before these were
held). A keyword this does not translate (a regex with lookarounds or backreferences, a bound on a
non-integer) yields None and the value stays free, as before; the parser's schema check still
names a value that breaks it.
"""

from __future__ import annotations

import json
import re
from typing import Any

try:  # the standard library's regex parser (``sre_parse`` before Python 3.11)
    from re import _constants as sre
    from re import _parser as sre_parse
except ImportError:  # pragma: no cover - Python 3.10
    import sre_constants as sre  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

# A character of a JSON string as written (the ``char`` rule of ``gbnf._PRIMITIVES``), and one that
# may open a value: any but a space (``first-char``).
CHAR, FIRST_CHAR = "char", "first-char"
_CATEGORIES = {
    sre.CATEGORY_DIGIT: "0-9",
    sre.CATEGORY_WORD: "a-zA-Z0-9_",
    sre.CATEGORY_SPACE: " ",  # tabs and newlines are escapes in JSON: an ID's space is a space
}
_OUTSIDE = '"\\\\\\x00-\\x1F'  # what a raw character class of a JSON string leaves out


class Untranslatable(ValueError):
    """A regex construct GBNF is not written for here."""


def string_gbnf(schema: dict[str, Any]) -> str | None:
    """The JSON string (quotes included) a string schema's ``pattern`` admits, or else one within
    its length bounds that does not open with one space before a non-space (``steps.string_start``;
    the caller adds the ``FIRST_CHAR`` rule); None where a pattern does not translate or the bounds
    admit no string."""
    pattern = schema.get("pattern")
    if isinstance(pattern, str):
        try:
            return '"\\"" ' + _regex(pattern) + ' "\\""'
        except (Untranslatable, re.error):
            return None
    low = schema["minLength"] if _count(schema.get("minLength")) else 0
    high = schema["maxLength"] if _count(schema.get("maxLength")) else None
    if high is not None and low > high:
        return None  # left to the parser's check, which names the schema
    if high == 0:
        return '"\\"" "\\""'
    forms = []  # the content, opened by a non-space, by a lone space or by two spaces
    if high is None or high >= 1:
        forms.append(_chars(FIRST_CHAR, low, high))
        if low <= 1:
            forms.append('" "')
    if high is None or high >= 2:
        forms.append(_chars('"  "', max(low, 2), high, opened=2))
    return '"\\"" (' + " | ".join(forms) + (")?" if low == 0 else ")") + ' "\\""'


def _chars(opening: str, low: int, high: int | None, opened: int = 1) -> str:
    """``opening`` (``opened`` characters) then any characters, ``low`` to ``high`` in all."""
    if high is not None and high <= opened:
        return opening
    return f"{opening} {CHAR}{_repeat(max(low - opened, 0), None if high is None else high - opened)}"


def integer_gbnf(schema: dict[str, Any]) -> str | None:
    """The integers within an integer schema's bounds (``minimum``/``maximum``, exclusive ones too),
    or None without bounds or with a negative lower one."""
    low, high = _bound(schema, "minimum", "exclusiveMinimum", 1), _bound(schema, "maximum", "exclusiveMaximum", -1)
    if low is None and high is None:
        return None
    if low is not None and high is not None and low > high:
        return None  # no integer fits: leave it to the parser's check, which names the schema
    if low is None or low < 0:
        if low is not None:
            return None  # a negative lower bound: not written here
        negative = '"-" [1-9] [0-9]*'
        return f"{negative} | {_naturals(0, high)}" if high >= 0 else None
    return _naturals(low, high)


def array_items(item: str, separator: str, schema: dict[str, Any]) -> str:
    """The items of an array of ``item`` between its brackets, as many as ``minItems`` and
    ``maxItems`` allow."""
    low = schema.get("minItems") if _count(schema.get("minItems")) else 0
    high = schema.get("maxItems") if _count(schema.get("maxItems")) else None
    if high == 0:
        return ""
    more = f"({separator} {item}){_repeat(max(low - 1, 0), None if high is None else high - 1)}"
    return f"{item} {more}" if low >= 1 else f"({item} {more})?"


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _repeat(low: int, high: int | None) -> str:
    if high is None:
        return "*" if low == 0 else ("+" if low == 1 else f"{{{low},}}")
    return "" if low == high == 1 else f"{{{low}}}" if low == high else f"{{{low},{high}}}"


def _bound(schema: dict[str, Any], inclusive: str, exclusive: str, step: int) -> int | None:
    """An integer bound: the inclusive one, or the exclusive one moved to the next integer inside."""
    import math

    value, strict = schema.get(inclusive), schema.get(exclusive)
    numbers = [v for v in (value, strict) if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if not numbers:
        return None
    bounds = []
    if value in numbers:
        bounds.append(math.ceil(value) if step > 0 else math.floor(value))
    if strict in numbers:
        bounds.append(math.floor(strict) + 1 if step > 0 else math.ceil(strict) - 1)
    return max(bounds) if step > 0 else min(bounds)


def _naturals(low: int, high: int | None) -> str:
    """Integers from ``low`` (>= 0) to ``high`` (None: no end), written without leading zeros."""
    alternatives = []
    digits = len(str(low))
    while high is None or low <= high:
        top = 10**digits - 1
        if high is not None:
            top = min(top, high)
        alternatives += _same_length(str(low), str(top))
        if high is None and top == 10**digits - 1:
            alternatives.append(f"[1-9] [0-9]{{{digits},}}")  # every longer number
            break
        low, digits = top + 1, digits + 1
    return " | ".join(f"({a})" for a in alternatives)


def _same_length(low: str, high: str) -> list[str]:
    """Digit sequences from ``low`` to ``high`` (as long as each other), as GBNF alternatives."""
    if len(low) == 1:
        return [_digits(int(low), int(high))]
    rest = len(low) - 1
    if low[0] == high[0]:
        return [f'"{low[0]}" {tail}' for tail in _same_length(low[1:], high[1:])]
    out = []
    low_whole, high_whole = low[1:] == "0" * rest, high[1:] == "9" * rest
    if not low_whole:
        out += [f'"{low[0]}" {tail}' for tail in _same_length(low[1:], "9" * rest)]
    first, last = int(low[0]) + (not low_whole), int(high[0]) - (not high_whole)
    if first <= last:
        out.append(f"{_digits(first, last)} [0-9]{{{rest}}}")
    if not high_whole:
        out += [f'"{high[0]}" {tail}' for tail in _same_length("0" * rest, high[1:])]
    return out


def _digits(first: int, last: int) -> str:
    return f'"{first}"' if first == last else f"[{first}-{last}]"


def _regex(pattern: str) -> str:
    """A JSON string's content matching ``pattern`` (JSON Schema's: found anywhere unless anchored)."""
    items = list(sre_parse.parse(pattern))
    starts = bool(items) and items[0] == (sre.AT, sre.AT_BEGINNING)
    ends = bool(items) and items[-1][0] == sre.AT and items[-1][1] in (sre.AT_END, sre.AT_END_STRING)
    body = _sequence(items[1 if starts else 0 : len(items) - 1 if ends else len(items)])
    return " ".join(filter(None, ["" if starts else f"{CHAR}*", body, "" if ends else f"{CHAR}*"])) or '""'


def _sequence(items) -> str:
    return " ".join(_node(op, arg) for op, arg in items) or '""'


def _node(op, arg) -> str:
    if op == sre.LITERAL:
        return _json_literal(chr(arg))
    if op == sre.NOT_LITERAL:
        return f"[^{class_escape(chr(arg))}{_OUTSIDE}]"
    if op == sre.ANY:
        return CHAR
    if op == sre.IN:
        return _class(arg)
    if op in (sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", None)):
        low, high, sub = arg
        return f"({_sequence(sub)}){_repeat(low, None if high == sre.MAXREPEAT else high)}"
    if op == sre.SUBPATTERN:
        _group, add_flags, del_flags, sub = arg
        if add_flags or del_flags:
            raise Untranslatable("inline flags")
        return f"({_sequence(sub)})"
    if op == sre.BRANCH:
        return "(" + " | ".join(_sequence(alt) for alt in arg[1]) + ")"
    raise Untranslatable(str(op))


def _class(items) -> str:
    """A regex character class as GBNF: a class of plain characters, plus JSON's escaped forms of
    a quote or backslash it admits."""
    negate = bool(items) and items[0][0] == sre.NEGATE
    parts, escaped = [], []
    for op, arg in items[1:] if negate else items:
        if op == sre.LITERAL:
            char = chr(arg)
            if char in '"\\' and not negate:
                escaped.append(_json_literal(char))
            elif ord(char) >= 0x20:
                parts.append(class_escape(char))
        elif op == sre.RANGE:
            low, high = max(arg[0], 0x20), arg[1]
            if low <= high:
                parts.append(f"{class_escape(chr(low))}-{class_escape(chr(high))}")
        elif op == sre.CATEGORY and arg in _CATEGORIES:
            parts.append(_CATEGORIES[arg])
        else:
            raise Untranslatable(f"class item {op}")
    if negate:
        return f"[^{''.join(parts)}{_OUTSIDE}]"
    alternatives = ([f"[{''.join(parts)}]"] if parts else []) + escaped
    if not alternatives:
        raise Untranslatable("an empty class")
    return alternatives[0] if len(alternatives) == 1 else "(" + " | ".join(alternatives) + ")"


def _json_literal(char: str) -> str:
    """``char`` as a JSON string writes it, as a GBNF literal."""
    return literal(json.dumps(char, ensure_ascii=False)[1:-1])


def literal(text: str) -> str:
    """A GBNF string literal of ``text``."""
    out = []
    for c in text:
        if c in '"\\':
            out.append("\\" + c)
        elif c == "\n":
            out.append("\\n")
        elif c == "\r":
            out.append("\\r")
        elif c == "\t":
            out.append("\\t")
        elif ord(c) < 0x20 or ord(c) == 0x7F:
            out.append(f"\\x{ord(c):02X}")
        else:
            out.append(c)
    return '"' + "".join(out) + '"'


def class_escape(chars: str) -> str:
    """Characters for a GBNF character class ``[...]``."""
    special = {"]": "\\]", "\\": "\\\\", "^": "\\^", "-": "\\-", "[": "\\[", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
    return "".join(special.get(c, c) for c in chars)
