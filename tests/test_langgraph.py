"""LangChain/LangGraph integration: ChatLayerRoute, message conversion, streaming, graphs and agents."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langchain_core.messages import (
    AIMessage,
    AnyMessage,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.tools import tool
from langchain_core.utils.function_calling import convert_to_openai_tool
from langchain_layerroute import ChatLayerRoute, to_agentroute_messages
from langgraph.graph.message import add_messages
from scripted_model import ScriptedModel
from tiny_models import tiny_model

from agentroute import RoutedModel, Trace


@tool
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@tool
def shout(text: str) -> str:
    """Upper-case a text."""
    return text.upper()


class State(TypedDict):
    messages: Annotated[list[AnyMessage], add_messages]


# Named with name= so that other test modules can import them without shadowing the parameter names.
@pytest.fixture(scope="module", name="tiny")
def tiny_fixture() -> RoutedModel:
    return RoutedModel(*tiny_model("llama", 4), name="tiny")


@pytest.fixture(name="chat")
def chat_fixture(tiny) -> ChatLayerRoute:
    return ChatLayerRoute(routed_model=tiny, max_new_tokens=10)


ADD_CALL = '<tool_call>{"name": "add", "arguments": {"a": 2, "b": 3}}</tool_call>'


# --- message conversion -----------------------------------------------------------------------------


def test_all_four_message_types_convert():
    messages = [
        SystemMessage("be brief"),
        HumanMessage([{"type": "text", "text": "add "}, "2 and 3"]),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1"}]),
        ToolMessage("5", tool_call_id="call_1", name="add"),
        AIMessage("It is 5."),
        ChatMessage(role="user", content="thanks"),
    ]
    assert to_agentroute_messages(messages) == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "add 2 and 3"},
        {
            "role": "assistant",
            "content": "",
            "tool_calls": [{"id": "call_1", "name": "add", "arguments": {"a": 2, "b": 3}}],
        },
        {"role": "tool", "tool_call_id": "call_1", "name": "add", "content": "5"},
        {"role": "assistant", "content": "It is 5."},
        {"role": "user", "content": "thanks"},
    ]


def test_converted_history_reaches_the_prompt(tiny):
    """Tool calls and results are written into the prompt exactly as AgentRoute renders dicts."""
    history = [
        HumanMessage("add 2 and 3"),
        AIMessage("", tool_calls=[{"name": "add", "args": {"a": 2, "b": 3}, "id": "call_1"}]),
        ToolMessage("5", tool_call_id="call_1", name="add"),
    ]
    reply = ChatLayerRoute(routed_model=tiny, max_new_tokens=6).bind_tools([add]).invoke(history)
    direct = tiny.generate(to_agentroute_messages(history), tools=[_spec(add)], max_new_tokens=6)
    assert reply.usage_metadata["input_tokens"] == direct.record.prompt_tokens
    assert reply.content == direct.text
    assert reply.response_metadata["layerroute"]["step_type"] == "final_answer"  # last message is a tool result


def _spec(t) -> dict:
    return convert_to_openai_tool(t)["function"]


@pytest.mark.parametrize(
    ("messages", "match"),
    [
        ([HumanMessage("hi"), FunctionMessage(content="x", name="f")], r"message 1 is a FunctionMessage"),
        ([ChatMessage(role="critic", content="x")], r"message 0 is a ChatMessage with role 'critic'"),
        ([HumanMessage([{"type": "image_url", "image_url": {"url": "http://x"}}])], r"message 0 .*'image_url'"),
    ],
)
def test_bad_messages_name_the_index(chat, messages, match):
    with pytest.raises(ValueError, match=match):
        to_agentroute_messages(messages)
    with pytest.raises(ValueError, match=match):
        chat.invoke(messages)


# --- invoke, metadata, options ----------------------------------------------------------------------


def test_invoke_returns_usage_and_metadata_from_the_record(chat, tiny):
    with Trace() as trace:
        reply = chat.invoke([SystemMessage("be brief"), HumanMessage("hello")])
    (record,) = trace.records
    assert isinstance(reply, AIMessage)
    assert reply.usage_metadata["input_tokens"] == record.prompt_tokens
    assert reply.usage_metadata["output_tokens"] == record.completion_tokens == 10
    assert reply.usage_metadata["total_tokens"] == record.prompt_tokens + record.completion_tokens
    meta = reply.response_metadata
    assert meta["model_name"] == "tiny" and meta["finish_reason"] == record.finish_reason == "length"
    assert meta["layerroute"] == record.model_dump(mode="json")
    direct = tiny.generate(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello"}], max_new_tokens=10
    )
    assert reply.content == direct.text


def test_call_options_override_fields(chat):
    reply = chat.invoke("hello", max_new_tokens=3)
    assert reply.usage_metadata["output_tokens"] == 3
    assert chat.bind(max_tokens=2).invoke("hello").usage_metadata["output_tokens"] == 2
    with pytest.raises(ValueError, match=r"unknown call option\(s\) \['frequency_penalty'\]"):
        chat.invoke("hello", frequency_penalty=1.0)


def test_lossless_mode_reproduces_full_depth():
    model = RoutedModel(*tiny_model("llama", 4), name="tiny", policy={"budgets": {"other": 0.5}})
    lossless = ChatLayerRoute(mode="lossless", routed_model=model, max_new_tokens=12)
    full = ChatLayerRoute(mode="full", routed_model=model, max_new_tokens=12)
    a, b = lossless.invoke("hello there"), full.invoke("hello there")
    assert a.content == b.content and a.response_metadata["layerroute"]["mode"] == "lossless"
    assert a.response_metadata["layerroute"]["draft_program"] == "0,3"


def test_constructor_checks():
    with pytest.raises(ValueError, match="unknown step type 'thinking'"):
        ChatLayerRoute(node_step_types={"planner": "thinking"})
    with pytest.raises(ValueError, match="policy="):
        ChatLayerRoute(routed_model=object(), policy={"budgets": {"tool_call": 0.5}})
    with pytest.raises(ValueError, match="programs="):
        ChatLayerRoute(routed_model=object(), programs="programs.json")
    assert ChatLayerRoute()._llm_type == "layerroute"  # no load until the first call


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"model": "/no/such/checkpoint"}, "does not exist"),
        ({"model": __file__}, "not a .gguf file"),
        ({"pack": "/no/such/pack"}, "not a route pack"),
        ({"programs": "/no/such/programs.json"}, "no programs file"),
        ({"policy": {"budgets": {"tool_cal": 0.5}}}, "invalid depth policy"),
        ({"device": "tpu"}, "device must be 'cpu', 'cuda' or 'cuda:N', got 'tpu'"),
        ({"dtype": "float8"}, "unknown dtype 'float8'"),
    ],
)
def test_what_load_would_refuse_fails_at_construction(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ChatLayerRoute(**kwargs)


def test_the_policy_mode_is_the_default_and_routed_names_it(chat):
    assert ChatLayerRoute().mode == "policy"
    with pytest.raises(ValueError, match="mode 'routed' is now mode 'policy'"):
        ChatLayerRoute(mode="routed")
    chat.mode = "routed"  # set after construction: refused at the call, never run as another mode
    with pytest.raises(ValueError, match="mode 'routed' is now mode 'policy'"):
        chat.invoke("hello")


def test_full_mode_ignores_the_policy_budget(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path))  # calibration cache of the cheap program
    model, tok = tiny_model("llama", 6)
    routed = RoutedModel(model, tok, name="tiny6", policy={"budgets": {"other": 0.5}})
    cheap = ChatLayerRoute(routed_model=routed, max_new_tokens=2).invoke("hi")
    full = ChatLayerRoute(routed_model=routed, max_new_tokens=2, mode="full").invoke("hi")
    assert cheap.response_metadata["layerroute"]["layers_fraction"] == 0.5
    assert full.response_metadata["layerroute"]["layers_fraction"] == 1.0


def test_full_mode_decodes_plainly_where_the_policy_is_lossless():
    model, tok = tiny_model("llama", 4)
    routed = RoutedModel(model, tok, name="tiny4", policy={"budgets": {"other": 0.5}, "modes": {"other": "lossless"}})
    policy = ChatLayerRoute(routed_model=routed, max_new_tokens=4).invoke("hi")
    full = ChatLayerRoute(routed_model=routed, max_new_tokens=4, mode="full").invoke("hi")
    assert policy.response_metadata["layerroute"]["mode"] == "lossless"
    record = full.response_metadata["layerroute"]
    assert (record["mode"], record["draft_program"], record["layers_fraction"]) == ("full", None, 1.0)
    assert full.content == policy.content  # lossless is exact: the same reply either way


# --- tools ----------------------------------------------------------------------------------------


def _traced_inputs(tmp_path: Path, runnable, prompt="add 2 and 3") -> tuple[dict, dict]:
    path = tmp_path / f"t{len(list(tmp_path.iterdir()))}.jsonl"
    with Trace(path, include_messages=True):
        runnable.invoke(prompt)
    line = json.loads(path.read_text().splitlines()[-1])
    return line, line["hints"]


def test_bind_tools_puts_the_tools_in_the_prompt(chat, tmp_path):
    line, hints = _traced_inputs(tmp_path, chat.bind_tools([add, shout]))
    assert [t["name"] for t in line["tools"]] == ["add", "shout"]
    assert line["tools"][0]["parameters"]["required"] == ["a", "b"]
    assert line["step_type"] == "tool_call" and line["step_type_source"] == "rule"
    assert "tool_choice" not in hints
    plain, _ = _traced_inputs(tmp_path, chat)
    assert line["prompt_tokens"] > plain["prompt_tokens"] + 50  # the tool block went into the prompt


@pytest.mark.parametrize(
    ("choice", "offered", "hint", "step_type"),
    [
        ("auto", ["add", "shout"], None, "tool_call"),  # the model decides: no hint
        ("any", ["add", "shout"], "required", "tool_call"),  # one word for a demanded call, every door
        ("required", ["add", "shout"], "required", "tool_call"),
        (True, ["add", "shout"], "required", "tool_call"),
        ("none", [], "none", "other"),
        ("shout", ["shout"], "shout", "tool_call"),
        ({"type": "function", "function": {"name": "add"}}, ["add"], "add", "tool_call"),
        ({"type": "tool", "name": "shout"}, ["shout"], "shout", "tool_call"),
        ({"type": "any"}, ["add", "shout"], "required", "tool_call"),
    ],
)
def test_tool_choice_values(chat, tmp_path, choice, offered, hint, step_type):
    line, hints = _traced_inputs(tmp_path, chat.bind_tools([add, shout], tool_choice=choice))
    assert [t["name"] for t in line["tools"]] == offered
    assert hints.get("tool_choice") == hint and line["step_type"] == step_type


def test_tools_bound_with_plain_bind_are_converted(chat, tmp_path):
    openai_tool = {"type": "function", "function": _spec(shout)}
    runnable = chat.bind(tools=[add, openai_tool], tool_choice={"type": "function", "function": {"name": "shout"}})
    line, hints = _traced_inputs(tmp_path, runnable)
    assert [t["name"] for t in line["tools"]] == ["shout"] and hints["tool_choice"] == "shout"


def test_bad_tool_choice_and_bad_tools(chat):
    with pytest.raises(ValueError, match=r"tool_choice must be .* name an offered tool \(add\).*got 'multiply'"):
        chat.bind_tools([add], tool_choice="multiply")
    with pytest.raises(ValueError, match="names must be unique"):
        chat.bind_tools([add, add])


def test_tool_calls_become_langchain_tool_calls():
    scripted = ScriptedModel("Let me add.\n" + ADD_CALL)
    with Trace() as trace:
        reply = ChatLayerRoute(routed_model=scripted).bind_tools([add]).invoke("add 2 and 3")
    (record,) = trace.records
    assert reply.content == "Let me add."
    assert reply.tool_calls == [
        {"name": "add", "args": {"a": 2, "b": 3}, "id": record.tool_calls[0].id, "type": "tool_call"}
    ]
    assert reply.response_metadata["finish_reason"] == "tool_calls" and not reply.invalid_tool_calls
    assert scripted.calls[0]["tools"][0]["name"] == "add"


def test_only_tool_calls_gives_empty_content():
    reply = ChatLayerRoute(routed_model=ScriptedModel(ADD_CALL)).bind_tools([add]).invoke("add 2 and 3")
    assert reply.content == "" and reply.tool_calls[0]["name"] == "add"


def test_a_reply_in_langchain_v1_content_blocks_reads_back_as_text_and_calls():
    """Under ``output_version="v1"`` LangChain writes the reply's calls into its content as blocks;
    the next step reads that reply back: its words as text, its calls from ``tool_calls``."""
    llm = ChatLayerRoute(routed_model=ScriptedModel("Let me add.\n" + ADD_CALL), output_version="v1")
    first = llm.bind_tools([add]).invoke("add 2 and 3")
    assert [block["type"] for block in first.content] == ["text", "tool_call"]
    call_id = first.tool_calls[0]["id"]
    reasoning = AIMessage([{"type": "reasoning", "reasoning": "adding"}, {"type": "text", "text": "Done."}])
    history = [HumanMessage("add 2 and 3"), first, ToolMessage("5", tool_call_id=call_id, name="add"), reasoning]
    converted = to_agentroute_messages(history)
    assert converted[1] == {
        "role": "assistant",
        "content": "Let me add.",
        "tool_calls": [{"id": call_id, "name": "add", "arguments": {"a": 2, "b": 3}}],
    }
    assert converted[3] == {"role": "assistant", "content": "Done."}
    with pytest.raises(ValueError, match=r"message 0 .*'tool_call'"):  # only an AI reply's own calls are skipped
        to_agentroute_messages([HumanMessage([{"type": "tool_call", "name": "add", "args": {}, "id": "x"}])])


def test_a_bad_tool_call_is_returned_as_text():
    bad = '<tool_call>{"name": "multiply", "arguments": {"a": 2}}</tool_call>'
    reply = ChatLayerRoute(routed_model=ScriptedModel(bad)).bind_tools([add]).invoke("add 2 and 3")
    assert reply.content == bad and reply.tool_calls == []
    assert "unknown tool 'multiply'" in reply.response_metadata["error"]
    assert reply.response_metadata["layerroute"]["error"] == reply.response_metadata["error"]
    (invalid,) = reply.invalid_tool_calls
    assert invalid["id"] is None and invalid["error"] == reply.response_metadata["error"]


SUN_SCHEMA = {
    "name": "sunrise",
    "description": "When the sun rises in a city on a day.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}, "date": {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}},
        "required": ["city", "date"],
    },
}
SUN_CALL = '<tool_call>{"name": "sunrise", "arguments": {"city": "Oslo", "date": "tomorrow"}}</tool_call>'
TODAY = SystemMessage("Today is Thursday, 2026-09-24.")


@pytest.mark.parametrize("streamed", [False, True])
def test_a_date_said_in_words_reaches_the_tool_resolved_invoked_or_streamed(streamed):
    """A said-values model writes "tomorrow"; the call carries 2026-09-25, and streamed chunks add up to
    that call (its arguments held back until parsed), never to an invalid one."""
    chat = ChatLayerRoute(routed_model=ScriptedModel(SUN_CALL, piece=4, said_values=True)).bind_tools([SUN_SCHEMA])
    messages = [TODAY, HumanMessage("When does the sun rise in Oslo tomorrow?")]
    if streamed:
        chunks = list(chat.stream(messages))
        reply = chunks[0]
        for chunk in chunks[1:]:
            reply = reply + chunk
    else:
        reply = chat.invoke(messages)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [("sunrise", {"city": "Oslo", "date": "2026-09-25"})]
    assert reply.invalid_tool_calls == []
    said = reply.response_metadata["layerroute"]["said_arguments"]
    assert said == [{"call": 1, "argument": "date", "said": "tomorrow", "value": "2026-09-25"}]


# --- streaming and async --------------------------------------------------------------------------


def test_stream_adds_up_to_invoke(chat):
    reply = chat.invoke("tell me a story", max_new_tokens=16)
    chunks = list(chat.stream("tell me a story", max_new_tokens=16))
    assert len(chunks) > 3 and "".join(c.content for c in chunks) == reply.content
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert merged.usage_metadata["output_tokens"] == reply.usage_metadata["output_tokens"] == 16
    assert merged.usage_metadata["input_tokens"] == reply.usage_metadata["input_tokens"]
    assert merged.response_metadata["finish_reason"] == "length" and chunks[-1].chunk_position == "last"


def test_stream_with_tools_adds_up_to_invoke(chat):
    bound = chat.bind_tools([add])
    reply = bound.invoke("add 2 and 3", max_new_tokens=16)
    chunks = list(bound.stream("add 2 and 3", max_new_tokens=16))
    assert "".join(c.content for c in chunks) == reply.content


def test_stream_yields_while_generating_and_carries_tool_calls():
    gate = threading.Event()
    chat = ChatLayerRoute(routed_model=ScriptedModel("Sure." + ADD_CALL, piece=3, gate=gate)).bind_tools([add])
    stream = chat.stream("add 2 and 3")
    first = next(stream)  # the model is blocked until we have it: streaming is live
    gate.set()
    chunks = [first, *stream]
    assert first.content == "Sur"
    merged = chunks[0]
    for c in chunks[1:]:
        merged += c
    assert merged.content == "Sure."
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [("add", {"a": 2, "b": 3})]
    assert merged.tool_calls[0]["id"].startswith("call_")
    assert merged.response_metadata["finish_reason"] == "tool_calls"


def test_closing_a_stream_stops_the_generation(chat):
    with Trace() as trace:
        stream = chat.stream("tell me a long story", max_new_tokens=200)
        next(stream)
        stream.close()
    assert trace.records == []  # cancelled mid-decode: no finished step
    assert chat.invoke("hello").usage_metadata["output_tokens"] == 10  # the model is usable again


def test_async_invoke_and_stream(chat):
    expected = chat.invoke("hello").content

    async def run():
        with Trace() as trace:  # opened in the coroutine: the worker thread must inherit it
            reply = await chat.ainvoke("hello")
            chunks = [c async for c in chat.astream("hello")]
        return reply, chunks, trace.records

    reply, chunks, records = asyncio.run(run())
    assert reply.content == expected == "".join(c.content for c in chunks)
    assert len(records) == 2 and reply.usage_metadata["output_tokens"] == records[0].completion_tokens


@pytest.mark.parametrize("method", ["ainvoke", "astream"])
def test_the_first_async_call_loads_the_model_off_the_event_loop(tiny, monkeypatch, method):
    import agentroute

    def slow_load(**arguments):
        time.sleep(1.5)  # a load takes seconds; the loop must keep running meanwhile
        return tiny

    monkeypatch.setattr(agentroute, "load", slow_load)
    chat = ChatLayerRoute(max_new_tokens=3)

    async def run():
        ticks = []

        async def ticker():
            while True:
                ticks.append(time.perf_counter())
                await asyncio.sleep(0.01)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        if method == "ainvoke":
            await chat.ainvoke("hello")
        else:
            [c async for c in chat.astream("hello")]
        task.cancel()
        return max(b - a for a, b in zip(ticks, ticks[1:], strict=False))

    # The loop never stalled for the load (a busy machine's scheduling gaps stay well below it).
    assert asyncio.run(run()) < 1.0 and chat.routed_model is tiny


def test_cancelling_ainvoke_stops_the_generation():
    gate = threading.Event()
    scripted = ScriptedModel("a long reply that should never finish", piece=2, gate=gate)
    chat = ChatLayerRoute(routed_model=scripted)

    async def run():
        with Trace() as trace:
            task = asyncio.create_task(chat.ainvoke("hello"))
            while not scripted.calls:  # the model has streamed its first piece and waits at the gate
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            gate.set()  # the generation goes on to its next piece, where it must stop
            await asyncio.sleep(0.5)
        return trace.records

    assert asyncio.run(run()) == []  # it never finished, so no step was recorded


def test_async_stream_error_is_raised(chat):
    async def run():
        return [c async for c in chat.astream("hello", max_new_tokens=0)]

    with pytest.raises(ValueError, match="max_new_tokens.*greater than or equal to 1"):
        asyncio.run(run())
