"""LayerRouteGenerator: the Haystack 3 chat generator over a RoutedModel.

Fast tests run a tiny random model (``agentroute.load`` patched) or, where a tool-call reply must
be forced, a fake model whose ``generate`` streams and parses a scripted reply the way RoutedModel
does. The Agent, async and tracing tests are in test_haystack_agent.py (with the slow real-model test),
Haystack's generator conventions in test_haystack_conventions.py.
"""

from __future__ import annotations

import os
import threading

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here; keep Haystack from trying

import pytest
from haystack import Pipeline
from haystack.components.builders import ChatPromptBuilder
from haystack.components.generators.utils import _convert_streaming_chunks_to_chat_message
from haystack.dataclasses import ChatMessage, ChatRole, ImageContent, TextContent, ToolCall
from haystack.tools import Toolset, create_tool_from_function
from haystack_integrations.components.generators.layerroute import LayerRouteGenerator
from haystack_integrations.components.generators.layerroute.convert import (
    reply_message,
    to_agentroute_messages,
    to_agentroute_tools,
    to_chat_message,
)
from haystack_integrations.components.generators.layerroute.streaming import ChunkStream
from scripted_model import ScriptedModel
from tiny_models import tiny_model

import agentroute
from agentroute import GenerationResult, RoutedModel, StepRecord, Trace, parse_tool_calls
from agentroute.steps.tools import normalize_tools


def multiply(a: float, b: float) -> str:
    """Multiply two numbers."""
    return f"{a * b:g}"


def lookup(query: str, filters: dict | None = None) -> str:
    """Look something up."""
    return f"found {query}"


# Named with name= so that other test modules can import them without shadowing the parameter names.
@pytest.fixture(scope="module", name="tiny")
def tiny_fixture() -> RoutedModel:
    return RoutedModel(*tiny_model("llama", 4), name="tiny")


@pytest.fixture(name="loads")
def loads_fixture(monkeypatch, tiny):
    """Patch agentroute.load to hand out the tiny model; the list records each call's arguments."""
    calls = []

    def fake_load(model="default", **kwargs):
        calls.append({"model": model, **kwargs})
        return tiny

    monkeypatch.setattr(agentroute, "load", fake_load)
    return calls


def fake_generator(replies: list[str], **kwargs) -> tuple[LayerRouteGenerator, ScriptedModel]:
    generator = LayerRouteGenerator(**kwargs)
    fake = ScriptedModel(*replies)
    generator._routed_model = fake  # what warm_up would have loaded
    return generator, fake


CALLS_REPLY = (
    "Let me check.\n"
    '<tool_call>{"name": "multiply", "arguments": {"a": 17.5, "b": 48}}</tool_call>\n'
    '<tool_call>{"name": "lookup", "arguments": {"query": "rates", "filters": {"year": 2026, "tags": ["a", "b"]}}}'
    "</tool_call>"
)


# -- conversion -----------------------------------------------------------------------------------


def conversation() -> list[ChatMessage]:
    first = ToolCall(tool_name="multiply", arguments={"a": 2, "b": 3}, id="call_1")
    second = ToolCall(tool_name="lookup", arguments={"query": "x", "filters": {"tags": ["a"], "n": 1}}, id="call_2")
    return [
        ChatMessage.from_system("Be brief."),
        ChatMessage.from_user("Compute and look up."),
        ChatMessage.from_assistant(text="Working on it.", tool_calls=[first, second]),
        ChatMessage.from_tool("6", origin=first),
        ChatMessage.from_tool([TextContent("found"), TextContent("x")], origin=second),
        ChatMessage.from_assistant("6, and x was found."),
        ChatMessage.from_user("Thanks"),
    ]


