"""LayerRouteGenerator keeps Haystack's chat-generator conventions: warm_up_async/close/close_async,
tools_strict, a string as messages, the usual generation keywords, every init argument checked in
__init__, the modes (policy, full, lossless), no tool result without its call, and to_dict/from_dict
with all of it."""

from __future__ import annotations

import asyncio
import inspect
import os
import threading

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here; keep Haystack from trying

import pytest
from haystack import Pipeline
from haystack.components.agents import Agent
from haystack.components.generators.chat import OpenAIChatGenerator
from haystack.core.errors import PipelineRuntimeError
from haystack.dataclasses import ChatMessage, ToolCall
from haystack.tools import Toolset, create_tool_from_function
from haystack.utils import Secret
from haystack_integrations.components.generators.layerroute import LayerRouteGenerator
from test_haystack import fake_generator, loads_fixture, multiply, tiny_fixture  # noqa: F401 - fixtures
from tiny_models import tiny_model

import agentroute
from agentroute import RoutedModel


def switch(on: bool) -> str:
    """Turn the light on or off."""
    return "on" if on else "off"


class LoopToolset(Toolset):
    """Records the event loop its async warm-up ran on."""

    async def warm_up_async(self) -> None:
        self.warm_loop = asyncio.get_running_loop()


CALL = '<tool_call>{"name": "multiply", "arguments": {"a": 2, "b": 3}}</tool_call>'


# -- warm_up_async, close, close_async ------------------------------------------------------------


@pytest.mark.parametrize("name", ["warm_up", "warm_up_async", "close", "close_async"])
def test_lifecycle_methods_mirror_haystacks_chat_generators(name):
    ours, theirs = getattr(LayerRouteGenerator, name), getattr(OpenAIChatGenerator, name)
    assert list(inspect.signature(ours).parameters) == list(inspect.signature(theirs).parameters) == ["self"]
    assert inspect.iscoroutinefunction(ours) == inspect.iscoroutinefunction(theirs)


def test_async_pipeline_warms_up_off_the_loop_and_close_releases_the_model(monkeypatch, tiny):
    threads = []

    def fake_load(model="default", **kwargs):
        threads.append(threading.current_thread())
        return tiny

    monkeypatch.setattr(agentroute, "load", fake_load)
    toolset = LoopToolset([create_tool_from_function(switch)])
    generator = LayerRouteGenerator(tools=toolset, generation_kwargs={"max_new_tokens": 2})
    pipeline = Pipeline()
    pipeline.add_component("llm", generator)

    async def main():
        await pipeline.run_async({"llm": {"messages": [ChatMessage.from_user("hi")]}})
        loop = asyncio.get_running_loop()
        assert generator.routed_model is tiny and toolset.warm_loop is loop
        await pipeline.close_async()
        assert generator.routed_model is None
        await pipeline.run_async({"llm": {"messages": [ChatMessage.from_user("hi")]}})  # loads again

    asyncio.run(main())
    assert len(threads) == 2 and all(t is not threading.main_thread() for t in threads)
    pipeline.close()
    assert generator.routed_model is None


def test_agent_warms_up_and_closes_the_generator(loads):
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 2})
    agent = Agent(chat_generator=generator, tools=[create_tool_from_function(switch)])

    async def main():
        await agent.warm_up_async()
        assert generator.routed_model is not None
        await agent.close_async()

    asyncio.run(main())
    assert generator.routed_model is None and len(loads) == 1
    agent.warm_up()
    agent.close()
    assert generator.routed_model is None and len(loads) == 2


# -- tools_strict ---------------------------------------------------------------------------------


def test_tools_strict_holds_calls_to_the_schema_with_the_tiny_model(loads):
    generator = LayerRouteGenerator(
        tools=[create_tool_from_function(switch)],
        tools_strict=True,
        generation_kwargs={"max_new_tokens": 80, "tool_choice": "required"},
    )
    reply = generator.run("turn the light on", step_type="tool_call")["replies"][0]
    (call,) = reply.tool_calls  # random weights, yet a valid call: the grammar admits nothing else
    assert call.tool_name == "switch" and isinstance(call.arguments["on"], bool)
    assert reply.meta["layerroute"]["constrained"] is True


