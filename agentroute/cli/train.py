"""``agentroute train --model default --data DIR --out packs/NAME [--seed S]``: train a route pack.

Every stage caches its work in ``OUT/work`` (teacher replies, LoRA checkpoints, router rows), so
the same command with ``--resume`` continues an interrupted run (the same model, data and
settings only: another is a clear error). ``accelerate launch -m agentroute
train ...`` spreads the adapter stage over several GPUs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from agentroute.cli.progress_lines import ProgressLines
from agentroute.steps.tools import TOOL_STYLES

# The train options a pack does not record (where the model, the data and the pack are).
_NOT_RECORDED = ("model", "data", "out", "store_only")


class RateColumn(ProgressColumn):
    """Items per second of a task ("1.52/s"), or "s/item" when slower than one a second."""

    def render(self, task) -> Text:
        speed = task.speed
        if not speed:
            return Text("-", style="progress.data.speed")
        label = f"{speed:.2f}/s" if speed >= 1 else f"{1 / speed:.1f} s each"
        return Text(label, style="progress.data.speed")


def add_train_commands(commands: argparse._SubParsersAction) -> None:
    """Register the ``train`` command on the main parser's subcommands."""
    train = commands.add_parser(
        "train",
        help="train a route pack (LoRA adapter + router) for a model on agent-step data",
        description="Trains the LoRA adapter (tool calls at full depth, self-distillation under the pack's "
        "programs), then the router, the no-tool-fits head and the reply store; writes OUT/pack.json, OUT/adapter/, "
        "OUT/router.safetensors and, where they apply, OUT/decline.safetensors and OUT/replies.safetensors.",
    )
    train.add_argument("--model", default="default", help="'default', a checkpoint directory or a .gguf file")
    train.add_argument("--data", required=True, help="directory with train.jsonl (from `agentroute data build`)")
    train.add_argument("--out", required=True, help="pack directory to write (work files go to OUT/work)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--tool-examples", type=int, default=None, help="tool-call steps for the adapter")
    train.add_argument(
        "--teacher-examples", type=int, default=None, help="planning and reasoning steps (each) for the adapter"
    )
    train.add_argument("--answer-examples", type=int, default=None, help="final-answer steps with gold answers")
    train.add_argument(
        "--question-call-examples",
        type=int,
        default=None,
        help="tool-call steps of DATA/train_question_calls.jsonl (a question an offered tool answers) for the "
        "adapter, beside --tool-examples (default 0; not yet measured in a whole pack)",
    )
    train.add_argument(
        "--tool-mix",
        default=None,
        metavar="CATEGORY=SHARE,...",
        help="shares of the adapter's tool-call examples by the data's category, e.g. parallel=0.4 (the rest "
        "from the other categories; default: the data's own mix)",
    )
    train.add_argument(
        "--reply-steps",
        type=int,
        default=None,
        help="free-text steps (each type) whose full-depth replies form the pack's reply store, which lossless "
        "mode drafts from (default 200; 0: no store)",
    )
    train.add_argument("--rank", type=int, default=None, help="LoRA rank (default 16)")
    train.add_argument("--lr", type=float, default=None, help="learning rate (default 1e-3)")
    train.add_argument(
        "--lora-from",
        type=int,
        default=None,
        help="LoRA only in decoder layers N and up, so the backward pass stops at layer N (default 0: every layer)",
    )
    train.add_argument(
        "--programs-per-example",
        type=int,
        default=None,
        help="cheaper layer programs each example also trains beside full depth (default 2; 0: full depth "
        "only, faster, but its skip programs are untrained)",
    )
    train.add_argument(
        "--mixed-precision",
        choices=["bf16", "no"],
        default=None,
        help="adapter training precision (default bf16 autocast; 'no' = fp32, for hardware without bf16)",
    )
    train.add_argument(
        "--skip-below",
        type=float,
        default=None,
        metavar="LOSS",
        help="skip the backward pass of an example whose loss is already below LOSS (selective backprop; "
        "default 0: backpropagate every example)",
    )
    train.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="torch.compile the decoder layers while the adapter trains (default; about 40 s to compile, then "
        "1.4x faster per example on a 2-core CPU; falls back to eager where compiling fails)",
    )
    prompt = train.add_mutually_exclusive_group()
    prompt.add_argument(
        "--detach-prompt",
        action="store_true",
        help="encode each training prompt without gradients, the adapter learning from the reply's positions only "
        "(faster per example, but a pack so trained on 3364 examples called tools right half as often as one with "
        "gradients on 1214; see docs/route-packs.md)",
    )
    prompt.add_argument(
        "--prompt-grad",
        action="store_true",
        help="backpropagate through the prompt too (the default)",
    )
    train.add_argument(
        "--programs",
        default=None,
        help="programs.json from `agentroute search`: its skip programs join the pack's program library",
    )
    train.add_argument(
        "--tool-style",
        choices=TOOL_STYLES,
        default=None,
        help="how prompts write tools: one signature per tool (the default: 1.7x fewer tokens per tool, as "
        "well learnt) or one JSON object per tool (the shipped pack's); the pack records it and is always "
        "prompted that way",
    )
    train.add_argument(
        "--said-values",
        action=argparse.BooleanOptionalAction,
        default=None,
        help='train dates and times that a tool\'s schema declares as the user said them ("next Friday", '
        '"4:00 pm"), the default; the pack\'s replies are then resolved to the declared form against the '
        "conversation's today (docs/route-packs.md). --no-said-values trains the declared form itself",
    )
    train.add_argument(
        "--resume",
        action="store_true",
        help="continue the run cached in OUT/work (interrupted, or over several sessions); it must have the "
        "same --model, --data and settings",
    )
    train.add_argument(
        "--store-only",
        action="store_true",
        help="only build the reply store of the pack already in OUT (after pack.json: a run stopped in its last "
        "stage, or whose OUT/work is gone), from the settings it records and the --data it was trained on; "
        "--model must be the pack's",
    )
    # Every option but where the model, data and pack are is a setting the pack records, which
    # --store-only takes from pack.json: derived from the parser, so a new option is refused there
    # without being listed by hand.
    defaults = vars(train.parse_args(["--data", "-", "--out", "-"]))
    recorded = {name: value for name, value in defaults.items() if name not in _NOT_RECORDED}
    train.set_defaults(run=_train, recorded_defaults=recorded)


