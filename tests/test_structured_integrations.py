"""Structured output through the integrations: ``ChatLayerRoute.with_structured_output``, LangChain v1's
``create_agent(..., response_format=...)`` and ``LayerRouteGenerator``'s ``response_format``.

The reply is decoded under the schema's grammar, so even the tiny random model returns a valid
object on bounded schemas (every leaf a finite language: enums, booleans, short strings, small
integers), and the real model on ordinary ones (slow tests).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from typing import Annotated, Literal

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here; keep Haystack from trying

import jsonschema
import pytest
from haystack import Pipeline
from haystack.dataclasses import ChatMessage
from haystack_integrations.components.generators.layerroute import LayerRouteGenerator
from langchain.agents import create_agent
from langchain.agents.factory import _supports_provider_strategy
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import tool
from langchain_layerroute import ChatLayerRoute
from langchain_layerroute.request import build_step
from langchain_layerroute.structured import json_schema_of
from pydantic import BaseModel, Field
from scripted_model import ScriptedModel
from tiny_models import tiny_model
from typing_extensions import TypedDict

import agentroute
from agentroute import RoutedModel

# --- ten bounded schemas: pydantic models, TypedDicts and JSON Schema dicts -------------------------


class Flag(BaseModel):
    ok: bool


class Weather(BaseModel):
    unit: Literal["C", "F"]
    mood: Literal["calm", "storm", "fog"]


class Tag(BaseModel):
    name: Annotated[str, Field(max_length=4)]
    tag: Literal["x"]


class Score(BaseModel):
    n: int = Field(ge=0, le=9)
    passed: bool


class Nested(BaseModel):
    inner: Flag
    kind: Literal["a", "b"]


class Colours(BaseModel):
    colours: list[str]


class Mood(TypedDict):
    mood: Literal["calm", "storm"]


class Flags(TypedDict):
    flags: Annotated[list[bool], Field(max_length=3)]


LEVEL = {
    "title": "Level",
    "type": "object",
    "properties": {"level": {"type": "integer", "minimum": 1, "maximum": 5}},
    "required": ["level"],
}
ANSWER = {
    "title": "Answer",
    "type": "object",
    "properties": {"answer": {"enum": ["yes", "no"]}, "sure": {"type": "boolean"}},
    "required": ["answer", "sure"],
}
CODE = {  # OpenAI's function shape, as with_structured_output also takes it
    "name": "code",
    "parameters": {"type": "object", "properties": {"code": {"type": "string", "maxLength": 3}}, "required": ["code"]},
}
BOUNDED = [Flag, Weather, Tag, Score, Nested, Mood, Flags, LEVEL, ANSWER, CODE]


def is_valid(value, schema) -> bool:
    if isinstance(schema, type) and issubclass(schema, BaseModel):
        return isinstance(value, schema)
    try:
        jsonschema.validate(value, json_schema_of(schema))
    except jsonschema.ValidationError:
        return False
    return True


@pytest.fixture(scope="module", name="tiny")
def tiny_fixture() -> RoutedModel:
    return RoutedModel(*tiny_model("llama", 6), name="tiny")


@tool
def get_weather(city: Literal["Oslo", "Rome"]) -> str:
    """The current weather in a city."""
    return "4 C, rain"


# --- LangChain: with_structured_output -----------------------------------------------------------------


def test_with_structured_output_is_valid_on_ten_of_ten_bounded_schemas(tiny):
    chat = ChatLayerRoute(routed_model=tiny, max_new_tokens=120)
    valid = [is_valid(chat.with_structured_output(schema).invoke("Describe it."), schema) for schema in BOUNDED]
    print(f"\ntiny model, with_structured_output: {sum(valid)}/{len(valid)} valid")
    assert all(valid)


def test_include_raw_returns_the_message_and_reports_a_cut_off_reply(tiny):
    out = ChatLayerRoute(routed_model=tiny, max_new_tokens=120).with_structured_output(Weather, include_raw=True)
    result = out.invoke("Describe it.")
    assert isinstance(result["parsed"], Weather) and result["parsing_error"] is None
    assert result["raw"].response_metadata["layerroute"]["constrained"]
    short = ChatLayerRoute(routed_model=tiny, max_new_tokens=3).with_structured_output(Weather, include_raw=True)
    cut = short.invoke("Describe it.")
    assert cut["parsed"] is None and cut["parsing_error"] is not None
    raw = cut["raw"]
    assert raw.response_metadata["finish_reason"] == "length" and "not the JSON" in raw.response_metadata["error"]
    assert raw.invalid_tool_calls == []  # no tools were offered: the error is the reply's, not a call's
    # LangChain's parsers would close the brackets of '{"colours": [' and return {"colours": []}.
    list_of = ChatLayerRoute(routed_model=tiny, max_new_tokens=13).with_structured_output(Colours, include_raw=True)
    cut = list_of.invoke("Describe it.")
    assert cut["raw"].content == '{"colours": [' and cut["parsed"] is None
    assert "the structured reply is incomplete" in str(cut["parsing_error"])


def test_async_streamed_and_batched_calls_are_structured_too(tiny):
    structured = ChatLayerRoute(routed_model=tiny, max_new_tokens=120).with_structured_output(Weather)
    assert isinstance(asyncio.run(structured.ainvoke("Describe it.")), Weather)
    assert isinstance(list(structured.stream("Describe it."))[-1], Weather)  # partial values, then the whole
    assert all(isinstance(w, Weather) for w in structured.batch(["Describe it.", "Describe that."]))


def test_methods(tiny):
    chat = ChatLayerRoute(routed_model=tiny, max_new_tokens=120)
    # function_calling keeps LangChain's tool path: the schema becomes a tool the model must call.
    assert isinstance(chat.with_structured_output(Weather, method="function_calling").invoke("Describe it."), Weather)
    assert isinstance(chat.with_structured_output(None, method="json_mode").invoke("Describe it."), dict)
    # As ChatOpenAI's json_mode: a pydantic schema parses into an instance.
    scripted = ChatLayerRoute(routed_model=ScriptedModel('{"unit": "C", "mood": "fog"}'))
    assert scripted.with_structured_output(Weather, method="json_mode").invoke("Describe it.") == Weather(
        unit="C", mood="fog"
    )
    with pytest.raises(ValueError, match="unknown structured output method 'xml'"):
        chat.with_structured_output(Weather, method="xml")
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        chat.with_structured_output({"type": "no-such-type"})
    with pytest.raises(ValueError, match="needs a schema"):
        chat.with_structured_output(None)


def test_response_format_and_json_schema_bind_like_any_call_option(tiny):
    chat = ChatLayerRoute(routed_model=tiny, max_new_tokens=120)
    openai_shape = {"type": "json_schema", "json_schema": {"name": "Answer", "schema": ANSWER}}
    for bound in (chat.bind(response_format=openai_shape), chat.bind(json_schema=ANSWER)):
        reply = bound.invoke("Yes or no?")
        assert is_valid(json.loads(reply.content), ANSWER)
    with pytest.raises(ValueError, match="response_format and json_schema disagree"):
        chat.invoke("hi", response_format=Flag, json_schema=ANSWER)
    with pytest.raises(ValueError, match="not a valid JSON Schema"):
        chat.bind_tools([get_weather], response_format={"type": "no-such-type"})


# --- LangChain v1 create_agent -------------------------------------------------------------------------


def test_answered_tools_are_not_offered_again_with_a_response_format(tiny):
    """The core leaves out tools that already answered when a format is asked (so every door gets
    it: both integrations and direct calls); without a format nothing changes."""
    from agentroute.steps.step_input import step_context

    chat = ChatLayerRoute(routed_model=tiny)
    call = AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Oslo"}, "id": "call_1"}])
    done = [HumanMessage("Weather in Oslo?"), call, ToolMessage("4 C", tool_call_id="call_1")]
    tools = {"tools": [get_weather]}
    step = build_step(chat, done, None, None, {**tools, "response_format": Weather})
    assert step.options["json_schema"] == Weather.model_json_schema()
    schema = step.options["json_schema"]
    assert step_context(step.messages[:1], step.tools, json_schema=schema).tools  # not answered yet
    assert step_context(step.messages, step.tools, json_schema=schema).tools == []
    assert step_context(step.messages, step.tools).tools  # without a format nothing changes


def test_create_agent_uses_the_native_strategy_and_ends_with_a_valid_object(tiny):
    chat = ChatLayerRoute(routed_model=tiny, max_new_tokens=120)
    assert chat.profile["structured_output"] and _supports_provider_strategy(chat, tools=[get_weather])
    agent = create_agent(chat, tools=[get_weather], response_format=Weather)
    out = agent.invoke({"messages": [("user", "Weather in Oslo?")]}, {"recursion_limit": 8})
    assert isinstance(out["structured_response"], Weather)
    replies = [m for m in out["messages"] if isinstance(m, AIMessage)]
    assert len(replies) <= 2 and not replies[-1].tool_calls  # at most one tool round, then the answer


# --- Haystack: response_format --------------------------------------------------------------------------


@pytest.fixture(name="loads_tiny")
def loads_tiny_fixture(monkeypatch, tiny):
    monkeypatch.setattr(agentroute, "load", lambda *a, **k: tiny)


@pytest.mark.parametrize(
    "response_format",
    [
        Weather,
        Nested,
        ANSWER,
        {"type": "json_schema", "json_schema": {"name": "Level", "strict": True, "schema": LEVEL}},
    ],
)
def test_haystack_response_format_gives_valid_objects(loads_tiny, response_format):
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 120, "response_format": response_format})
    reply = generator.run("Describe it.")["replies"][0]
    schema = response_format
    if isinstance(schema, dict) and schema.get("type") == "json_schema":
        schema = schema["json_schema"]["schema"]
    value = json.loads(reply.text)
    if isinstance(schema, type):
        schema.model_validate(value)
    else:
        jsonschema.validate(value, schema)
    assert reply.meta["layerroute"]["error"] is None and reply.meta["layerroute"]["constrained"]


def test_haystack_response_format_round_trips_through_a_pipeline(loads_tiny):
    generator = LayerRouteGenerator(generation_kwargs={"max_new_tokens": 120, "response_format": Weather})
    data = generator.to_dict()
    written = data["init_parameters"]["generation_kwargs"]["response_format"]
    assert written == {
        "type": "json_schema",
        "json_schema": {"name": "Weather", "strict": True, "schema": Weather.model_json_schema()},
    }
    assert LayerRouteGenerator.from_dict(data).to_dict() == data
    pipeline = Pipeline()
    pipeline.add_component("llm", generator)
    loaded = Pipeline.loads(pipeline.dumps())
    reply = loaded.run({"llm": {"messages": [ChatMessage.from_user("Describe it.")]}})["llm"]["replies"][0]
    Weather.model_validate_json(reply.text)
    # A call's response_format replaces the init one.
    flag = generator.run("Describe it.", generation_kwargs={"response_format": Flag})["replies"][0]
    Flag.model_validate_json(flag.text)


# --- the real model (slow) -------------------------------------------------------------------------------


class City(BaseModel):
    city: str
    country: str


class Temperature(BaseModel):
    city: str
    temp_c: float
    raining: bool


class Person(BaseModel):
    name: str
    age: int


class Verdict(BaseModel):
    sentiment: Literal["positive", "negative", "neutral"]
    reason: str


class Meeting(TypedDict):
    day: str
    hour: int


class Book(TypedDict):
    title: str
    author: str
    year: int


ORDINARY = [
    (City, "Where is the Eiffel Tower?"),
    (Temperature, "It is 4 C and raining in Oslo."),
    (Person, "Ada Lovelace died aged 36."),
    # Extraction, what structured output is mostly for. Asked to "name three colours of the rainbow" the
    # 135M model lists colours until max_new_tokens: that reply is a parsing error, never a truncated list.
    (Colours, "The flag is red, white and blue."),
    (Verdict, "Review: the food was cold and the staff rude."),
    (Meeting, "Let's meet on Tuesday at 15:00."),
    (Book, "1984 was written by George Orwell and published in 1949."),
    ({"title": "Sum", "type": "object", "properties": {"total": {"type": "number"}}, "required": ["total"]}, "2+3?"),
    (
        {
            "title": "Trip",
            "type": "object",
            "properties": {
                "origin": {"type": "string"},
                "destination": {"type": "string"},
                "days": {"type": "integer"},
            },
            "required": ["origin", "destination", "days"],
        },
        "A five-day trip from Paris to Rome.",
    ),
    (
        {
            "title": "Todo",
            "type": "object",
            "properties": {"task": {"type": "string"}, "done": {"type": "boolean"}},
            "required": ["task", "done"],
        },
        "I still have to buy milk.",
    ),
]


class Forecast(BaseModel):
    city: str
    temp_c: float
    conditions: str


@tool
def weather(city: str) -> str:
    """The current weather in a city."""
    return f"{city}: 4 C, light rain"


@pytest.fixture(scope="module", name="real")
def real_fixture() -> ChatLayerRoute:
    return ChatLayerRoute(max_new_tokens=96)


@pytest.mark.slow
def test_the_real_model_is_valid_on_ten_ordinary_schemas(real):
    valid = []
    for schema, question in ORDINARY:
        result = real.with_structured_output(schema, include_raw=True).invoke(question)
        ok = result["parsing_error"] is None and is_valid(result["parsed"], schema)
        print(f"\n{getattr(schema, '__name__', None) or schema['title']}: {result['raw'].content}")
        valid.append(ok)
    print(f"\nreal model, with_structured_output: {sum(valid)}/{len(valid)} valid")
    assert all(valid)


@pytest.mark.slow
def test_create_agent_with_the_real_model_returns_a_valid_object_in_time(real):
    real.routed_model  # noqa: B018 - load first: the bound is on the agent, not on loading
    agent = create_agent(real, tools=[weather], response_format=Forecast)
    start = time.perf_counter()
    out = agent.invoke({"messages": [("user", "What is the weather in Oslo?")]}, {"recursion_limit": 10})
    seconds = time.perf_counter() - start
    answer, messages = out["structured_response"], len(out["messages"])
    print(f"\ncreate_agent, real model: {answer!r} in {seconds:.1f} s, {messages} messages")
    assert isinstance(out["structured_response"], Forecast)
    assert seconds < 120
