"""``agentroute bench``: run the benchmark suite, write results, plots and the README tables.

Suites: ``executor`` (decode speed per layer program, memory per quantization), ``fidelity``
(the training-free budget baseline on the test split), ``episodes`` (the ReAct demo's episode
time, routed vs full depth; needs a source checkout with ``demos/``). Named only: ``engine``
(exported programs on llama.cpp's server, the draft as its speculative draft) and ``served-calls``
(test-split tool calls served on llama.cpp's server with and without the call grammar as GBNF);
both need a llama-server binary and an export with GGUFs.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from agentroute.errors import AgentRouteError

SUITES = ("steps", "executor", "fidelity", "episodes")
NAMED_ONLY = ("engine", "served-calls")  # needs a llama-server build and an export: never part of the default run


def add_bench_commands(commands) -> None:
    bench = commands.add_parser("bench", help="run the benchmark suite and write benchmarks/results")
    bench.add_argument(
        "--suite", default=",".join(SUITES), help=f"comma-separated subset of {', '.join(SUITES + NAMED_ONLY)}"
    )
    bench.add_argument("--out", type=Path, default=Path("benchmarks/results"), help="results folder")
    bench.add_argument("--readme", type=Path, default=Path("README.md"), help="README whose bench blocks to update")
    bench.add_argument("--repeats", type=int, default=5, help="runs per executor mode (median reported)")
    bench.add_argument("--per-type", type=int, default=4, help="fidelity: test-split steps per step type")
    bench.add_argument(
        "--per-category", type=int, default=15, help="served-calls: test-split tool-call steps per category"
    )
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument(
        "--gguf", type=Path, action="append", default=None,
        help="executor: a GGUF file of the same model for llama.cpp to decode beside ours (repeatable; "
        "needs the bench extra, see docs/speed.md)",
    )  # fmt: skip
    bench.add_argument("--llama-server", type=Path, help="engine: the llama-server binary (docs/serving.md)")
    bench.add_argument(
        "--export", type=Path, action="append", default=None,
        help="engine: an `agentroute export --gguf` directory (repeatable, e.g. f16 and q8_0)",
    )  # fmt: skip
    bench.set_defaults(run=_bench)


def _bench(args) -> int:
    from rich.console import Console

    from agentroute.bench import plots
    from agentroute.bench.common import BLOCK_FILES, update_readme_block, write_results

    suites = [s.strip() for s in args.suite.split(",") if s.strip()]
    unknown = sorted(set(suites) - set(SUITES + NAMED_ONLY))
    if unknown:
        raise AgentRouteError(f"unknown suite(s) {unknown}; choose from {', '.join(SUITES + NAMED_ONLY)}")
    for named in {"engine", "served-calls"} & set(suites):
        if args.llama_server is None or not args.export:
            raise AgentRouteError(f"--suite {named} needs --llama-server PATH and --export DIR (docs/serving.md)")
    console = Console(stderr=True)
    for suite in suites:
        if suite == "steps":
            from agentroute.bench import agent_steps

            results, table = agent_steps.run(seed=args.seed, progress=console.log)
            plot = None
        elif suite == "executor":
            from agentroute.bench import executor_speed

            results, table = executor_speed.run(args.repeats, 64, args.seed, progress=console.log, gguf=args.gguf)
            plot = plots.executor_plot(results, args.out / "executor.png") if _mkdir(args.out) else None
        elif suite == "engine":
            from agentroute.bench import llama_server

            results, table = llama_server.run(
                args.llama_server, args.export, args.per_type, min(args.repeats, 3), seed=args.seed,
                progress=console.log,
            )  # fmt: skip
            plot = None
        elif suite == "served-calls":
            from agentroute.bench import served_calls

            results, table = served_calls.run(
                args.llama_server, args.export, args.per_category, seed=args.seed, progress=console.log
            )
            plot = None
        elif suite == "fidelity":
            from agentroute.bench import fidelity

            results, table = fidelity.run(seed=args.seed, per_type=args.per_type, progress=console.log)
            plot = plots.fidelity_plot(results, args.out / "fidelity.png") if _mkdir(args.out) else None
        else:
            results, table = _episodes(args.out, console)
            plot = None
            if results is None:
                continue
        path = write_results(suite, results, table, args.out)
        updated = update_readme_block(suite, table, args.readme)
        console.log(
            f"{suite}: wrote {path}"
            + (f" and {plot}" if plot else "")
            + (f", {BLOCK_FILES.get(suite, args.readme.name)} updated" if updated else "")
        )
        print(table)
    return 0


def _mkdir(path: Path) -> bool:
    path.mkdir(parents=True, exist_ok=True)
    return True


def _episodes(out: Path, console) -> tuple[dict | None, str]:
    demo = Path("demos/react_agent.py")
    if not demo.is_file():
        console.log("episodes: skipped (run from a source checkout: demos/react_agent.py not found)")
        return None, ""
    summary = out / "episodes_raw.json"
    console.log("episodes: ReAct demo tasks, as shipped, at full depth and with stock transformers")
    subprocess.run(
        [sys.executable, str(demo), "--compare-full", "--json", str(summary)], check=True, stdout=subprocess.DEVNULL
    )
    runs = json.loads(summary.read_text())
    summary.unlink()
    lines = [
        "ReAct demo (`demos/react_agent.py`), 5 tasks, LangGraph `create_agent` + `ChatLayerRoute`:",
        "",
        "| run | correct | model steps | valid tool calls | tokens in / out | mean layers | episode s |",
        "|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        layers = run["mean_layers_fraction"]
        lines.append(
            f"| {run['label']} | {run['correct']}/{run['tasks']} | {run['model_steps']} | {run['valid_tool_calls']} | "
            f"{run['prompt_tokens']} / {run['completion_tokens']} | {'-' if layers is None else f'{layers:.0%}'} | "
            f"{run['episode_s']:.1f} |"
        )
    return {"runs": runs}, "\n".join(lines) + "\n"
