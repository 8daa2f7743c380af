"""Per-step comparisons: agreement with full depth, tool-call correctness, teacher-forced agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.model.program import LayerProgram


def token_agreement(token_ids: Sequence[int], full_ids: Sequence[int]) -> float:
    """Length of the common prefix with full depth's tokens divided by full depth's length."""
    if not full_ids:
        return 1.0 if not token_ids else 0.0
    n = 0
    for a, b in zip(token_ids, full_ids, strict=False):
        if a != b:
            break
        n += 1
    return n / len(full_ids)


def calls_as_dicts(calls: Sequence[Any]) -> list[dict[str, Any]]:
    """``[{"name", "arguments"}]`` from ToolCalls or dicts (call ids are left out: they are derived from the text)."""
    out = []
    for call in calls:
        if isinstance(call, Mapping):
            out.append({"name": call["name"], "arguments": dict(call.get("arguments") or {})})
        else:
            out.append({"name": call.name, "arguments": dict(call.arguments)})
    return out


def tool_calls_match(calls: Sequence[Any], full_calls: Sequence[Any]) -> bool | None:
    """Same tool names and arguments, in order, as full depth's calls; None when full depth made none."""
    if not full_calls:
        return None
    return calls_as_dicts(calls) == calls_as_dicts(full_calls)


def calls_correct(calls: Sequence[Any], expected: Sequence[Mapping[str, Any]] | None) -> bool | None:
    """Whether the reply's tool calls equal the expected ones; None without an expectation.

    Same count, and each expected call matched by its own reply call with the same name and
    arguments equal by ``values_equal``, in any order: calls made in one reply run independently,
    as function-calling benchmarks score parallel calls. No expected calls: correct when the reply
    makes none (no offered tool fits).
    """
    if expected is None:
        return None
    actual = calls_as_dicts(calls)
    unmatched = calls_as_dicts(expected)
    if len(actual) != len(unmatched):
        return False
    for a in actual:
        match = next((w for w in unmatched if same_call(a, w)), None)
        if match is None:
            return False
        unmatched.remove(match)
    return True


def same_call(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> bool:
    return actual["name"] == expected["name"] and values_equal(actual["arguments"], expected["arguments"])


def values_equal(actual: Any, expected: Any) -> bool:
    """JSON values equal up to formatting a grader should not care about.

    Numbers compare numerically (``1 == 1.0``) but never equal booleans; strings compare
    case-insensitively after trimming; objects need the same keys and arrays the same length and
    order, compared recursively. A number never equals its string form.
    """
    if isinstance(actual, bool) or isinstance(expected, bool):
        return isinstance(actual, bool) and isinstance(expected, bool) and actual == expected
    if isinstance(actual, (int, float)) and isinstance(expected, (int, float)):
        return actual == expected
    if isinstance(actual, str) and isinstance(expected, str):
        return actual.strip().casefold() == expected.strip().casefold()
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        return actual.keys() == expected.keys() and all(values_equal(actual[k], expected[k]) for k in expected)
    if isinstance(actual, (list, tuple)) and isinstance(expected, (list, tuple)):
        return len(actual) == len(expected) and all(values_equal(a, e) for a, e in zip(actual, expected, strict=True))
    return actual is None and expected is None


def forced_agreement(
    model,
    prompt_ids: Sequence[int],
    program: LayerProgram,
    full_ids: Sequence[int],
    tools=None,
    free_text=False,
    decline=False,
    words_only=False,
) -> float:
    """Teacher-forced top-1 agreement of ``program`` with full depth's greedy tokens.

    The fraction of positions where ``program``'s next-token argmax equals full depth's token,
    given full depth's prefix (``RoutedModel.forced_argmax``: the prompt is prefilled as
    ``generate`` does by default, from the prefix cache, then one parallel pass of ``program``).
    ``tools``: full depth's reply was decoded under the call grammar (``free_text``: the one that
    also admits text, for steps other than tool calls; ``decline`` and ``words_only`` as in
    ``tool_grammar.call_grammar``); argmaxes are taken under it.
    """
    if not full_ids:
        return 1.0
    predicted = model.forced_argmax(prompt_ids, full_ids, program, tools, free_text, decline, words_only)
    return sum(p == t for p, t in zip(predicted, full_ids, strict=True)) / len(full_ids)
