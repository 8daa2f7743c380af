"""Program search against the training-free baselines, measured on the test split.

For each step type: ``agentroute search`` on the dev split (cached; the test split is never seen
by it), the baselines built from the same dev steps (angular-distance block removal, Block
Influence, early exit, random skips), then every program measured on the first ``per_type`` test
steps of that type in file order (held-out tools and domains):

* teacher-forced agreement with full depth's greedy reply (what the search optimises on dev), at
  budgets 0.9, 0.8, 0.7 and 0.6 (at 0.9 and 0.7 the search's program is the best skip program of
  its descent);
* free-running greedy decoding at the searched budgets: prefix ``token_agreement``, identical
  replies, and ``tool_calls_match_full`` (same tool calls as full depth).

The best looped program of each searched budget is measured beside the best skip program. With
``correctness`` > 0, step types whose dev steps carry answers (tool calls) are also searched with
that weight on correctness (``search (correctness W)``), and every program's teacher-forced
agreement with the test steps' own answers is reported (``correct_agreement``).
"""

from __future__ import annotations

import dataclasses
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentroute.evaluation.metrics import token_agreement, tool_calls_match
from agentroute.evaluation.steps import load_steps
from agentroute.model.program import LayerProgram
from agentroute.search.baselines import layers_for_budget
from agentroute.search.fidelity import FidelityScorer
from agentroute.search.run import SearchConfig, baseline_programs, dev_steps, search
from agentroute.steps.records import StepType

STEP_TYPES = (StepType.TOOL_CALL, StepType.PLANNING)
SEARCH_BUDGETS = (0.8, 0.6)
PLOT_BUDGETS = (0.9, 0.8, 0.7, 0.6)
METHODS = ("search", "search (best loop)", "angular_block", "block_influence", "early_exit", "random")
CORRECTNESS_METHOD = "search (correctness)"


def test_steps(path: Path, step_type: StepType, count: int) -> list:
    steps, _ = load_steps(path)
    return [s for s in steps if s.step_type == step_type][:count]


def run(
    model,
    data: Path,
    per_type: int = 16,
    seed: int = 0,
    config: SearchConfig | None = None,
    progress: Callable[[str], None] = lambda message: None,
    correctness: float = 0.0,
) -> dict[str, Any]:
    config = config or SearchConfig()
    started = time.perf_counter()
    protected = model.router.policy.protected(model.n_layers)
    results: dict[str, Any] = {
        "model": model.name,
        "pack": str(model.pack) if getattr(model, "pack", None) is not None else None,
        "seed": seed,
        "config": {"per_type": per_type, "search": config.__dict__, "correctness": correctness},
        "step_types": {},
    }
    for step_type in STEP_TYPES:
        report = search(model, data / "dev.jsonl", step_type, SEARCH_BUDGETS, seed, config, progress)
        chosen_dev = dev_steps(data / "dev.jsonl", step_type, config.steps, seed)
        progress(f"programs {step_type.value}: dev statistics for the baselines at every plotted budget")
        dev = FidelityScorer(model, chosen_dev, config.max_new_tokens)
        programs = _programs(report, dev.stats, model.n_layers, protected, seed)
        del dev
        weighted = None
        if correctness and any(s.expected for s in chosen_dev):
            weighted = search(model, data / "dev.jsonl", step_type, SEARCH_BUDGETS, seed,
                              dataclasses.replace(config, correctness=correctness), progress)  # fmt: skip
            for budget, by_method in programs.items():
                found = _searched(weighted, budget, model.n_layers)
                if found is not None:
                    by_method[CORRECTNESS_METHOD] = [found]
        steps = test_steps(data / "test.jsonl", step_type, per_type)
        progress(f"programs {step_type.value}: {len(steps)} test steps, teacher-forced")
        # Weight 1 only makes the scorer score each test step's own answer as well; nothing is ranked here.
        scorer = FidelityScorer(model, steps, config.max_new_tokens, correctness=1.0 if correctness else 0.0)
        forced = {
            budget: {m: _mean_scores(scorer, ps) for m, ps in by_method.items()}
            for budget, by_method in programs.items()
        }
        progress(f"programs {step_type.value}: free-running decoding at {SEARCH_BUDGETS}")
        decoded = _decode(model, steps, {b: programs[b] for b in SEARCH_BUDGETS}, config.max_new_tokens)
        weighted_seconds = None
        if weighted is not None:
            weighted_seconds = {str(b): {"seconds": weighted["budgets"][str(b)]["seconds"]} for b in SEARCH_BUDGETS}
        results["step_types"][step_type.value] = {
            "test_steps": [s.id for s in steps],
            "search": {
                str(b): {k: report["budgets"][str(b)][k] for k in ("seconds", "best_skip_own_prefill")}
                for b in SEARCH_BUDGETS
            },  # fmt: skip
            "search_seconds_total": report["seconds"],
            "search_correctness": weighted_seconds,
            "dev_steps": report["data"]["steps"],
            "budgets": {
                str(budget): {
                    method: {
                        "programs": [str(p) for p in ps],
                        "layers_fraction": statistics.mean(p.cost for p in ps),
                        "dev_agreement": _dev_agreement(
                            weighted if method == CORRECTNESS_METHOD else report, budget, method
                        ),
                        **forced[budget][method],
                        **decoded.get(budget, {}).get(method, {}),
                    }
                    for method, ps in by_method.items()
                }
                for budget, by_method in programs.items()
            },
        }
    results["seconds"] = time.perf_counter() - started
    return results


