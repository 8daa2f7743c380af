"""``agentroute data build --seed S --out DIR [--train N --dev N --test N --length-matched N
--train-length-matched N --train-question-calls N]``."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def add_data_commands(commands: argparse._SubParsersAction) -> None:
    """Register the ``data`` command group on the main parser's subcommands."""
    data = commands.add_parser("data", help="generate agent-step data sets from templates")
    actions = data.add_subparsers(dest="data_command", required=True)

    build = actions.add_parser(
        "build",
        help="write train/dev/test JSONL steps and a manifest (deterministic for a seed)",
        description="Generate tool-call, planning, reasoning and final-answer steps from templates. "
        "Test holds out whole domains, dev holds out tools; the same arguments give byte-identical files.",
    )
    build.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    build.add_argument("--out", required=True, help="directory to write into (created if missing)")
    build.add_argument("--train", type=_count, default=6000, help="train steps (default 6000)")
    build.add_argument("--dev", type=_count, default=200, help="dev steps (default 200)")
    build.add_argument("--test", type=_count, default=600, help="test steps (default 600: 30+ per tool-call category)")
    build.add_argument(
        "--length-matched",
        type=_count,
        default=100,
        help="tool-call/planning pairs of equal prompt length (within 10%%) from test domains (default 100; 0: none)",
    )
    build.add_argument(
        "--train-length-matched",
        type=_count,
        default=200,
        help="the same pairs from train domains, for the router's step-type head (default 200; 0: none)",
    )
    build.add_argument(
        "--train-question-calls",
        type=_count,
        default=200,
        help="pairs of a question an offered tool answers (a tool call) and one no offered tool answers "
        "(reasoning), same tools, for the router's step-type head (default 200; 0: none)",
    )
    build.set_defaults(run=_build)


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def _build(args) -> int:
    from dataclasses import fields

    from agentroute.data import BuildConfig, build_dataset

    # Every BuildConfig field has a flag of the same name (--length-matched -> length_matched).
    config = BuildConfig(**{f.name: getattr(args, f.name) for f in fields(BuildConfig)})
    manifest = build_dataset(args.out, config)
    console = Console()
    types = list(manifest["step_mix"])
    table = Table(title=f"{manifest['version']} (seed {manifest['seed']}) -> {escape(str(args.out))}")
    for name in ("split", "steps", "tool", "plan", "reason", "final", "domains", "tools", "sha256"):
        table.add_column(name, justify="left" if name in ("split", "sha256") else "right")
    for split, stats in manifest["splits"].items():
        table.add_row(
            split,
            str(stats["count"]),
            *(str(stats["step_types"][t]) for t in types),
            str(len(stats["domains"])),
            str(len(stats["tools_offered"])),
            manifest["files"][stats["file"]]["sha256"][:10],
        )
    console.print(table)
    for key in ("length_matched", "train_length_matched"):
        if key in manifest:
            lm = manifest[key]
            console.print(
                f"{lm['file']}: {lm['pairs']} tool-call/planning pairs, prompt lengths within "
                f"{lm['max_relative_gap']:.1%} of each other"
            )
    if "train_question_calls" in manifest:
        qc = manifest["train_question_calls"]
        console.print(f"{qc['file']}: {qc['pairs']} question-call/reasoning pairs ({qc['kinds']})")
    console.print(f"test domains held out: {', '.join(manifest['holdout']['test_domains'])}")
    return 0
