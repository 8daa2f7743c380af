"""A LangGraph ReAct agent on the embedded model, with a layer program chosen per agent step.

    python demos/react_agent.py [--tasks N] [--max-steps 8] [--max-new-tokens 96] [--no-compare-full]

``langchain.agents.create_agent`` drives ``ChatLayerRoute`` with four real local tools (calculator,
unit conversion, document search, date arithmetic) on five tasks. Each model step is typed
(tool_call, final_answer, ...) and run at the depth the policy gives that type; the live table
shows every step's type, decode mode, layers, draft acceptance, tokens and latency. The trace goes
to runs/react_agent.jsonl and its plot to runs/react_agent.png.

The model runs with the default route pack (``agentroute/packs/default``): a LoRA adapter trained
for tool calls and for staying faithful when layers are skipped, a router, and the pack's depth
policy, decoded losslessly: each step's program drafts tokens and full depth verifies them, so the
replies are full depth's. ``--compare-full`` (on by default) then runs the same tasks at full depth
and with every model step run by stock transformers ``generate()`` in float32 on the same weights
(``stock_chat.py``), one after another in this process, and closes with the three episode times.
``--pack DIR`` runs a pack you trained instead; ``--no-pack`` runs the bare embedded 135M model,
which writes no valid tool call zero-shot.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from agent_tools import TASKS, TOOLS, answer_is_correct
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import StructuredTool
from langchain_layerroute import ChatLayerRoute
from langgraph.errors import GraphRecursionError
from rich import box
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from stock_chat import STOCK_DTYPE, StockChat, load_stock

from agentroute import LayerProgram, StepRecord, Trace
from agentroute.trace.plot import plot_trace

# Without a pack: tool-call steps are the most constrained output, so they get the cheapest program.
NO_PACK_POLICY = {"budgets": {"tool_call": 0.8, "final_answer": 0.9}}
# The tool list and the call format are appended by AgentRoute; this only says when to use them.
SYSTEM = (
    "You are a precise assistant. Use a tool for arithmetic, unit conversions, dates and questions "
    "about the company handbook. When a tool result arrives, answer in one short sentence that "
    "states the result."
)
RUNS = Path("runs")
STOCK_LABEL = f"stock transformers {STOCK_DTYPE}"
STEP_NOTE = (
    "layers: layers run per token of {n} (lossless: the full-depth verifier's); draft: layers of the "
    "program that proposed tokens (lookup: tokens copied from the context); accepted: proposed tokens "
    "the verifier kept; tokens: prompt / reply"
)


@dataclass
class Episode:
    """One pass over the tasks: each task's answer and whether it is right, the steps, the wall time."""

    label: str
    answers: list[tuple[str, bool]] = field(default_factory=list)
    rows: list[tuple[int, StepRecord]] = field(default_factory=list)  # (task number, step)
    seconds: float = 0.0

    @property
    def records(self) -> list[StepRecord]:
        return [record for _, record in self.rows]

    @property
    def correct(self) -> int:
        return sum(ok for _, ok in self.answers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=len(TASKS), help="run the first N tasks")
    parser.add_argument("--max-steps", type=int, default=8, help="LangGraph recursion limit per task")
    parser.add_argument("--max-new-tokens", type=int, default=96, help="token limit per model step")
    parser.add_argument(
        "--compare-full",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run every task at full depth and with stock transformers generate(), and compare the times "
        "(--no-compare-full skips both)",
    )
    parser.add_argument(
        "--pack",
        default="default",
        help="route pack to run with: 'default' (shipped) or the folder `agentroute train` wrote",
    )
    parser.add_argument("--no-pack", action="store_true", help="run the bare model, without a route pack")
    parser.add_argument("--json", type=Path, default=None, help="also write the episode summaries as JSON here")
    args = parser.parse_args()

    console = Console()
    tasks = TASKS[: max(1, args.tasks)]
    tools = [StructuredTool.from_function(fn) for fn in TOOLS]
    if args.no_pack:
        chat = ChatLayerRoute(pack=None, policy=NO_PACK_POLICY, max_new_tokens=args.max_new_tokens)
    else:
        chat = ChatLayerRoute(pack=args.pack, max_new_tokens=args.max_new_tokens)
    started = time.perf_counter()
    with console.status("loading SmolLM2-135M-Instruct (first run converts the GGUF file once)"):
        routed = chat.routed_model
    budgets = {t.value: b for t, b in routed.policy.budgets.items()}
    dtype = str(routed.dtype).removeprefix("torch.")
    console.print(
        f"loaded {routed} in {time.perf_counter() - started:.1f}s ({dtype}); pack {routed.pack or 'none'}; "
        f"budgets {budgets}\n"
    )

    label = "routed, no pack" if args.no_pack else "as shipped" if args.pack == "default" else "routed"
    trace_path, plot_path = RUNS / "react_agent.jsonl", RUNS / "react_agent.png"
    with Live(console=console, refresh_per_second=4) as live:
        shipped = run_episode(
            label,
            chat,
            tools,
            tasks,
            args.max_steps,
            trace_path,
            lambda episode, running: live.update(render(episode, tasks, routed.n_layers, running)),
        )
    console.print()  # a terminal-less Live leaves its last frame without a line end
    plot_trace(shipped.records, plot_path)
    runs = [shipped]
    if args.compare_full:
        full = ChatLayerRoute(mode="full", routed_model=routed, max_new_tokens=args.max_new_tokens)
        runs.append(compare("full depth", full, tools, tasks, args.max_steps, console))
        with console.status(f"loading the same weights in {STOCK_DTYPE} for stock generate()"):
            stock = StockChat(
                routed_model=load_stock(None if args.no_pack else args.pack), max_new_tokens=chat.max_new_tokens
            )
        runs.append(compare(STOCK_LABEL, stock, tools, tasks, args.max_steps, console))
    print_summary(console, runs)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([episode_summary(run) for run in runs], indent=2) + "\n")
    console.print(f"trace: {trace_path}   plot: {plot_path}   (agentroute trace show {trace_path})")
    console.print(closing_line(runs))


