"""Program search report (issue #6): ``python benchmarks/programs.py --data DIR [--per-type 16] [--seed 0]
[--correctness 0.5]``.

Searches tool-call and planning programs on DIR/dev.jsonl (cached by ``agentroute search``: a
search already run with the same settings is reused), builds the baselines from the same dev steps,
and measures everything on DIR/test.jsonl. Writes benchmarks/results/programs.json, .md and .png
and the README's ``programs`` block. DIR comes from ``agentroute data build --seed 0 --out DIR``.
"""

import argparse
import logging
from pathlib import Path

from rich.console import Console

from agentroute.bench.common import RESULTS, update_readme_block, write_results
from agentroute.bench.plots import programs_plot
from agentroute.bench.programs import markdown, run
from agentroute.loading import load

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="directory from `agentroute data build`")
    parser.add_argument("--pack", default=None, help="route pack to load (default: the base model)")
    parser.add_argument("--per-type", type=int, default=16, help="test steps per step type")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--correctness", type=float, default=0.0, help="also search tool calls with this weight on correctness (0: off)"
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console(stderr=True)
    model = load("default", pack=args.pack)
    report = run(model, args.data, args.per_type, args.seed, progress=console.log, correctness=args.correctness)
    write_results("programs", report, "", RESULTS)  # the measurements first: rendering cannot lose them
    table = markdown(report)
    write_results("programs", report, table, RESULTS)
    programs_plot(report, RESULTS / "programs.png")
    update_readme_block("programs", table)
    print(table)