def test_messages_convert_to_agentroute_dicts():
    assert to_agentroute_messages(conversation()) == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Compute and look up."},
        {
            "role": "assistant",
            "content": "Working on it.",
            "tool_calls": [
                {"id": "call_1", "name": "multiply", "arguments": {"a": 2, "b": 3}},
                {"id": "call_2", "name": "lookup", "arguments": {"query": "x", "filters": {"tags": ["a"], "n": 1}}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "multiply", "content": "6"},
        {"role": "tool", "tool_call_id": "call_2", "name": "lookup", "content": "found\nx"},
        {"role": "assistant", "content": "6, and x was found."},
        {"role": "user", "content": "Thanks"},
    ]


def test_messages_convert_back_to_chat_messages():
    original = [
        m for m in conversation() if not (m.tool_call_result and not isinstance(m.tool_call_result.result, str))
    ]
    back = [to_chat_message(d) for d in to_agentroute_messages(original)]
    assert [m.role for m in back] == [m.role for m in original]
    assert [m.text for m in back] == [m.text for m in original]
    assert [m.tool_calls for m in back] == [m.tool_calls for m in original]
    results = [(m.tool_call_result.result, m.tool_call_result.origin.id) for m in back if m.tool_call_result]
    assert results == [("6", "call_1")]


def test_reasoning_from_another_model_is_left_out():
    message = ChatMessage.from_assistant("Answer.", reasoning="private thoughts")
    assert to_agentroute_messages([message]) == [{"role": "assistant", "content": "Answer."}]


def test_tools_and_toolsets_become_tool_dicts():
    tools = [create_tool_from_function(multiply), Toolset([create_tool_from_function(lookup)])]
    specs = to_agentroute_tools(tools)
    assert [s["name"] for s in specs] == ["multiply", "lookup"]
    assert specs[0]["description"] == "Multiply two numbers."
    assert specs[0]["parameters"]["properties"]["a"] == {"type": "number"}
    assert normalize_tools(specs)  # AgentRoute accepts them as they are
    assert to_agentroute_tools(None) == []


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([], "empty"),
        (42, "list of ChatMessage"),
        ([{"role": "user", "content": "hi"}], "message 0 must be a ChatMessage"),
        ([ChatMessage(_role="robot", _content=[TextContent("hi")])], "message 0 has unknown role 'robot'"),
        (
            [
                ChatMessage.from_user("look"),
                ChatMessage.from_user(
                    content_parts=["see", ImageContent(base64_image="aGk=", mime_type="image/png", validation=False)]
                ),
            ],
            r"message 1 \(user\) has ImageContent content",
        ),
        ([ChatMessage(_role=ChatRole.TOOL, _content=[TextContent("6")])], r"message 0 \(tool\) has no tool result"),
        ([ChatMessage(_role=ChatRole.USER, _content=[])], r"message 0 \(user\) has no text"),
    ],
)
def test_bad_messages_raise_a_value_error_naming_the_message(loads, messages, match):
    generator = LayerRouteGenerator()
    with pytest.raises(ValueError, match=match):
        generator.run(messages)
    assert loads == []  # bad input fails before the model is loaded


# -- construction, warm-up, serialization ---------------------------------------------------------