def test_tools_strict_forbids_unconstrained_decoding():
    with pytest.raises(ValueError, match="tools_strict=True .* constrain=False"):
        LayerRouteGenerator(tools_strict=True, generation_kwargs={"constrain": False})
    with pytest.raises(TypeError, match="tools_strict must be True or False"):
        LayerRouteGenerator(tools_strict="yes")
    generator, fake = fake_generator([CALL, CALL, CALL], generation_kwargs={"constrain": False})
    tools = [create_tool_from_function(multiply)]
    generator.run("2*3?", tools=tools)
    with pytest.raises(ValueError, match="tools_strict=True"):
        generator.run("2*3?", tools=tools, tools_strict=True)
    generator.run("2*3?", tools=tools, tools_strict=True, generation_kwargs={"constrain": True})
    strict, fake_strict = fake_generator([CALL], tools_strict=True)
    strict.run("2*3?", tools=tools)
    assert [c["constrain"] for c in fake.calls] == [False, True] and fake_strict.calls[0]["constrain"] is True


# -- a string as messages -------------------------------------------------------------------------


def test_a_string_is_one_user_message_as_in_haystacks_generators(loads):
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 5})
    openai = OpenAIChatGenerator(api_key=Secret.from_token("unused"))  # built, never called
    ours, theirs = (g.__haystack_input__._sockets_dict["messages"].type for g in (generator, openai))
    assert ours == theirs == (list[ChatMessage] | str)
    as_list = generator.run([ChatMessage.from_user("hello there")])["replies"][0]
    as_text = generator.run("hello there")["replies"][0]
    assert as_text.text == as_list.text and as_text.meta["usage"] == as_list.meta["usage"]
    pipeline = Pipeline()
    pipeline.add_component("llm", generator)
    assert pipeline.run({"llm": {"messages": "hello there"}})["llm"]["replies"][0].text == as_list.text
    assert asyncio.run(generator.run_async("hello there"))["replies"][0].text == as_list.text


# -- generation keywords --------------------------------------------------------------------------


def test_max_tokens_and_stop_names_of_other_generators(loads):
    generator = LayerRouteGenerator(generation_kwargs={"max_tokens": 12})
    text = generator.run("tell me")["replies"][0].text
    assert generator.run("tell me")["replies"][0].meta["usage"]["completion_tokens"] == 12
    short = generator.run("tell me", generation_kwargs={"max_new_tokens": 3})["replies"][0]
    assert short.meta["usage"]["completion_tokens"] == 3  # the call's name replaces the init alias
    stop = text[3:5]
    for key in ("stop", "stop_words", "stop_sequences"):
        assert generator.run("tell me", generation_kwargs={key: [stop]})["replies"][0].text == text[:3]
    with pytest.raises(ValueError, match="max_tokens=2 and max_new_tokens=3 disagree"):
        generator.run("tell me", generation_kwargs={"max_tokens": 2, "max_new_tokens": 3})


def test_sampling_keywords_reach_the_model():
    generator, fake = fake_generator(
        ["a", "b"], generation_kwargs={"temperature": 0.7, "top_p": 0.9, "seed": 4, "stop_words": ["###"]}
    )
    generator.run("x")
    generator.run("x", generation_kwargs={"stop": "END", "top_p": 0.5, "max_tokens": 7})
    first, second = fake.calls
    assert (first["temperature"], first["top_p"], first["seed"], first["stop"]) == (0.7, 0.9, 4, ["###"])
    assert (second["top_p"], second["stop"], second["max_new_tokens"]) == (0.5, ["END"], 7)


def test_transformers_sampling_keys_decode_as_transformers_would(loads):
    # HuggingFaceLocalChatGenerator's generation_kwargs, moved over unchanged.
    moved = {"max_new_tokens": 6, "do_sample": True, "temperature": 0.8, "seed": 3, "return_full_text": False}
    sampled = LayerRouteGenerator(generation_kwargs=moved).run("tell me")["replies"][0].text
    same = {"max_new_tokens": 6, "temperature": 0.8, "seed": 3}
    assert sampled == LayerRouteGenerator(generation_kwargs=same).run("tell me")["replies"][0].text
    greedy = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 6}).run("tell me")["replies"][0].text
    assert sampled != greedy  # (seeded: the tiny model's sampled reply differs from its greedy one)
    # do_sample=False is greedy whatever the temperature, as in transformers' generate.
    off = LayerRouteGenerator(generation_kwargs={**moved, "do_sample": False})
    assert off.run("tell me")["replies"][0].text == greedy
    # A call's do_sample applies to that call.
    assert (
        off.run("tell me", generation_kwargs={"do_sample": True, "temperature": 0.8, "seed": 3})["replies"][0].text
        == sampled
    )


def test_sampling_keys_transformers_would_refuse_are_named():
    generator, fake = fake_generator(["a"], generation_kwargs={"do_sample": True})
    generator.run("x")
    assert fake.calls[0]["temperature"] == 1.0  # transformers' default temperature when sampling
    for kwargs, match in [
        ({"do_sample": True, "temperature": 0}, "do_sample=True with temperature=0 cannot sample"),
        ({"do_sample": "yes"}, "do_sample must be True or False"),
        ({"return_full_text": True}, "return_full_text=True: a reply is always only the new text"),
    ]:
        with pytest.raises(ValueError, match=match):
            LayerRouteGenerator(generation_kwargs=kwargs)


