"""Training-free baselines at a fixed layer count, from the full-depth pass over the search's dev steps.

* ``angular_block``: remove the contiguous block whose input and output hidden states (at the last
  prompt token) are closest in angular distance (Gromov et al., "The Unreasonable Ineffectiveness
  of the Deeper Layers").
* ``block_influence``: remove the layers that turn the residual stream least (ShortGPT), the same
  rule as the built-in budget baseline (``calibration``) but measured on the same dev steps.
* ``early_exit``: the first ``keep`` layers, then the final norm and LM head - what
  ``transformers``' ``assistant_early_exit`` drafts with.
* ``random_skips``: uniformly random layers removed, seeded.

Protected layers (the policy's, by default the first and the last) are kept by every method that
chooses layers; early exit by definition drops the last ones.
"""

from __future__ import annotations

import math
import random

import torch

from agentroute.model.calibration import program_for_budget
from agentroute.model.program import LayerProgram
from agentroute.search.fidelity import LayerStats


def layers_for_budget(n_layers: int, budget: float) -> int:
    """Layer evaluations per token a budget allows (the same rounding as ``program_for_budget``)."""
    return max(math.floor(budget * n_layers + 1e-9), 1)


def angular_block(stats: LayerStats, n_layers: int, keep: int, protected: set[int]) -> LayerProgram:
    drop = n_layers - keep
    if drop <= 0:
        return LayerProgram.full(n_layers)
    best, best_start = math.inf, None
    for start in range(n_layers - drop + 1):
        if any(layer in protected for layer in range(start, start + drop)):
            continue
        distance = 0.0
        for inputs in stats.last_inputs:
            cos = torch.nn.functional.cosine_similarity(inputs[start], inputs[start + drop], dim=0)
            distance += float(torch.arccos(cos.clamp(-1, 1))) / math.pi
        if distance < best:
            best, best_start = distance, start
    if best_start is None:
        raise ValueError(f"no block of {drop} layers avoids the protected layers {sorted(protected)}")
    return LayerProgram.skip(n_layers, range(best_start, best_start + drop))


def block_influence(stats: LayerStats, n_layers: int, keep: int, protected: set[int]) -> LayerProgram:
    return program_for_budget(stats.influence, keep / n_layers, protected)


def early_exit(n_layers: int, keep: int) -> LayerProgram:
    return LayerProgram(tuple(range(keep)), n_layers)


def random_skips(n_layers: int, keep: int, protected: set[int], seed: int, count: int) -> list[LayerProgram]:
    rng = random.Random(seed)
    droppable = [i for i in range(n_layers) if i not in protected]
    return [LayerProgram.skip(n_layers, rng.sample(droppable, n_layers - keep)) for _ in range(count)]
