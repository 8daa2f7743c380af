"""Issue #3 acceptance on real generations: complete records, crash safety, no mixing across threads/tasks."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import agentroute
from agentroute import StepType, Trace, read_trace
from agentroute.routed_model import RoutedModel

TESTS = Path(__file__).parent
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from tiny_models import tiny_model

    os.environ.setdefault("AGENTROUTE_CACHE", str(tmp_path_factory.mktemp("cache")))
    hf, tok = tiny_model("qwen2", n_layers=10)
    return RoutedModel(hf, tok, "tiny10", policy={"budgets": {"tool_call": 0.5, "planning": 0.8, "reasoning": 0.9}})


def test_every_generation_in_scope_is_traced_with_exact_token_counts(model, tmp_path):
    conversation = [{"role": "user", "content": "Plan a day in Paris, then check the weather."}]
    with Trace(tmp_path / "run.jsonl") as trace:
        for step_type in ["planning", "tool_call", "final_answer", "reasoning", "tool_call", "final_answer"]:
            tools = [WEATHER] if step_type == "tool_call" else None
            result = model.generate(conversation, tools=tools, step_type=step_type, max_new_tokens=6)
            assert result.record.prompt_tokens == len(model.encode(conversation, tools=tools))
            assert result.record.completion_tokens == len(result.token_ids)
            conversation.append({"role": "assistant", "content": result.text or "ok"})
            conversation.append({"role": "user", "content": "Continue."})
    records = read_trace(tmp_path / "run.jsonl")
    assert [r.id for r in records] == [r.id for r in trace.records] and len(records) == 6
    assert [r.step_type for r in records][:2] == [StepType.PLANNING, StepType.TOOL_CALL]
    assert all(r.step_type_observed is not None and r.layers_executed for r in records)
    assert records[1].layers_per_token == 5 and records[0].layers_per_token == 8
    summary = trace.summary()
    assert summary["tool_call"]["count"] == 2 and summary["all"]["count"] == 6


def test_sigkill_during_step_4_leaves_three_valid_lines(tmp_path):
    script = textwrap.dedent(
        f"""
        import os, signal, sys
        sys.path.insert(0, {str(TESTS)!r})
        from tiny_models import tiny_model
        from agentroute import Trace
        from agentroute.model import executor
        from agentroute.routed_model import RoutedModel
        hf, tok = tiny_model("llama", n_layers=4)
        model = RoutedModel(hf, tok, "tiny")
        real_forward = executor.forward
        step = {{"n": 0}}
        def dying_forward(*args, **kwargs):
            if step["n"] == 4 and args[4] > 0:
                os.kill(os.getpid(), signal.SIGKILL)   # mid-decode of step 4 (a pass after the prefill)
            return real_forward(*args, **kwargs)
        executor.forward = dying_forward
        with Trace({str(tmp_path / "run.jsonl")!r}):
            for i in range(6):
                step["n"] = i + 1
                model.generate(f"step {{i}}", max_new_tokens=8, ignore_eos=True)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    lines = (tmp_path / "run.jsonl").read_text().splitlines()
    assert len(lines) == 3
    assert [json.loads(line)["completion_tokens"] for line in lines] == [8, 8, 8]
    assert len(read_trace(tmp_path / "run.jsonl")) == 3


def _work(model, i):
    """One caller's steps: its own step type and budget, so its records are recognisable."""
    step_type = ["tool_call", "planning", "reasoning", "other"][i % 4]
    budget = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 0.4, 0.3][i % 8]
    with Trace() as trace:
        for _ in range(2):
            model.generate(f"caller {i}", step_type=step_type, budget=budget, max_new_tokens=3)
    return trace, step_type, budget


def _check(model, outcomes):
    for trace, step_type, budget in outcomes:
        assert len(trace.records) == 2
        for record in trace.records:
            assert record.step_type == step_type and record.budget == budget
            assert record.program == str(model.router.program_for(budget))


def test_eight_threads_each_trace_holds_exactly_its_own_records(model):
    outcomes = [None] * 8

    def run(i):
        outcomes[i] = _work(model, i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    _check(model, outcomes)


def test_eight_asyncio_tasks_each_trace_holds_exactly_its_own_records(model):
    async def task(i):
        # generate is synchronous; to_thread copies this task's context, so its Trace follows it.
        return await asyncio.to_thread(_work, model, i)

    async def main():
        return await asyncio.gather(*(task(i) for i in range(8)))

    _check(model, asyncio.run(main()))


def test_outer_trace_sees_nested_steps(model):
    with Trace() as outer:
        model.generate("a", max_new_tokens=2)
        with Trace() as inner:
            model.generate("b", max_new_tokens=2)
    assert len(outer.records) == 2 and len(inner.records) == 1


def test_no_trace_no_cost(model):
    assert agentroute.trace.trace_file.active_traces() == ()
    model.generate("nothing traced", max_new_tokens=2)


def test_trace_can_keep_each_steps_inputs_for_replay(model, tmp_path):
    messages = [{"role": "user", "content": "Weather in Oslo?"}]
    with Trace(tmp_path / "with.jsonl", include_messages=True), Trace(tmp_path / "without.jsonl"):
        model.generate(messages, tools=[WEATHER], max_new_tokens=2)
    kept = json.loads((tmp_path / "with.jsonl").read_text())
    assert kept["messages"] == messages and kept["tools"][0]["name"] == "get_weather"
    assert "messages" not in json.loads((tmp_path / "without.jsonl").read_text())
    assert read_trace(tmp_path / "with.jsonl")[0].id == kept["id"]
