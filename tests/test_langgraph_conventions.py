"""ChatLayerRoute keeps LangChain's conventions: provider and model name in traces, tool calls streamed
as they form, parallel_tool_calls, the usual generation keywords checked at construction, and no
tool result without its call."""

from __future__ import annotations

import asyncio
import warnings

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_layerroute import ChatLayerRoute, to_agentroute_messages
from langgraph.prebuilt import create_react_agent
from pydantic import ValidationError
from scripted_model import ScriptedModel
from test_langgraph import tiny_fixture  # noqa: F401 - the tiny fixture
from tiny_models import tiny_model

from agentroute import RoutedModel


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def switch(on: bool) -> str:
    """Turn the light on or off."""
    return "on" if on else "off"


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


TWO_CALLS = (
    "Sure.\n"
    '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>\n'
    '<tool_call>{"name": "shout", "arguments": {"text": "a}\\"b"}}</tool_call>'
)


def merged(chunks):
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    return total


def scripted(reply: str, piece: int = 3, **bind) -> tuple:
    """The same reply invoked and streamed (in ``piece``-character deltas) through bind_tools([add, shout])."""
    invoked = ChatLayerRoute(routed_model=ScriptedModel(reply)).bind_tools([add, shout], **bind).invoke("go")
    stream = ChatLayerRoute(routed_model=ScriptedModel(reply, piece=piece)).bind_tools([add, shout], **bind)
    return invoked, list(stream.stream("go"))


# --- provider and model name -------------------------------------------------------------------


class Recorder(BaseCallbackHandler):
    def __init__(self) -> None:
        self.starts = []

    def on_chat_model_start(self, serialized, messages, **kwargs):
        self.starts.append(kwargs)


@pytest.mark.parametrize("setting", [{"stop": ["###"]}, {"node_step_types": {"agent": "planning"}}, {"pack": None}])
def test_langchains_cache_keeps_apart_what_can_change_a_reply(setting):
    from langchain_core.caches import InMemoryCache

    cache, scripted_model = InMemoryCache(), ScriptedModel("first", "second")
    plain = ChatLayerRoute(routed_model=scripted_model, cache=cache)
    other = ChatLayerRoute(routed_model=scripted_model, cache=cache, **setting)
    assert plain.invoke("go").content == "first" and plain.invoke("go").content == "first"  # cached
    assert other.invoke("go").content == "second"  # not the other model's cached reply


def test_traces_name_the_provider_and_the_model(tiny):
    chat = ChatLayerRoute(routed_model=tiny, max_tokens=3, temperature=0.5, seed=1, stop=["###"])
    params = chat._get_ls_params()
    assert (params["ls_provider"], params["ls_model_name"], params["ls_model_type"]) == ("agentroute", "tiny", "chat")
    assert (params["ls_max_tokens"], params["ls_temperature"], params["ls_stop"]) == (3, 0.5, ["###"])
    per_call = chat._get_ls_params(stop=["END"], max_tokens=2)
    assert (per_call["ls_stop"], per_call["ls_max_tokens"]) == (["END"], 2)
    assert chat._identifying_params["model_name"] == "tiny"
    assert chat._identifying_params["model_provider"] == "agentroute"

    recorder = Recorder()
    reply = chat.invoke("hello", config={"callbacks": [recorder]})
    (start,) = recorder.starts
    assert start["metadata"]["ls_provider"] == "agentroute" and start["metadata"]["ls_model_name"] == "tiny"
    assert start["invocation_params"]["model_name"] == "tiny" and start["invocation_params"]["_type"] == "layerroute"
    assert reply.response_metadata["model_provider"] == "agentroute"
    assert reply.response_metadata["model_name"] == "tiny"