def test_init_is_cheap_and_warm_up_loads_once_across_threads(loads):
    generator = LayerRouteGenerator(
        quantization="nf4", pack=None, policy={"budgets": {"tool_call": 0.5}}, programs="default"
    )
    assert loads == [] and generator.routed_model is None
    assert generator.to_dict()["init_parameters"]["programs"] == "default"
    threads = [threading.Thread(target=generator.warm_up) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    generator.warm_up()
    generator.run([ChatMessage.from_user("hi")], generation_kwargs={"max_new_tokens": 2})
    assert loads == [
        {
            "model": "default",
            "quantization": "nf4",
            "dtype": None,
            "pack": None,
            "device": None,
            "policy": {"budgets": {"tool_call": 0.5}},
            "programs": "default",
        }
    ]


def test_unknown_generation_kwargs_are_refused():
    with pytest.raises(ValueError, match=r"unknown generation_kwargs key 'max_length'"):
        LayerRouteGenerator(generation_kwargs={"max_length": 10})


def test_pipeline_round_trips_without_an_allow_list(loads):
    pipeline = Pipeline()
    pipeline.add_component("prompt", ChatPromptBuilder(template=[ChatMessage.from_user("Q: {{question}}")]))
    pipeline.add_component(
        "llm",
        LayerRouteGenerator(
            policy={"budgets": {"tool_call": 0.6}},
            mode="full",
            generation_kwargs={"max_new_tokens": 4, "stop_words": ["###"]},
            streaming_callback=_convert_streaming_chunks_to_chat_message,  # any importable Haystack callable
        ),
    )
    pipeline.connect("prompt.prompt", "llm.messages")
    loaded = Pipeline.loads(pipeline.dumps())
    assert loaded.to_dict() == pipeline.to_dict()
    llm = loaded.get_component("llm")
    assert llm.streaming_callback is _convert_streaming_chunks_to_chat_message
    assert loads == []  # loading a pipeline loads no model


def test_tools_round_trip_through_to_dict(loads):
    generator = LayerRouteGenerator(tools=[create_tool_from_function(multiply)], generation_kwargs={"seed": 1})
    data = generator.to_dict()
    assert data["type"] == "haystack_integrations.components.generators.layerroute.generator.LayerRouteGenerator"
    pipeline = Pipeline()
    pipeline.add_component("llm", generator)
    # The tool's function lives in this test module, which Haystack's default allow-list does not cover.
    loaded = Pipeline.loads(pipeline.dumps(), allowed_modules=["test_haystack"]).get_component("llm")
    assert loaded.to_dict() == data
    assert loaded.tools[0].function(2, 3) == "6"


# -- run with the tiny model ----------------------------------------------------------------------


def test_run_returns_one_reply_with_exact_usage_and_the_record(loads):
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 6})
    with Trace() as trace:
        reply = generator.run([ChatMessage.from_user("Hello there")])["replies"]
    assert len(reply) == 1 and reply[0].role == ChatRole.ASSISTANT
    meta = reply[0].meta
    (record,) = trace.records
    assert set(meta) == {"model", "index", "finish_reason", "usage", "layerroute"}
    assert meta["model"] == "tiny" and meta["index"] == 0
    assert meta["usage"] == {
        "prompt_tokens": record.prompt_tokens,
        "completion_tokens": record.completion_tokens,
        "total_tokens": record.prompt_tokens + record.completion_tokens,
    }
    assert meta["finish_reason"] == record.finish_reason
    assert meta["layerroute"] == record.model_dump(mode="json")
    assert isinstance(reply[0].text, str)


def test_tool_history_reaches_the_model_and_types_the_step(loads):
    messages = conversation()[:5]  # ends with tool results: the next reply is the final answer
    generator = LayerRouteGenerator(tools=[create_tool_from_function(multiply), create_tool_from_function(lookup)])
    reply = generator.run(messages, generation_kwargs={"max_new_tokens": 4})["replies"][0]
    record = reply.meta["layerroute"]
    assert (record["step_type"], record["step_type_source"]) == ("final_answer", "rule")
    plain = generator.run(messages[:2], generation_kwargs={"max_new_tokens": 4})["replies"][0]
    assert plain.meta["layerroute"]["step_type"] == "tool_call"  # tools offered for a new user turn
    assert reply.meta["usage"]["prompt_tokens"] > plain.meta["usage"]["prompt_tokens"]


