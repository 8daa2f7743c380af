"""Pairs that teach the step-type head when a question is a tool call: ``data build --train-question-calls``.

In the splits every tool-call request is an instruction ("Can you check the forecast for Oslo?")
and every question with numbers is a reasoning step beside tools that cannot answer it, so a head
fitted on them learns "a question is reasoning" and sends an agent's "What is 17.5 * 48 + 12?"
beside a calculator to words (docs/route-packs.md, "Why it is not the default"). Each pair here
offers the same tools under the same system prompt to:

* a tool-call step whose request is a question an offered tool answers: a lookup asked as a
  question (the action's ``asks`` stems: "How long will it take to get from Union Station to
  Pier 39?") or a word problem of ``reasoning``'s families beside a tool that computes its answer
  (``percent_change`` for "By what percent did it change?"), with the expected call;
* a reasoning step whose question none of them answers: a word problem of the domain, beside the
  same lookup tools, or beside the calculating tool of another family (a near miss).

Only the request, and whether an offered tool answers it, tells the two apart. The tools come from
the train pool; calculating tools are not in the catalogue (no split offers them), so the splits
keep their bytes. The demo's tools (a general calculator, a unit converter, date arithmetic, a
handbook search) are left out on purpose, so the demo stays a check on tools the data never shows;
the nearest here are the catalogue's currency and cooking-unit converters, asked as questions.
"""

from __future__ import annotations

import random
from typing import Any

from agentroute.data import phrasing as ph
from agentroute.data import queries as q
from agentroute.data import reasoning as rs
from agentroute.data import splits as sp
from agentroute.data.catalogue import Tool, domain
from agentroute.data.text_steps import REASONING_TOKENS
from agentroute.data.tool_steps import step, tool_call_tokens
from agentroute.steps.records import StepType

# A lookup asked as a question: {q} is the ask stem with the arguments' phrases.
QUESTION = ("{Q}?", "Quick question: {q}?", "Hey, {q}?", "{Q}? Thanks.", "I'd like to know: {q}?", "So {q}?")
# System prompts of agents that may call tools or answer (shared by both steps of a pair).
SYSTEM = q.AGENT_SYSTEM + q.TOOL_SYSTEM[:1]
LOOKUP_SHARE = 0.5  # pairs built around a lookup question (the rest around a word problem)
MAX_OTHER_TOOLS = 3  # tools of the domain offered beside the answering one

_NUMBER = {"type": "number"}
_INT = {"type": "integer"}
_TIME = {"type": "string", "description": "Time of day (24-hour HH:MM)", "pattern": r"^\d{2}:\d{2}$"}
# Tools that compute a word problem's answer, per ``reasoning`` family: names a toolkit might use,
# a description, and the schema of the family's ``facts`` (parameters the question may leave out
# are optional). Families without one ("why" questions, comparisons of listed values) only ever
# appear as the reasoning side.
CALCULATORS: dict[str, tuple[tuple[str, ...], str, dict[str, dict], tuple[str, ...]]] = {
    "discount_total": (
        ("order_total", "calculate_order_total", "quote_discounted_total"),
        "Total price of an order of identical items after a percentage discount, plus an optional flat fee",
        {"quantity": _INT, "unit_price": _NUMBER, "discount_percent": _NUMBER, "fee": _NUMBER},
        ("quantity", "unit_price", "discount_percent"),
    ),
    "split_cost": (
        ("split_bill", "split_cost_per_person", "share_expense"),
        "Each person's share of a purchase of identical items, with an optional tip percentage on top",
        {"quantity": _INT, "unit_price": _NUMBER, "people": _INT, "tip_percent": _NUMBER},
        ("quantity", "unit_price", "people"),
    ),
    "compare_plans": (
        ("compare_pricing_plans", "cheapest_plan", "compare_plan_costs"),
        "Which of two plans is cheaper for a number of units: a flat price, or a base fee plus a price per unit",
        {"flat_price": _NUMBER, "base_fee": _NUMBER, "unit_price": _NUMBER, "units": _INT},
        ("flat_price", "base_fee", "unit_price", "units"),
    ),
    "duration": (
        ("time_between", "duration_between_times", "elapsed_time"),
        "Length of time between a start time and an end time on the same day",
        {"start": _TIME, "end": _TIME},
        ("start", "end"),
    ),
    "latest_start": (
        ("latest_start_time", "backward_schedule", "compute_leave_time"),
        "Latest time to start so that work, setup and optional travel are done by a deadline",
        {"deadline": _TIME, "work_minutes": _INT, "setup_minutes": _INT, "travel_minutes": _INT},
        ("deadline", "work_minutes", "setup_minutes"),
    ),
    "percent_change": (
        ("percent_change", "calculate_percent_change", "relative_change"),
        "Percentage change from a previous value to a current value",
        {"before": _NUMBER, "after": _NUMBER},
        ("before", "after"),
    ),
}


