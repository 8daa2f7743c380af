"""``search``: dev steps of one step type -> the best program per budget, baselines beside it, cached.

The steps come from a dev file only (the caller never passes the test split), sampled by seed.
A finished search is cached under ``$AGENTROUTE_CACHE/search`` keyed by the model's weights, the
data file's checksum, the step type, budgets, seed and settings, so running it again is instant
and gives the same programs.
"""

from __future__ import annotations

import hashlib
import json
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentroute.evaluation.steps import EvalError, load_steps
from agentroute.model.cache_dir import cache_root
from agentroute.model.calibration import weights_fingerprint
from agentroute.model.program import LayerProgram
from agentroute.search import baselines
from agentroute.search.beam import Scored, descend, search_loops
from agentroute.search.fidelity import FidelityScorer
from agentroute.steps.policy import check_budget
from agentroute.steps.records import StepType

SEARCH_VERSION = 1
RANDOM_PROGRAMS = 3

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SearchConfig:
    steps: int = 12  # dev steps scored per candidate
    max_new_tokens: int = 32  # reply tokens per step (the full-depth greedy reply, capped)
    width: int = 2  # beam width
    loops: bool = True  # also search programs that repeat a layer
    screen_steps: int = 3  # steps every loop candidate is screened on
    finalists: int = 3  # loop candidates scored on all steps
    # Weight of correctness against the steps' answers (``expected`` calls) in the ranking; 0 ranks
    # by fidelity to full depth alone.
    correctness: float = 0.0


def dev_steps(path: str | Path, step_type: StepType, count: int, seed: int) -> list:
    steps, problems = load_steps(path)
    if problems and not steps:
        raise EvalError(f"{path}: no usable steps ({problems[0]})")
    of_type = [s for s in steps if s.step_type == step_type]
    if not of_type:
        raise EvalError(f"{path} has no {step_type.value} steps; search needs steps labelled with that step_type")
    if len(of_type) > count:
        chosen = set(random.Random(seed).sample(range(len(of_type)), count))
        of_type = [s for i, s in enumerate(of_type) if i in chosen]
    return of_type


def search(
    model,
    data: str | Path,
    step_type: StepType,
    budgets: Sequence[float],
    seed: int = 0,
    config: SearchConfig = SearchConfig(),
    progress: Progress = lambda message: None,
    use_cache: bool = True,
) -> dict[str, Any]:
    """Search programs for ``step_type`` at each budget on the steps of ``data``; returns the report."""
    budgets = sorted({check_budget(b, "search budget") for b in budgets}, reverse=True)
    data = Path(data)
    protected = model.router.policy.protected(model.n_layers)
    key = _cache_key(model, data, step_type, budgets, seed, config, protected)
    path = cache_root() / "search" / f"{key}.json"
    if use_cache and path.is_file():
        progress(f"search: cached result {path}")
        return json.loads(path.read_text())
    report = _search(model, data, step_type, budgets, seed, config, protected, progress)
    report["cache_key"] = key
    if use_cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(report, indent=2))
        tmp.replace(path)
    return report


