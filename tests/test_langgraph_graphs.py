"""LangGraph graphs and prebuilt agents over ChatLayerRoute: node names type steps, tool-call round trips."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_layerroute import ChatLayerRoute, layerroute_node
from langgraph.graph import END, START, StateGraph
from langgraph.prebuilt import create_react_agent
from scripted_model import ScriptedModel
from test_langgraph import ADD_CALL, State, add, chat_fixture, tiny_fixture  # noqa: F401 - fixtures
from tiny_models import tiny_model

from agentroute import RoutedModel, Trace

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
def test_react_agent_on_the_demo_tasks_policy_and_full(capsys):
    """The demo's agent on the five TASKS as a policy says (routed: its budgets, lossy) and at full depth;
    prints the number correct."""
    from langchain_core.tools import StructuredTool

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "demos"))
    from agent_tools import TASKS, TOOLS, answer_is_correct

    tools = [StructuredTool.from_function(fn) for fn in TOOLS]
    routed = ChatLayerRoute(policy={"budgets": {"tool_call": 0.8, "final_answer": 0.9}}, max_new_tokens=96)
    full = ChatLayerRoute(mode="full", routed_model=routed.routed_model, max_new_tokens=96)
    for label, chat in (("policy", routed), ("full", full)):
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


def test_summarization_middleware_takes_the_context_from_the_profile(tiny):
    from langchain.agents.middleware import SummarizationMiddleware

    # The longest prompt a step takes: the context less the reply's tokens, known without loading.
    assert ChatLayerRoute().profile["max_input_tokens"] == 8192 - 256  # the embedded default, not loaded
    chat = ChatLayerRoute(routed_model=tiny, max_new_tokens=8)
    assert chat.profile["max_input_tokens"] == tiny.context_length - 8 == 2048 - 8
    # A fraction trigger needs max_input_tokens; past it, the model summarises the older messages.
    # (A short summary prompt: the tiny model's bytes-as-tokens would overflow its context with the default.)
    summarise = SummarizationMiddleware(
        model=chat, trigger=("fraction", 0.05), keep=("messages", 1), summary_prompt="Summarise:\n{messages}"
    )
    agent = create_agent(chat, [add], middleware=[summarise])
    long = "tell me more about the weather in Oslo " * 6
    history = [HumanMessage(long), AIMessage("ok"), HumanMessage(long), AIMessage("ok"), HumanMessage("add 2 and 3")]
    with Trace() as trace:
        out = agent.invoke({"messages": history})
    assert out["messages"][0].content.startswith("Here is a summary of the conversation to date")
    assert len(trace.records) >= 2  # the summary and the agent's step, both traced