def compare(label, chat, tools, tasks, max_steps, console: Console) -> Episode:
    """Run the tasks again for comparison, with a one-line progress note instead of the step table."""
    with console.status(f"{label}: running the tasks again") as status:

        def show(episode: Episode, running: int | None) -> None:
            status.update(f"{label}: task {running or len(episode.answers)}/{len(tasks)}, {len(episode.rows)} steps")

        return run_episode(label, chat, tools, tasks, max_steps, None, show)


def run_episode(label, chat, tools, tasks, max_steps, trace_path, show: Callable[[Episode, int | None], None]):
    """Run every task through a fresh ReAct agent, calling ``show(episode, task running)`` after each step."""
    agent = create_agent(chat, tools, system_prompt=SYSTEM)
    episode = Episode(label)
    # Each episode starts cold: the model keeps the last prompt's KV cache, and without this the
    # runs after the first would reuse its system prompt and tools (509 tokens) on their first step.
    chat.routed_model.prefix_cache.forget()
    if trace_path is not None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        trace_path.unlink(missing_ok=True)  # the trace appends; start clean so it matches the plot
    started = time.perf_counter()
    with Trace(trace_path) as trace:
        for number, task in enumerate(tasks, start=1):
            show(episode, number)
            answer = "(no answer)"
            try:
                for state in agent.stream(
                    {"messages": [HumanMessage(task["question"])]},
                    config={"recursion_limit": max_steps},
                    stream_mode="values",
                ):
                    last = state["messages"][-1]
                    if isinstance(last, AIMessage):
                        answer = last.content or answer
                    episode.rows.extend((number, r) for r in trace.records[len(episode.rows) :])
                    show(episode, number)
            except GraphRecursionError:
                answer = f"(stopped after {max_steps} graph steps) {answer}"
            answer = " ".join(answer.split())
            episode.answers.append((answer, answer_is_correct(answer, task["answer"])))
            episode.rows.extend((number, r) for r in trace.records[len(episode.rows) :])
            show(episode, None)
    episode.seconds = time.perf_counter() - started
    return episode


def render(episode: Episode, tasks: list[dict], n_layers: int, running: int | None) -> Group:
    """The step table (one row per model step, a rule between tasks) and the task table."""
    steps = _table(f"ReAct agent, {episode.label}: one row per model step", collapse_padding=True)
    steps.caption, steps.caption_justify = STEP_NOTE.format(n=n_layers), "left"
    for column in ("step", "task", "type", "mode", "layers", "draft", "accepted", "tokens", "s"):
        steps.add_column(column, no_wrap=True, justify="left" if column in ("type", "mode") else "right")
    for index, (task, rec) in enumerate(episode.rows):
        last_of_task = index + 1 == len(episode.rows) or episode.rows[index + 1][0] != task
        steps.add_row(
            str(index + 1),
            str(task) if index == 0 or episode.rows[index - 1][0] != task else "",
            rec.step_type.value,
            rec.mode,
            *step_layers(rec, n_layers),
            f"{rec.prompt_tokens} / {rec.completion_tokens}",
            f"{rec.latency_s:.2f}",
            end_section=last_of_task,
        )
    answers = _table("\ntasks")
    answers.add_column("task", no_wrap=True)
    answers.add_column("question", ratio=1)
    answers.add_column("expected", no_wrap=True)
    answers.add_column("answer", ratio=1)
    for number, task in enumerate(tasks, start=1):
        if number <= len(episode.answers):
            text, ok = episode.answers[number - 1]
            shown = f"[green]✓[/green] {text[:80]}" if ok else f"[red]✗[/red] {text[:80]}"
        else:
            shown = "[yellow]running…[/yellow]" if number == running else ""
        answers.add_row(str(number), task["question"], task["answer"], shown)
    return Group(steps, answers)