# -- every init argument checked in __init__ ------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"model": 42}, ValueError, "model must be a name or a path, got int"),
        ({"model": "/no/such/checkpoint"}, ValueError, "does not exist"),
        ({"model": __file__}, ValueError, "not a .gguf file"),
        ({"quantization": "nf5"}, ValueError, "unknown quantization 'nf5'"),
        ({"quantization": 4}, ValueError, "unknown quantization 4"),
        ({"pack": "/no/such/pack"}, ValueError, "not a route pack"),
        ({"pack": 3}, ValueError, "pack must be a name or a path"),
        ({"policy": {"budgets": {"tool_cal": 0.5}}}, ValueError, "invalid depth policy"),
        ({"policy": {"budgets": {"tool_call": 5}}}, ValueError, r"must be in \(0, 1\]"),
        ({"policy": "/no/such/policy.yaml"}, ValueError, "does not exist"),
        ({"programs": "/no/such/programs.json"}, ValueError, "no programs file"),
        ({"programs": 3}, ValueError, "programs must be a name or a path"),
        ({"device": "tpu"}, ValueError, "device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
        ({"device": 0}, ValueError, "device must be"),
        ({"dtype": "float8"}, ValueError, "unknown dtype 'float8'"),
        ({"dtype": 16}, ValueError, "unknown dtype 16"),
        ({"mode": "fast"}, ValueError, "unknown mode 'fast'"),
        ({"mode": "routed"}, ValueError, "mode 'routed' is now mode 'policy'"),
        ({"generation_kwargs": {"response_format": 3}}, ValueError, "response_format must be a pydantic model"),
        ({"generation_kwargs": {"response_format": {"type": "nope"}}}, ValueError, "not a valid JSON Schema"),
        ({"streaming_callback": "print"}, TypeError, "streaming_callback must be callable"),
        ({"generation_kwargs": "max_new_tokens=3"}, TypeError, "generation_kwargs must be a dict"),
        ({"generation_kwargs": {"max_new_tokns": 3}}, ValueError, "did you mean 'max_new_tokens'"),
        ({"generation_kwargs": {"temperature": "hot"}}, ValueError, "'temperature': input should be a valid number"),
        ({"generation_kwargs": {"max_new_tokens": -1}}, ValueError, "'max_new_tokens'"),
        ({"generation_kwargs": {"stop_words": 3}}, ValueError, "'stop_words' must be a string or a list"),
        ({"generation_kwargs": {"budget": "x"}}, ValueError, "'budget' must be a number"),
        ({"generation_kwargs": {"step_type": "thinking"}}, ValueError, "unknown step type 'thinking'"),
    ],
)
def test_every_init_argument_fails_in_init(loads, kwargs, error, match):
    with pytest.raises(error, match=match):
        LayerRouteGenerator(**kwargs)
    assert loads == []


def test_valid_arguments_still_load_lazily(loads, tmp_path):
    checkpoint = tmp_path / "ckpt"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text('{"model_type": "llama"}')
    generator = LayerRouteGenerator(model=str(checkpoint), pack="auto", programs="default", device="cpu", dtype="bf16")
    assert loads == [] and generator.routed_model is None
    with pytest.raises(ValueError, match="has no config.json"):
        LayerRouteGenerator(model=str(tmp_path))


# -- modes: policy (the default), full, lossless; the old 'routed' named -----------------------------


def test_modes_are_checked_and_lossless_matches_full(monkeypatch):
    with pytest.raises(ValueError, match="unknown mode 'fast'"):
        LayerRouteGenerator(mode="fast")
    model = RoutedModel(*tiny_model("llama", 4), name="tiny", policy={"budgets": {"other": 0.5}})
    monkeypatch.setattr(agentroute, "load", lambda *a, **k: model)
    messages = [ChatMessage.from_user("hello there")]
    lossless = LayerRouteGenerator(mode="lossless")
    full = LayerRouteGenerator(mode="full")
    a = lossless.run(messages, generation_kwargs={"max_new_tokens": 12})["replies"][0]
    b = full.run(messages, generation_kwargs={"max_new_tokens": 12})["replies"][0]
    assert a.text == b.text and a.meta["layerroute"]["mode"] == "lossless"
    assert a.meta["layerroute"]["draft_program"] == "0,3"
    # Full depth is the plain reference even where the policy itself decodes losslessly.
    model.router.policy = model.policy.model_copy(update={"modes": {"other": "lossless"}})
    c = full.run(messages, generation_kwargs={"max_new_tokens": 12})["replies"][0]
    d = LayerRouteGenerator().run(messages, generation_kwargs={"max_new_tokens": 12})["replies"][0]
    assert (c.meta["layerroute"]["mode"], c.meta["layerroute"]["draft_program"], c.text) == ("full", None, b.text)
    assert (d.meta["layerroute"]["mode"], d.text) == ("lossless", b.text)
    assert LayerRouteGenerator().mode == "policy"
    with pytest.raises(ValueError, match="mode 'routed' is now mode 'policy'"):
        LayerRouteGenerator(mode="routed")
    full.mode = "routed"  # set after construction (as the demo sets it): refused at the run, never run as another
    with pytest.raises(ValueError, match="mode 'routed' is now mode 'policy'"):
        full.run(messages)