def test_step_type_comes_from_the_caller_the_component_name_or_the_mode(monkeypatch):
    model = RoutedModel(
        *tiny_model("llama", 4),
        name="tiny",
        policy={"budgets": {"tool_call": 0.5}, "hint_map": {"planner": "planning"}},
    )
    monkeypatch.setattr(agentroute, "load", lambda *a, **k: model)
    tools = [create_tool_from_function(multiply)]
    user = [ChatMessage.from_user("What is 2 * 3?")]
    short = {"max_new_tokens": 2}

    routed = LayerRouteGenerator(tools=tools, generation_kwargs=short).run(user)["replies"][0].meta["layerroute"]
    assert (routed["step_type"], routed["budget"]) == ("tool_call", 0.5)
    assert routed["layers_fraction"] < 1.0

    full = LayerRouteGenerator(tools=tools, mode="full", generation_kwargs=short).run(user)["replies"][0]
    assert (full.meta["layerroute"]["budget"], full.meta["layerroute"]["layers_fraction"]) == (1.0, 1.0)

    generator = LayerRouteGenerator(tools=tools, generation_kwargs=short)
    by_arg = generator.run(user, step_type="final_answer")["replies"][0].meta["layerroute"]
    assert (by_arg["step_type"], by_arg["step_type_source"]) == ("final_answer", "caller")
    by_kwargs = generator.run(user, generation_kwargs={"step_type": "reasoning"})["replies"][0].meta["layerroute"]
    assert (by_kwargs["step_type"], by_kwargs["step_type_source"]) == ("reasoning", "caller")

    pipeline = Pipeline()
    pipeline.add_component("planner", LayerRouteGenerator(generation_kwargs=short))
    planned = pipeline.run({"planner": {"messages": user}})["planner"]["replies"][0].meta["layerroute"]
    assert (planned["step_type"], planned["step_type_source"]) == ("planning", "hint")
    assert planned["hints"] == {"component": "planner"}


def test_streamed_chunks_add_up_to_the_reply(loads):
    chunks = []
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 12}, streaming_callback=chunks.append)
    reply = generator.run([ChatMessage.from_user("Stream this")])["replies"][0]
    text_chunks = [c for c in chunks if c.content]
    assert "".join(c.content for c in text_chunks) == reply.text
    assert text_chunks[0].start and not any(c.start for c in text_chunks[1:])
    assert all(c.index == 0 and c.meta["model"] == "tiny" for c in text_chunks)
    assert chunks[-1].finish_reason == reply.meta["finish_reason"]
    assert chunks[-1].meta["usage"] == reply.meta["usage"]
    assert chunks[0].component_info.type.endswith("LayerRouteGenerator")
    rebuilt = _convert_streaming_chunks_to_chat_message(chunks)
    assert (rebuilt.text, rebuilt.meta["usage"]) == (reply.text, reply.meta["usage"])
    # The time to first token, as Haystack's own streaming generators report it.
    assert reply.meta["completion_start_time"] == rebuilt.meta["completion_start_time"] == chunks[0].meta["received_at"]


# -- tool calls and streaming together (fake model: a random model makes no calls) ----------------


def test_tool_call_reply_with_streaming():
    chunks = []
    generator, fake = fake_generator([CALLS_REPLY], streaming_callback=chunks.append)
    tools = [create_tool_from_function(multiply), create_tool_from_function(lookup)]
    reply = generator.run([ChatMessage.from_user("Compute")], tools=tools)["replies"][0]

    assert reply.text == "Let me check."
    assert [(c.tool_name, c.arguments) for c in reply.tool_calls] == [
        ("multiply", {"a": 17.5, "b": 48}),
        ("lookup", {"query": "rates", "filters": {"year": 2026, "tags": ["a", "b"]}}),
    ]
    assert all(c.id and c.id.startswith("call_") for c in reply.tool_calls)
    assert reply.meta["finish_reason"] == "tool_calls"
    assert fake.calls[0]["tools"][0]["name"] == "multiply"

    assert not any("<tool" in c.content for c in chunks)  # call markup never streams as text
    rebuilt = _convert_streaming_chunks_to_chat_message(chunks)
    assert rebuilt.text == reply.text
    assert rebuilt.tool_calls == reply.tool_calls
    assert rebuilt.meta["finish_reason"] == "tool_calls"
    # Each call streams in its own content block as it forms: its name first (the block's start),
    # then argument fragments; the ids come with the closing chunks.
    call_chunks = [c for c in chunks if c.tool_calls]
    assert sorted({c.index for c in call_chunks}) == [1, 2]
    starts = [c for c in call_chunks if c.start]
    assert [(c.index, c.tool_calls[0].tool_name) for c in starts] == [(1, "multiply"), (2, "lookup")]
    fragments = [c for c in call_chunks if c.tool_calls[0].arguments and not c.start]
    assert len(fragments) > 2 and chunks.index(fragments[0]) < chunks.index(starts[1])  # streamed, not at the end


