"""Haystack Agent demo: LayerRouteGenerator runs each agent step with its own layer program.

    python demos/haystack_agent.py [--compare-full] [--max-steps 4] [--policy policy.yaml]

A Haystack ``Agent`` answers the five demo tasks with real local tools (calculator, unit
conversion, document search, date arithmetic). For every task it prints the answer, whether it is
correct, and each model step: its type, the layers it ran and its tokens. All steps go to the
trace ``runs/haystack_agent.jsonl`` and its plot. ``--compare-full`` runs the tasks again at full
depth with the same loaded model. The demo also saves a small pipeline (prompt builder ->
LayerRouteGenerator) as ``demos/haystack_pipeline.yaml`` and loads it back.

The generator uses the default route pack (a LoRA adapter trained for tool calls and skipped
layers, a router and its depth policy); ``--policy`` replaces the pack's budgets.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # these machines are offline

from haystack import Pipeline
from haystack.components.agents import Agent
from haystack.components.builders import ChatPromptBuilder
from haystack.dataclasses import ChatMessage, ChatRole
from haystack.tools import create_tool_from_function
from haystack_integrations.components.generators.layerroute import LayerRouteGenerator
from rich.console import Console
from rich.table import Table

from agentroute import Trace
from agentroute.trace.plot import plot_trace

sys.path.insert(0, str(Path(__file__).parent))
from agent_tools import TASKS, TOOLS, answer_is_correct  # noqa: E402

SYSTEM_PROMPT = (
    "You are a precise assistant. Use a tool for any arithmetic, unit conversion, handbook question or date "
    "calculation. When the tool results are in, answer in one short sentence that states the result."
)
TRACE_PATH = Path("runs/haystack_agent.jsonl")
PIPELINE_PATH = Path(__file__).parent / "haystack_pipeline.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--compare-full", action="store_true", help="run the tasks again at full depth")
    parser.add_argument("--max-steps", type=int, default=4, help="agent steps per task (default 4)")
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--policy", help="a depth policy YAML/TOML file (default: the route pack's policy)")
    args = parser.parse_args()
    console = Console()

    generator = LayerRouteGenerator(
        pack="default", policy=args.policy, generation_kwargs={"max_new_tokens": args.max_new_tokens}
    )
    agent = Agent(
        chat_generator=generator,
        tools=[create_tool_from_function(f) for f in TOOLS],
        system_prompt=SYSTEM_PROMPT,
        max_agent_steps=args.max_steps,
    )
    with console.status("loading the model (the first run converts the GGUF file once)"):
        agent.warm_up()
    routed = generator.routed_model
    budgets = {t.value: b for t, b in routed.policy.budgets.items()}
    console.print(f"model: {routed}, pack: {routed.pack}, budgets: {budgets}\n")

    # One run per trace file, so the file and its plot show exactly this run.
    TRACE_PATH.unlink(missing_ok=True)
    runs = ["policy"] + (["full"] if args.compare_full else [])
    summary = []
    with Trace(TRACE_PATH) as trace:
        for label in runs:
            console.rule(f"[bold]{label}[/bold]")
            # The generator reads its mode per run: "full" decodes plainly at full depth, even
            # where the pack's policy decodes losslessly; "policy" leaves each step to the policy.
            generator.mode = label
            correct = 0
            start = len(trace.records)
            for task in TASKS:
                result = agent.run([ChatMessage.from_user(task["question"])])
                correct += show_task(console, task, result)
            records = trace.records[start:]
            summary.append((label, correct, records))
    generator.mode = "policy"  # the pipeline below is saved as users would configure it
    plot = plot_trace(trace.records, TRACE_PATH.with_suffix(".png"))
    show_summary(console, summary)
    console.print(f"trace: {TRACE_PATH} ({len(trace.records)} steps), plot: {plot}")
    save_and_reload_pipeline(console, generator)


def show_task(console: Console, task: dict, result: dict) -> bool:
    """Print one task's answer, its correctness and its model steps; True when correct."""
    answer = result["last_message"].text or ""
    ok = answer_is_correct(answer, task["answer"])
    console.print(f"[bold]{task['question']}[/bold]  (expected {task['answer']})")
    console.print(f"  answer: {' '.join(answer.split())[:200]!r}  ->  {'[green]correct' if ok else '[red]wrong'}")
    replies = [m for m in result["messages"] if m.role == ChatRole.ASSISTANT and "layerroute" in m.meta]
    for i, reply in enumerate(replies, start=1):
        rec = reply.meta["layerroute"]
        calls = ", ".join(f"{c.tool_name}({c.arguments})" for c in reply.tool_calls) or "-"
        console.print(
            f"  step {i} {rec['step_type']:<12} layers {rec['layers_per_token']:>2} ({rec['program']}), "
            f"tokens {rec['prompt_tokens']}->{rec['completion_tokens']}, {rec['latency_s']:.1f}s, calls: {calls}"
        )
        if rec["error"]:
            console.print(f"    [dim]tool-call error: {rec['error'][:160]}[/dim]")
    console.print(f"  agent steps: {result['step_count']}, exit: {result['exit_reason']}\n")
    return ok


def show_summary(console: Console, summary: list) -> None:
    table = Table(title="Haystack Agent on the demo tasks")
    for column in ("depth", "correct", "model steps", "tokens in/out", "mean layers/token", "time s"):
        table.add_column(column)
    for label, correct, records in summary:
        n = len(records) or 1
        table.add_row(
            label,
            f"{correct}/{len(TASKS)}",
            str(len(records)),
            f"{sum(r.prompt_tokens for r in records)}/{sum(r.completion_tokens for r in records)}",
            f"{sum(r.layers_per_token for r in records) / n:.1f} ({sum(r.layers_fraction for r in records) / n:.0%})",
            f"{sum(r.latency_s for r in records):.1f}",
        )
    console.print(table)


def save_and_reload_pipeline(console: Console, generator: LayerRouteGenerator) -> None:
    """Save prompt builder -> LayerRouteGenerator as YAML and load it back.

    The Agent's tools point at functions in this demo folder, which Haystack's deserialization
    allow-list does not cover, so the saved example is a tool-free pipeline that loads as it is.
    """
    pipeline = Pipeline()
    template = [ChatMessage.from_system(SYSTEM_PROMPT), ChatMessage.from_user("{{question}}")]
    pipeline.add_component("prompt_builder", ChatPromptBuilder(template=template))
    pipeline.add_component(
        "llm", LayerRouteGenerator(policy=generator.policy, generation_kwargs=generator.generation_kwargs)
    )
    pipeline.connect("prompt_builder.prompt", "llm.messages")
    PIPELINE_PATH.write_text(pipeline.dumps())
    loaded = Pipeline.loads(PIPELINE_PATH.read_text())
    same = loaded.to_dict() == pipeline.to_dict()
    console.print(f"pipeline saved to {PIPELINE_PATH} and loaded back ({'identical' if same else 'DIFFERENT'}):")
    for connection in loaded.to_dict()["connections"]:
        console.print(f"  {connection['sender']} -> {connection['receiver']}")


if __name__ == "__main__":
    main()