def _search(model, data, step_type, budgets, seed, config, protected, progress) -> dict[str, Any]:
    n = model.n_layers
    started = time.perf_counter()
    steps = dev_steps(data, step_type, config.steps, seed)
    progress(f"search {step_type.value}: full-depth references for {len(steps)} dev steps")
    scorer = FidelityScorer(model, steps, config.max_new_tokens, correctness=config.correctness)
    reference_s = time.perf_counter() - started
    keeps = {b: baselines.layers_for_budget(n, b) for b in budgets}
    lowest = min(keeps.values()) - (1 if config.loops else 0)
    round_s: dict[int, float] = {}

    def on_round(count: int, best: Scored, seconds: float) -> None:
        round_s[count] = seconds
        progress(f"search {step_type.value}: {count} layers, agreement {best.fidelity.agreement:.3f} ({best.program})")

    trajectory = descend(scorer, max(lowest, len(protected), 1), protected, config.width, on_round)
    results = {}
    for budget, keep in sorted(keeps.items(), reverse=True):
        loop_started = time.perf_counter()
        best_skip = trajectory.get(keep) or Scored(LayerProgram.full(n), scorer.score(LayerProgram.full(n)))
        loops: list[Scored] = []
        if config.loops and keep < n and keep - 1 in trajectory:
            progress(f"search {step_type.value}: loops at {keep} layers")
            loops = search_loops(scorer, trajectory[keep - 1].program, protected, config.screen_steps, config.finalists)
        chosen = max([best_skip, *loops[:1]], key=lambda s: s.fidelity.key())
        beam_s = round_s.get(keep - 1 if loops else keep, 0.0)
        results[str(budget)] = {
            "budget": budget,
            "layers": keep,
            "chosen": chosen.to_dict(),
            "best_skip": best_skip.to_dict(),
            "best_loop": loops[0].to_dict() if loops else None,
            "loop_finalists": [s.to_dict() for s in loops],
            # The loop also re-encodes the prompt with itself; the best skip program doing the same
            # separates the effect of looping from that of a cheaper prefill.
            "best_skip_own_prefill": (
                Scored(best_skip.program, scorer.score(best_skip.program, own_prefill=True)).to_dict()
                if loops
                else None
            ),
            "baselines": _baselines(scorer, keep, protected, seed),
            "seconds": reference_s + beam_s + (time.perf_counter() - loop_started),
        }
    return {
        "version": SEARCH_VERSION,
        "model": model.name,
        "pack": str(model.pack) if getattr(model, "pack", None) is not None else None,
        "weights": weights_fingerprint(model),
        "step_type": step_type.value,
        "data": {"path": str(data), "sha256": _sha256(data), "steps": [s.id for s in steps]},
        "seed": seed,
        "config": asdict(config),
        "protected": sorted(protected),
        "budgets": results,
        "trajectory": {str(k): v.to_dict() for k, v in sorted(trajectory.items(), reverse=True)},
        "evaluations": scorer.evaluations,
        "seconds": time.perf_counter() - started,
    }


def baseline_programs(stats, n_layers: int, keep: int, protected: set[int], seed: int) -> dict[str, list[LayerProgram]]:
    """Each baseline's program(s) at ``keep`` layers (random: several, seeded)."""
    return {
        "angular_block": [baselines.angular_block(stats, n_layers, keep, protected)],
        "block_influence": [baselines.block_influence(stats, n_layers, keep, protected)],
        "early_exit": [baselines.early_exit(n_layers, keep)],
        "random": baselines.random_skips(n_layers, keep, protected, seed, RANDOM_PROGRAMS),
    }


def _baselines(scorer: FidelityScorer, keep: int, protected: set[int], seed: int) -> dict[str, Any]:
    """Baseline programs built from the same dev steps, with their dev fidelity (random: the mean)."""
    out = {}
    for name, programs in baseline_programs(scorer.stats, scorer.n_layers, keep, protected, seed).items():
        scores = [scorer.score(p) for p in programs]
        out[name] = {
            "programs": [str(p) for p in programs],
            "agreement": sum(s.agreement for s in scores) / len(scores),
            "nll": sum(s.nll for s in scores) / len(scores),
        }
    return out


def _cache_key(model, data: Path, step_type, budgets, seed, config, protected) -> str:
    if not data.is_file():
        raise EvalError(f"no steps file at {data}; pass the dev split, e.g. DIR/dev.jsonl from `agentroute data build`")
    settings = asdict(config)
    if not settings["correctness"]:
        del settings["correctness"]  # fidelity-only searches keep the keys they had before the option
    payload = {
        "version": SEARCH_VERSION,
        "weights": weights_fingerprint(model),
        "data": _sha256(data),
        "step_type": step_type.value,
        "budgets": budgets,
        "seed": seed,
        "config": settings,
        "protected": sorted(protected),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:20]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
