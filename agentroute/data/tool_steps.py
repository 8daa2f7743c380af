"""Builders of tool-call and final-answer steps: one call, several calls, after a history, no tool
that fits, answer a result.

A builder takes the split's ``Pool`` (which tools may be expected, which may be offered) and the
split's random generator, and returns a step without its ``id`` (the writer numbers them).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from agentroute.data import declines
from agentroute.data import queries as q
from agentroute.data.catalogue import Tool, domain
from agentroute.data.kinds import kinds
from agentroute.data.results import Result, tool_result
from agentroute.steps.records import StepType
from agentroute.steps.tools import format_tool_call

FINAL_ANSWER_TOKENS = 64
DECLINE_TOKENS = 64  # a text reply where no tool fits
MANY_TOOLS = (4, 8, 12)  # least, usual most and rare most of the tools a step offers (v3: 2-5)
MAX_TOOLS = MANY_TOOLS[1]  # most tools a planning or reasoning step offers (v3: 5)
NEAR_MISS = 0.7  # chance that a distractor comes from the needed tool's domain (v3: 0.5)
SIMPLE_SHARE = 0.25  # single-call steps of v4 that offer the one tool needed ("simple"), not a choice


@dataclass(frozen=True)
class Pool:
    """The tools a split may use: ``targets`` may be expected, ``offered`` may be distractors or history."""

    targets: tuple[Tool, ...]
    offered: tuple[Tool, ...]
    held_out: bool = False  # the test split: fixed texts (small talk) come from its own pool

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
    category: str | None = None,
) -> dict[str, Any]:
    """A step in the line format ``agentroute eval`` reads (without its id); ``category`` is the
    skill it tests (``simple``, ``multiple``, ``parallel``, ``no_tool_fits``, ...; default: its type)."""
    out: dict[str, Any] = {"step_type": step_type.value, "domain": domain_name, "messages": messages}
    out["category"] = category or step_type.value
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


def offer(rng: random.Random, pool: Pool, needed: list[Tool], without: Tool | None = None) -> list[Tool]:
    """``needed`` plus distractors, 4-8 tools in all (4-12 one time in ten), shuffled. A distractor
    comes from the home domain (the first needed tool's, or ``without``'s) with probability 0.7
    while that domain has tools left: near misses that differ from the needed tool in what they
    do, not in topic. ``without`` is never offered (the tool a no-tool-fits request would need)."""
    needed = list(dict.fromkeys(needed))  # a history call may use the same tool as a later one
    least, usual, rare = MANY_TOOLS
    most = rare if rng.random() < 0.1 else usual
    total = rng.randint(max(least, len(needed) + 1), max(most, len(needed) + 1))
    chosen = list(needed)
    home = needed[0].domain if needed else without.domain
    same = [t for t in pool.offered if t.domain == home and t not in chosen and t is not without]
    other = [t for t in pool.offered if t.domain != home and t not in chosen and t is not without]
    while len(chosen) < total and (same or other):
        source = same if same and (rng.random() < NEAR_MISS or not other) else other
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
    """One request, one expected call: a quarter offer that tool alone ("simple"), the rest 4-12
    tools with near misses ("multiple")."""
    target = rng.choice(pool.targets)
    call, phrase = _call(rng, target)
    messages = [q.system(rng, q.TOOL_SYSTEM), {"role": "user", "content": q.request(rng, phrase)}]
    simple = rng.random() < SIMPLE_SHARE
    tools = [target] if simple else offer(rng, pool, [target])
    category = "simple" if simple else "multiple"
    return step(StepType.TOOL_CALL, target.domain, messages, tools, tool_call_tokens([call]), [call], category=category)


def parallel_calls(rng: random.Random, pool: Pool) -> dict[str, Any]:
    """Several requests in one message, all answered by calls in one reply: the same tool with 2-3
    argument sets (two thirds of the steps) or two different tools."""
    first = rng.choice(pool.targets)
    if rng.random() < 2 / 3:
        targets = [first] * rng.choice((2, 2, 3))
    else:
        targets = [first, _second(rng, pool, first, pool.targets)]
    calls, phrases = [], []
    for tool in targets:
        for _ in range(10):  # the same tool twice with equal arguments would be one request
            call, phrase = _call(rng, tool, rng.randint(0, 1))
            if call not in calls:
                break
        calls.append(call)
        phrases.append(phrase)
    user = q.two_requests(rng, *phrases) if len(phrases) == 2 else q.several_requests(rng, phrases)
    messages = [q.system(rng, q.TOOL_SYSTEM), {"role": "user", "content": user}]
    tools = list(dict.fromkeys(targets)) if rng.random() < SIMPLE_SHARE else offer(rng, pool, targets)
    return step(StepType.TOOL_CALL, first.domain, messages, tools, tool_call_tokens(calls), calls, category="parallel")


def no_tool_fits(rng: random.Random, pool: Pool) -> dict[str, Any]:
    """A tool-call step whose reply is text, not a call: a request none of the offered tools serves
    (its own tool left out, near misses from its domain offered; 60%), small talk or a question the
    model answers itself (20%), or a request missing a required argument, asked back (20%)."""
    target = rng.choice(pool.targets)
    kind = rng.random()
    if kind < 0.6:
        _, phrase = _call(rng, target)
        tools = offer(rng, pool, [], without=target)
        user = q.request(rng, phrase)
        answer = declines.decline(rng, phrase, [t.spec["description"] for t in tools])
    elif kind < 0.8 or not target.action.required:
        tools = [target] if rng.random() < SIMPLE_SHARE else offer(rng, pool, [target])
        user, answer = declines.small_talk(rng, [t.spec["description"] for t in tools], pool.held_out)
    else:
        tools = [target] if rng.random() < SIMPLE_SHARE else offer(rng, pool, [target])
        user, answer = _missing_argument(rng, target)
    messages = [q.system(rng, q.TOOL_SYSTEM), {"role": "user", "content": user}]
    return step(
        StepType.TOOL_CALL, target.domain, messages, tools, DECLINE_TOKENS, [], answer=answer, category="no_tool_fits"
    )


def _missing_argument(rng: random.Random, tool: Tool) -> tuple[str, str]:
    """A request for ``tool`` that leaves out one required argument, and the question asking for it."""
    _, phrases = tool.sample_arguments(rng, 0)
    required = tool.action.required
    dropped = rng.randrange(len(required))
    kept = [p for i, p in enumerate(phrases) if i != dropped]
    phrase = " ".join([rng.choice(tool.action.verbs), *kept])
    props = kinds()[required[dropped]].props.items()  # a date range asks for both of its days
    description = " and ".join(
        (schema.get("description") or name.replace("_", " ")).split(" (")[0] for name, schema in props
    )
    return q.request(rng, phrase), declines.ask_back(rng, description)


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
        category="multi_turn",
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
