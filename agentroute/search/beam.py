"""Training-free program search: a beam over layer removals, then loops at the same cost.

Skips: start from the full program and remove one layer per round; every child of every beam
program is scored (``FidelityScorer``) and the best ``width`` survive. The round that reaches k
layers yields the best skip program of cost k/n, so one descent serves every budget on its way.

Loops (PoLar: pretrained layers can be repeated as well as skipped): at a budget of k layers, take
the best skip program of k-1 layers and repeat one of its layers in place, which brings the cost
back to k. Such a program re-encodes the prompt with itself, so each candidate costs a prefill per
step: all of them are screened on a few steps and only the best few are scored on all of them.
The budget's program is the better of the best skip and the best loop; both are reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from agentroute.model.program import LayerProgram
from agentroute.search.fidelity import Fidelity, FidelityScorer


@dataclass(frozen=True)
class Scored:
    program: LayerProgram
    fidelity: Fidelity

    def to_dict(self) -> dict:
        return {"program": str(self.program), "cost": self.program.cost, "loops": self.program.loops,
                **self.fidelity.to_dict()}  # fmt: skip


def _best(scored: list[Scored], width: int) -> list[Scored]:
    # Ties broken by the program itself so the result never depends on dict or set order.
    return sorted(scored, key=lambda s: (s.fidelity.key(), s.program.layers), reverse=True)[:width]


def descend(
    scorer: FidelityScorer,
    min_layers: int,
    protected: set[int],
    width: int = 2,
    on_round: Callable[[int, Scored, float], None] | None = None,
) -> dict[int, Scored]:
    """Best skip program found for every layer count from n-1 down to ``min_layers``.

    ``on_round(layers, best, seconds)`` is called after each round with the seconds spent so far.
    """
    n = scorer.n_layers
    started = time.perf_counter()
    beam = [Scored(LayerProgram.full(n), Fidelity(1.0, 0.0))]
    seen: set[tuple[int, ...]] = set()
    best_at: dict[int, Scored] = {}
    for count in range(n - 1, min_layers - 1, -1):
        children: list[Scored] = []
        for parent in beam:
            scorer.set_trail(parent.program)
            for layer in parent.program.layers:
                if layer in protected:
                    continue
                child = LayerProgram(tuple(i for i in parent.program.layers if i != layer), n)
                if child.layers in seen:
                    continue
                seen.add(child.layers)
                children.append(Scored(child, scorer.score(child)))
        if not children:
            break  # only protected layers are left
        beam = _best(children, width)
        best_at[count] = beam[0]
        if on_round is not None:
            on_round(count, beam[0], time.perf_counter() - started)
    return best_at


def loop_candidates(base: LayerProgram, protected: set[int]) -> list[LayerProgram]:
    """``base`` with one of its (unprotected) layers run twice in a row: one layer more than ``base``."""
    out = []
    for position, layer in enumerate(base.layers):
        if layer not in protected:
            layers = base.layers[: position + 1] + (layer,) + base.layers[position + 1 :]
            out.append(LayerProgram(layers, base.n_layers))
    return out


def search_loops(
    scorer: FidelityScorer, base: LayerProgram, protected: set[int], screen_steps: int = 3, finalists: int = 3
) -> list[Scored]:
    """Loop programs built on ``base``, best first, each scored on every step (the finalists only)."""
    screen = list(range(min(screen_steps, len(scorer.references))))
    screened = [Scored(p, scorer.score(p, screen)) for p in loop_candidates(base, protected)]
    return _best([Scored(s.program, scorer.score(s.program)) for s in _best(screened, finalists)], finalists)