def _tool_mix(text: str) -> dict[str, float]:
    """``parallel=0.4,no_tool_fits=0.2`` as a dict; a clear error naming the bad part."""
    from agentroute.evaluation.steps import EvalError

    mix: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, _, share = part.partition("=")
        try:
            mix[name.strip()] = float(share)
        except ValueError:
            raise EvalError(f"--tool-mix: {part!r} is not CATEGORY=SHARE (e.g. parallel=0.4)") from None
    if not mix:
        raise EvalError("--tool-mix: give at least one CATEGORY=SHARE, e.g. parallel=0.4")
    return mix


def _train(args) -> int:
    from agentroute.evaluation.steps import EvalError
    from agentroute.training.pipeline import TrainConfig, command_line, train_pack

    if args.store_only:
        return _store_only(args)
    config = TrainConfig(seed=args.seed)
    for name in ("tool_examples", "teacher_examples", "answer_examples"):
        value = getattr(args, name)
        if value is not None:
            if value < 1:
                raise EvalError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
            setattr(config, name, value)
    if args.question_call_examples is not None:
        if args.question_call_examples < 0:
            raise EvalError(f"--question-call-examples must be 0 or more, got {args.question_call_examples}")
        config.question_call_examples = args.question_call_examples
    if args.tool_mix is not None:
        config.tool_mix = _tool_mix(args.tool_mix)
    if args.reply_steps is not None:
        if args.reply_steps < 0:
            raise EvalError(f"--reply-steps must be 0 (no reply store) or more, got {args.reply_steps}")
        config.reply_steps = args.reply_steps
    if args.rank is not None:
        config.adapter.rank, config.adapter.alpha = args.rank, 2 * args.rank
    if args.lr is not None:
        config.adapter.lr = args.lr
    if args.mixed_precision is not None:
        config.adapter.mixed_precision = args.mixed_precision
    if args.lora_from is not None:
        if args.lora_from < 0:
            raise EvalError(f"--lora-from must be 0 (every layer) or more, got {args.lora_from}")
        config.adapter.first_layer = args.lora_from
    if args.programs_per_example is not None:
        if args.programs_per_example < 0:
            raise EvalError(f"--programs-per-example must be 0 or more, got {args.programs_per_example}")
        config.adapter.programs_per_example = args.programs_per_example
    if args.detach_prompt:
        config.adapter.prompt_grad = False
    if args.skip_below is not None:
        if args.skip_below < 0:
            raise EvalError(
                f"--skip-below must be 0 (backpropagate every example) or a loss above 0, got {args.skip_below}"
            )
        config.adapter.skip_below = args.skip_below
    config.adapter.compile = args.compile
    if args.tool_style is not None:
        config.tool_style = args.tool_style
    if args.said_values is not None:
        config.said_values = args.said_values
    if args.programs is not None:
        from agentroute.program_library import read_programs

        read_programs(args.programs)  # a clear error before the model loads
        config.programs = args.programs
    data = Path(args.data)
    if not (data / "train.jsonl").is_file():
        raise EvalError(f"{data} has no train.jsonl; build one with `agentroute data build --out {data}`")
    with _progress(Console(stderr=True)) as progress:
        manifest = train_pack(args.model, data, Path(args.out), config, command_line(), progress, args.resume)
    console = Console()
    console.print(f"route pack written to {args.out}")
    console.print_json(json.dumps({"training": manifest["training"], "metrics": manifest["metrics"]}, default=str))
    return 0


