"""LangChain/LangGraph integration: ChatLayerRoute, message conversion, streaming, graphs and agents."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import warnings
from pathlib import Path
from typing import Annotated, TypedDict

import pytest
from langchain.agents import create_agent
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
from langchain_layerroute import ChatLayerRoute, layerroute_node, to_agentroute_messages
from langgraph.graph import END, START, StateGraph
from langgraph.graph.message import add_messages
from langgraph.prebuilt import create_react_agent
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


@pytest.fixture(scope="module")
def tiny() -> RoutedModel:
    return RoutedModel(*tiny_model("llama", 4), name="tiny")


@pytest.fixture
def chat(tiny) -> ChatLayerRoute:
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
    assert (record["mode"], record["draft_program"], record["layers_fraction"]) == ("routed", None, 1.0)
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
        ("auto", ["add", "shout"], "auto", "tool_call"),
        ("any", ["add", "shout"], "any", "tool_call"),
        ("required", ["add", "shout"], "required", "tool_call"),
        (True, ["add", "shout"], "required", "tool_call"),
        ("none", [], "none", "other"),
        ("shout", ["shout"], "shout", "tool_call"),
        ({"type": "function", "function": {"name": "add"}}, ["add"], "add", "tool_call"),
        ({"type": "tool", "name": "shout"}, ["shout"], "shout", "tool_call"),
        ({"type": "any"}, ["add", "shout"], "any", "tool_call"),
    ],
)
def test_tool_choice_values(chat, tmp_path, choice, offered, hint, step_type):
    line, hints = _traced_inputs(tmp_path, chat.bind_tools([add, shout], tool_choice=choice))
    assert [t["name"] for t in line["tools"]] == offered
    assert hints["tool_choice"] == hint and line["step_type"] == step_type


def test_tools_bound_with_plain_bind_are_converted(chat, tmp_path):
    openai_tool = {"type": "function", "function": _spec(shout)}
    runnable = chat.bind(tools=[add, openai_tool], tool_choice={"type": "function", "function": {"name": "shout"}})
    line, hints = _traced_inputs(tmp_path, runnable)
    assert [t["name"] for t in line["tools"]] == ["shout"] and hints["tool_choice"] == "shout"


def test_bad_tool_choice_and_bad_tools(chat):
    with pytest.raises(ValueError, match=r"tool_choice 'multiply' is not .* \(add\)"):
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


def test_a_bad_tool_call_is_returned_as_text():
    bad = '<tool_call>{"name": "multiply", "arguments": {"a": 2}}</tool_call>'
    reply = ChatLayerRoute(routed_model=ScriptedModel(bad)).bind_tools([add]).invoke("add 2 and 3")
    assert reply.content == bad and reply.tool_calls == []
    assert "unknown tool 'multiply'" in reply.response_metadata["error"]
    assert reply.response_metadata["layerroute"]["error"] == reply.response_metadata["error"]
    (invalid,) = reply.invalid_tool_calls
    assert invalid["id"] is None and invalid["error"] == reply.response_metadata["error"]


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


def test_async_stream_error_is_raised(chat):
    async def run():
        return [c async for c in chat.astream("hello", max_new_tokens=0)]

    with pytest.raises(ValueError, match="max_new_tokens.*greater than or equal to 1"):
        asyncio.run(run())


# --- LangGraph ------------------------------------------------------------------------------------


def _planner_graph(chat):
    def planner(state: State) -> dict:
        return {"messages": [chat.invoke(state["messages"])]}

    builder = StateGraph(State)
    builder.add_node("planner", planner)
    builder.add_edge(START, "planner")
    builder.add_edge("planner", END)
    return builder.compile()


def test_graph_node_name_sets_the_step_type(tiny):
    chat = ChatLayerRoute(routed_model=tiny, max_new_tokens=4, node_step_types={"planner": "planning"})
    graph = _planner_graph(chat)
    with Trace() as trace:
        out = graph.invoke({"messages": [HumanMessage("plan a trip")]})
        list(graph.stream({"messages": [HumanMessage("plan a trip")]}, stream_mode="messages"))
    assert isinstance(out["messages"][-1], AIMessage)
    for record in trace.records:  # invoke and the token-streaming path both see the node
        assert record.step_type == "planning" and record.step_type_source == "caller"
        assert record.hints["langgraph_node"] == record.hints["node"] == "planner"
        assert record.hints["agent_step"] == 1
    assert len(trace.records) == 2


def test_policy_hint_map_sees_the_node_name(tiny):
    model, tok = tiny_model("llama", 4)
    routed = RoutedModel(model, tok, name="tiny", policy={"hint_map": {"planner": "planning"}})
    with Trace() as trace:
        _planner_graph(ChatLayerRoute(routed_model=routed, max_new_tokens=2)).invoke({"messages": [HumanMessage("x")]})
    assert trace.records[0].step_type == "planning" and trace.records[0].step_type_source == "hint"


def test_layerroute_node_in_a_custom_graph(tiny):
    builder = StateGraph(State)
    builder.add_node(layerroute_node(tiny, name="planner", step_type="planning", max_new_tokens=4))
    builder.add_node(layerroute_node(ChatLayerRoute(routed_model=tiny, max_new_tokens=4), tools=[add], name="act"))
    builder.add_edge(START, "planner")
    builder.add_edge("planner", "act")
    builder.add_edge("act", END)
    with Trace() as trace:
        out = builder.compile().invoke({"messages": [HumanMessage("add 2 and 3")]})
    assert [type(m).__name__ for m in out["messages"]] == ["HumanMessage", "AIMessage", "AIMessage"]
    assert [m.name for m in out["messages"][1:]] == ["planner", "act"]
    assert [(r.step_type.value, r.hints["langgraph_node"]) for r in trace.records] == [
        ("planning", "planner"),
        ("other", "act"),  # the last message is the planner's reply, not a user turn
    ]


def test_layerroute_node_argument_checks(chat):
    with pytest.raises(ValueError, match="model_kwargs"):
        layerroute_node(chat, max_new_tokens=3)
    with pytest.raises(TypeError, match="ChatLayerRoute, a RoutedModel or None"):
        layerroute_node("default")


def test_prebuilt_agents_run_with_the_tiny_model(chat):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of create_agent
        react = create_react_agent(chat, [add])
    for agent in (react, create_agent(chat, [add], system_prompt="be brief")):
        with Trace() as trace:
            out = agent.invoke({"messages": [HumanMessage("add 2 and 3")]}, {"recursion_limit": 6})
        assert isinstance(out["messages"][-1], AIMessage) and out["messages"][-1].usage_metadata
        assert trace.records[0].step_type == "tool_call" and trace.records[0].hints["langgraph_node"] in (
            "agent",
            "model",
        )


@pytest.mark.parametrize("factory", ["create_agent", "create_react_agent"])
def test_agent_runs_a_tool_call_round_trip(factory):
    scripted = ScriptedModel(ADD_CALL, "The sum is 5.")
    chat = ChatLayerRoute(routed_model=scripted)
    if factory == "create_agent":
        agent = create_agent(chat, [add])
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            agent = create_react_agent(chat, [add])
    with Trace() as trace:
        out = agent.invoke({"messages": [HumanMessage("add 2 and 3")]})
    human, call, result, answer = out["messages"]
    assert call.tool_calls[0]["id"] == trace.records[0].tool_calls[0].id
    assert call.response_metadata["finish_reason"] == "tool_calls"
    assert isinstance(result, ToolMessage) and result.content == "5" and result.tool_call_id == call.tool_calls[0]["id"]
    assert answer.content == "The sum is 5." and answer.usage_metadata["output_tokens"] == len("The sum is 5.")
    # The second step saw the call and its result, and the graph position.
    second = scripted.calls[1]
    assert second["messages"][1]["tool_calls"][0]["arguments"] == {"a": 2, "b": 3}
    assert second["messages"][2] == {
        "role": "tool",
        "tool_call_id": call.tool_calls[0]["id"],
        "name": "add",
        "content": "5",
    }
    assert second["hints"]["agent_step"] == 3 and second["hints"]["langgraph_node"] in ("model", "agent")


# --- the real model -------------------------------------------------------------------------------


@pytest.mark.slow
def test_react_agent_on_the_demo_tasks_routed_and_full(capsys):
    """The demo's agent on the five TASKS at routed and full depth; prints the number correct."""
    from langchain_core.tools import StructuredTool

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))
    from agent_tools import TASKS, TOOLS, answer_is_correct

    tools = [StructuredTool.from_function(fn) for fn in TOOLS]
    routed = ChatLayerRoute(policy={"budgets": {"tool_call": 0.8, "final_answer": 0.9}}, max_new_tokens=96)
    full = ChatLayerRoute(mode="full", routed_model=routed.routed_model, max_new_tokens=96)
    for label, chat in (("routed", routed), ("full", full)):
        agent = create_agent(chat, tools, system_prompt="Use a tool when it helps, then answer in one sentence.")
        correct = 0
        with Trace() as trace:
            for task in TASKS:
                try:
                    out = agent.invoke({"messages": [HumanMessage(task["question"])]}, {"recursion_limit": 8})
                except Exception as exc:  # noqa: BLE001 - GraphRecursionError: the model looped on tools
                    print(f"{label}: {task['question']!r} stopped: {type(exc).__name__}")
                    continue
                replies = [m for m in out["messages"] if isinstance(m, AIMessage)]
                assert replies and all(m.usage_metadata for m in replies)
                correct += answer_is_correct(replies[-1].content, task["answer"])
        assert trace.records
        with capsys.disabled():
            print(f"\n{label}: {correct}/{len(TASKS)} correct, {len(trace.records)} steps")
