"""``agentroute eval STEPS.jsonl --modes full,routed --json OUT.json``: routed vs full depth on agent steps.

Progress, problems and (with ``--json -``) the summary table go to stderr, so stdout carries only
the JSON when it is asked for there. The output format is documented in ``agentroute.evaluation``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich import box
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from agentroute.cli.quantization_option import add_quantization_option
from agentroute.evaluation import EvalError, evaluate, load_steps, parse_modes


def add_eval_commands(commands: argparse._SubParsersAction) -> None:
    """Register the ``eval`` command on the main parser's subcommands."""
    ev = commands.add_parser("eval", help="compare routed decoding with full depth on a file of agent steps")
    ev.add_argument("steps", help="JSONL steps file, or a trace recorded with Trace(..., include_messages=True)")
    ev.add_argument(
        "--modes", default="full,routed", help="comma-separated: full, routed, lossless (full is always run)"
    )
    ev.add_argument("--model", default="default", help="'default', a checkpoint directory or a .gguf file")
    ev.add_argument("--pack", default=None, help="route pack: 'default' or a directory from `agentroute train`")
    ev.add_argument("--policy", default=None, help="depth policy YAML or TOML file (budget per step type)")
    add_quantization_option(ev)
    ev.add_argument("--dtype", default=None, help="bfloat16, float32 or float16 (default: detected)")
    ev.add_argument("--repeats", type=int, default=1, help="runs per step and mode; speed is their median")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--limit", type=int, default=None, help="evaluate only the first N good steps")
    ev.add_argument(
        "--per-type",
        default=None,
        metavar="SPEC",
        help="the first steps of each type, in file order: N for every type, or e.g. tool_call=60,planning=12 "
        "(types not named are left out)",
    )
    ev.add_argument(
        "--per-category",
        default=None,
        metavar="SPEC",
        help="the first steps of each category (the steps' 'category' field: simple, multiple, parallel, "
        "no_tool_fits, real_world, ...), in file order: N for every category, or e.g. parallel=30,simple=20",
    )
    ev.add_argument(
        "--step-types",
        action="store_true",
        help="only check step-type prediction: withhold each step's type and compare the routing decision with it",
    )
    ev.add_argument("--json", dest="json_out", metavar="OUT", default=None, help="write the report here ('-': stdout)")
    ev.set_defaults(run=_eval)


def _eval(args) -> int:
    from agentroute.loading import load

    modes = parse_modes(args.modes)  # before any slow work: a typo should fail at once
    if args.repeats < 1:
        raise EvalError(f"--repeats must be at least 1, got {args.repeats}")
    if args.limit is not None and args.limit < 1:
        raise EvalError(f"--limit must be at least 1, got {args.limit}")
    out = _output_path(args.json_out)
    err = Console(stderr=True)
    caps = _per_type(args.per_type) if args.per_type is not None else None
    category_caps = _per_category(args.per_category) if args.per_category is not None else None
    steps, problems = load_steps(args.steps, limit=args.limit)
    if caps is not None:
        steps = _first_per(steps, caps, lambda s: s.step_type.value if s.step_type is not None else None)
    if category_caps is not None:
        unknown = sorted(set(category_caps) - {None} - {s.category for s in steps})
        if unknown:
            present = ", ".join(sorted({s.category for s in steps if s.category})) or "none"
            raise EvalError(f"--per-category names {unknown}, which no step has; categories in the file: {present}")
        steps = _first_per(steps, category_caps, lambda s: s.category)
    _report_problems(err, [p.to_dict() for p in problems])
    if not steps:
        raise EvalError(f"nothing to evaluate: no usable step in {args.steps} ({len(problems)} problem(s) above)")
    model = load(args.model, quantization=args.quantization, dtype=args.dtype, pack=args.pack, policy=args.policy)
    if args.step_types:
        return _step_types(model, steps, out)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, TimeRemainingColumn(), console=err) as bar:
        task = bar.add_task("evaluating", total=len(steps) * args.repeats * len(modes))
        report = evaluate(
            model,
            steps,
            modes=modes,
            repeats=args.repeats,
            seed=args.seed,
            progress=lambda done, total, label: bar.update(task, completed=done, description=label),
        )
    _report_problems(err, report["problems"])
    report["problems"] = [p.to_dict() for p in problems] + report["problems"]
    if not report["modes"]["full"]["steps"]:
        raise EvalError("nothing could be evaluated: every step failed (see the problems above)")
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if out is None or out == "-":
        if out == "-":
            sys.stdout.write(text + "\n")
        _summary_table(err if out == "-" else Console(), report)
        return 0
    try:
        out.write_text(text + "\n", encoding="utf-8")
    except OSError as exc:
        raise EvalError(f"cannot write {out}: {exc.strerror or exc}") from exc
    console = Console()
    _summary_table(console, report)
    console.print(f"wrote {out}", markup=False, highlight=False)
    return 0


def _step_types(model, steps, out) -> int:
    from agentroute.evaluation.step_typing import step_type_report

    report = {"model": model.name, "pack": str(model.pack) if model.pack else None, **step_type_report(model, steps)}
    text = json.dumps(report, indent=2)
    if out is None or out == "-":
        sys.stdout.write(text + "\n")
    else:
        out.write_text(text + "\n", encoding="utf-8")
    accuracy = report["accuracy"]
    Console(stderr=True).print(
        f"step-type accuracy {accuracy:.1%} on {report['n']} steps; per type {report['by_type']}",
        markup=False,
        highlight=False,
    )
    return 0