def test_the_model_name_is_known_before_the_model_loads(tmp_path):
    assert ChatLayerRoute().model_name == "SmolLM2-135M-Instruct"  # nothing loads: routed_model stays unset
    assert ChatLayerRoute()._get_ls_params()["ls_model_name"] == "SmolLM2-135M-Instruct"
    gguf, checkpoint = tmp_path / "qwen-0.5b.Q8_0.gguf", tmp_path / "my-checkpoint"
    gguf.write_bytes(b"GGUF")  # checked by name at construction, read only by load
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text('{"model_type": "llama"}')
    assert ChatLayerRoute(model=str(gguf)).model_name == "qwen-0.5b.Q8_0"
    assert ChatLayerRoute(model=str(checkpoint)).model_name == "my-checkpoint"


# --- tool calls streamed as they form ----------------------------------------------------------


def test_the_tiny_models_constrained_call_streams_in_fragments(tiny):
    bound = ChatLayerRoute(routed_model=tiny, max_new_tokens=80).bind_tools([add, switch], tool_choice="required")
    invoked = bound.invoke("turn the light on")
    chunks = list(bound.stream("turn the light on"))
    assert len(invoked.tool_calls) >= 1  # the tool-call grammar makes even random weights write a valid call
    carrying = [c for c in chunks if c.tool_call_chunks]
    assert len(carrying) > 2
    assert carrying[0].tool_call_chunks[0]["name"] == invoked.tool_calls[0]["name"]
    assert all(c.tool_call_chunks[0]["name"] is None for c in carrying[1:])  # the name comes once
    total = merged(chunks)
    assert total.tool_calls == invoked.tool_calls and total.content == invoked.content
    assert total.invalid_tool_calls == [] and total.response_metadata["finish_reason"] == "tool_calls"


def test_async_stream_carries_the_same_calls(tiny):
    bound = ChatLayerRoute(routed_model=tiny, max_new_tokens=80).bind_tools([switch], tool_choice="required")

    async def run():
        return [c async for c in bound.astream("lights off")]

    chunks = asyncio.run(run())
    assert sum(bool(c.tool_call_chunks) for c in chunks) > 2
    assert merged(chunks).tool_calls == bound.invoke("lights off").tool_calls


def test_several_calls_stream_by_index_and_merge_to_invokes():
    invoked, chunks = scripted(TWO_CALLS)
    assert [c["name"] for c in invoked.tool_calls] == ["add", "shout"]
    pieces = [piece for c in chunks for piece in c.tool_call_chunks]
    assert [p["name"] for p in pieces if p["name"]] == ["add", "shout"]
    assert {p["index"] for p in pieces} == {0, 1}
    assert len([c for c in chunks if c.tool_call_chunks]) > 4
    total = merged(chunks)
    assert total.tool_calls == invoked.tool_calls and total.content == invoked.content == "Sure."
    assert total.tool_calls[1]["args"] == {"text": 'a}"b'}  # a brace and a quote inside a string


def test_a_call_in_another_shape_arrives_whole_at_the_end():
    bare = '{"name": "add", "arguments": {"a": 1, "b": 2}}'
    invoked, chunks = scripted(bare)
    assert [c.tool_call_chunks != [] for c in chunks] == [False] * (len(chunks) - 1) + [True]
    assert merged(chunks).tool_calls == invoked.tool_calls and invoked.tool_calls[0]["args"] == {"a": 1, "b": 2}


@pytest.mark.parametrize(
    "reply",
    [
        '<tool_call>{"name": "add", "arguments": {"a": 2, "b"',  # cut off mid-arguments
        '<tool_call>{"name": "add", "arguments": {"a": 2, "b": "x\\',  # cut off after a backslash in a string
        '<tool_call>{"name": "add", "arguments": {"a": 2, "c": 3}}</tool_call>',  # breaks the schema
    ],
)
def test_a_streamed_call_the_parser_drops_is_never_a_call(reply):
    invoked, chunks = scripted(reply)
    assert invoked.tool_calls == [] and invoked.invalid_tool_calls
    assert any(c.tool_call_chunks for c in chunks[:-1])  # it did stream before the parser saw it whole
    total = merged(chunks)
    assert total.tool_calls == [] and total.content == invoked.content
    assert [c["name"] for c in total.invalid_tool_calls] == ["add"]


