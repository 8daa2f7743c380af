"""The call grammar as GBNF (``serve.gbnf``), the language llama-server holds a served step to.

Each grammar is read by llguidance's GBNF reader and matched character by character (a byte
tokenizer), so these tests check the language, not the text of the grammar; the real server's
parser reads them in ``test_llama_server.py``.
"""

from __future__ import annotations

import copy
import json

import llguidance
import llguidance.hf
import pytest
from llguidance.gbnf_to_lark import gbnf_to_lark
from tiny_models import byte_tokenizer

from agentroute.decode.tool_grammar import call_grammar
from agentroute.errors import ToolSchemaError
from agentroute.serve.endpoints import ServeError
from agentroute.serve.engine_grammar import engine_dialect, grammar_fields
from agentroute.serve.gbnf import call_gbnf
from agentroute.steps.call_formats import CallFormat
from agentroute.steps.records import StepType
from agentroute.steps.step_types import StepContext
from agentroute.steps.tools import normalize_tools

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            "days": {"type": "integer"},
        },
        "required": ["city"],
    },
}
ORDER = {
    "name": "place_order",
    "description": "Order items",
    "parameters": {
        "type": "object",
        "properties": {
            "items": {"type": "array", "items": {"$ref": "#/$defs/Item"}},
            "note": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "express": {"type": "boolean"},
        },
        "required": ["items"],
        "$defs": {
            "Item": {
                "type": "object",
                "properties": {"sku": {"type": "string"}, "qty": {"type": "number"}, "parts": {"$ref": "#/$defs/Item"}},
                "required": ["sku"],
            }
        },
    },
}
TOOLS = normalize_tools([WEATHER, ORDER])


@pytest.fixture(scope="module")
def tokenizer():
    return llguidance.hf.from_tokenizer(byte_tokenizer())


def accepts(tokenizer, gbnf: str, text: str) -> bool:
    """Whether the GBNF grammar admits ``text``, read by llguidance's GBNF reader."""
    return _admits(tokenizer, llguidance.LLMatcher.grammar_from_lark(gbnf_to_lark(gbnf)), text)


def call(name: str, arguments: dict) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}, ensure_ascii=False) + "</tool_call>"


def test_calls_of_the_offered_tools_and_nothing_else(tokenizer):
    g = call_gbnf(TOOLS)
    good = [
        call("get_weather", {"city": "Oslo"}),
        call("get_weather", {"city": "Oslo", "unit": "celsius", "days": 3}),
        call("get_weather", {"city": "São Paulo", "days": -2}) + "\n" + call("place_order", {"items": []}),
        call("place_order", {"items": [{"sku": 'a"b', "qty": 1.5e3, "parts": {"sku": "c"}}], "note": None}),
        call("place_order", {"items": [{"sku": "x", "qty": 2}], "note": "leave \\ at door"}),
    ]
    bad = [
        call("get_time", {"city": "Oslo"}),  # no such tool
        call("get_weather", {"unit": "celsius"}),  # required city left out
        call("get_weather", {"city": "Oslo", "unit": "kelvin"}),  # not in the enum
        call("get_weather", {"city": "Oslo", "country": "NO"}),  # undeclared at the top level
        call("get_weather", {"days": 3, "city": "Oslo"}),  # not the schema's order
        call("get_weather", {"city": "Oslo", "days": 1.5}),  # not an integer
        call("place_order", {"items": [{"sku": "x", "colour": "red"}]}),  # a nested object lists its keys
        '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "days": 329,000}}</tool_call>',
        '<tool_call>{"name":"get_weather", "arguments": {"city": "Oslo"}}</tool_call>',  # other separators
        call("get_weather", {"city": "Oslo"}) + " ",
        "It is sunny.",
    ]
    assert [accepts(tokenizer, g, t) for t in good] == [True] * len(good)
    assert [accepts(tokenizer, g, t) for t in bad] == [False] * len(bad)


