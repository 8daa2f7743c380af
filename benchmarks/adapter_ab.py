"""One arm of an adapter-training A/B (``agentroute.bench.adapter_ab``):

    python benchmarks/adapter_ab.py --data data/agentsteps --examples 300 --tool-style signature
    python benchmarks/adapter_ab.py --examples 160 --tool-style signature --lora-from 15
    python benchmarks/adapter_ab.py --pack default     # score a trained pack's adapter the same way

Trains a LoRA adapter on the default model with the first N train-split tool calls (seeded order)
and scores the dev split's gold tool calls teacher-forced at full depth. Run the arms one after the
other on an idle machine. Writes benchmarks/results/adapter-ab-LABEL.json and .md.
"""

import argparse
from pathlib import Path

from rich.console import Console

from agentroute.bench.adapter_ab import run_arm, score_dev
from agentroute.bench.common import RESULTS, write_results
from agentroute.loading import load
from agentroute.steps.tools import TOOL_STYLES
from agentroute.training.adapter import AdapterConfig
from agentroute.training.pipeline import TrainConfig

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="data/agentsteps", help="a data directory (agentroute data build)")
    parser.add_argument("--examples", type=int, help="train-split tool calls to train on")
    parser.add_argument(
        "--pack", default=None, help="score this trained pack's adapter instead of training one ('default' or a folder)"
    )
    parser.add_argument("--tool-style", choices=TOOL_STYLES, default=TrainConfig.tool_style, help="default %(default)s")
    parser.add_argument(
        "--detach-prompt", action="store_true", help="encode prompts without gradients (default: through them)"
    )
    defaults = AdapterConfig()
    parser.add_argument(
        "--lora-from",
        type=int,
        default=defaults.first_layer,
        help="LoRA only in decoder layers N and up (default %(default)s: every layer)",
    )
    parser.add_argument(
        "--programs-per-example",
        type=int,
        default=defaults.programs_per_example,
        help="cheaper programs trained beside full depth (default %(default)s)",
    )
    parser.add_argument(
        "--skip-below",
        type=float,
        default=defaults.skip_below,
        help="skip the backward pass of examples whose loss is below this (default %(default)s: none)",
    )
    parser.add_argument("--compile", action="store_true", help="torch.compile the decoder layers while training")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--label", default=None, help="results name (default: STYLE-EXAMPLES)")
    args = parser.parse_args()
    if (args.examples is None) == (args.pack is None):
        parser.error("give --examples N (train an arm) or --pack DIR (score a trained pack), not both")
    if args.pack is not None:
        # The pack's adapter merged, prompted in the pack's own tool style, scored as an arm is.
        model = load("default", dtype="float32", kernels="plain", pack=args.pack)
        result = {"pack": args.pack, "tool_style": model.tool_style, **score_dev(model, Path(args.data))}
        label = args.label or f"pack-{Path(args.pack).name}"
    else:
        model = load("default", dtype="float32", kernels="plain", pack=None)
        adapter = AdapterConfig(
            prompt_grad=not args.detach_prompt,
            first_layer=args.lora_from,
            programs_per_example=args.programs_per_example,
            skip_below=args.skip_below,
            compile=args.compile,
        )
        label = args.label or f"{args.tool_style}-{args.examples}"
        result = run_arm(model, Path(args.data), args.examples, args.tool_style, adapter, args.seed,
                         log=Console(stderr=True).log, keep_log=RESULTS / f"adapter-ab-{label}-log.jsonl")  # fmt: skip
    rows = "\n".join(f"| {key} | {value} |" for key, value in result.items())
    write_results(f"adapter-ab-{label}", result, f"| setting | value |\n|---|---|\n{rows}\n", RESULTS)
    print(result)
