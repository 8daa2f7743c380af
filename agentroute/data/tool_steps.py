"""Builders of tool-call and final-answer steps: one call, two calls, after a history, answer a result.

A builder takes the split's ``Pool`` (which tools may be expected, which may be offered) and the
split's random generator, and returns a step without its ``id`` (the writer numbers them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from agentroute.data import queries as q
from agentroute.data.catalogue import Tool, domain
from agentroute.data.results import Result, tool_result
from agentroute.steps.records import StepType
from agentroute.steps.tools import format_tool_call

FINAL_ANSWER_TOKENS = 64
MAX_TOOLS = 5  # most tools one step offers


@dataclass(frozen=True)
class Pool:
    """The tools a split may use: ``targets`` may be expected, ``offered`` may be distractors or history."""

    targets: tuple[Tool, ...]
    offered: tuple[Tool, ...]

    @property
    def domains(self) -> tuple[str, ...]:
        """Domains of the target tools, in catalogue order."""
        return tuple(dict.fromkeys(t.domain for t in self.targets))


def step(
    step_type: StepType,
    domain_name: str,
    messages: list[dict[str, Any]],
    tools: list[Tool],
    max_new: int,
    expected: list[dict[str, Any]] | None = None,
    reference: str | None = None,
    answer: str | None = None,
) -> dict[str, Any]:
    """A step in the line format ``agentroute eval`` reads (without its id)."""
    out: dict[str, Any] = {"step_type": step_type.value, "domain": domain_name, "messages": messages}
    if tools:
        out["tools"] = [t.spec for t in tools]
    out["max_new_tokens"] = max_new
    if expected is not None:
        out["expected"] = {"tool_calls": expected}
    if reference is not None:
        out["reference"] = reference
    if answer is not None:
        out["answer"] = answer
    return out


def offer(rng: random.Random, pool: Pool, needed: list[Tool], most: int = MAX_TOOLS) -> list[Tool]:
    """``needed`` plus distractors (half from the same domain where possible), 2..``most`` tools, shuffled."""
    needed = list(dict.fromkeys(needed))  # a history call may use the same tool as a later one
    total = rng.randint(max(2, len(needed) + 1), max(most, len(needed) + 1))
    chosen = list(needed)
    home = needed[0].domain
    same = [t for t in pool.offered if t.domain == home and t not in chosen]
    other = [t for t in pool.offered if t.domain != home and t not in chosen]
    while len(chosen) < total and (same or other):
        source = same if same and (rng.random() < 0.5 or not other) else other
        chosen.append(source.pop(rng.randrange(len(source))))
    rng.shuffle(chosen)
    return chosen


def tool_call_tokens(calls: list[dict[str, Any]]) -> int:
    """A ``max_new_tokens`` that fits the expected calls: JSON runs about 2.6 characters a token (2 at worst)."""
    characters = len("\n".join(format_tool_call(c) for c in calls))
    return max(64, 32 * math.ceil((characters / 2 + 8) / 32))


def _call(rng: random.Random, tool: Tool, optional: int | None = None) -> tuple[dict[str, Any], str]:
    arguments, phrase = q.action_phrase(tool, rng, optional)
    return {"name": tool.name, "arguments": arguments}, phrase


def _exchange(rng: random.Random, calls: list[dict[str, Any]], tools: list[Tool]) -> tuple[list[dict], list[Result]]:
    """The assistant turn making ``calls`` and one tool message per call with its result."""
    ids = [f"call_{rng.getrandbits(32):08x}" for _ in calls]
    assistant = {
        "role": "assistant",
        "content": "",
        "tool_calls": [{"id": i, **c} for i, c in zip(ids, calls, strict=True)],
    }
    messages: list[dict[str, Any]] = [assistant]
    results = []
    for call_id, call, tool in zip(ids, calls, tools, strict=True):
        result = tool_result(rng, tool, domain(tool.domain), call["arguments"])
        results.append(result)
        messages.append({"role": "tool", "tool_call_id": call_id, "name": tool.name, "content": result.content})
    return messages, results


def _second(rng: random.Random, pool: Pool, first: Tool, tools: tuple[Tool, ...]) -> Tool:
    """Another tool than ``first``, from its domain half of the time."""
    same = [t for t in tools if t.domain == first.domain and t is not first]
    others = [t for t in tools if t is not first]
    return rng.choice(same if same and rng.random() < 0.5 else others)


def single_call(rng: random.Random, pool: Pool) -> dict[str, Any]:
    """One request, one expected call."""
    target = rng.choice(pool.targets)
    call, phrase = _call(rng, target)
    messages = [
        q.system(rng, q.TOOL_SYSTEM),
        {"role": "user", "content": q.request(rng, phrase)},
    ]
    return step(
        StepType.TOOL_CALL, target.domain, messages, offer(rng, pool, [target]), tool_call_tokens([call]), [call]
    )


def two_calls(rng: random.Random, pool: Pool) -> dict[str, Any]:
    """Two independent requests in one message; both calls expected, in the order asked."""
    first = rng.choice(pool.targets)
    second = _second(rng, pool, first, pool.targets)
    (call1, phrase1), (call2, phrase2) = _call(rng, first, 1), _call(rng, second, 1)
    user = q.two_requests(rng, phrase1, phrase2)
    messages = [q.system(rng, q.TOOL_SYSTEM), {"role": "user", "content": user}]
    calls = [call1, call2]
    return step(
        StepType.TOOL_CALL, first.domain, messages, offer(rng, pool, [first, second]), tool_call_tokens(calls), calls
    )


def _history(rng: random.Random, pool: Pool, target: Tool) -> tuple[Tool, list[dict[str, Any]]]:
    """An earlier request, its call, the result and the assistant's answer (no system message)."""
    earlier = _second(rng, pool, target, pool.offered)
    call, phrase = _call(rng, earlier)
    exchange, results = _exchange(rng, [call], [earlier])
    turns = [{"role": "user", "content": q.request(rng, phrase)}, *exchange]
    return earlier, [*turns, {"role": "assistant", "content": results[0].answer}]