# -- tool results need their call -----------------------------------------------------------------


def test_an_orphan_tool_result_is_a_clear_error(loads):
    call = ToolCall(tool_name="multiply", arguments={"a": 2, "b": 3}, id="call_1")
    stray = ToolCall(tool_name="multiply", arguments={"a": 2, "b": 3}, id="call_9")
    messages = [
        ChatMessage.from_user("2*3?"),
        ChatMessage.from_assistant(tool_calls=[call]),
        ChatMessage.from_tool("6", origin=stray),
    ]
    generator = LayerRouteGenerator(tools=[create_tool_from_function(multiply)])
    match = r"message 2 \(tool\) answers tool call id 'call_9', which no earlier assistant message made .*'call_1'"
    with pytest.raises(ValueError, match=match):
        generator.run(messages)
    pipeline = Pipeline()
    pipeline.add_component("llm", generator)
    with pytest.raises(PipelineRuntimeError, match="call_9"):
        pipeline.run({"llm": {"messages": messages}})
    no_id = ToolCall(tool_name="multiply", arguments={"a": 1, "b": 1})
    with pytest.raises(ValueError, match=r"answers call multiply\(\{'a': 1, 'b': 1\}\) without an id"):
        generator.run([ChatMessage.from_user("1*1?"), ChatMessage.from_tool("1", origin=no_id)])
    # A call without an id is matched by the call itself (what local generators without ids produce).
    ok = [ChatMessage.from_user("1*1?"), ChatMessage.from_assistant(tool_calls=[no_id])]
    generator.run([*ok, ChatMessage.from_tool("1", origin=no_id)], generation_kwargs={"max_new_tokens": 2})
    assert len(loads) == 1


# -- serialization with the new parameters --------------------------------------------------------


def test_new_parameters_round_trip_through_to_dict_and_pipelines(loads):
    generator = LayerRouteGenerator(
        tools_strict=True,
        device="cpu",
        generation_kwargs={"max_tokens": 9, "stop": "###", "temperature": 0.3, "top_p": 0.8},
    )
    data = generator.to_dict()
    assert data["init_parameters"]["tools_strict"] is True
    assert LayerRouteGenerator.from_dict(data).to_dict() == data
    pipeline = Pipeline()
    pipeline.add_component("llm", generator)
    loaded = Pipeline.loads(pipeline.dumps())
    assert loaded.to_dict() == pipeline.to_dict() and loaded.get_component("llm").tools_strict is True
    bad = {**data, "init_parameters": {**data["init_parameters"], "generation_kwargs": {"max_tokens": -1}}}
    with pytest.raises(ValueError, match="'max_new_tokens'"):
        LayerRouteGenerator.from_dict(bad)  # a hand-edited file fails on load, not at the first run
    assert loads == []


def test_tool_choice_as_openai_takes_it(loads):
    """generation_kwargs tool_choice: "required" or a named function demands a call (of that tool),
    "none" offers no tools, anything else is refused at init with the accepted forms."""
    tools = [create_tool_from_function(switch), create_tool_from_function(multiply)]
    named = {"type": "function", "function": {"name": "multiply"}}
    generator = LayerRouteGenerator(tools=tools, generation_kwargs={"max_new_tokens": 300, "tool_choice": named})
    (call,) = generator.run("2*3?", step_type="tool_call")["replies"][0].tool_calls
    assert call.tool_name == "multiply"
    reply = generator.run("2*3?", generation_kwargs={"tool_choice": "none"})["replies"][0]
    assert not reply.tool_calls and not reply.meta["layerroute"]["constrained"]
    with pytest.raises(ValueError, match="tool_choice must be 'auto', 'none', 'required'"):
        LayerRouteGenerator(generation_kwargs={"tool_choice": 5})
    with pytest.raises(ValueError, match=r"name an offered tool \(switch, multiply\).*got 'x'"):
        generator.run("2*3?", generation_kwargs={"tool_choice": {"type": "function", "function": {"name": "x"}}})
