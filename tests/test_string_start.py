"""String arguments may not open with a space (``steps.string_start``): the schema transform, and
the in-process grammar a real tokenizer decodes under."""

from __future__ import annotations

import pytest
from tiny_models import tiny_model

from agentroute.decode.tool_grammar import GrammarTokenizer
from agentroute.steps.string_start import UNSPACED, unspaced_strings
from agentroute.steps.tools import normalize_tools

ADDRESS = {
    "name": "ship",
    "description": "Ship a parcel",
    "parameters": {
        "type": "object",
        "properties": {
            "city": {"type": "string", "minLength": 2},
            "code": {"type": "string", "pattern": "^ ?[0-9]+$"},
            "mode": {"enum": [" air", "sea"]},
            "note": {"type": ["string", "null"]},
            "lines": {"type": "array", "items": {"type": "string"}},
            "type": {"type": "integer"},
        },
        "required": ["city"],
    },
}


def test_only_strings_without_their_own_pattern_enum_or_const_get_the_rule():
    props = unspaced_strings(ADDRESS["parameters"])["properties"]
    assert props["city"] == {"type": "string", "minLength": 2, "pattern": UNSPACED}
    assert props["code"]["pattern"] == "^ ?[0-9]+$" and "pattern" not in props["mode"]
    assert props["note"]["pattern"] == UNSPACED and props["lines"]["items"]["pattern"] == UNSPACED
    assert props["type"] == {"type": "integer"}  # a parameter named "type" is not a schema keyword
    assert ADDRESS["parameters"]["properties"]["city"] == {"type": "string", "minLength": 2}  # not changed


@pytest.fixture(scope="module")
def grammar():
    hf, tok = tiny_model("llama", n_layers=2)
    return GrammarTokenizer(tok, [tok.eos_token_id]), tok


@pytest.mark.parametrize(
    "arguments, admitted",
    [
        ('{"city": "Edinburgh"}', True),
        ('{"city": " Edinburgh"}', False),
        ('{"city": "\\tEdinburgh"}', True),  # a tab, a newline or two spaces may open a value
        ('{"city": "  Edinburgh"}', True),
        ('{"city": "Oslo", "note": " "}', True),
        ('{"city": "Edinburgh", "code": " 42", "mode": " air"}', True),  # the schema's own say
        ('{"city": "Oslo", "note": " fragile"}', False),
        ('{"city": "Oslo", "note": null, "lines": ["a b", " c"]}', False),
        ('{"city": "Oslo", "lines": ["a b", ""]}', True),
    ],
)
def test_the_call_grammar_refuses_a_value_that_opens_with_a_space(grammar, arguments, admitted):
    tokens, tokenizer = grammar
    constraint = tokens.constraint(normalize_tools([ADDRESS]), call_format=None)
    text = f'<tool_call>{{"name": "ship", "arguments": {arguments}}}</tool_call>'
    ok = True
    for token in tokenizer(text, add_special_tokens=False)["input_ids"]:
        if not constraint.accepts(token):
            ok = False
            break
        constraint.advance(token)
    assert ok is admitted
