"""Executor benchmark (issue #2): ``python benchmarks/executor.py [--repeats 5] [--new-tokens 64] [--seed 0]``.

Decode tokens/s of stock generate, our full program, skip programs of 25 and 20 of 30 layers and a
loop program (same run, interleaved, median of --repeats), and resident memory for fp32, nf4 and
int8. Writes benchmarks/results/executor.json and .md and the README's results block. The same
measurement runs as part of ``agentroute bench`` (``make bench``).
"""

import argparse
import json
import logging

from agentroute.bench.common import RESULTS, update_readme_block, write_results
from agentroute.bench.executor_speed import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results, table = run(args.repeats, args.new_tokens, args.seed, progress=print)
    path = write_results("executor", results, table, RESULTS)
    update_readme_block("executor", table)
    print(table)
    print(json.dumps(results["targets"], indent=2))
    print(f"wrote {path}")
