"""Per-step comparisons: agreement with full depth, tool-call correctness, teacher-forced agreement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from agentroute import executor
from agentroute.kv_cache import ProgramKVCache
from agentroute.program import LayerProgram


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

    Same count and order, equal names, and arguments equal by ``values_equal``.
    """
    if expected is None:
        return None
    actual = calls_as_dicts(calls)
    wanted = calls_as_dicts(expected)
    return len(actual) == len(wanted) and all(
        a["name"] == w["name"] and values_equal(a["arguments"], w["arguments"])
        for a, w in zip(actual, wanted, strict=True)
    )


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


def forced_agreement(model, prompt_ids: Sequence[int], program: LayerProgram, full_ids: Sequence[int]) -> float:
    """Teacher-forced top-1 agreement of ``program`` with full depth's greedy tokens.

    The fraction of positions where ``program``'s next-token argmax equals full depth's token,
    given full depth's prefix. The prompt is prefilled as ``generate`` does by default (full
    depth, or the program itself when it loops); then one parallel pass of ``program`` over
    ``full_ids[:-1]`` yields the logits for every later position.
    """
    if not full_ids:
        return 1.0
    parts = model.parts
    full = LayerProgram.full(model.n_layers)
    prefill_program = program if program.loops else full
    prompt = torch.tensor([list(prompt_ids)], dtype=torch.long, device=parts.device)
    targets = torch.tensor(list(full_ids), dtype=torch.long, device=parts.device)
    capacity = len(prompt_ids) + len(full_ids)
    with torch.inference_mode():
        cache = ProgramKVCache(initial_capacity=capacity)
        first = executor.prefill(parts, cache, prefill_program, prompt, capacity=capacity)
        predicted = [first.argmax(-1)]
        if len(full_ids) > 1:
            chunk = targets[None, :-1]
            logits = executor.forward(parts, cache, program, chunk, start=len(prompt_ids), all_logits=True)
            predicted.append(logits[0].argmax(-1))
        hits = (torch.cat(predicted) == targets).float().mean()
    return float(hits)
