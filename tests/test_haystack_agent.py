"""LayerRouteGenerator in Haystack's Agent, async pipelines, concurrent pipelines and tracing spans."""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here; keep Haystack from trying

import pytest
from haystack import Pipeline, tracing
from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage, ChatRole
from haystack.tools import create_tool_from_function
from haystack_integrations.components.generators.layerroute import LayerRouteGenerator
from test_haystack import fake_generator, loads_fixture, multiply, tiny_fixture  # noqa: F401 - fixtures

from agentroute import Trace

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))
from agent_tools import TASKS, TOOLS, answer_is_correct  # noqa: E402

# -- Agent ----------------------------------------------------------------------------------------


def test_agent_runs_the_tiny_model_to_completion(loads):
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 8})
    agent = Agent(chat_generator=generator, tools=[create_tool_from_function(f) for f in TOOLS], max_agent_steps=2)
    with Trace() as trace:
        result = agent.run([ChatMessage.from_user(TASKS[0]["question"])])
    assert result["last_message"].role == ChatRole.ASSISTANT
    assert 1 <= result["step_count"] <= 2 and len(trace.records) >= 1
    assert result["token_usage"]["prompt_tokens"] == sum(r.prompt_tokens for r in trace.records)
    assert trace.records[0].step_type == "tool_call"  # tools offered for the user's question


def test_agent_executes_the_calls_and_feeds_back_the_results():
    generator, fake = fake_generator(
        ['<tool_call>{"name": "multiply", "arguments": {"a": 17.5, "b": 48}}</tool_call>', "It is 840."]
    )
    agent = Agent(chat_generator=generator, tools=[create_tool_from_function(multiply)])
    result = agent.run([ChatMessage.from_user("What is 17.5 * 48?")])
    assert result["last_message"].text == "It is 840." and result["tool_call_counts"] == {"multiply": 1}
    call_id = result["messages"][1].tool_calls[0].id
    assert fake.calls[1]["messages"][-2:] == [
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": call_id, "name": "multiply", "arguments": {"a": 17.5, "b": 48}}],
        },
        {"role": "tool", "tool_call_id": call_id, "name": "multiply", "content": "840"},
    ]
    assert result["token_usage"]["prompt_tokens"] == sum(40 + len(call["messages"]) for call in fake.calls)


# -- async, concurrency, tracing ------------------------------------------------------------------


@pytest.mark.parametrize("async_callback", [True, False])
def test_run_async_streams_to_sync_and_async_callbacks(loads, async_callback):
    chunks = []

    async def collect_async(chunk):
        await asyncio.sleep(0)
        chunks.append(chunk)

    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 10})
    messages = [ChatMessage.from_user("Async please")]
    expected = generator.run(messages)["replies"][0]
    callback = collect_async if async_callback else chunks.append

    async def main():
        async with Trace() as trace:
            out = await generator.run_async(messages, streaming_callback=callback)
        return out, trace

    out, trace = asyncio.run(main())
    reply = out["replies"][0]
    assert reply.text == expected.text
    assert [r.id for r in trace.records] == [reply.meta["layerroute"]["id"]]
    assert "".join(c.content for c in chunks) == reply.text and chunks[-1].finish_reason


@pytest.mark.parametrize("streaming", [False, True])
def test_cancelling_run_async_stops_the_generation(loads, tiny, streaming, monkeypatch):
    # No stop token: the cancelled reply would run its full 200 tokens (the random model may say EOS early).
    monkeypatch.setattr(type(tiny), "stop_token_ids", property(lambda self: set()))
    # The generation's cancel check (asked before the prefill and at every token) first waits until
    # the test has cancelled, so the cancel lands mid-generation however fast the tiny model decodes.
    started, proceed = threading.Event(), threading.Event()
    generate = tiny.generate

    def generate_held(*args, cancelled=None, **kwargs):
        def check() -> bool:
            started.set()
            proceed.wait(10)
            return bool(cancelled and cancelled())

        return generate(*args, cancelled=check, **kwargs)

    monkeypatch.setattr(tiny, "generate", generate_held)
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 200})

    async def main():
        callback = (lambda chunk: None) if streaming else None
        async with Trace() as trace:
            task = asyncio.create_task(generator.run_async("Tell me a long story", streaming_callback=callback))
            assert await asyncio.to_thread(started.wait, 10)
            task.cancel()
            proceed.set()
            with pytest.raises(asyncio.CancelledError):
                await task
            # Had the cancelled generation run on, it would hold the model until its 200th token and
            # record its step (its thread has this trace) before this one could start.
            out = await generator.run_async("hi", generation_kwargs={"max_new_tokens": 2})
        return out["replies"][0], trace.records

    reply, records = asyncio.run(main())
    assert [r.id for r in records] == [reply.meta["layerroute"]["id"]]