def test_a_fenced_call_after_words_streams_as_a_call_not_as_text():
    chunks = []
    fenced = 'Sure:\n```json\n{"name": "multiply", "arguments": {"a": 1, "b": 2}}\n```'
    generator, _ = fake_generator([fenced], streaming_callback=chunks.append)
    reply = generator.run([ChatMessage.from_user("1*2?")], tools=[create_tool_from_function(multiply)])["replies"][0]
    assert reply.text == "Sure:" and reply.tool_calls[0].arguments == {"a": 1, "b": 2}
    assert "".join(c.content for c in chunks) == reply.text
    rebuilt = _convert_streaming_chunks_to_chat_message(chunks)
    assert [(c.tool_name, c.arguments) for c in rebuilt.tool_calls] == [("multiply", {"a": 1, "b": 2})]


def test_pure_tool_call_reply_has_no_text():
    generator, _ = fake_generator(['<tool_call>{"name": "multiply", "arguments": {"a": 1, "b": 2}}</tool_call>'])
    reply = generator.run([ChatMessage.from_user("1*2?")], tools=[create_tool_from_function(multiply)])["replies"][0]
    assert reply.text is None and reply.tool_calls[0].arguments == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    ("deltas", "streamed_before_end"),
    [
        (["Sure <to", "ol_call>{", '"name": "m"}'], "Sure"),  # a tag split across deltas waits
        (['  {"name"', ': "m"}'], ""),  # a bare JSON call never streams
        (["Hi <b>", "old</b>"], "Hi <b>old</b>"),  # a tag that is not a call streams
        (["Sure:\n`", '``json\n{"name": "m"', ', "arguments": {}}\n```'], "Sure:"),  # nor does a fenced one
        (["Use `x` here"], "Use `x` here"),  # a lone backtick is not a fence
    ],
)
def test_chunk_stream_holds_back_only_what_may_be_a_call(deltas, streamed_before_end):
    stream = ChunkStream("m", None, ["multiply"])
    streamed = "".join(c.content for d in deltas for c in stream.text(d))
    assert streamed == streamed_before_end


def test_an_unparsable_call_is_dropped_from_the_reply_and_its_stream():
    chunks = []
    generator, _ = fake_generator(["Checking. <tool_call>{broken"], streaming_callback=chunks.append)
    reply = generator.run([ChatMessage.from_user("x")], tools=[create_tool_from_function(multiply)])["replies"][0]
    assert reply.tool_calls == [] and reply.text == "Checking." and reply.meta["layerroute"]["error"]
    assert "".join(c.content for c in chunks) == reply.text


def test_reply_message_from_a_generation_result():
    text, calls = "", parse_tool_calls(CALLS_REPLY).tool_calls
    record = StepRecord(
        model="m",
        program="0",
        prefill_program="0",
        layers_per_token=1,
        layers_fraction=1.0,
        prompt_tokens=3,
        completion_tokens=2,
        ttft_s=0,
        latency_s=0,
        finish_reason="tool_calls",
    )
    message = reply_message(GenerationResult(text=text, token_ids=[1, 2], record=record, tool_calls=calls), index=2)
    assert message.text is None and len(message.tool_calls) == 2
    assert message.meta["index"] == 2 and message.meta["usage"]["total_tokens"] == 5


