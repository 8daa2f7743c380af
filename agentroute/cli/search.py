"""``agentroute search --model default [--pack P] --data dev.jsonl --step-type T --budget B --out programs.json``.

Searches skip and loop programs for one step type on dev steps (training-free), prints each budget's
program beside the baselines, and writes (merges into) a programs file that
``agentroute.load(..., programs=PATH)`` routes with.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.table import Table


def add_search_commands(commands: argparse._SubParsersAction) -> None:
    search = commands.add_parser(
        "search",
        help="search layer programs (skips and loops) for a step type on dev steps",
        description="Beam search over layer removals scored by teacher-forced agreement with full depth on the "
        "dev steps, then programs that repeat a layer at the same cost. Results are cached; the same seed "
        "gives the same programs. Never pass the test split: it is for measuring, not choosing.",
    )
    search.add_argument("--model", default="default", help="'default', a checkpoint directory or a .gguf file")
    search.add_argument("--pack", default=None, help="route pack to load first ('default' or a directory)")
    search.add_argument("--data", required=True, help="dev steps file, e.g. DIR/dev.jsonl")
    search.add_argument("--step-type", required=True, help="tool_call, planning, reasoning or final_answer")
    search.add_argument("--budget", required=True, help="fraction of the layer cost, e.g. 0.6 (or a list: 0.8,0.6)")
    search.add_argument("--seed", type=int, default=0, help="chooses the dev steps and the random baseline")
    search.add_argument("--steps", type=int, default=None, help="dev steps scored per candidate (default 12)")
    search.add_argument("--width", type=int, default=None, help="beam width (default 2)")
    search.add_argument("--no-loops", action="store_true", help="search skip programs only")
    search.add_argument(
        "--correctness",
        type=float,
        default=None,
        help="weight in [0, 1] of agreement with the steps' expected answers (tool calls) in the ranking, "
        "beside fidelity to full depth (default 0: fidelity only)",
    )
    search.add_argument("--out", required=True, type=Path, help="programs file to write or merge into")
    search.set_defaults(run=_search)


FIDELITY_KEYS = ("agreement", "nll", "gold_agreement", "gold_nll")


def _search(args) -> int:
    from agentroute.evaluation.steps import EvalError
    from agentroute.loading import load
    from agentroute.model.calibration import weights_fingerprint
    from agentroute.pack import model_fingerprint
    from agentroute.program_library import PROGRAMS_FORMAT, ProgramEntry, ProgramsFile, write_programs
    from agentroute.search.run import SearchConfig, search
    from agentroute.steps.policy import PolicyError
    from agentroute.steps.step_types import parse_step_type

    step_type = parse_step_type(args.step_type)
    try:
        budgets = [float(b) for b in args.budget.split(",") if b.strip()]
    except ValueError:
        raise PolicyError(f"--budget must be numbers in (0, 1] such as 0.6 or 0.8,0.6, got {args.budget!r}") from None
    settings = {}
    for name in ("steps", "width"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise EvalError(f"--{name} must be at least 1, got {value}")
            settings[name] = value
    if args.correctness is not None:
        if not 0.0 <= args.correctness <= 1.0:
            raise EvalError(f"--correctness must be in [0, 1], got {args.correctness}")
        settings["correctness"] = args.correctness
    config = SearchConfig(loops=not args.no_loops, **settings)
    console = Console(stderr=True)
    model = load(args.model, pack=args.pack)
    report = search(model, args.data, step_type, budgets, args.seed, config, progress=console.log)
    entries = []
    table = Table(title=f"{step_type.value}: teacher-forced agreement with full depth on {config.steps} dev steps")
    columns = ("budget", "program", "agreement", "best skip", "best loop", "angular", "BI", "early exit", "random", "s")
    if config.correctness:
        columns = (*columns[:3], "correct", *columns[3:])
    for column in columns:
        table.add_column(column)
    for result in report["budgets"].values():
        chosen, loop, base = result["chosen"], result["best_loop"], result["baselines"]
        entries.append(ProgramEntry(
            budget=result["budget"], program=chosen["program"], cost=chosen["cost"], loops=chosen["loops"],
            dev={k: v for k, v in chosen.items() if k in FIDELITY_KEYS}, best_skip=result["best_skip"],
            search={"seed": report["seed"], "config": report["config"], "data": report["data"],
                    "seconds": result["seconds"], "cache_key": report.get("cache_key")},
        ))  # fmt: skip
        correct = [f"{chosen.get('gold_agreement', float('nan')):.3f}"] if config.correctness else []
        table.add_row(
            f"{result['budget']:g}", chosen["program"], f"{chosen['agreement']:.3f}", *correct,
            f"{result['best_skip']['agreement']:.3f}", "-" if loop is None else f"{loop['agreement']:.3f}",
            *(f"{base[k]['agreement']:.3f}" for k in ("angular_block", "block_influence", "early_exit", "random")),
            f"{result['seconds']:.0f}",
        )  # fmt: skip
    written = write_programs(
        args.out,
        ProgramsFile(
            format=PROGRAMS_FORMAT, model=model_fingerprint(model), weights=weights_fingerprint(model),
            pack=report["pack"], programs={step_type: entries},
        ),
    )  # fmt: skip
    Console().print(table)
    Console().print(f"{sum(len(e) for e in written.programs.values())} programs in {args.out}")
    return 0