def calculator_spec(family: str, rng: random.Random) -> dict[str, Any]:
    """The tool spec that computes ``family``'s answer, under one of its names."""
    names, description, properties, required = CALCULATORS[family]
    parameters = {"type": "object", "properties": properties, "required": list(required)}
    return {
        "name": rng.choice(names),
        "description": description,
        "parameters": {**parameters, "additionalProperties": False},
    }


class _Spec:
    """A tool given by its spec alone (what ``tool_steps.step`` reads of a tool)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec


def _family(name: str):
    return next(f for f in rs.FAMILIES if f.__name__ == name)


def _lookup_pair(rng: random.Random, tools_pool: tuple[Tool, ...]) -> tuple[dict, dict]:
    target = rng.choice([t for t in tools_pool if t.action.asks])
    arguments, phrases = target.sample_arguments(rng, rng.randint(0, 1))
    asked = " ".join([rng.choice(target.action.asks), *phrases])
    question = rng.choice(QUESTION).format(q=asked, Q=ph.capitalize(asked))
    others = [t for t in tools_pool if t.domain == target.domain and t is not target]
    tools: list[Any] = [target, *rng.sample(others, min(len(others), rng.randint(0, MAX_OTHER_TOOLS)))]
    rng.shuffle(tools)
    word_problem = rs.reasoning_question(rng, domain(target.domain))[0]
    call = {"name": target.name, "arguments": arguments}
    return _pair(rng, target.domain, question, call, word_problem, tools)


def _calculation_pair(rng: random.Random, tools_pool: tuple[Tool, ...]) -> tuple[dict, dict]:
    name = rng.choice(sorted({t.domain for t in tools_pool}))
    d = domain(name)
    family = rng.choice(sorted(CALCULATORS))
    problem = _family(family)(rng, d)
    spec = calculator_spec(family, rng)
    # The reasoning side: another family's question, so the calculator offered is a near miss.
    other = rng.choice([f for f in rs.FAMILIES if f.__name__ != family])(rng, d)
    home = [t for t in tools_pool if t.domain == name]
    tools: list[Any] = [_Spec(spec), *rng.sample(home, min(len(home), rng.randint(0, MAX_OTHER_TOOLS)))]
    rng.shuffle(tools)
    call = {
        "name": spec["name"],
        "arguments": {k: problem.facts[k] for k in spec["parameters"]["properties"] if k in problem.facts},
    }
    return _pair(rng, name, problem.question, call, other.question, tools)


def _pair(rng, name: str, question: str, call: dict, word_problem: str, tools: list) -> tuple[dict, dict]:
    system = {"role": "system", "content": rng.choice(SYSTEM)}
    asked = [system, {"role": "user", "content": question}]
    reasoned = [system, {"role": "user", "content": word_problem}]
    tool_step = step(StepType.TOOL_CALL, name, asked, tools, tool_call_tokens([call]), [call], category="question_call")
    return tool_step, step(StepType.REASONING, name, reasoned, tools, REASONING_TOKENS)


def question_call_pairs(pairs: int, seed: int, namespace: str) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """``pairs`` pairs from the train pool; ids ``qc-train-00000-tool_call`` and ``...-reasoning``."""
    rng = random.Random(f"{namespace}:{seed}:train_question_calls")
    tools_pool = sp.pools()["train"].targets
    out: list[dict[str, Any]] = []
    kinds = {"lookup": 0, "calculation": 0}
    for number in range(pairs):
        lookup = rng.random() < LOOKUP_SHARE
        kinds["lookup" if lookup else "calculation"] += 1
        asked, reasoned = (_lookup_pair if lookup else _calculation_pair)(rng, tools_pool)
        out += [
            {"id": f"qc-train-{number:05d}-tool_call", **asked, "schema_style": "catalogue"},
            {"id": f"qc-train-{number:05d}-reasoning", **reasoned, "schema_style": "catalogue"},
        ]
    stats = {
        "pairs": pairs,
        "kinds": kinds,
        "pairing": "each pair offers the same tools in the same order under the same system prompt: a question an "
        "offered tool answers (tool_call, category question_call) and one none answers (reasoning)",
        "calculating_tools": sorted(CALCULATORS),
        "source": "train domains and tools only; calculating tools are not in the catalogue",
    }
    return out, stats