def test_concurrent_pipelines_keep_their_own_traces(loads):
    def build() -> Pipeline:
        pipeline = Pipeline()
        pipeline.add_component("llm", LayerRouteGenerator(generation_kwargs={"max_new_tokens": 3}))
        return pipeline

    outcome: dict[str, tuple[list[str], list[str]]] = {}
    barrier = threading.Barrier(2)

    def work(label: str, runs: int) -> None:
        pipeline = build()
        barrier.wait()
        with Trace() as trace:
            ids = [
                pipeline.run({"llm": {"messages": [ChatMessage.from_user(f"{label} {i}")]}})["llm"]["replies"][0].meta[
                    "layerroute"
                ]["id"]
                for i in range(runs)
            ]
        outcome[label] = (ids, [r.id for r in trace.records])

    threads = [threading.Thread(target=work, args=("a", 3)), threading.Thread(target=work, args=("b", 2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcome["a"][0]) == 3 and len(outcome["b"][0]) == 2
    for ids, traced in outcome.values():
        assert traced == ids


def test_concurrent_async_pipelines_keep_their_own_traces(loads):
    async def one(label: str) -> tuple[str, list[str]]:
        pipeline = Pipeline()
        pipeline.add_component("llm", LayerRouteGenerator(generation_kwargs={"max_new_tokens": 3}))
        async with Trace() as trace:
            out = await pipeline.run_async({"llm": {"messages": [ChatMessage.from_user(label)]}})
        return out["llm"]["replies"][0].meta["layerroute"]["id"], [r.id for r in trace.records]

    async def main():
        return await asyncio.gather(one("first"), one("second"))

    for reply_id, traced in asyncio.run(main()):
        assert traced == [reply_id]


class RecordingSpan(tracing.Span):
    def __init__(self, name: str) -> None:
        self.name, self.tags = name, {}

    def set_tag(self, key, value) -> None:
        self.tags[key] = value


class RecordingTracer(tracing.Tracer):
    """Keeps every span; the current span is the innermost open one in this context."""

    def __init__(self) -> None:
        self.spans: list[RecordingSpan] = []
        self._stack = threading.local()

    def trace(self, operation_name, tags=None, parent_span=None):
        import contextlib

        @contextlib.contextmanager
        def span_scope():
            span = RecordingSpan(operation_name)
            span.set_tags(tags or {})
            self.spans.append(span)
            stack = self._stack.__dict__.setdefault("spans", [])
            stack.append(span)
            try:
                yield span
            finally:
                stack.pop()

        return span_scope()

    def current_span(self):
        stack = self._stack.__dict__.get("spans")
        return stack[-1] if stack else None


def test_record_fields_tag_the_current_span(loads, monkeypatch):
    tracer = RecordingTracer()
    tracing.enable_tracing(tracer)
    monkeypatch.setattr(tracing.tracer, "is_content_tracing_enabled", True)
    try:
        pipeline = Pipeline()
        pipeline.add_component("llm", LayerRouteGenerator(generation_kwargs={"max_new_tokens": 3}))
        reply = pipeline.run({"llm": {"messages": [ChatMessage.from_user("tag me")]}})["llm"]["replies"][0]
    finally:
        tracing.disable_tracing()
    (span,) = [s for s in tracer.spans if s.name == "haystack.component.run"]
    record = reply.meta["layerroute"]
    assert span.tags["gen_ai.usage.input_tokens"] == record["prompt_tokens"]
    assert span.tags["gen_ai.usage.output_tokens"] == record["completion_tokens"]
    assert span.tags["agentroute.program"] == record["program"]
    assert span.tags["agentroute.step_type"] == record["step_type"]
    assert span.tags["layerroute.record"] == record
    assert span.tags["haystack.component.output"]["replies"][0].meta["usage"] == reply.meta["usage"]


# -- the real model -------------------------------------------------------------------------------


@pytest.mark.slow
def test_agent_with_the_default_model_on_the_demo_tasks(record_property):
    """Runs the 5 demo tasks as a policy says (routed: its budgets, lossy) and at full depth; reports accuracy."""
    generator = LayerRouteGenerator(policy={"budgets": {"tool_call": 0.8}}, generation_kwargs={"max_new_tokens": 96})
    agent = Agent(chat_generator=generator, tools=[create_tool_from_function(f) for f in TOOLS], max_agent_steps=3)
    correct = {}
    for mode, kwargs in (("policy", None), ("full", {"budget": 1.0})):
        correct[mode] = 0
        for task in TASKS:
            result = agent.run([ChatMessage.from_user(task["question"])], generation_kwargs=kwargs)
            replies = [m for m in result["messages"] if m.role == ChatRole.ASSISTANT]
            assert replies and all(m.meta["usage"]["completion_tokens"] > 0 for m in replies)
            assert all({"layerroute", "finish_reason", "model"} <= set(m.meta) for m in replies)
            if mode == "full":
                assert all(m.meta["layerroute"]["layers_fraction"] == 1.0 for m in replies)
            correct[mode] += answer_is_correct(result["last_message"].text or "", task["answer"])
    summary = f"policy {correct['policy']}/{len(TASKS)}, full {correct['full']}/{len(TASKS)}"
    record_property("demo_tasks_correct", correct)  # lands in --junitxml reports
    print(f"\nHaystack Agent, default model, demo tasks answered correctly: {summary}")


def test_demo_answer_check_needs_the_whole_number():
    # The demos count a task as solved by this check: "8,520" must not pass for 852.
    assert answer_is_correct("It is 852.", "852") and answer_is_correct("42.165 km", "42.16")
    assert not answer_is_correct("The result is 8,520.", "852") and not answer_is_correct("-37 C", "37")
    assert answer_is_correct("2027-01-08 (Friday)", "2027-01-08") and not answer_is_correct("250 days", "25")
