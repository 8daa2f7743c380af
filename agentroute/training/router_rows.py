"""The router's training rows (``agentroute train``, stage 4): step-type features, and per library
program whether its greedy tokens equal full depth's over a step's reply (safety labels), on train
steps the adapter never saw. Cached in ``OUT/work/router_rows.safetensors`` by the steps each block
came from, so a resumed run with the same steps computes none of them again.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import torch

from agentroute.evaluation.steps import EvalStep
from agentroute.model.program import LayerProgram
from agentroute.steps.records import StepType
from agentroute.steps.router_net import prompt_features, safety_columns
from agentroute.training.examples import full_prompt_example
from agentroute.training.router_fit import safety_labels

TYPE_ROWS = ("type_x", "type_y")
SAFE_ROWS = ("safe_x", "safe_t", "safe_y", "known")


def steps_key(steps: list[EvalStep]) -> str:
    """Which steps a cached block of router rows was computed from (their ids, in order)."""
    return hashlib.sha256("\n".join(s.id for s in steps).encode()).hexdigest()


def router_rows(model, split, teacher, library, types: list[StepType], router_layer: int, work: Path, progress):
    """Step-type rows and safety rows, cached in one file; each block is recomputed when the steps
    it came from change (the safety labels are the dear part: a pass per program per step).
    ``types``: the routed step types, in the order of the router's type head."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    cached = work / "router_rows.safetensors"
    full = LayerProgram.full(model.n_layers)
    columns, width = safety_columns(library, types)
    safe_steps = split["tool_router"] + split["teacher_router"]
    keys = {"type_steps": steps_key(split["type"]), "safe_steps": steps_key(safe_steps)}
    rows: dict[str, torch.Tensor] = {}
    if cached.is_file():
        with safe_open(str(cached), "pt") as handle:
            seen = handle.metadata() or {}
            for block, names in (("type_steps", TYPE_ROWS), ("safe_steps", SAFE_ROWS)):
                if seen.get(block) == keys[block]:
                    rows.update({name: handle.get_tensor(name) for name in names})
    if not all(name in rows for name in TYPE_ROWS):
        type_x, type_y = [], []
        for i, step in enumerate(split["type"]):
            type_x.append(prompt_features(model.parts, model.encode(step.messages, step.tools), router_layer))
            type_y.append(types.index(step.step_type))
            progress("router: step-type features", i + 1, len(split["type"]))
        rows.update(type_x=torch.stack(type_x), type_y=torch.tensor(type_y))
    if not all(name in rows for name in SAFE_ROWS):
        safe_x, safe_t, safe_y, known = [], [], [], []
        for i, step in enumerate(safe_steps):
            example = full_prompt_example(model, step, teacher)
            labels = safety_labels(model.parts, example, library[step.step_type], full)
            row, mask = torch.zeros(width), torch.zeros(width)
            row[columns[step.step_type]] = torch.tensor(labels, dtype=torch.float32)
            mask[columns[step.step_type]] = 1.0
            safe_x.append(prompt_features(model.parts, example.prompt_ids, router_layer))
            safe_t.append(types.index(step.step_type))
            safe_y.append(row)
            known.append(mask)
            progress("router: safety labels", i + 1, len(safe_steps))
        rows.update(
            safe_x=torch.stack(safe_x),
            safe_t=torch.tensor(safe_t),
            safe_y=torch.stack(safe_y),
            known=torch.stack(known),
        )
    save_file(rows, str(cached), metadata=keys)
    stats = {"type_rows": len(rows["type_y"])}
    for t in types:
        chosen = rows["safe_t"] == types.index(t)
        if chosen.any():
            rates = rows["safe_y"][chosen][:, columns[t]].mean(0)
            stats[f"safe_rate_{t.value}"] = [round(float(r), 3) for r in rates]
    return {
        "type": (rows["type_x"], rows["type_y"]),
        "safe": (rows["safe_x"], rows["safe_t"], rows["safe_y"], rows["known"]),
    }, stats