def test_the_engine_grammar_admits_what_the_in_process_grammar_admits(tokenizer):
    """llama-server holds a served step to the language constrained decoding holds it to in process."""
    replies = [
        call("get_weather", {"city": "Oslo"}),
        call("get_weather", {"city": "Oslo", "days": 3}) + "\n" + call("place_order", {"items": [{"sku": "a"}]}),
        call("place_order", {"items": [{"sku": "x", "parts": {"sku": "y", "qty": 1e-3}}], "note": None}),
        call("get_weather", {"days": 3, "city": "Oslo"}),
        call("get_weather", {"city": "Oslo", "unit": "kelvin"}),
        call("place_order", {"note": "no items"}),
        "No tool fits this request.",
        "<b>bold</b> text",
        "Plan: " + call("get_weather", {"city": "Oslo"}),
        "a <tool_cal> b <<tool_call",
        call("get_weather", {"city": " Oslo"}),  # a string value opens with no space
        call("get_weather", {"city": "\tOslo"}),
        call("get_weather", {"city": ""}),
        call("get_weather", {"city": "  Oslo"}),
        call("get_weather", {"city": " "}),
        call("place_order", {"items": [{"sku": " x"}]}),
        call("place_order", {"items": [{"sku": "x"}], "note": " leave it"}),
    ]
    for free_text, decline in ((False, False), (False, True), (True, False)):
        ours = call_gbnf(TOOLS, free_text=free_text, decline=decline)
        theirs = call_grammar(TOOLS, free_text=free_text, decline=decline)
        expected = [_admits(tokenizer, theirs, r) for r in replies]
        assert [accepts(tokenizer, ours, r) for r in replies] == expected, (free_text, decline)


def _admits(tokenizer, lark: str, text: str) -> bool:
    """Whether the in-process (Lark) grammar admits ``text``."""
    matcher = llguidance.LLMatcher(tokenizer, lark, log_level=0)
    assert not matcher.is_error(), matcher.get_error()
    return all(matcher.consume_token(t) for t in tokenizer.tokenize_str(text)) and matcher.is_accepting()


def test_a_tool_call_step_may_decline_in_words_that_start_no_call(tokenizer):
    g = call_gbnf(TOOLS, decline=True)
    assert accepts(tokenizer, g, call("get_weather", {"city": "Oslo"}))
    assert accepts(tokenizer, g, "No offered tool can translate text; 'bonjour' means good morning.")
    assert accepts(tokenizer, g, " Sorry, a <b> tag and a <tool_cal> are fine here.")
    for bad in ("<b>no</b>", "  <tool_call>", "Sure: <tool_call>" + call("get_weather", {"city": "Oslo"})[11:]):
        assert not accepts(tokenizer, g, bad), bad


def test_other_steps_write_free_text_or_a_whole_valid_call(tokenizer):
    g = call_gbnf(TOOLS, free_text=True)
    assert accepts(tokenizer, g, "First check the weather, then order. <b>bold</b> <<tool_call")
    assert accepts(tokenizer, g, call("get_weather", {"city": "Oslo"}))
    assert not accepts(tokenizer, g, "Plan: " + call("get_weather", {"city": "Oslo"}))
    assert not accepts(tokenizer, g, '<tool_call>{"name": "get_weather", "arguments": {}}</tool_call>')


def test_a_json_answer_or_calls(tokenizer):
    schema = {"type": "object", "properties": {"answer": {"type": "string"}, "sure": {"type": "boolean"}}}
    g = call_gbnf(TOOLS, json_schema=schema)
    assert accepts(tokenizer, g, '{"answer": "Oslo", "sure": true}')
    assert accepts(tokenizer, g, "{}")
    assert accepts(tokenizer, g, call("get_weather", {"city": "Oslo"}))
    assert not accepts(tokenizer, g, '{"answer": "Oslo", "extra": 1}')  # structured output closes objects
    assert not accepts(tokenizer, g, "Oslo")
    assert accepts(tokenizer, call_gbnf([], json_schema={"type": "array", "items": {"type": "integer"}}), "[1, 2]")
    with pytest.raises(ToolSchemaError, match="at least one tool or a JSON schema"):
        call_gbnf([])


def test_another_call_format_and_special_tokens(tokenizer):
    mistral = CallFormat("mistral", prefix="[TOOL_CALLS][", separator=", ", suffix="]", bare=True)
    g = call_gbnf(TOOLS, call_format=mistral, free_text=True)
    assert accepts(tokenizer, g, '[TOOL_CALLS][{"name": "get_weather", "arguments": {"city": "Oslo"}}]')
    assert accepts(tokenizer, g, "Sunny all week.")
    assert not accepts(tokenizer, g, ' {"city": "Oslo"}')  # bare JSON is only written as a call
    assert "<[7]>" in call_gbnf(TOOLS, call_format=mistral, tokens={"[TOOL_CALLS]": 7})


def test_schemas_beyond_the_grammar_leave_the_value_free(tokenizer):
    loose = normalize_tools([{"name": "f", "description": "d", "parameters": {
        "type": "object", "properties": {"x": {"allOf": [{"type": "string"}, {"minLength": 2}]}, "y": {},
                                          "z": {"$ref": "https://example.com/s.json"}}}}])  # fmt: skip
    g = call_gbnf(loose)
    assert accepts(tokenizer, g, call("f", {"x": [1, {"a": None}], "y": "anything", "z": 3}))