def _programs(report, stats, n_layers: int, protected: set[int], seed: int) -> dict[float, dict[str, list]]:
    """Budget -> method -> programs: the search's (from its report) and the baselines' (from dev stats)."""
    out: dict[float, dict[str, list]] = {}
    for budget in PLOT_BUDGETS:
        keep = layers_for_budget(n_layers, budget)
        entry = report["budgets"].get(str(budget))
        methods: dict[str, list] = {}
        searched = _searched(report, budget, n_layers)
        if searched is not None:
            methods["search"] = [searched]
        if entry is not None and entry["best_loop"] is not None:
            methods["search (best loop)"] = [LayerProgram.parse(entry["best_loop"]["program"], n_layers)]
        methods.update(baseline_programs(stats, n_layers, keep, protected, seed))
        out[budget] = methods
    return out


def _searched(report, budget: float, n_layers: int) -> LayerProgram | None:
    """The search's program at ``budget``: its chosen one, else the descent's skip program of that size."""
    entry = report["budgets"].get(str(budget))
    if entry is not None:
        return LayerProgram.parse(entry["chosen"]["program"], n_layers)
    keep = str(layers_for_budget(n_layers, budget))
    return LayerProgram.parse(report["trajectory"][keep]["program"], n_layers) if keep in report["trajectory"] else None


def _dev_agreement(report, budget: float, method: str) -> float | None:
    entry = report["budgets"].get(str(budget))
    if entry is None:
        return None
    if method in ("search", CORRECTNESS_METHOD):
        return entry["chosen"]["agreement"]
    if method == "search (best loop)":
        return entry["best_loop"]["agreement"] if entry["best_loop"] else None
    return entry["baselines"][method]["agreement"]


def _mean_scores(scorer: FidelityScorer, programs: list) -> dict[str, float]:
    scores = [scorer.score(p) for p in programs]
    out = {
        "forced_agreement": statistics.mean(s.agreement for s in scores),
        "nll": statistics.mean(s.nll for s in scores),
    }
    if scores[0].gold_agreement is not None:
        out["correct_agreement"] = statistics.mean(s.gold_agreement for s in scores)
    return out


