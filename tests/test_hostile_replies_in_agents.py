"""No reply reaches a tool with arguments its schema refuses, through the real agent loops.

Replies are scripted (the model's text is what an attacker or a confused small model controls) and
read by the real parser; the tools are real Haystack and LangChain tools run by the real Agent,
ReAct agent and ToolNode. A tool that ran would record its arguments.
"""

from __future__ import annotations

from typing import Literal

import pytest
from haystack.components.agents import Agent
from haystack.dataclasses import ChatMessage
from haystack.tools import create_tool_from_function
from haystack_integrations.components.generators.layerroute import LayerRouteGenerator
from langchain.agents import create_agent
from langchain_core.tools import tool
from langchain_layerroute import ChatLayerRoute
from scripted_model import ScriptedModel

RAN: list[dict] = []

# Each breaks the weather tool's schema: a number for the city, an undeclared argument, a missing
# required one, an enum value it does not have; the last two hide the call after text.
HOSTILE = [
    '<tool_call>{"name": "get_weather", "arguments": {"city": 5}}</tool_call>',
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "evil": "rm -rf /"}}</tool_call>',
    '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>',
    '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "kelvin"}}</tool_call>',
    'Sure.\n<tool_call>{"name": "get_weather", "arguments": {"city": ["Oslo"]}}</tool_call>',
    ' ```json\n{"name": "get_weather", "arguments": {"city": {"$gt": ""}}}\n```',
]


def get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """Current weather in a city.

    :param city: the city
    :param unit: C or F
    """
    RAN.append({"city": city, "unit": unit})
    return f"4 {unit} in {city}"


@tool
def lc_get_weather(city: str, unit: Literal["C", "F"] = "C") -> str:
    """Current weather in a city (unit C or F)."""
    RAN.append({"city": city, "unit": unit})
    return f"4 {unit} in {city}"


lc_get_weather.name = "get_weather"


@pytest.fixture(autouse=True)
def _clear():
    RAN.clear()


@pytest.mark.parametrize("reply", HOSTILE)
def test_haystack_agent_never_runs_a_call_that_breaks_the_schema(reply):
    generator = LayerRouteGenerator()
    scripted = ScriptedModel(reply, "I could not check the weather.")
    generator._routed_model = scripted  # what warm_up would have loaded
    weather = create_tool_from_function(get_weather)
    assert weather.parameters["properties"]["unit"]["enum"] == ["C", "F"]
    agent = Agent(chat_generator=generator, tools=[weather], max_agent_steps=3)
    result = agent.run([ChatMessage.from_user("Weather in Oslo?")])
    assert RAN == [] and result.get("tool_call_counts", {}).get("get_weather", 0) == 0
    assert result["messages"][1].meta["layerroute"]["error"]  # the step record says why


@pytest.mark.parametrize("reply", HOSTILE)
def test_langgraph_agent_never_runs_a_call_that_breaks_the_schema(reply):
    chat = ChatLayerRoute(routed_model=ScriptedModel(reply, "I could not check the weather."))
    schema = lc_get_weather.args_schema.model_json_schema()
    assert schema["properties"]["unit"]["enum"] == ["C", "F"]
    agent = create_agent(chat, tools=[lc_get_weather])
    state = agent.invoke({"messages": [("user", "Weather in Oslo?")]})
    assert RAN == []
    first = state["messages"][1]
    assert not first.tool_calls and first.response_metadata["layerroute"]["error"]


def test_a_valid_call_does_run_in_both():
    valid = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    generator = LayerRouteGenerator()
    generator._routed_model = ScriptedModel(valid, "4 C in Oslo.")
    Agent(chat_generator=generator, tools=[create_tool_from_function(get_weather)]).run(
        [ChatMessage.from_user("Weather in Oslo?")]
    )
    chat = ChatLayerRoute(routed_model=ScriptedModel(valid, "4 C in Oslo."))
    create_agent(chat, tools=[lc_get_weather]).invoke({"messages": [("user", "Weather in Oslo?")]})
    assert RAN == [{"city": "Oslo", "unit": "C"}] * 2
