"""Route-pack report (issue #5): ``python benchmarks/packs.py --data DIR [--pack default]
[--base-eval base.json --pack-eval pack.json] [--seeds 0,1,2]``.

Step-type accuracy on the length-matched test prompts, the skip differential for each router seed
(decisions on the test split), and the ``agentroute eval`` numbers side by side. Writes
benchmarks/results/packs.json and .md and the README's ``packs`` block.
"""

import argparse
import logging
from pathlib import Path

from agentroute.bench.common import RESULTS, update_readme_block, write_results
from agentroute.bench.packs import markdown, run
from agentroute.loading import load

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, type=Path, help="directory from `agentroute data build`")
    parser.add_argument("--pack", default="default")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--test", default="test.jsonl", help="steps file in --data for the router-seed decisions")
    parser.add_argument("--base-eval", type=Path, default=None, help="`agentroute eval` JSON of the base model")
    parser.add_argument("--pack-eval", type=Path, default=None, help="`agentroute eval` JSON with the pack")
    parser.add_argument(
        "--compare-eval", type=Path, default=None, help="`agentroute eval` JSON of another pack, per category"
    )
    parser.add_argument("--compare-label", default="previous pack", help="column title of --compare-eval")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    model = load("default", pack=args.pack)
    seeds = [int(s) for s in args.seeds.split(",")]
    report = run(
        model, args.data, seeds, args.base_eval, args.pack_eval, args.test, args.compare_eval, args.compare_label
    )
    table = markdown(report)
    write_results("packs", report, table, RESULTS)
    update_readme_block("packs", table)
    print(table)
