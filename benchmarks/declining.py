"""Declining on requests outside the training data: ``python benchmarks/declining.py [--pack default]``.

Hand-written requests over generic utility tools (``benchmarks/data/decline_ood.jsonl``), each run
as a tool-call step at full depth (see ``agentroute.bench.declining``). Writes
benchmarks/results/declining.json and .md.
"""

import argparse

from rich.console import Console

from agentroute.bench.common import RESULTS, write_results
from agentroute.bench.declining import run

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", default="default", help="'default' or a route pack directory")
    args = parser.parse_args()
    results, table = run(pack=args.pack, log=Console(stderr=True).log)
    write_results("declining", results, table, RESULTS)
    print(table)