def _store_only(args) -> int:
    from agentroute.evaluation.steps import EvalError
    from agentroute.training.pack_store import add_reply_store

    given = [(name, getattr(args, name)) for name, default in args.recorded_defaults.items()
             if getattr(args, name) != default]  # fmt: skip
    if given:
        # a value False here is the --no- form of a flag whose default is unset
        flags = ", ".join(("--no-" if value is False else "--") + name.replace("_", "-") for name, value in given)
        raise EvalError(f"--store-only uses the settings {args.out}/pack.json records; drop {flags}")
    with _progress(Console(stderr=True)) as progress:
        manifest = add_reply_store(args.model, Path(args.data), Path(args.out), progress)
    Console().print(f"reply store of {args.out}: {manifest.get('replies') or 'none (no free-text steps to store)'}")
    return 0


@contextlib.contextmanager
def _progress(err: Console):
    """A live bar per stage on a terminal; plain lines in a log file, where rich's bar would stay
    blank until the run ends (``progress_lines``)."""
    if int(os.environ.get("RANK", "0")) != 0:  # `accelerate launch`/torchrun: the main process reports
        yield lambda label, done, total: None
        return
    if not err.is_terminal:
        yield ProgressLines(err)
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), RateColumn(), TimeElapsedColumn())
    # ETA from the last few minutes' rate: resumed runs start mid-way, and stages differ in speed.
    with Progress(*columns, TimeRemainingColumn(), console=err, speed_estimate_period=300) as bar:
        tasks: dict[str, int] = {}

        def progress(label: str, done: int, total: int) -> None:
            if label not in tasks:
                # A resumed stage starts where it stopped: no burst of "done" items in its rate.
                tasks[label] = bar.add_task(label, total=total, completed=max(0, done - 1))
            bar.update(tasks[label], completed=done)

        yield progress
