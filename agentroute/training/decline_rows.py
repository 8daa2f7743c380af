"""Rows for a pack's no-tool-fits head: held-out tool-call steps, the prompt varied as agents vary it.

Data v4 offers 4-12 tools under one of a few system prompts; agents offer one to three tools, with
their own system prompt or none. A head fitted on the data's prompts alone ranked hand-written
requests over such offers well but scored them all higher: most requests a tool fitted scored
above its threshold (``benchmarks/data/decline_ood.jsonl``, docs/route-packs.md). So half of the
rows are read from a smaller offer: one to three tools, every tool the step's gold calls use among
them, and a third of all rows without their system message. The label stays the step's: a step
whose tools do not fit keeps tools that do not fit, whichever of them remain.
"""

from __future__ import annotations

import random
from pathlib import Path

import torch

from agentroute.evaluation.steps import EvalStep
from agentroute.steps.prompt_states import prompt_hidden

ROWS_FILE = "decline_rows.safetensors"
VARIANT = "offer-1to3-half,no-system-third"  # in the cache key: rows of another recipe are recomputed


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


def decline_rows(model, steps: list[EvalStep], layer: int, seed: int, key: str, work: Path, progress) -> torch.Tensor:
    """[N, hidden]: the last prompt token's state after ``layer`` layers for each of ``steps``
    (prompts varied by ``varied_prompt``), cached in ``work`` under ``key`` (the steps' digest)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    cached = work / ROWS_FILE
    meta = {"steps": key, "layer": str(layer), "seed": str(seed), "variant": VARIANT}
    if cached.is_file():
        with safe_open(str(cached), "pt") as handle:
            if (handle.metadata() or {}) == meta:
                return handle.get_tensor("x")
    rng = random.Random(seed)
    hidden = []
    for i, step in enumerate(steps):
        messages, tools = varied_prompt(step, rng)
        hidden.append(prompt_hidden(model.parts, model.encode(messages, tools), layer)[-1])
        progress("no-tool-fits head: prompt states", i + 1, len(steps))
    rows = torch.stack(hidden)
    save_file({"x": rows}, str(cached), metadata=meta)
    return rows
