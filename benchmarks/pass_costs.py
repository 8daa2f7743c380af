"""The lossless cost model's inputs per setting: ``python benchmarks/pass_costs.py [--context 400]
[--repeats 7]``.

One pass over a context by chunk length and by depth, in float32, bfloat16 (plain and lean
kernels) and the default's int4 decode passes, side by side in one run (see
``agentroute.bench.pass_costs``). Writes benchmarks/results/pass_costs.json and .md; the table in
docs/speed.md is copied from the .md.
"""

import argparse
import logging

from rich.console import Console

from agentroute.bench.common import RESULTS, write_results
from agentroute.bench.pass_costs import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--context", type=int, default=400, help="tokens in the context every pass attends to")
    parser.add_argument("--repeats", type=int, default=7, help="timed runs per pass (median reported)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results, table = run(args.context, args.repeats, args.seed, Console(stderr=True).log)
    write_results("pass_costs", results, table, RESULTS)
    print(table)
