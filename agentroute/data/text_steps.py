"""Builders of planning and reasoning steps (no tool call expected; tools are sometimes offered)."""

from __future__ import annotations

import random
from typing import Any

from agentroute.data import queries as q
from agentroute.data.catalogue import Tool, domain
from agentroute.data.reasoning import reasoning_question
from agentroute.data.tool_steps import MAX_TOOLS, Pool, step
from agentroute.steps.records import StepType

PLANNING_TOKENS = 128
REASONING_TOKENS = 128


def planning(
    rng: random.Random,
    pool: Pool,
    domain_name: str | None = None,
    tools: list[Tool] | None = None,
    subtasks: int | None = None,
) -> dict[str, Any]:
    """A multi-step goal in one domain; the request asks for a plan (the system prompt half the time too).

    Usually the goal lists two to four concrete sub-tasks (actions of the domain's tools, in order;
    their names are the ``reference``); a fifth of the time it is open (``subtasks=0`` forces that).
    ``tools`` fixes the offered tools (length-matched pairs); otherwise the domain's tools are
    offered 60% of the time.
    """
    name = domain_name or rng.choice(pool.domains)
    home = [t for t in pool.offered if t.domain == name]
    usable = [t for t in (tools or home) if t.domain == name] or home
    count = subtasks if subtasks is not None else 0 if rng.random() < 0.2 else rng.randint(2, 4)
    chosen = rng.sample(usable, min(len(usable), count or rng.randint(2, 4)))
    steps = [q.action_phrase(t, rng, 0)[1] for t in chosen] if count else []
    user = q.plan_request(rng, domain(name).goal, steps)
    messages = [q.system(rng, q.PLAN_SYSTEM), {"role": "user", "content": user}]
    if tools is None:
        tools = _some(rng, home, chosen) if rng.random() < 0.6 else []
    reference = " -> ".join(t.name for t in chosen) if steps else None
    return step(StepType.PLANNING, name, messages, tools, PLANNING_TOKENS, None, reference)


def reasoning(rng: random.Random, pool: Pool) -> dict[str, Any]:
    """A word problem, comparison or "why" question with every fact given; tools offered 25% of the time."""
    name = rng.choice(pool.domains)
    question, reference = reasoning_question(rng, domain(name))
    messages = [q.system(rng, q.REASON_SYSTEM), {"role": "user", "content": question}]
    home = [t for t in pool.offered if t.domain == name]
    tools = _some(rng, home, []) if rng.random() < 0.25 else []
    return step(StepType.REASONING, name, messages, tools, REASONING_TOKENS, None, reference)


def _some(rng: random.Random, home: list[Tool], chosen: list[Tool]) -> list[Tool]:
    """``chosen`` plus more of the domain's tools, 2..``MAX_TOOLS`` in all, shuffled."""
    rest = [t for t in home if t not in chosen]
    extra = max(0, min(len(rest), rng.randint(2, MAX_TOOLS) - len(chosen)))
    tools = chosen[:MAX_TOOLS] + rng.sample(rest, extra)
    rng.shuffle(tools)
    return tools