def multi_turn_call(rng: random.Random, pool: Pool) -> dict[str, Any]:
    """A finished exchange (request, call, result, answer), then a new request whose call is expected."""
    target = rng.choice(pool.targets)
    earlier, history = _history(rng, pool, target)
    call, phrase = _call(rng, target)
    user = rng.choice(
        [
            q.request(rng, phrase),
            "Thanks. " + q.request(rng, phrase),
            f"Great, now {phrase}.",
            f"One more thing: {phrase}.",
        ]
    )
    messages = [q.system(rng, q.TOOL_SYSTEM), *history, {"role": "user", "content": user}]
    return step(
        StepType.TOOL_CALL,
        target.domain,
        messages,
        offer(rng, pool, [target, earlier]),
        tool_call_tokens([call]),
        [call],
    )


def final_answer(rng: random.Random, pool: Pool) -> dict[str, Any]:
    """A request, the call(s) made for it and their result(s): the model must answer from the results.

    Mostly one call; sometimes after an earlier exchange, sometimes two calls answered together.
    """
    target = rng.choice(pool.targets)
    shape = rng.random()
    history: list[dict[str, Any]] = []
    needed = [target]
    if shape < 0.15:
        earlier, history = _history(rng, pool, target)
        needed.append(earlier)
    if shape > 0.85:
        second = _second(rng, pool, target, pool.targets)
        (call1, phrase1), (call2, phrase2) = _call(rng, target, 1), _call(rng, second, 1)
        user, calls, called = q.two_requests(rng, phrase1, phrase2), [call1, call2], [target, second]
        needed.append(second)
    else:
        call, phrase = _call(rng, target)
        user, calls, called = q.request(rng, phrase), [call], [target]
    exchange, results = _exchange(rng, calls, called)
    messages = [
        q.system(rng, q.TOOL_SYSTEM),
        *history,
        {"role": "user", "content": user},
        *exchange,
    ]
    reference = "; ".join(r.reference for r in results)
    tokens = FINAL_ANSWER_TOKENS * len(calls)
    answer = " ".join(r.answer for r in results)  # the gold reply, as the history turns answer
    tools = offer(rng, pool, needed)
    return step(StepType.FINAL_ANSWER, target.domain, messages, tools, tokens, reference=reference, answer=answer)
