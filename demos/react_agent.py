"""A LangGraph ReAct agent on the embedded model, with a layer program chosen per agent step.

    python demos/react_agent.py [--tasks N] [--max-steps 8] [--max-new-tokens 96] [--no-compare-full]

``langchain.agents.create_agent`` drives ``ChatLayerRoute`` with four real local tools (calculator,
unit conversion, document search, date arithmetic) on five tasks. Each model step is typed
(tool_call, final_answer, ...) and run at the depth the policy gives that type; the live table
shows every step's type, layers, tokens and latency. The trace goes to runs/react_agent.jsonl and
its plot to runs/react_agent.png.

The model runs with the default route pack (``agentroute/packs/default``): a LoRA adapter trained
for tool calls and for staying faithful when layers are skipped, a router, and the pack's depth
policy (tool calls at 60% of the layer cost, final answers at 90%, planning and reasoning at full
depth), decoded losslessly: each step's program drafts and full depth verifies, so the replies are
full depth's and ``--compare-full`` shows what that costs or saves on this machine. ``--no-pack``
runs the bare embedded 135M model instead, which writes no valid tool call zero-shot.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent_tools import TASKS, TOOLS, answer_is_correct
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage
from langchain_core.tools import StructuredTool
from langchain_layerroute import ChatLayerRoute
from langgraph.errors import GraphRecursionError
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from agentroute import StepRecord, Trace
from agentroute.trace.plot import plot_trace
from agentroute.trace.trace_file import summarize

# Without a pack: tool-call steps are the most constrained output, so they get the cheapest program.
NO_PACK_POLICY = {"budgets": {"tool_call": 0.8, "final_answer": 0.9}}
# The tool list and the call format are appended by AgentRoute; this only says when to use them.
SYSTEM = (
    "You are a precise assistant. Use a tool for arithmetic, unit conversions, dates and questions "
    "about the company handbook. When a tool result arrives, answer in one short sentence that "
    "states the result."
)
RUNS = Path("runs")


@dataclass
class Episode:
    """One pass over the tasks: what each task answered, the step records and the wall time."""

    label: str
    answers: list[tuple[str, bool]] = field(default_factory=list)
    records: list[StepRecord] = field(default_factory=list)
    seconds: float = 0.0

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
        help="also run every task at full depth and print both times (--no-compare-full skips it)",
    )
    parser.add_argument("--no-pack", action="store_true", help="run the bare model, without the default route pack")
    parser.add_argument("--json", type=Path, default=None, help="also write the episode summary as JSON here")
    args = parser.parse_args()

    console = Console()
    tasks = TASKS[: max(1, args.tasks)]
    tools = [StructuredTool.from_function(fn) for fn in TOOLS]
    if args.no_pack:
        chat = ChatLayerRoute(pack=None, policy=NO_PACK_POLICY, max_new_tokens=args.max_new_tokens)
    else:
        chat = ChatLayerRoute(pack="default", max_new_tokens=args.max_new_tokens)
    started = time.perf_counter()
    with console.status("loading SmolLM2-135M-Instruct (first run converts the GGUF file once)"):
        routed = chat.routed_model
    budgets = {t.value: b for t, b in routed.policy.budgets.items()}
    console.print(
        f"loaded {routed} in {time.perf_counter() - started:.1f}s; pack {routed.pack or 'none'}; budgets {budgets}\n"
    )

    trace_path, plot_path = RUNS / "react_agent.jsonl", RUNS / "react_agent.png"
    runs = [run_episode("routed", chat, tools, tasks, args.max_steps, trace_path, console)]
    plot_trace(runs[0].records, plot_path)
    if args.compare_full:
        full = ChatLayerRoute(mode="full", routed_model=routed, max_new_tokens=args.max_new_tokens)
        runs.append(run_episode("full depth", full, tools, tasks, args.max_steps, None, console))
    print_summary(console, runs, len(tasks))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps([episode_summary(run) for run in runs], indent=2) + "\n")
    console.print(f"trace: {trace_path}   plot: {plot_path}   (agentroute trace show {trace_path})")


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
        "mean_layers_fraction": sum(r.layers_fraction for r in records) / len(records) if records else None,
    }


def run_episode(label, chat, tools, tasks, max_steps, trace_path, console) -> Episode:
    """Run every task through a fresh ReAct agent, refreshing the live table after each step."""
    agent = create_agent(chat, tools, system_prompt=SYSTEM)
    episode = Episode(label)
    rows: list[tuple[int, StepRecord]] = []
    if trace_path is not None:
        trace_path.parent.mkdir(parents=True, exist_ok=True)
        trace_path.unlink(missing_ok=True)  # the trace appends; start clean so it matches the plot
    started = time.perf_counter()
    with Trace(trace_path) as trace, Live(console=console, refresh_per_second=4) as live:
        for number, task in enumerate(tasks, start=1):
            live.update(_render(label, rows, tasks, episode, running=number))
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
                    rows.extend((number, r) for r in trace.records[len(rows) :])
                    live.update(_render(label, rows, tasks, episode, running=number))
            except GraphRecursionError:
                answer = f"(stopped after {max_steps} graph steps) {answer}"
            answer = " ".join(answer.split())
            episode.answers.append((answer, answer_is_correct(answer, task["answer"])))
            rows.extend((number, r) for r in trace.records[len(rows) :])
            live.update(_render(label, rows, tasks, episode, running=None))
        episode.records = list(trace.records)
    episode.seconds = time.perf_counter() - started
    console.print()  # a terminal-less Live leaves its last frame without a line end
    return episode


def _render(label: str, rows, tasks, episode: Episode, running: int | None) -> Group:
    steps = Table(title=f"ReAct agent, {label}: one row per model step", title_justify="left")
    # task.graph step | graph node | predicted step type | layers run per token | tokens | seconds | outcome
    for column in ("step", "node", "type", "layers", "in / out", "s", "reply"):
        steps.add_column(column, no_wrap=True, justify="right" if column in ("layers", "in / out", "s") else "left")
    for number, rec in rows:
        n_layers = round(rec.layers_per_token / rec.layers_fraction) if rec.layers_fraction else rec.layers_per_token
        steps.add_row(
            f"{number}.{rec.hints.get('agent_step', '?')}",
            str(rec.hints.get("langgraph_node", "")),
            rec.step_type.value,
            f"{rec.layers_per_token}/{n_layers}",
            f"{rec.prompt_tokens} / {rec.completion_tokens}",
            f"{rec.latency_s:.2f}",
            _reply(rec),
        )
    answers = Table(title="tasks", title_justify="left")
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


def _reply(rec: StepRecord) -> str:
    """What the step produced, in a few words (arguments and parser errors are in the trace)."""
    if rec.tool_calls:
        return "[green]" + ", ".join(c.name for c in rec.tool_calls) + "[/green]"
    if rec.error:
        return "[red]bad tool call[/red]"
    return "text, cut off" if rec.finish_reason == "length" else "text"


def print_summary(console: Console, runs: list[Episode], n_tasks: int) -> None:
    table = Table(title="summary")
    table.add_column("")
    for run in runs:
        table.add_column(run.label)
    stats = [summarize(run.records) for run in runs]
    table.add_row("tasks correct", *(f"{run.correct}/{n_tasks}" for run in runs))
    table.add_row("model steps", *(str(s["all"]["count"]) for s in stats))
    table.add_row("valid tool calls", *(str(sum(len(r.tool_calls) for r in run.records)) for run in runs))
    table.add_row(
        "tokens in / out",
        *(f"{s['all']['prompt_tokens']} / {s['all']['completion_tokens']}" for s in stats),
    )
    table.add_row("model time s", *(f"{s['all']['latency_s']:.1f}" for s in stats))
    table.add_row("episode time s", *(f"{run.seconds:.1f}" for run in runs))
    for step_type in ("tool_call", "planning", "reasoning", "final_answer", "other"):
        if any(step_type in s for s in stats):
            table.add_row(
                f"mean layers, {step_type}",
                *(
                    f"{s[step_type]['mean_layers_fraction']:.0%} ({s[step_type]['count']} steps)"
                    if step_type in s
                    else "-"
                    for s in stats
                ),
            )
    console.print(table)
    if len(runs) == 2:
        routed, full = runs
        console.print(
            f"episode time: routed {routed.seconds:.1f}s vs full depth {full.seconds:.1f}s "
            f"({routed.correct} vs {full.correct} of {n_tasks} correct)"
        )


if __name__ == "__main__":
    main()
