"""How requests, plans and replies are worded: paraphrase templates and the texts around them."""

from __future__ import annotations

import random
from typing import Any

from agentroute.data import phrasing as ph
from agentroute.data.catalogue import Tool

# A request: {v} is the action's verb phrase with its arguments' phrases ("book a table at Nopa for four").
REQUEST = (
    "{V}.",
    "Please {v}.",
    "Can you {v}?",
    "Could you {v}, please?",
    "I need you to {v}.",
    "I'd like you to {v}.",
    "Hey, {v}.",
    "Would you {v}?",
    "{V}, thanks.",
    "Quick one: {v}.",
)
# Two requests in one message.
TWO_REQUESTS = (
    "{V1}, and also {v2}.",
    "Please {v1}. Also, {v2}.",
    "Two things: {v1}, and {v2}.",
    "Can you {v1} and then {v2}?",
    "{V1}. After that, {v2}.",
)
# Three or more requests in one message: {first} capitalised, {rest} the others joined.
SEVERAL_REQUESTS = (
    "{First}, {rest}.",
    "Please {first}, {rest}.",
    "A few things: {first}, {rest}.",
    "Can you {first}, {rest}?",
)
TOOL_SYSTEM = (
    "You are a helpful assistant. Use the tools when a request needs them.",
    "You are an assistant that can act through tools. Call the right tool with exact arguments.",
    "You help users by calling tools. Convert dates to YYYY-MM-DD and times to 24-hour HH:MM.",
)
PLAN_SYSTEM = (
    "You are a planning agent. Before calling any tool, write a short numbered plan of the steps and "
    "the tools you would use. Do not call tools yet.",
    "Plan first: list the steps needed to reach the user's goal, in order, one line each. No tool calls in this reply.",
    "You are an agent that plans before acting. Reply with a numbered plan only.",
)
REASON_SYSTEM = (
    "You are a careful assistant. Think step by step, then give the final answer.",
    "Reason through the problem briefly and state the answer clearly.",
    "Answer the question. Show the key steps of your reasoning.",
)
# System prompts that say nothing about the step's type. Real agents keep one system prompt for a
# whole episode (tool calls, plans, answers alike), so half of every step type gets one of these:
# with type-specific prompts only, a router learns the system prompt, not the request.
AGENT_SYSTEM = (
    "You are a helpful assistant.",
    "You are a helpful AI agent. Help the user with their request.",
    "You are an assistant with access to tools. Be accurate and concise.",
    "You are a capable assistant: you answer questions, make plans and use tools when they help.",
    "You work for the user. Keep replies short and correct.",
    "You are a friendly, precise assistant for everyday tasks.",
)
NEUTRAL_SHARE = 0.5
PLAN_GOALS = (
    "I want to {goal}. Here is what needs to happen: {steps}. Make a plan before doing anything.",
    "Help me {goal}. I need to {steps}. What is the plan?",
    "My goal: {goal}. Steps involved: {steps}. Lay out the plan in order.",
    "Before you start, plan how to {goal}: {steps}.",
    "We have to {goal} this week - {steps}. Write the plan first.",
)
OPEN_GOALS = (
    "I need to {goal} and I'm not sure where to start. Plan it out for me.",
    "What would be a good step-by-step plan to {goal}?",
    "Put together a plan to {goal}. Think about what to check first and what can wait.",
)


def action_phrase(tool: Tool, rng: random.Random, optional: int | None = None) -> tuple[dict[str, Any], str]:
    """Arguments for one call of ``tool`` and the words that ask for it ("book a table at Nopa for four ...").

    Required phrases keep their declared order (it reads naturally); optional ones follow, shuffled.
    """
    arguments, phrases = tool.sample_arguments(rng, optional)
    required = len(tool.action.required)
    tail = phrases[required:]
    rng.shuffle(tail)
    verb = rng.choice(tool.action.verbs)
    return arguments, " ".join([verb, *phrases[:required], *tail])


def system(rng: random.Random, specific: tuple[str, ...]) -> dict[str, str]:
    """The step's system message: a type-neutral one (``NEUTRAL_SHARE`` of the time) or one of ``specific``."""
    return {"role": "system", "content": rng.choice(AGENT_SYSTEM if rng.random() < NEUTRAL_SHARE else specific)}


def request(rng: random.Random, phrase: str) -> str:
    template = rng.choice(REQUEST)
    return template.format(v=phrase, V=ph.capitalize(phrase))


def two_requests(rng: random.Random, first: str, second: str) -> str:
    template = rng.choice(TWO_REQUESTS)
    return template.format(v1=first, V1=ph.capitalize(first), v2=second)


def plan_request(rng: random.Random, goal: str, steps: list[str]) -> str:
    if not steps:
        return rng.choice(OPEN_GOALS).format(goal=goal)
    return rng.choice(PLAN_GOALS).format(goal=goal, steps=ph.join_and(steps))


def several_requests(rng: random.Random, phrases: list[str]) -> str:
    """Three or more requests in one message ("Play X, play Y and play Z.")."""
    first, rest = phrases[0], ph.join_and(phrases[1:])
    return rng.choice(SEVERAL_REQUESTS).format(first=first, First=ph.capitalize(first), rest=rest)