def test_which_steps_get_which_field():
    from tiny_models import byte_tokenizer as hf_tokenizer

    tok = hf_tokenizer()
    ask = [{"role": "user", "content": "Weather in Oslo?"}]
    context = StepContext(messages=ask, tools=TOOLS)

    def gbnf(ctx, step_type=StepType.TOOL_CALL, may_decline=True):
        fields, name = grammar_fields(tok, TOOLS, ctx, step_type, None, may_decline)
        assert name == "grammar"
        return fields["grammar"]

    assert gbnf(context) == call_gbnf(TOOLS, decline=True)
    forced = StepContext(messages=ask, tools=TOOLS, hints={"tool_choice": "required"})
    assert gbnf(forced) == call_gbnf(TOOLS)
    assert gbnf(context, may_decline=False) == call_gbnf(TOOLS)
    assert gbnf(context, StepType.PLANNING) == call_gbnf(TOOLS, free_text=True)
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    closed = {**schema, "additionalProperties": False}
    bare = StepContext(messages=ask)
    answer = grammar_fields(tok, [], bare, StepType.FINAL_ANSWER, schema, True)
    assert answer == ({"json_schema": closed}, "json_schema")
    assert grammar_fields(tok, [], bare, StepType.FINAL_ANSWER, None, True) == ({}, None)


def test_each_engine_gets_the_grammar_in_its_own_field():
    """vLLM reads ``structured_outputs`` (0.10.2 on), SGLang ``ebnf`` and a string ``json_schema``:
    the same GBNF goes to each, special tokens as ``<[id]>`` to llama.cpp only."""
    from tiny_models import byte_tokenizer as hf_tokenizer

    tok = hf_tokenizer()
    context = StepContext(messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=TOOLS)
    expected = call_gbnf(TOOLS, decline=True)
    assert grammar_fields(tok, TOOLS, context, StepType.TOOL_CALL, None, True, "vllm") == (
        {"structured_outputs": {"grammar": expected}},
        "structured_outputs.grammar",
    )
    assert grammar_fields(tok, TOOLS, context, StepType.TOOL_CALL, None, True, "sglang") == ({"ebnf": expected}, "ebnf")
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    closed = {**schema, "additionalProperties": False}
    bare = StepContext(messages=context.messages)
    vllm = grammar_fields(tok, [], bare, StepType.FINAL_ANSWER, schema, True, "vllm")
    assert vllm == ({"structured_outputs": {"json": closed}}, "structured_outputs.json")
    sglang, name = grammar_fields(tok, [], bare, StepType.FINAL_ANSWER, schema, True, "sglang")
    assert name == "json_schema" and json.loads(sglang["json_schema"]) == closed


def test_special_tokens_are_written_as_ids_for_llama_cpp_only():
    tok = byte_tokenizer()
    tok.add_special_tokens({"additional_special_tokens": ["<tool_call>", "</tool_call>"]})
    context = StepContext(messages=[{"role": "user", "content": "Weather in Oslo?"}], tools=TOOLS)
    llama, _ = grammar_fields(tok, TOOLS, context, StepType.TOOL_CALL, None, True, "llama.cpp")
    vllm, _ = grammar_fields(tok, TOOLS, context, StepType.TOOL_CALL, None, True, "vllm")
    assert "<[" in llama["grammar"] and "<[" not in vllm["structured_outputs"]["grammar"]
    assert vllm["structured_outputs"]["grammar"] == call_gbnf(TOOLS, decline=True)


def test_auto_picks_the_dialect_from_the_model_listing():
    assert engine_dialect("auto", [{"id": "full", "owned_by": "llamacpp"}]) == "llama.cpp"
    assert engine_dialect("auto", [{"id": "full", "owned_by": "vllm"}]) == "vllm"
    assert engine_dialect("auto", [{"id": "full", "owned_by": "sglang"}]) == "sglang"
    assert engine_dialect("auto", [{"id": "full", "owned_by": "huggingface"}]) is None
    assert engine_dialect("auto", []) is None and engine_dialect("none", [{"owned_by": "vllm"}]) is None
    assert engine_dialect("gbnf", []) == "llama.cpp" and engine_dialect("sglang", []) == "sglang"


def test_a_grammar_setting_that_does_not_exist_is_named():
    from agentroute.serve import ServedModel

    with pytest.raises(ServeError, match="grammar must be one of 'auto', 'llama.cpp', 'vllm', 'sglang'.*got 'lark'"):
        ServedModel({"entries": []}, "http://127.0.0.1:1/v1", grammar="lark")


