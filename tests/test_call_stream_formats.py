"""Tool calls stream as they form in every call format the core writes: the hand-written one and the
native formats read off Qwen2.5's, Llama 3.1's and Mistral's templates (tiny models with copies of
those templates, from test_native_templates)."""

from __future__ import annotations

import json

import pytest
from haystack.components.generators.utils import _convert_streaming_chunks_to_chat_message
from haystack.dataclasses import ChatMessage
from haystack.tools import create_tool_from_function
from langchain_core.tools import tool
from langchain_layerroute import ChatLayerRoute
from scripted_model import ScriptedModel
from test_haystack import fake_generator
from test_native_templates import FAMILIES, WEATHER, native_model

from agentroute.decode.call_stream import CallScanner, as_streamed, streamed_call_format, streamed_calls_agree
from agentroute.steps.call_formats import HAND_WRITTEN, native_call_format
from agentroute.steps.reply_parsing import parse_tool_calls

OSLO, PARIS = {"city": "Oslo", "unit": "C"}, {"city": "Paris", "unit": "F"}


@pytest.fixture(scope="module", params=list(FAMILIES))
def native(request):
    return native_model(request.param)


def _decoded(model, text: str) -> str:
    """``text`` as the model's streamed reply reads (special tokens dropped)."""
    ids = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    return model.tokenizer.decode(ids, skip_special_tokens=True)


def _stream(scanner: CallScanner, text: str, piece: int) -> list:
    deltas = []
    for start in range(0, len(text), piece):
        deltas.extend(scanner.push(text[start : start + piece]))
    return deltas


def test_each_family_streamed_format_is_read_off_its_template(native):
    found = native.streamed_call_format
    expected = {
        "qwen": ("<tool_call>", "</tool_call>", "", "", "arguments", True),  # separator "\n", stripped
        "llama": ("", "", "", "", "parameters", False),
        "mistral": ("", "", "[", ",", "arguments", True),  # [TOOL_CALLS] is a special token: not in the text
    }[native.name]
    read = (found.call_open, found.call_close, found.prefix, found.separator, found.arguments_key, found.multiple)
    assert read == expected and streamed_call_format(native.tokenizer) == found


@pytest.mark.parametrize("piece", [1, 3, 7])
def test_native_calls_stream_name_first_then_arguments_that_add_up(native, piece):
    found = native_call_format(native.tokenizer)
    calls = [("get_weather", OSLO), ("get_weather", PARIS)][: 2 if found.multiple else 1]
    text = _decoded(native, found.write(calls))
    scanner = CallScanner(["get_weather"], call_format=native.streamed_call_format)
    deltas = _stream(scanner, text, piece)
    assert [(d.index, d.name) for d in deltas if d.name] == [(i, "get_weather") for i in range(len(calls))]
    for index, (_, arguments) in enumerate(calls):
        streamed = "".join(d.arguments for d in deltas if d.index == index)
        assert json.loads(streamed) == arguments
    assert sum(1 for d in deltas if d.arguments) >= (len(calls) if piece > 1 else 10)  # in fragments, as formed
    parsed = parse_tool_calls(text, [WEATHER])
    assert parsed.error is None and streamed_calls_agree(scanner.calls, parsed.tool_calls)


def test_a_reply_in_words_streams_no_call(native):
    scanner = CallScanner(["get_weather"], call_format=native.streamed_call_format)
    assert _stream(scanner, "It is sunny in Oslo, {no call}.", 2) == [] and scanner.calls == []


def test_a_call_to_a_tool_not_offered_stops_the_stream_for_the_parser_to_decide(native):
    found = native_call_format(native.tokenizer)
    text = _decoded(native, found.write([("get_time", {"zone": "UTC"})]))
    scanner = CallScanner(["get_weather"], call_format=native.streamed_call_format)
    assert _stream(scanner, text, 4) == [] and scanner.stopped


def test_a_bare_list_that_closes_streams_nothing_after_it():
    found = as_streamed(native_call_format(native_model("mistral").tokenizer))
    assert found.prefix == "[TOOL_CALLS][" and found.separator == ","  # not decoded: the marker as text
    scanner = CallScanner(["get_weather"], call_format=found)
    text = '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "C"}}] {"name": "get_weather"'
    deltas = _stream(scanner, text, 5)
    assert [d.name for d in deltas if d.name] == ["get_weather"] and len(scanner.calls) == 1 and scanner.stopped


def test_the_hand_written_format_is_the_default():
    scanner = CallScanner(["get_weather"])
    assert scanner.format == HAND_WRITTEN
    deltas = _stream(scanner, '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>', 4)
    assert deltas[0].name == "get_weather" and json.loads("".join(d.arguments for d in deltas)) == {"city": "Oslo"}


@tool
def get_weather(city: str, unit: str) -> str:
    """Current weather for a city."""
    return f"18 {unit} in {city}"


def test_langchain_streams_a_mistral_list_call_by_call():
    found = native_model("mistral").streamed_call_format
    reply = '[{"name": "get_weather", "arguments": {"city": "Oslo", "unit": "C"}}, ' + (
        '{"name": "get_weather", "arguments": {"city": "Paris", "unit": "F"}}]'
    )
    invoked = ChatLayerRoute(routed_model=ScriptedModel(reply, call_format=found)).bind_tools([get_weather]).invoke("x")
    bound = ChatLayerRoute(routed_model=ScriptedModel(reply, piece=3, call_format=found)).bind_tools([get_weather])
    chunks = list(bound.stream("x"))
    names = [p["name"] for c in chunks[:-1] for p in c.tool_call_chunks if p["name"]]
    assert names == ["get_weather", "get_weather"]  # both before the final chunk
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.tool_calls == invoked.tool_calls and [c["args"] for c in invoked.tool_calls] == [OSLO, PARIS]


def test_a_native_models_constrained_call_streams_through_langchain(native):
    # Enum arguments: random weights under the grammar finish the call well inside the token budget.
    bound = ChatLayerRoute(routed_model=native, max_new_tokens=120).bind_tools([WEATHER], tool_choice="required")
    chunks = list(bound.stream("Weather in Oslo?"))
    assert any(c.tool_call_chunks for c in chunks[:-1]), native.name  # streamed before the parser saw it whole
    total = chunks[0]
    for chunk in chunks[1:]:
        total += chunk
    assert total.tool_calls and total.invalid_tool_calls == []
    assert total.tool_calls == bound.invoke("Weather in Oslo?").tool_calls


def test_haystack_streams_a_llama_bare_call_as_tool_call_deltas():
    def get_weather(city: str, unit: str) -> str:
        """Current weather for a city."""
        return f"18 {unit} in {city}"

    reply = '{"name": "get_weather", "parameters": {"city": "Oslo", "unit": "C"}}'
    chunks = []
    generator, fake = fake_generator([reply], streaming_callback=chunks.append)
    fake.streamed_call_format = native_model("llama").streamed_call_format
    result = generator.run([ChatMessage.from_user("x")], tools=[create_tool_from_function(get_weather)])
    assert [c.arguments for c in result["replies"][0].tool_calls] == [OSLO]
    deltas = [d for c in chunks for d in c.tool_calls or []]
    assert deltas[0].tool_name == "get_weather" and len([d for d in deltas if d.arguments]) > 3  # in fragments
    assert _convert_streaming_chunks_to_chat_message(chunks).tool_calls == result["replies"][0].tool_calls