def test_a_dropped_call_before_a_good_one_keeps_the_good_one():
    reply = (
        '<tool_call>{"name": "add", "arguments": {"a": "two", "b": 3}}</tool_call>'
        '<tool_call>{"name": "shout", "arguments": {"text": "hi"}}</tool_call>'
    )
    invoked, chunks = scripted(reply)
    total = merged(chunks)
    assert [c["name"] for c in invoked.tool_calls] == ["shout"]
    assert total.tool_calls == invoked.tool_calls
    assert [c["name"] for c in total.invalid_tool_calls] == ["add", "shout"]  # both had streamed; spoiled


# --- parallel_tool_calls -----------------------------------------------------------------------


@pytest.mark.parametrize(("parallel", "names"), [(None, ["add", "shout"]), (True, ["add", "shout"]), (False, ["add"])])
def test_parallel_tool_calls(parallel, names):
    invoked, chunks = scripted(TWO_CALLS, parallel_tool_calls=parallel)
    assert [c["name"] for c in invoked.tool_calls] == names
    total = merged(chunks)
    assert total.tool_calls == invoked.tool_calls and total.invalid_tool_calls == []
    assert len(invoked.response_metadata["layerroute"]["tool_calls"]) == 2  # the record keeps what was written


@pytest.mark.parametrize("strict", [True, False, None])
def test_bind_tools_takes_strict_as_chatopenai_does(strict):
    invoked, chunks = scripted(TWO_CALLS, strict=strict)
    assert [c["name"] for c in invoked.tool_calls] == ["add", "shout"]
    assert merged(chunks).tool_calls == invoked.tool_calls


def test_strict_is_checked():
    chat = ChatLayerRoute(routed_model=ScriptedModel(TWO_CALLS))
    with pytest.raises(ValueError, match="strict must be True, False or None, got 'yes'"):
        chat.bind_tools([add], strict="yes")
    with pytest.raises(ValueError, match="strict=True holds tool calls to their schemas.*constrain=False"):
        chat.bind_tools([add], strict=True, constrain=False)
    with pytest.raises(ValueError, match="strict=True holds tool calls"):  # a call-time constrain=False too
        chat.bind_tools([add], strict=True).invoke("go", constrain=False)


def test_parallel_tool_calls_is_checked_and_works_in_a_prebuilt_agent():
    chat = ChatLayerRoute(routed_model=ScriptedModel(TWO_CALLS, "Done."))
    with pytest.raises(ValueError, match="parallel_tool_calls must be True, False or None"):
        chat.bind_tools([add], parallel_tool_calls="no")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of create_agent
        agent = create_react_agent(chat.bind_tools([add, shout], parallel_tool_calls=False), [add, shout])
    out = agent.invoke({"messages": [HumanMessage("add and shout")]})
    results = [m for m in out["messages"] if isinstance(m, ToolMessage)]
    assert [m.content for m in results] == ["5"] and out["messages"][-1].content == "Done."


# --- generation keywords -----------------------------------------------------------------------


