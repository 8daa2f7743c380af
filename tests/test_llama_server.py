"""Served steps on llama.cpp's server (a real ``llama-server`` process on localhost) running the
default model's exported programs as q8_0 GGUFs: the client renders each prompt as the core does,
holds tool calls to the tools' schemas with the call grammar as GBNF, and both frameworks' agents
run whole episodes through it.

The binary is built from the llama.cpp sources vendored in llama-cpp-python's sdist
(``make llama-server``, which ``make test`` runs where cmake and a C++ compiler are found; about
7 minutes on 2 cores, once). Without it these tests skip, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import warnings
from pathlib import Path

import jsonschema
import pytest

import agentroute
from agentroute import Trace
from agentroute.bench.llama_server import Server
from agentroute.export.run import export
from agentroute.serve import ServedModel

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
BINARY = Path(os.environ.get("AGENTROUTE_LLAMA_SERVER", ROOT / "build/llama-server/build/bin/llama-server"))
POLICY = {"budgets": {"tool_call": 0.6}}  # tool calls on a program of its own, the rest on the full model
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]
# Where a test checks the grammar, the call is demanded: Oslo may be outside a tool's enum, and a
# pack may rightly answer that in words.
DEMAND_CALL = {"hints": {"tool_choice": "required"}, "max_new_tokens": 48}


def _weather(cities: list[str] | None = None) -> dict:
    city = {"type": "string", **({"enum": cities} if cities else {})}
    return {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {"type": "object", "properties": {"city": city}, "required": ["city"]},
    }


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    if not BINARY.is_file():
        message = f"no llama-server at {BINARY}: run `make llama-server` (needs cmake and a C++ compiler)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    out = tmp_path_factory.mktemp("exported")
    manifest = export(agentroute.load(policy=POLICY, kernels="plain"), out, gguf="q8_0")
    served = [e for e in manifest["entries"] if e["role"] == "model"]
    assert [e["name"] for e in served][0] == "full" and len(served) == 2, served
    with contextlib.ExitStack() as servers:
        started = {e["name"]: servers.enter_context(Server(BINARY, ["-m", str(out / e["gguf"])], 2)) for e in served}
        yield out, {name: f"{server.url}/v1" for name, server in started.items()}, manifest


@pytest.fixture(scope="module")
def served(exported):
    out, urls, _ = exported
    return ServedModel(out / "export.json", urls, timeout=120)


def test_tool_calls_are_held_to_the_schema_on_the_engine(exported, served):
    out, urls, manifest = exported
    free = ServedModel(out / "export.json", urls, timeout=120, grammar="none")
    only = [_weather(["Paris", "Rome"])]
    held = served.generate(ASK, tools=only, **DEMAND_CALL)
    assert [(c.name, c.arguments) for c in held.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert held.record.hints["served_grammar"] == "grammar" and held.record.constrained and held.record.error is None
    loose = free.generate(ASK, tools=only, **DEMAND_CALL)  # the 18-layer program alone writes no valid call
    assert not loose.tool_calls  # (an invalid one under the shipped pack, none under next-v4)
    assert "served_grammar" not in loose.record.hints and not loose.record.constrained
    # tool_choice demands a call: a request the model answers in words still gets one.
    capital = [{"role": "user", "content": "What is the capital of France?"}]
    required = {"tools": [_weather()], **DEMAND_CALL}
    assert [c.name for c in served.generate(capital, **required).tool_calls] == ["get_weather"]
    assert not free.generate(capital, **required).tool_calls
    program = next(e for e in manifest["entries"] if e["name"] != "full")
    assert held.record.hints["served_entry"] == program["name"] and held.record.layers_per_token == program["layers"]


def test_the_exported_gguf_answers_through_the_chat_api(exported):
    """The full model's GGUF, its chat template included, as llama.cpp reads it: a plain chat."""
    _, urls, _ = exported
    chat = ServedModel.single(urls["full"], timeout=120)
    reply = chat.generate([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=16)
    assert "Paris" in reply.text and reply.record.error is None


def test_a_json_answer_is_held_to_its_schema(served):
    schema = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}}}
    schema["required"] = ["city"]
    reply = served.generate([{"role": "user", "content": "Name a city."}], json_schema=schema, max_new_tokens=48)
    jsonschema.validate(json.loads(reply.text), {**schema, "additionalProperties": False})
    assert reply.record.hints["served_grammar"] == "json_schema" and reply.record.error is None


def test_a_streamed_held_call_adds_up(served):
    pieces = []
    streamed = served.generate(ASK, tools=[_weather()], on_text=pieces.append, **DEMAND_CALL)
    plain = served.generate(ASK, tools=[_weather()], **DEMAND_CALL)
    assert streamed.tool_calls and streamed.tool_calls == plain.tool_calls and streamed.record.constrained
    assert "".join(pieces).startswith("<tool_call>")


def _demo_tools():
    sys.path.insert(0, str(ROOT / "demos"))
    from agent_tools import TASKS, TOOLS

    return TASKS, TOOLS


def test_a_haystack_agent_episode_on_llama_server(served):
    os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")
    pytest.importorskip("haystack_integrations.components.generators.layerroute")
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage, ChatRole
    from haystack.tools import create_tool_from_function
    from haystack_integrations.components.generators.layerroute import LayerRouteGenerator

    tasks, tools = _demo_tools()
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 96})
    generator._routed_model = served  # what warm_up would have loaded
    agent = Agent(chat_generator=generator, tools=[create_tool_from_function(f) for f in tools], max_agent_steps=3)
    with Trace() as trace:
        result = agent.run([ChatMessage.from_user(tasks[0]["question"])])
    _check_episode(trace.records, served)
    assert result["last_message"].role == ChatRole.ASSISTANT


def test_a_langgraph_react_episode_on_llama_server(served):
    pytest.importorskip("langchain_layerroute")
    from langchain_core.tools import StructuredTool
    from langchain_layerroute import ChatLayerRoute
    from langgraph.prebuilt import create_react_agent

    tasks, tools = _demo_tools()
    chat = ChatLayerRoute(routed_model=served, max_new_tokens=96)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # create_react_agent is deprecated in favour of create_agent
        react = create_react_agent(chat, [StructuredTool.from_function(f) for f in tools])
    with Trace() as trace:
        state = react.invoke({"messages": [("user", tasks[1]["question"])]}, {"recursion_limit": 7})
    _check_episode(trace.records, served)
    assert state["messages"][-1].type in ("ai", "tool")


def _check_episode(records, served) -> None:
    """The episode called a tool on the tool-call program under the grammar, and every step's record
    names the model that served it and its layers."""
    assert records and records[0].step_type == "tool_call" and records[0].error is None
    entries = {e.name: e for e in served.entries}
    for record in records:
        entry = entries[record.hints["served_entry"]]
        assert record.hints["served_endpoint"] == entry.url
        assert record.program == str(entry.program) and record.layers_per_token == len(entry.program)
    first = records[0]
    assert first.hints["served_grammar"] == "grammar" and first.hints["served_entry"] != "full"
