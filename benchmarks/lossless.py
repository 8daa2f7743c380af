"""Lossless-mode report (issue #8): ``python benchmarks/lossless.py --data DIR [--pack default]
[--per-type 8] [--repeats 3] [--max-new-tokens 96]``.

Decode speed-up of lossless mode over full depth, and of ``transformers``' ``assistant_early_exit``
over stock ``generate``, on the same test-split tool-call and planning steps in the same run (see
``agentroute.bench.lossless``). Writes benchmarks/results/lossless.json and .md and the README's
``lossless`` block.
"""

import argparse
import logging
from pathlib import Path

from rich.console import Console

from agentroute.bench.common import RESULTS, update_readme_block, write_results
from agentroute.bench.lossless import markdown, run
from agentroute.loading import load

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="directory from `agentroute data build`")
    parser.add_argument("--test", default="test.jsonl", help="steps file in --data")
    parser.add_argument("--pack", default="default")
    parser.add_argument("--per-type", type=int, default=8, help="tool-call and planning steps each")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per step (median reported)")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    console = Console(stderr=True)
    model = load("default", pack=args.pack)
    report = run(model, args.data / args.test, args.per_type, args.repeats, args.max_new_tokens, args.seed, console.log)
    table = markdown(report)
    write_results("lossless", report, table, RESULTS)
    update_readme_block("lossless", table)
    print(table)