def _table(title: str, **options) -> Table:
    return Table(title=title, title_justify="left", box=box.SIMPLE_HEAD, show_edge=False, **options)


def step_layers(rec: StepRecord, n_layers: int) -> tuple[str, str, str]:
    """(layers, draft, accepted) for a step: the decode program's depth out of the model's layers
    (lossless: the verifier's), the draft program's depth or "lookup" when only the context drafted,
    and the proposed tokens the verifier kept."""
    layers = f"{len(LayerProgram.parse(rec.program, n_layers))}/{n_layers}"
    if rec.mode != "lossless":
        return layers, "", ""
    draft = LayerProgram.parse(rec.draft_program or rec.program, n_layers)
    shown = "lookup" if draft.is_full else f"{len(draft)}/{n_layers}"
    if rec.draft_weights == "int8" and not draft.is_full:
        shown += " int8"
    kept = (rec.accepted_tokens or 0) + (rec.looked_up_accepted or 0)
    proposed = (rec.drafted_tokens or 0) + (rec.looked_up_tokens or 0)
    return layers, shown, f"{kept}/{proposed}" if proposed else "-"


def episode_summary(episode: Episode) -> dict:
    """Machine-readable episode numbers (``agentroute bench`` reads them)."""
    records = episode.records
    return {
        "label": episode.label,
        "tasks": len(episode.answers),
        "correct": episode.correct,
        "episode_s": episode.seconds,
        "model_steps": len(records),
        "valid_tool_calls": sum(len(r.tool_calls) for r in records),
        "prompt_tokens": sum(r.prompt_tokens for r in records),
        "completion_tokens": sum(r.completion_tokens for r in records),
        "model_s": sum(r.latency_s for r in records),
        "mean_layers_fraction": sum(r.layers_fraction for r in records) / len(records) if records else None,
    }


def print_summary(console: Console, runs: list[Episode]) -> None:
    table = _table("\nepisodes, one after another in this process")
    table.add_column("", no_wrap=True)
    for run in runs:
        table.add_column(run.label, justify="right")
    n_tasks = len(runs[0].answers)
    table.add_row("tasks correct", *(f"{run.correct}/{n_tasks}" for run in runs))
    if len(runs) > 1:  # lossless decoding answers what full depth answers
        full = [text for text, _ in runs[1].answers]
        same = (sum(a == b for (a, _), b in zip(run.answers, full, strict=True)) for run in runs)
        table.add_row("answers same as full depth", *(f"{n}/{n_tasks}" for n in same))
    numbers = [episode_summary(run) for run in runs]
    table.add_row("model steps", *(str(n["model_steps"]) for n in numbers))
    table.add_row("valid tool calls", *(str(n["valid_tool_calls"]) for n in numbers))
    table.add_row("tokens in / out", *(f"{n['prompt_tokens']} / {n['completion_tokens']}" for n in numbers))
    table.add_row("model time s", *(f"{n['model_s']:.1f}" for n in numbers))
    table.add_row("episode time s", *(f"{n['episode_s']:.1f}" for n in numbers))
    console.print(table)


def closing_line(runs: list[Episode]) -> str:
    """Answers correct and the episode time as shipped against the comparison runs."""
    first, n = runs[0], len(runs[0].answers)
    line = f"{first.label}: {first.correct}/{n} answers correct, episode {first.seconds:.1f} s"
    if len(runs) == 1:
        return line + " (--no-compare-full: full depth and stock transformers not timed)"
    for run in runs[1:]:
        ratio = run.seconds / first.seconds
        line += f"; {run.label}: {run.seconds:.1f} s ({ratio:.2f}x as long, {run.correct}/{n} correct)"
    return (
        f"{line}. Stock transformers is generate() in {STOCK_DTYPE} on the same weights; the episodes ran one "
        "after another in this process."
    )


if __name__ == "__main__":
    main()