def test_a_date_said_in_words_reaches_the_tool_resolved_and_streams_as_that_call():
    """A said-values model writes "tomorrow": the reply's call carries 2026-09-25, and the streamed
    chunks (the call's arguments held back until parsed) rebuild to that same call."""

    def sunrise(city: str, date: str) -> str:
        """When the sun rises in a city on a day."""
        return f"{city} {date}"

    tool = create_tool_from_function(sunrise)
    tool.parameters["properties"]["date"]["pattern"] = r"^\d{4}-\d{2}-\d{2}$"
    reply_text = '<tool_call>{"name": "sunrise", "arguments": {"city": "Oslo", "date": "tomorrow"}}</tool_call>'
    chunks = []
    generator = LayerRouteGenerator(streaming_callback=chunks.append)
    generator._routed_model = ScriptedModel(reply_text, piece=4, said_values=True)
    messages = [
        ChatMessage.from_system("Today is Thursday, 2026-09-24."),
        ChatMessage.from_user("Sunrise in Oslo tomorrow?"),
    ]
    reply = generator.run(messages, tools=[tool])["replies"][0]
    (call,) = reply.tool_calls
    assert call.arguments == {"city": "Oslo", "date": "2026-09-25"}
    rebuilt = _convert_streaming_chunks_to_chat_message(chunks).tool_calls
    assert [(c.tool_name, c.arguments, c.id) for c in rebuilt] == [("sunrise", call.arguments, call.id)]


def test_an_agent_does_not_end_on_a_call_that_did_not_parse():
    """Haystack's generators drop a malformed call, so the Agent runs another step instead of
    answering with the raw call; the parser's error stays in the reply's record."""
    from haystack.components.agents import Agent

    bad = '<tool_call>{"name": "multiply", "arguments": {"a": "x"}}</tool_call>'
    good = '<tool_call>{"name": "multiply", "arguments": {"a": 7, "b": 5}}</tool_call>'
    generator, fake = fake_generator([bad, good, "It is 35."])
    agent = Agent(chat_generator=generator, tools=[create_tool_from_function(multiply)], max_agent_steps=5)
    messages = agent.run([ChatMessage.from_user("What is 7 times 5?")])["messages"]
    replies = [m for m in messages if m.is_from(ChatRole.ASSISTANT)]
    assert replies[0].text == "" and not replies[0].tool_calls and replies[0].meta["layerroute"]["error"]
    assert replies[1].tool_calls[0].arguments == {"a": 7, "b": 5}
    assert messages[-1].text == "It is 35." and len(fake.calls) == 3
    record = StepRecord(
        model="m", program="0", prefill_program="0", layers_per_token=1, layers_fraction=1.0, prompt_tokens=3,
        completion_tokens=2, ttft_s=0, latency_s=0, finish_reason="stop", error="arguments: 'x' is not a number",
    )  # fmt: skip
    words = GenerationResult(text="Let me multiply.\n" + bad, token_ids=[1, 2], record=record)
    assert reply_message(words, tools_offered=True).text == "Let me multiply."  # the words beside it stay
    assert reply_message(words).text == words.text  # no tools offered: not a call, the text as written


def test_a_streamed_call_the_parser_drops_is_not_rebuilt_as_a_call():
    """Streamed text cannot be taken back: a call whose arguments break its schema streamed as it
    formed, then gets a fragment that makes its arguments unreadable, so the chunks rebuild to the
    reply (no call), never to a call an agent would run."""
    chunks = []
    bad = '<tool_call>{"name": "multiply", "arguments": {"a": "x", "b": 2}}</tool_call>'
    generator, _ = fake_generator([bad], streaming_callback=chunks.append)
    reply = generator.run([ChatMessage.from_user("x*2?")], tools=[create_tool_from_function(multiply)])["replies"][0]
    assert reply.tool_calls == [] and reply.meta["layerroute"]["error"]
    assert any(c.tool_calls and c.tool_calls[0].tool_name == "multiply" for c in chunks)  # it did stream
    assert _convert_streaming_chunks_to_chat_message(chunks).tool_calls == []
