"""Grammar-constrained tool calls: a tool_call step can only write valid calls of the given tools."""

import pytest
from tiny_models import tiny_model

from agentroute import RoutedModel
from agentroute.tool_grammar import GrammarTokenizer, call_schema
from agentroute.tools import normalize_tools, parse_tool_calls

# Bounded arguments (an enum, a small integer range, a boolean): a random model under the grammar
# must still finish a call well inside the token limit.
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"enum": ["Paris", "Oslo"]}, "days": {"type": "integer", "minimum": 1, "maximum": 7}},
        "required": ["city", "days"],
    },
}
CLOCK = {
    "name": "clock",
    "parameters": {"type": "object", "properties": {"utc": {"type": "boolean"}}, "required": ["utc"]},
}
TOOLS = [WEATHER, CLOCK]
QUESTION = [{"role": "user", "content": "What is the weather in Oslo for the next 3 days?"}]
DRAFTS = ["0,5", "0-2,5", "0-2,2,3-5"]


@pytest.fixture(scope="module")
def model6() -> RoutedModel:
    hf, tok = tiny_model("llama", n_layers=6)
    return RoutedModel(hf, tok, name="tiny6-llama")


def _calls_are_valid(text: str) -> list:
    """Every line of a constrained reply is a complete, schema-valid call of one of TOOLS."""
    lines = text.strip().split("\n")
    assert lines and all(line.startswith("<tool_call>") and line.endswith("</tool_call>") for line in lines), text
    parsed = parse_tool_calls(text, normalize_tools(TOOLS))
    assert parsed.error is None and len(parsed.tool_calls) == len(lines), (text, parsed.error)
    return parsed.tool_calls


def test_random_model_writes_only_valid_calls_under_the_grammar(model6):
    free = model6.generate(QUESTION, tools=TOOLS, step_type="tool_call", constrain=False, max_new_tokens=120)
    assert not free.tool_calls and not free.record.constrained  # random weights write no call on their own
    for seed in range(2):
        step = model6.generate(
            QUESTION, tools=TOOLS, step_type="tool_call", max_new_tokens=300, temperature=1.0, seed=seed
        )
        assert step.record.constrained and step.record.finish_reason == "tool_calls"
        calls = _calls_are_valid(_raw(model6, step))
        assert [c.name for c in calls] == [c.name for c in step.tool_calls]


def _raw(model, step) -> str:
    return model.tokenizer.decode(step.token_ids, skip_special_tokens=True)


def test_only_tool_call_steps_with_tools_are_constrained(model6):
    assert not model6.generate(QUESTION, tools=TOOLS, step_type="final_answer", max_new_tokens=8).record.constrained
    assert not model6.generate(QUESTION, step_type="tool_call", max_new_tokens=8).record.constrained


@pytest.mark.parametrize("draft", DRAFTS)
def test_greedy_lossless_equals_constrained_full_depth(model6, draft):
    full = model6.generate(QUESTION, tools=TOOLS, step_type="tool_call", program="0-5", max_new_tokens=200)
    fast = model6.generate(
        QUESTION, tools=TOOLS, step_type="tool_call", program=draft, mode="lossless", max_new_tokens=200
    )
    assert fast.record.constrained and fast.record.drafted_tokens > 0
    assert fast.token_ids == full.token_ids and fast.tool_calls == full.tool_calls
    _calls_are_valid(_raw(model6, full))


def test_sampled_lossless_stays_inside_the_grammar(model6):
    for seed in range(2):
        step = model6.generate(
            QUESTION, tools=TOOLS, step_type="tool_call", program="0-2,5", mode="lossless",
            temperature=1.0, seed=seed, max_new_tokens=300,
        )  # fmt: skip
        assert step.record.finish_reason == "tool_calls"
        _calls_are_valid(_raw(model6, step))


def test_rollback_restores_the_grammar_state(model6):
    grammar = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids)
    constraint = grammar.constraint(normalize_tools(TOOLS))
    prefix = model6.tokenizer.encode('<tool_call>{"name": "clock", "arguments": {"utc": ', add_special_tokens=False)
    for token in prefix:
        constraint.advance(token)
    vocab = len(model6.tokenizer)
    before = constraint.allowed(vocab)
    allowed_next = model6.tokenizer.decode(before.nonzero().flatten().tolist())
    assert set(allowed_next) <= set("truefals")  # only a boolean may follow
    for token in model6.tokenizer.encode("true}}</tool_call>", add_special_tokens=False):
        constraint.advance(token)
    assert constraint.allowed(vocab).nonzero().flatten().tolist() == sorted(
        {*model6.stop_token_ids, *model6.tokenizer.encode("\n", add_special_tokens=False)}
    )
    constraint.advance(sorted(model6.stop_token_ids)[0])  # the end of the turn ends the grammar
    constraint.advance(5)  # a draft past the end is tracked, not consumed
    constraint.rollback(2 + len("true}}</tool_call>"))
    assert constraint.allowed(vocab).equal(before)


def test_schema_the_engine_cannot_compile_is_a_clear_error(model6):
    from agentroute.errors import ToolSchemaError

    bad = {
        "name": "odd",
        "parameters": {"type": "object", "properties": {"x": {"type": "string", "pattern": "(?<=a)b"}}},
    }
    with pytest.raises(ToolSchemaError, match="odd.*call grammar"):
        model6.generate(QUESTION, tools=[bad], step_type="tool_call", max_new_tokens=4)


def test_call_schema_names_each_tool_and_closes_its_arguments():
    schema = call_schema(normalize_tools([*TOOLS, {**CLOCK, "name": "open", "parameters": {
        "type": "object", "properties": {}, "additionalProperties": True}}]))  # fmt: skip
    names = [option["properties"]["name"]["const"] for option in schema["anyOf"]]
    closed = [option["properties"]["arguments"].get("additionalProperties") for option in schema["anyOf"]]
    assert names == ["get_weather", "clock", "open"] and closed == [False, False, True]


def test_arguments_follow_the_declared_order_not_the_alphabet(model6):
    # The prompt shows the schema in declared order and packs train on it; a grammar built from
    # key-sorted schemas forced "end" before "start" and made the real model copy one date twice.
    stay = {
        "name": "stay",
        "parameters": {
            "type": "object",
            "properties": {"start": {"type": "string"}, "end": {"type": "string"}},
            "required": ["start", "end"],
        },
    }
    grammar = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids)
    constraint = grammar.constraint(normalize_tools([stay]))
    for token in model6.tokenizer.encode('<tool_call>{"name": "stay", "arguments": {"', add_special_tokens=False):
        constraint.advance(token)
    allowed = constraint.allowed(len(model6.tokenizer)).nonzero().flatten().tolist()
    starts = {model6.tokenizer.decode([t])[:1] for t in allowed}
    assert starts == {"s"}, starts
