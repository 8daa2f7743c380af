"""Rows for a pack's no-tool-fits head: held-out tool-call steps, the prompt varied as agents vary it.

Data v4 offers 4-12 tools under one of a few system prompts; agents offer one to three tools, with
their own system prompt or none. A head fitted on the data's prompts alone ranked hand-written
requests over such offers well but scored them all higher: most requests a tool fitted scored
above its threshold (``benchmarks/data/decline_ood.jsonl``, docs/route-packs.md). So half of the
rows are read from a smaller offer: one to three tools, every tool the step's gold calls use among
them, and a third of all rows without their system message. The label stays the step's: a step
whose tools do not fit keeps tools that do not fit, whichever of them remain. Further rows put a
request whose tools fit beside another step's unrelated tools (``foreign_offers``), labelled "no
tool fits".
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from agentroute.evaluation.steps import EvalStep
from agentroute.steps.prompt_states import prompt_hidden

ROWS_FILE = "decline_rows.safetensors"
VARIANT = "offer-1to3-half,no-system-third"  # in the cache key: rows of another recipe are recomputed
FOREIGN_FILE = "decline_foreign_rows.safetensors"
FOREIGN_VARIANT = "foreign-1to3,no-system-third"
QUESTIONS_FILE = "decline_question_rows.safetensors"


def varied_prompt(step: EvalStep, rng: random.Random) -> tuple[list[dict], list]:
    """(messages, tools) of the row read from ``step``."""
    messages, tools = step.messages, step.tools
    if rng.random() < 0.5:
        wanted = {call["name"] for call in step.expected or []}
        kept = [t for t in tools if t.name in wanted]
        others = [t for t in tools if t.name not in wanted]
        size = max(len(kept), rng.randint(1, 3))
        kept += rng.sample(others, min(size - len(kept), len(others)))
        rng.shuffle(kept)
        tools = kept
    if rng.random() < 1 / 3 and any(m["role"] == "system" for m in messages):
        messages = [m for m in messages if m["role"] != "system"]
    return messages, tools


def foreign_offers(steps: list[EvalStep], count: int, rng: random.Random) -> list[tuple[list[dict], list]]:
    """``count`` prompts that no offered tool fits: the request of a single-turn step whose tools fit,
    beside one to three tools of another step, none of which shares a name or a description (one
    starting with the other) with any tool the request's own step offers (so none is the tool it needs, under
    any of the data's names). A third of them without their system message, as ``varied_prompt``.

    The data's no-tool-fits rows mostly offer near misses from the request's own domain, and heads
    fitted on them scored "Translate 'good morning' into French." beside a weather tool no higher
    than "What's the weather in Paris?" (0.84 against 0.82 under one pack)."""
    asked = [s for s in steps if s.expected and all(m["role"] in ("system", "user") for m in s.messages)]
    offers: list[tuple[list[dict], list]] = []
    for _ in range(50 * count):
        if len(offers) == count or not asked:
            break
        request, other = rng.choice(asked), rng.choice(steps)
        if any(_same_tool(a, b) for a in request.tools for b in other.tools):
            continue  # the other step shares a tool with this one: perhaps the one it needs
        tools = rng.sample(other.tools, min(len(other.tools), rng.randint(1, 3)))
        messages = request.messages
        if rng.random() < 1 / 3:
            messages = [m for m in messages if m["role"] != "system"]
        offers.append((messages, tools))
    return offers


def _same_tool(a, b) -> bool:
    """Whether two offered tools may be one tool under two of the data's schema styles: the same
    name, or one description starting with the other (restyled descriptions extend the original)."""
    if a.name == b.name:
        return True
    x, y = a.description.strip().lower().rstrip("."), b.description.strip().lower().rstrip(".")
    return bool(x and y) and (x.startswith(y) or y.startswith(x))


def decline_rows(model, steps: list[EvalStep], layer: int, seed: int, key: str, work: Path, progress) -> torch.Tensor:
    """[N, hidden]: the last prompt token's state after ``layer`` layers for each of ``steps``
    (prompts varied by ``varied_prompt``), cached in ``work`` under ``key`` (the steps' digest)."""
    rng = random.Random(seed)
    return _varied_rows(model, steps, layer, seed, rng, key, work / ROWS_FILE, progress, "prompt states")


def foreign_rows(
    model, steps: list[EvalStep], count: int, layer: int, seed: int, key: str, work: Path, progress
) -> torch.Tensor:
    """[M, hidden] (M <= ``count``): states of ``foreign_offers`` from ``steps``, all "no tool fits";
    cached in ``work`` like ``decline_rows``."""
    prompts = foreign_offers(steps, count, random.Random(f"{seed}:foreign"))
    meta = {"steps": key, "layer": str(layer), "seed": str(seed), "variant": FOREIGN_VARIANT, "count": str(count)}
    return _states(model, prompts, layer, meta, work / FOREIGN_FILE, progress, "no-tool-fits head: foreign offers")


def question_rows(model, steps: list[EvalStep], layer: int, seed: int, key: str, work: Path, progress) -> torch.Tensor:
    """[len(steps), hidden]: states of question-call steps (a question an offered tool answers: a tool
    fits), prompts varied by ``varied_prompt``, cached in ``work``. The data's tool-call requests are
    instructions and its questions mostly no-tool-fits rows ("What does FAQ stand for?"), so a head
    fitted without these declined "What is 23 * 19 - 7?" beside a calculator (P 0.98)."""
    rng = random.Random(f"{seed}:questions")
    return _varied_rows(model, steps, layer, seed, rng, key, work / QUESTIONS_FILE, progress, "question calls")


def _varied_rows(
    model, steps: list[EvalStep], layer: int, seed: int, rng: random.Random, key: str, cached: Path, progress, what: str
) -> torch.Tensor:
    """States of ``steps`` with prompts varied by ``varied_prompt`` (drawn from ``rng``), cached in
    ``cached`` under the steps' digest ``key``, the layer and the seed."""
    prompts = [varied_prompt(step, rng) for step in steps]
    meta = {"steps": key, "layer": str(layer), "seed": str(seed), "variant": VARIANT}
    return _states(model, prompts, layer, meta, cached, progress, f"no-tool-fits head: {what}")


def _states(model, prompts, layer: int, meta: dict[str, str], cached: Path, progress, label: str) -> torch.Tensor:
    from safetensors import safe_open
    from safetensors.torch import save_file

    if cached.is_file():
        with safe_open(str(cached), "pt") as handle:
            if (handle.metadata() or {}) == meta:
                return handle.get_tensor("x")
    hidden = []
    for i, (messages, tools) in enumerate(prompts):
        hidden.append(prompt_hidden(model.parts, model.encode(messages, tools), layer)[-1])
        progress(label, i + 1, len(prompts))
    rows = torch.stack(hidden) if hidden else torch.empty(0, model.hf_model.config.hidden_size)
    save_file({"x": rows.contiguous()}, str(cached), metadata=meta)
    return rows