def _per_type(spec: str) -> dict[str | None, int]:
    """``"12"`` -> {None: 12} (every type); ``"tool_call=60,planning=12"`` -> those types only."""
    from agentroute.errors import AgentRouteError
    from agentroute.steps.step_types import parse_step_type

    def count(text: str) -> int:
        if not text.strip().isdigit() or int(text) < 1:
            raise EvalError(f"--per-type: {text!r} is not a positive step count (e.g. tool_call=60,planning=12)")
        return int(text)

    if "=" not in spec:
        return {None: count(spec)}
    caps: dict[str | None, int] = {}
    for part in spec.split(","):
        name, _, value = part.partition("=")
        try:
            step_type = parse_step_type(name.strip())
        except AgentRouteError as exc:
            raise EvalError(f"--per-type: {exc}") from None
        caps[step_type.value] = count(value)
    return caps


def _per_category(spec: str) -> dict[str | None, int]:
    """``"20"`` -> {None: 20} (every category); ``"parallel=30,simple=20"`` -> those categories only."""
    parts = [part.partition("=") for part in spec.split(",")]
    caps: dict[str | None, int] = {}
    for name, sep, value in parts:
        text = value if sep else name
        if not text.strip().isdigit() or int(text) < 1:
            raise EvalError(f"--per-category: {text!r} is not a positive step count (e.g. parallel=30,simple=20)")
        caps[name.strip() if sep else None] = int(text)
    return caps


def _first_per(steps, caps: dict[str | None, int], key):
    """The first ``caps[key(step)]`` steps of each kind (``caps[None]`` for any), in file order."""
    seen: dict[str | None, int] = {}
    kept = []
    for step in steps:
        kind = key(step)
        cap = caps.get(kind, caps.get(None, 0))
        if seen.get(kind, 0) < cap:
            seen[kind] = seen.get(kind, 0) + 1
            kept.append(step)
    return kept


def _output_path(value: str | None) -> Path | str | None:
    """``-``, None or a path whose folder exists (checked now, not after a long run)."""
    if value is None or value == "-":
        return value
    path = Path(value)
    if not path.parent.is_dir():
        raise EvalError(f"cannot write {path}: folder {path.parent} does not exist")
    return path


def _report_problems(err: Console, problems: list[dict[str, Any]]) -> None:
    for p in problems:
        where = f"line {p['line']}" if p["line"] is not None else "step"
        label = f" ({p['id']})" if p["id"] else ""
        err.print(f"agentroute eval: {where}{label}: {p['error']}", style="yellow", markup=False, highlight=False)


def _summary_table(console: Console, report: dict[str, Any]) -> None:
    """One table per mode; short headers so it fits an 80-column terminal."""
    headers = ("step type", "n", "layers", "speedup", "=full", "prefix", "forced", "calls", "acc.")
    for mode, data in report["modes"].items():
        title = "full depth (the reference)" if mode == "full" else f"{mode} vs full depth"
        table = Table(title=f"{report['model']}: {title}", box=box.SIMPLE_HEAD, pad_edge=False)
        for name in headers:
            table.add_column(name, justify="left" if name == "step type" else "right", no_wrap=True)
        for step_type, s in data["summary"].items():
            table.add_row(
                f"[bold]{step_type}[/bold]" if step_type == "all" else step_type,
                str(s["n"]),
                _fmt(s["layers_fraction"], "{:.0%}"),
                _fmt(s["decode_speedup"], "{:.2f}x"),
                _fmt(s["matches_full"], "{:.0%}"),
                _fmt(s["token_agreement"], "{:.2f}"),
                _fmt(s["forced_agreement"], "{:.2f}"),
                _fmt(s["tool_calls_match_full"], "{:.0%}"),
                _fmt(s["accuracy"], "{:.0%}"),
            )
        console.print(table)
    categories = report["modes"]["full"].get("categories", {})
    if set(categories) - {"all"} != {s["step_type"] for s in report["modes"]["full"]["steps"]}:
        table = Table(title=f"{report['model']}: accuracy per category", box=box.SIMPLE_HEAD, pad_edge=False)
        for name in ("category", "n", *(f"acc. {mode}" for mode in report["modes"])):
            table.add_column(name, justify="left" if name == "category" else "right", no_wrap=True)
        for category, s in categories.items():
            row = [_fmt(report["modes"][m]["categories"][category]["accuracy"], "{:.0%}") for m in report["modes"]]
            table.add_row(f"[bold]{category}[/bold]" if category == "all" else category, str(s["n"]), *row)
        console.print(table)
    for mode, data in report["modes"].items():
        errors = data["summary"]["all"].get("call_errors") or {}
        if errors:
            kinds = ", ".join(f"{kind} {n}" for kind, n in errors["kinds"].items())
            arguments = ", ".join(f"{problem} {n}" for problem, n in list(errors["arguments"].items())[:8])
            line = f"wrong calls ({mode}): {kinds}" + (f"; arguments: {arguments}" if arguments else "")
            console.print(line, markup=False, highlight=False)
    console.print(
        "=full: replies identical to full depth; prefix/forced: common-prefix and teacher-forced agreement; "
        "calls: tool calls equal to full depth's; acc.: calls equal to the expected ones",
        style="dim",
        markup=False,
        highlight=False,
    )


def _fmt(value: float | None, fmt: str) -> str:
    return "-" if value is None else fmt.format(value)
