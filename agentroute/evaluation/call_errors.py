"""What a wrong tool-call reply got wrong, so a pack's misses can be told apart.

Accuracy says how many replies were right; training the next pack needs to know why the others
were not: a missing or extra call, the wrong tool, or the arguments - and among arguments,
which kinds of value (dates a request words otherwise, times, arrays, nested objects, optional
parameters left out or added unasked). On the shipped pack's dev tool calls most wrong replies
had the right calls and tools and miscopied a date or time (docs/route-packs.md).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.evaluation.metrics import calls_as_dicts, same_call, values_equal

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"\d{1,2}:\d{2}(:\d{2})?")
_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{1,2}:\d{2}.*")


def value_kind(value: Any) -> str:
    """bool, number, date, time, datetime, string, array, object or null."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        for kind, pattern in (("date", _DATE), ("time", _TIME), ("datetime", _DATETIME)):
            if pattern.fullmatch(value.strip()):
                return kind
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return "null"


def call_error(calls: Sequence[Any], expected: Sequence[Mapping[str, Any]] | None) -> dict[str, Any] | None:
    """Why ``calls`` are not ``expected`` (None without an expectation or when they match):

    ``{"kind": "called"}`` where no call was expected; ``"no call"`` where calls were expected
    and none was made; ``"count"`` for another number of calls; ``"tools"`` for the same number
    under other names; ``"arguments"`` for the same tools, with ``"arguments"``: one
    ``"<wrong|missing|extra> <value kind>"`` per differing argument (the expected value's kind,
    or the extra value's), each expected call compared with the same-named reply call closest
    to it.
    """
    if expected is None:
        return None
    actual, wanted = calls_as_dicts(calls), calls_as_dicts(expected)
    if not wanted:
        return {"kind": "called"} if actual else None
    if not actual:
        return {"kind": "no call"}
    if len(actual) != len(wanted):
        return {"kind": "count"}
    if sorted(c["name"] for c in actual) != sorted(c["name"] for c in wanted):
        return {"kind": "tools"}
    problems: list[str] = []
    unmatched = list(actual)
    # Exact matches first, as ``calls_correct`` pairs them; then each remaining expected call
    # with its closest same-named call (matching in order could pair a call with the wrong twin).
    for want in list(wanted):
        exact = next((c for c in unmatched if same_call(c, want)), None)
        if exact is not None:
            unmatched.remove(exact)
            wanted.remove(want)
    for want in wanted:
        candidates = [c for c in unmatched if c["name"] == want["name"]]
        best = min(candidates, key=lambda c: len(_argument_problems(c["arguments"], want["arguments"])))
        unmatched.remove(best)
        problems += _argument_problems(best["arguments"], want["arguments"])
    return {"kind": "arguments", "arguments": problems} if problems else None


def _argument_problems(got: Mapping[str, Any], want: Mapping[str, Any]) -> list[str]:
    problems = [
        f"missing {value_kind(value)}" if key not in got else f"wrong {value_kind(value)}"
        for key, value in want.items()
        if key not in got or not values_equal(got[key], value)
    ]
    return problems + [f"extra {value_kind(value)}" for key, value in got.items() if key not in want]


def tally(errors: Sequence[Mapping[str, Any] | None]) -> dict[str, Any]:
    """Counts over many steps' ``call_error``: per kind, and per argument problem (most first)."""
    kinds = Counter(e["kind"] for e in errors if e)
    arguments = Counter(p for e in errors if e for p in e.get("arguments", ()))
    if not kinds:
        return {}
    return {"kinds": dict(kinds.most_common()), "arguments": dict(arguments.most_common())}
