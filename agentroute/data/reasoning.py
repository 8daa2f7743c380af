"""Reasoning questions: word problems, comparisons and "why" questions that carry all the facts needed.

Each family uses a domain's words (what is bought, what is scheduled, what is measured) and returns
a ``Problem``: the question, a reference answer computed from the same numbers, and those numbers
(``facts``), which ``question_calls`` passes to a tool that computes the answer.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any, NamedTuple

from agentroute.data import phrasing as ph
from agentroute.data.catalogue import Domain


class Problem(NamedTuple):
    question: str
    reference: str
    facts: dict[str, Any]  # the numbers the question gives, by argument name ({} for "why" questions)


def _money(x: float) -> str:
    return f"${x:,.2f}"


def _clock(minutes: int) -> str:
    return ph.hhmm(minutes // 60, minutes % 60)


def _length(minutes: int) -> str:
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if hours else f"{rest} min"


def discount_total(rng: random.Random, d: Domain) -> Problem:
    one, many, lo, hi = d.goods
    n, price, off, fee = rng.randint(2, 9), rng.randint(lo, hi), rng.choice((10, 15, 20, 25)), rng.choice((0, 5, 12))
    total = n * price * (100 - off) / 100 + fee
    fee_text = f" and a flat {_money(fee)} service fee is added after the discount" if fee else ""
    question = (
        f"I'm buying {ph.words(n)} {many} at {_money(price)} each. There is a {off}% discount on the whole "
        f"order{fee_text}. What do I pay in total?"
    )
    facts = {"quantity": n, "unit_price": price, "discount_percent": off, **({"fee": fee} if fee else {})}
    return Problem(question, _money(total), facts)


def split_cost(rng: random.Random, d: Domain) -> Problem:
    one, many, lo, hi = d.goods
    n, price, people = rng.randint(2, 8), rng.randint(lo, hi), rng.randint(2, 6)
    tip = rng.choice((0, 10, 18))
    total = n * price * (100 + tip) / 100
    extra = f", plus a {tip}% tip on top" if tip else ""
    question = (
        f"{ph.capitalize(ph.words(people))} of us share the cost of {n} {many} at {_money(price)} each{extra}. "
        "How much does each person pay?"
    )
    facts = {"quantity": n, "unit_price": price, "people": people, **({"tip_percent": tip} if tip else {})}
    return Problem(question, _money(total / people), facts)


def compare_plans(rng: random.Random, d: Domain) -> Problem:
    one, many, lo, hi = d.goods
    per = rng.randint(lo, hi)
    flat = per * rng.randint(3, 8) + rng.randint(1, 20)
    base, reduced = rng.randint(5, 30), max(1, per // rng.choice((2, 3)))
    n = rng.randint(2, 12)
    a, b = flat, base + reduced * n
    question = (
        f"Plan A costs a flat {_money(a)} for unlimited {many}. Plan B costs {_money(base)} plus "
        f"{_money(reduced)} per {one}. I need {n} {many}. Which plan is cheaper, and by how much?"
    )
    facts = {"flat_price": a, "base_fee": base, "unit_price": reduced, "units": n}
    if a == b:
        return Problem(question, "they cost the same", facts)
    return Problem(question, f"Plan {'A' if a < b else 'B'}, by {_money(abs(a - b))}", facts)


def duration(rng: random.Random, d: Domain) -> Problem:
    start = rng.randint(6 * 60, 15 * 60) // 5 * 5
    length = rng.randint(20, 400) // 5 * 5
    end = start + length
    question = (
        f"{ph.capitalize(d.event)} starts at {ph.say_time(rng, start // 60, start % 60)} and ends at "
        f"{ph.say_time(rng, end // 60, end % 60)}. How long does it last?"
    )
    return Problem(question, _length(length), {"start": _clock(start), "end": _clock(end)})


def latest_start(rng: random.Random, d: Domain) -> Problem:
    deadline = rng.randint(11 * 60, 21 * 60) // 15 * 15
    work, setup, travel = rng.randint(30, 180) // 5 * 5, rng.choice((10, 15, 20)), rng.choice((0, 15, 25, 40))
    start = deadline - work - setup - travel
    trip = f" and it takes {travel} minutes to get there" if travel else ""
    question = (
        f"{ph.capitalize(d.event)} must be finished by {ph.say_time(rng, deadline // 60, deadline % 60)}. "
        f"It takes {_length(work)}, setup takes {setup} minutes{trip}. What is the latest time I can leave "
        "or start preparing?"
    )
    facts = {"deadline": _clock(deadline), "work_minutes": work, "setup_minutes": setup}
    return Problem(question, _clock(start), {**facts, **({"travel_minutes": travel} if travel else {})})


def percent_change(rng: random.Random, d: Domain) -> Problem:
    field, lo, hi = d.metric
    before = rng.randint(max(1, int(lo)) * 10, max(2, int(hi)) * 10) / 10
    after = round(before * rng.uniform(0.6, 1.5), 1)
    change = (after - before) / before * 100
    name = field.replace("_", " ")
    question = (
        f"Last month the {name} was {ph.say_number(before)}; this month it is {ph.say_number(after)}. "
        "By what percent did it change?"
    )
    facts = {"before": ph.plain_number(before), "after": ph.plain_number(after)}
    return Problem(question, f"{change:+.1f}%", facts)


def best_of(rng: random.Random, d: Domain) -> Problem:
    field, lo, hi = d.metric
    names = rng.sample(list(d.items), min(3, len(d.items)))
    if len(names) < 2:
        return percent_change(rng, d)
    values = rng.sample(range(int(lo * 10), int(hi * 10) + 2), len(names))
    values = [x / 10 for x in values]
    listed = ph.join_and([f"{n} has {ph.say_number(x)}" for n, x in zip(names, values, strict=True)])
    want = rng.choice(("highest", "lowest"))
    pick = names[values.index(max(values) if want == "highest" else min(values))]
    question = f"Compare these: {listed} ({field.replace('_', ' ')}). Which one has the {want} value, and why?"
    return Problem(question, pick, {})


def why_total(rng: random.Random, d: Domain) -> Problem:
    one, many, lo, hi = d.goods
    n, price, tax = rng.randint(2, 6), rng.randint(lo, hi), rng.choice((5, 8, 10, 20))
    total = n * price * (100 + tax) / 100
    question = (
        f"One {one} is listed at {_money(price)}, but my receipt says {_money(total)}. I bought {n} of them "
        f"and the sales tax is {tax}%. Why is the total so much higher than the listed price?"
    )
    return Problem(question, f"{n} x {_money(price)} = {_money(n * price)}, plus {tax}% tax = {_money(total)}", {})


def why_no_fit(rng: random.Random, d: Domain) -> Problem:
    free_from = rng.randint(9, 14) * 60
    free_to = free_from + rng.choice((120, 150, 180))
    busy_from = free_from + rng.choice((30, 45, 60))
    busy_to = busy_from + rng.choice((30, 45, 60))
    gap = max(busy_from - free_from, free_to - busy_to)
    need = gap + rng.choice((15, 30))
    question = (
        f"I'm free from {_clock(free_from)} to {_clock(free_to)} except for a call from {_clock(busy_from)} "
        f"to {_clock(busy_to)}. Why can't I fit {d.event}, which needs {need} uninterrupted minutes, in "
        "that window?"
    )
    return Problem(question, f"the longest free gap is {gap} minutes, less than {need}", {})


FAMILIES: tuple[Callable[[random.Random, Domain], Problem], ...] = (
    discount_total,
    split_cost,
    compare_plans,
    duration,
    latest_start,
    percent_change,
    best_of,
    why_total,
    why_no_fit,
)


def reasoning_question(rng: random.Random, d: Domain) -> tuple[str, str]:
    """A question about domain ``d`` and its reference answer."""
    problem = rng.choice(FAMILIES)(rng, d)
    return problem.question, problem.reference