def _decode(model, steps, programs: dict[float, dict[str, list]], max_new_tokens: int) -> dict:
    """Greedy replies of every program, step by step (full depth first, so the prompt cache is reused)."""
    rows: dict[float, dict[str, list[dict[str, float]]]] = {}
    full = LayerProgram.full(model.n_layers)
    for step in steps:
        # Unconstrained, like the search's references: this measures the programs, not the call grammar.
        options = {"tools": step.tools or None, "max_new_tokens": max_new_tokens, "temperature": 0.0}
        options["constrain"] = False
        reference = model.generate(step.messages, program=full, step_type=step.step_type, **options)
        for budget, by_method in programs.items():
            for method, ps in by_method.items():
                for program in ps:
                    result = model.generate(step.messages, program=program, step_type=step.step_type, **options)
                    matches = tool_calls_match(result.tool_calls, reference.tool_calls)
                    rows.setdefault(budget, {}).setdefault(method, []).append({
                        "token_agreement": token_agreement(result.token_ids, reference.token_ids),
                        "matches_full": float(result.token_ids == reference.token_ids),
                        "tool_calls_match_full": None if matches is None else float(matches),
                    })  # fmt: skip
    out: dict[float, dict[str, dict[str, float | None]]] = {}
    for budget, by_method in rows.items():
        for method, values in by_method.items():
            summary = {}
            for key in ("token_agreement", "matches_full", "tool_calls_match_full"):
                present = [v[key] for v in values if v[key] is not None]
                summary[key] = statistics.mean(present) if present else None
            summary["tool_call_steps_with_full_calls"] = sum(v["tool_calls_match_full"] is not None for v in values)
            out.setdefault(budget, {})[method] = summary
    return out


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.2f}"


def markdown(results: dict[str, Any]) -> str:
    per_type = results["config"]["per_type"]
    correct = results["config"].get("correctness", 0.0)
    search = results["config"]["search"]
    lines = [
        f"Program search vs training-free baselines, {results['model']}"
        + (f" with pack {results['pack']}" if results["pack"] else "")
        + f", seed {results['seed']}. Programs chosen on {search['steps']} dev steps per type; measured on the "
        f"first {per_type} test-split steps of each type (held-out tools and domains), replies of up to "
        f"{search['max_new_tokens']} tokens. forced = teacher-forced agreement with full depth's greedy reply; "
        "prefix / identical / calls = free-running greedy decoding (random: mean of 3 programs)."
        + (
            f" test correct = teacher-forced agreement with the test step's expected call; search (correctness "
            f"{correct:g}) ranks dev programs by {1 - correct:g} x fidelity + {correct:g} x agreement with the dev "
            "steps' expected calls."
            if correct
            else ""
        ),
        "",
        "| step type | budget | method | layers | dev forced | test forced | test prefix | identical | calls = full "
        + ("| test correct |" if correct else "|"),
        "|---|---|---|---|---|---|---|---|---|" + ("---|" if correct else ""),
    ]
    keys = ["dev_agreement", "forced_agreement", "token_agreement", "matches_full", "tool_calls_match_full"]
    for step_type, entry in results["step_types"].items():
        for budget in (str(b) for b in SEARCH_BUDGETS):
            for method in (*METHODS[:1], CORRECTNESS_METHOD, *METHODS[1:]):
                row = entry["budgets"][budget].get(method)
                if row is None:
                    continue
                label = f"search (correctness {correct:g})" if method == CORRECTNESS_METHOD else method
                cells = [row.get(k) for k in keys + (["correct_agreement"] if correct else [])]
                lines.append(
                    f"| {step_type} | {budget} | {label} | {row['layers_fraction']:.2f} | "
                    + " | ".join(_fmt(c) for c in cells) + " |"
                )  # fmt: skip
    lines.append("")
    for step_type, entry in results["step_types"].items():
        times = ", ".join(f"{b}: {entry['search'][str(b)]['seconds'] / 60:.1f} min" for b in SEARCH_BUDGETS)
        lines.append(f"Search time on this machine, {step_type} (one budget, as a search for it alone): {times}.")
        if entry.get("search_correctness"):
            times = ", ".join(f"{b}: {v['seconds'] / 60:.1f} min" for b, v in entry["search_correctness"].items())
            lines.append(f"Search time with correctness, {step_type}: {times}.")
    return "\n".join(lines) + "\n"
