"""``agentroute trace show FILE`` and ``agentroute trace plot FILE -o OUT.png``."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from agentroute.errors import AgentRouteError
from agentroute.steps.records import StepRecord
from agentroute.trace.trace_file import read_trace, summarize


def add_trace_commands(commands: argparse._SubParsersAction) -> None:
    """Register the ``trace`` command group on the main parser's subcommands."""
    trace = commands.add_parser("trace", help="inspect a JSONL trace written by agentroute.Trace")
    actions = trace.add_subparsers(dest="trace_command", required=True)

    show = actions.add_parser("show", help="print every step and a summary per step type")
    show.add_argument("file", help="JSONL trace file")
    show.set_defaults(run=_show)

    plot = actions.add_parser("plot", help="draw layers, tokens and latency per step as a PNG")
    plot.add_argument("file", help="JSONL trace file")
    plot.add_argument("-o", "--output", required=True, help="PNG file to write")
    plot.add_argument("--dpi", type=int, default=150)
    plot.set_defaults(run=_plot)


def _show(args) -> int:
    records = read_trace(args.file)
    console = Console()
    if not records:
        console.print(f"{escape(args.file)}: no steps recorded")
        return 0
    console.print(_steps_table(records, title=f"{escape(args.file)}: {len(records)} steps"))
    console.print(_summary_table(records))
    return 0


def _plot(args) -> int:
    from agentroute.trace.plot import plot_trace  # matplotlib is slow to import; only this command needs it

    records = read_trace(args.file)
    try:
        out = plot_trace(records, args.output, dpi=args.dpi)
    except OSError as exc:
        raise AgentRouteError(f"cannot write {args.output}: {exc.strerror or exc}") from exc
    Console().print(f"wrote {escape(str(out))}")
    return 0


def _steps_table(records: list[StepRecord], title: str) -> Table:
    table = Table(title=title)
    table.add_column("#", justify="right")
    table.add_column("step type (predicted/observed, source)")
    table.add_column("program")
    table.add_column("layers", justify="right")
    table.add_column("prompt", justify="right")
    table.add_column("compl.", justify="right")
    table.add_column("ttft s", justify="right")
    table.add_column("latency s", justify="right")
    table.add_column("tok/s", justify="right")
    table.add_column("error", style="red", overflow="fold")
    for index, r in enumerate(records, start=1):
        table.add_row(
            str(index),
            _step_type_cell(r),
            escape(r.program),
            f"{r.layers_fraction:.0%}",
            f"{r.prompt_tokens}" + (f" ({r.reused_prompt_tokens} reused)" if r.reused_prompt_tokens else ""),
            str(r.completion_tokens),
            f"{r.ttft_s:.3f}",
            f"{r.latency_s:.3f}",
            _number(r.decode_tokens_per_s, "{:.1f}"),
            escape(r.error or ""),
        )
    return table


def _step_type_cell(r: StepRecord) -> str:
    predicted = r.step_type.value
    if r.step_type_observed is None:
        observed = "?"
    elif r.step_type_observed == r.step_type:
        observed = f"[green]{r.step_type_observed.value}[/green]"
    else:
        observed = f"[red]{r.step_type_observed.value}[/red]"
    return f"{predicted}/{observed} ({r.step_type_source})"


def _summary_table(records: list[StepRecord]) -> Table:
    table = Table(title="summary per step type")
    for name in ("step type", "steps", "prompt", "compl.", "latency s", "mean s", "mean layers", "mean tok/s"):
        table.add_column(name, justify="left" if name == "step type" else "right")
    table.add_column("errors", justify="right")
    table.add_column("type accuracy", justify="right")
    for name, s in summarize(records).items():
        table.add_row(
            f"[bold]{name}[/bold]" if name == "all" else name,
            str(s["count"]),
            str(s["prompt_tokens"]),
            str(s["completion_tokens"]),
            f"{s['latency_s']:.3f}",
            _number(s["mean_latency_s"], "{:.3f}"),
            _number(s["mean_layers_fraction"], "{:.0%}"),
            _number(s["mean_decode_tokens_per_s"], "{:.1f}"),
            str(s["errors"]),
            _number(s["step_type_accuracy"], "{:.0%}") + (f" of {s['observed']}" if s["observed"] else ""),
        )
    return table


def _number(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