NARROWED = {
    "name": "file_claim",
    "description": "File a claim",
    "parameters": {
        "type": "object",
        "properties": {
            "claim": {"type": "string", "pattern": "^CLM\\-[0-9]{6}$"},
            "time": {"type": "string", "pattern": "^\\d{2}:\\d{2}$"},
            "code": {"type": "string", "pattern": "[A-Z]{2}\\d"},
            "answer": {"type": "string", "pattern": '^(yes|no)"?$'},
            "bags": {"type": "integer", "minimum": 1, "maximum": 6},
            "season": {"type": "integer", "exclusiveMinimum": 2014},
            "grams": {"type": "integer", "maximum": 500},
            "tags": {"type": "array", "items": {"type": "string", "minLength": 2, "maxLength": 3}, "maxItems": 2},
            "when": {"type": "string", "pattern": "^(?=x)"},
        },
    },
}


@pytest.mark.parametrize(
    "arguments, admitted",
    [
        ({"claim": "CLM-123456", "time": "13:05", "bags": 6, "season": 2015, "grams": -3}, True),
        ({"claim": "POL-5131407"}, False),  # written served before patterns were held
        ({"time": "1pm"}, False),
        ({"code": "xxAB1yy", "answer": 'no"'}, True),  # unanchored: found anywhere; an escaped quote
        ({"code": "ab1"}, False),
        ({"bags": 7}, False),
        ({"bags": 0}, False),
        ({"season": 2014}, False),
        ({"season": 20150}, True),
        ({"grams": 4007}, False),  # written served before bounds were held
        ({"tags": ["ab", "abc"]}, True),
        ({"tags": ["a"]}, False),
        ({"tags": ["ab", "ab", "ab"]}, False),
        ({"tags": [" ab"]}, False),  # no string opens with one space before a word, within its lengths too
        ({"tags": ["a b", "  a"]}, True),
        ({"when": "anything"}, True),  # a lookahead: not written in GBNF, left to the parser's check
    ],
)
def test_patterns_lengths_and_bounds_are_held_as_in_process(tokenizer, arguments, admitted):
    reply = call("file_claim", arguments)
    assert accepts(tokenizer, call_gbnf(normalize_tools([NARROWED])), reply) is admitted
    if "when" not in arguments:  # in process llguidance refuses a lookaround: the tool without it
        parameters = copy.deepcopy(NARROWED["parameters"])
        del parameters["properties"]["when"]
        in_process = call_grammar(normalize_tools([{**NARROWED, "parameters": parameters}]))
        assert _admits(tokenizer, in_process, reply) is admitted


RANGES = [(0, 0), (0, 9), (1, 6), (7, 123), (95, 1005), (2015, None), (0, None), (None, 500)]


@pytest.mark.parametrize("low, high", RANGES)
def test_integer_bounds_admit_exactly_the_integers_within(tokenizer, low, high):
    from agentroute.serve.gbnf_values import integer_gbnf

    grammar = "root ::= " + integer_gbnf({"type": "integer", "minimum": low, "maximum": high}) + "\n"
    for number in [*range(-12, 1100), 2014, 2015, 2016, 9999, 10000, 123456]:
        inside = (low is None or number >= low) and (high is None or number <= high)
        assert accepts(tokenizer, grammar, str(number)) is inside, number
    assert not accepts(tokenizer, grammar, "007")


BOOK = {
    "name": "book_table",
    "description": "Book a table",
    "parameters": {
        "type": "object",
        "properties": {
            "date": {"type": "string", "pattern": "^\\d{4}-\\d{2}-\\d{2}$"},
            "time": {"type": "string", "description": "Start, 24-hour HH:MM"},
        },
        "required": ["date"],
    },
}


@pytest.mark.parametrize(
    "arguments, admitted",
    [
        ({"date": "next Friday", "time": "half past seven in the evening"}, True),
        ({"date": "2026-10-02", "time": "19:30"}, True),
        ({"date": "Tue, Sep 29th 2026", "time": "7:30 p.m."}, True),
        ({"date": "2 days"}, False),  # no "in": not read, so not written
        ({"date": "EWT893"}, False),
        ({"date": "tomorrow", "time": "seven"}, False),  # morning or evening?
    ],
)
def test_a_said_values_model_is_held_to_the_phrases_it_reads_served_as_in_process(tokenizer, arguments, admitted):
    from agentroute.steps.said_values import phrase_specs

    specs = phrase_specs(normalize_tools([BOOK]))
    reply = call("book_table", arguments)
    assert accepts(tokenizer, call_gbnf(specs), reply) is admitted
    assert _admits(tokenizer, call_grammar(specs), reply) is admitted
