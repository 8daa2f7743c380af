"""Structured output: ``json_schema=`` decodes a reply under the schema's grammar, so even a random
(or a 135M) model returns a value the schema accepts."""

from __future__ import annotations

import json

import jsonschema
import pytest

from agentroute.errors import GenerationError
from agentroute.steps.tools import normalize_tools

# Bounded schemas: a random model never ends an unbounded string on its own, so every leaf here
# has a finite language and the reply completes well within max_new_tokens.
SCHEMAS = [
    {"type": "object", "properties": {"ok": {"type": "boolean"}}, "required": ["ok"], "additionalProperties": False},
    {
        "type": "object",
        "properties": {"unit": {"enum": ["C", "F"]}, "mood": {"enum": ["calm", "storm", "fog"]}},
        "required": ["unit", "mood"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"name": {"type": "string", "maxLength": 4}, "tag": {"const": "x"}},
        "required": ["name", "tag"],
        "additionalProperties": False,
    },
    {
        "type": "object",
        "properties": {"flags": {"type": "array", "items": {"type": "boolean"}, "maxItems": 3}},
        "required": ["flags"],
        "additionalProperties": False,
    },
    {"enum": ["yes", "no"]},
]
WEATHER = {
    "name": "get_weather",
    "parameters": {"type": "object", "properties": {"city": {"enum": ["Oslo", "Rome"]}}, "required": ["city"]},
}


@pytest.mark.parametrize("schema", SCHEMAS)
@pytest.mark.parametrize("seed", [0, 1])
def test_replies_are_valid_for_the_schema(llama_model, schema, seed):
    step = llama_model.generate(
        "Describe it as JSON.", json_schema=schema, max_new_tokens=120, temperature=1.0, seed=seed
    )
    value = json.loads(step.text)
    jsonschema.validate(value, schema)
    assert step.record.constrained and step.record.error is None and step.record.finish_reason == "stop"


def test_with_tools_a_step_answers_in_json_or_calls_a_tool(llama_model):
    schema = SCHEMAS[1]
    for seed in range(4):
        step = llama_model.generate(
            "Weather in Oslo?", tools=[WEATHER], step_type="final_answer", json_schema=schema,
            max_new_tokens=120, temperature=1.0, seed=seed,
        )  # fmt: skip
        if step.tool_calls:
            assert step.tool_calls[0].name == "get_weather" and step.record.error is None
        else:
            jsonschema.validate(json.loads(step.text), schema)


def test_a_cut_off_reply_is_reported_not_passed_as_valid(llama_model):
    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    step = llama_model.generate("Say something.", json_schema=schema, max_new_tokens=3)
    assert step.record.finish_reason == "length" and "not the JSON the schema asks for" in step.record.error


def test_an_invalid_schema_is_a_named_error(llama_model):
    with pytest.raises(GenerationError, match="'json_schema': value error, is not a valid JSON Schema"):
        llama_model.generate("hi", json_schema={"type": "no-such-type"})


def test_grammar_admits_only_the_schema_and_calls(llama_model):
    from agentroute.decode.tool_grammar import GrammarTokenizer

    grammar = GrammarTokenizer(llama_model.tokenizer, llama_model.stop_token_ids)
    tok = llama_model.tokenizer

    def accepts(constraint, text):
        for token in tok(text, add_special_tokens=False)["input_ids"]:
            if not constraint.accepts(token):
                return False
            constraint.advance(token)
        return True

    specs = normalize_tools([WEATHER])
    schema = SCHEMAS[0]
    assert accepts(grammar.constraint([], True, schema), '{"ok": true}')
    assert not accepts(grammar.constraint([], True, schema), "Sure! {")
    assert not accepts(grammar.constraint([], True, schema), '{"ok": 1}')
    call = '<tool_call>{"name": "get_weather", "arguments": {"city": "Rome"}}</tool_call>'
    assert accepts(grammar.constraint(specs, True, schema), call)
    assert accepts(grammar.constraint(specs, True, schema), '{"ok": false}')
    assert not accepts(grammar.constraint(specs, True, schema), "It is sunny.")


def test_the_schema_is_told_to_the_model_in_the_system_message():
    from agentroute.steps.response_format import with_response_format

    schema = SCHEMAS[0]
    told = with_response_format([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}], schema)
    assert told[0]["content"].startswith("Be brief.\n\nUnless you call a tool, reply with one JSON value")
    assert json.dumps(schema) in told[0]["content"] and len(told) == 2
    assert with_response_format([{"role": "user", "content": "hi"}], schema)[0]["role"] == "system"
    assert with_response_format([{"role": "user", "content": "hi"}], None) == [{"role": "user", "content": "hi"}]