def test_max_tokens_stop_temperature_and_top_p(tiny):
    chat = ChatLayerRoute(routed_model=tiny, max_tokens=4, temperature=0.7, top_p=0.9, seed=3)
    assert chat.max_new_tokens == 4
    assert chat.invoke("hi").usage_metadata["output_tokens"] == 4
    assert chat.invoke("hi", max_tokens=2).usage_metadata["output_tokens"] == 2
    greedy = ChatLayerRoute(routed_model=tiny, max_new_tokens=12)
    text = greedy.invoke("tell me").content
    stop = text[3:5]
    assert ChatLayerRoute(routed_model=tiny, max_new_tokens=12, stop=[stop]).invoke("tell me").content == text[:3]
    assert greedy.invoke("tell me", stop=[stop]).content == text[:3]
    with pytest.raises(ValueError, match="max_tokens=2 and max_new_tokens=3 disagree"):
        greedy.invoke("hi", max_tokens=2, max_new_tokens=3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"max_new_tokens": -1}, r"'max_new_tokens': input should be greater than or equal to 1"),
        ({"max_tokens": 0}, r"'max_new_tokens': input should be greater than or equal to 1"),
        ({"temperature": "hot"}, r"'temperature': input should be a valid number"),
        ({"top_p": 0}, r"'top_p': input should be greater than 0"),
        ({"seed": "1"}, r"'seed'"),
        ({"stop": [""]}, r"'stop'"),
        ({"max_tokens": 3, "max_new_tokens": 4}, "disagree"),
        ({"temprature": 0.5}, r"unknown argument 'temprature'; did you mean 'temperature'"),
    ],
)
def test_bad_generation_settings_fail_at_construction(kwargs, match):
    with pytest.raises(ValidationError, match=match):
        ChatLayerRoute(**kwargs)


# --- tool results need their call --------------------------------------------------------------


def test_an_orphan_tool_result_names_its_id(tiny):
    call = AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1"}])
    orphan = [HumanMessage("add"), call, ToolMessage("5", tool_call_id="call_9")]
    match = r"message 2 is a ToolMessage for tool call 'call_9', which no earlier AIMessage made .*'call_1'"
    with pytest.raises(ValueError, match=match):
        to_agentroute_messages(orphan)
    with pytest.raises(ValueError, match=match):
        ChatLayerRoute(routed_model=tiny).invoke(orphan)
    early = [HumanMessage("add"), ToolMessage("5", tool_call_id="call_1"), call]  # the result before its call
    with pytest.raises(ValueError, match=r"message 1 .* 'call_1'.*earlier call ids: none"):
        to_agentroute_messages(early)


def test_dumpd_and_load_round_trip_the_settings(tiny):
    from langchain_core.load import dumpd, dumps, load, loads

    chat = ChatLayerRoute(max_tokens=32, temperature=0.5, node_step_types={"planner": "planning"}, mode="full")
    allowed = {"allowed_objects": [ChatLayerRoute], "valid_namespaces": ["langchain_layerroute"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # load is marked beta
        for copy in (load(dumpd(chat), **allowed), loads(dumps(chat), **allowed)):
            assert isinstance(copy, ChatLayerRoute) and copy._routed is None  # nothing loaded
            assert copy._identifying_params == chat._identifying_params
        # A shared routed_model is not saved: the copy loads its own from the settings.
        shared = load(dumpd(ChatLayerRoute(routed_model=tiny, max_new_tokens=4)), **allowed)
    assert shared._routed is None and shared.model == "default" and shared.max_new_tokens == 4


def test_configurable_fields_copies_share_the_model(tiny, monkeypatch):
    from langchain_core.runnables import ConfigurableField

    import agentroute
    from agentroute import Trace

    loads = []
    monkeypatch.setattr(agentroute, "load", lambda **arguments: loads.append(arguments) or tiny)
    # LangChain builds a fresh chat model from the fields on every configured call.
    chat = ChatLayerRoute(max_new_tokens=3).configurable_fields(temperature=ConfigurableField(id="temperature"))
    for temperature in (0.0, 0.7, 0.0):
        chat.invoke("hi", config={"configurable": {"temperature": temperature, "seed": 1}})
    assert len(loads) == 1  # loaded once, not once per call

    # An injected model stays the one the copies run (not the default model loaded instead).
    own = RoutedModel(*tiny_model("llama", 4), name="injected-tiny")
    injected = ChatLayerRoute(routed_model=own, max_new_tokens=3).configurable_fields(
        max_new_tokens=ConfigurableField(id="length")
    )
    with Trace() as trace:
        reply = injected.invoke("hi", config={"configurable": {"length": 2}})
    assert trace.records[0].model == "injected-tiny" and reply.usage_metadata["output_tokens"] == 2
    assert len(loads) == 1
