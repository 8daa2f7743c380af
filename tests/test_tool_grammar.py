"""Grammar-constrained tool calls: a tool_call step can only write valid calls of the given tools."""

import pytest
from grammar_probe import accepts as _accepts
from tiny_models import tiny_model

from agentroute import GenerationError, RoutedModel
from agentroute.decode.tool_grammar import GrammarTokenizer, call_schema
from agentroute.steps.reply_parsing import parse_tool_calls
from agentroute.steps.tools import normalize_tools

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
# The tests below check the calls grammar: the caller demands a call, as tool_choice="required" does
# (otherwise a tool-call step may also decline in text, tested at the end).
CALL = {"tool_choice": "required"}


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
    free = model6.generate(
        QUESTION, tools=TOOLS, step_type="tool_call", hints=CALL, constrain=False, max_new_tokens=120
    )
    assert not free.tool_calls and not free.record.constrained  # random weights write no call on their own
    for seed in range(2):
        step = model6.generate(
            QUESTION, tools=TOOLS, step_type="tool_call", hints=CALL, max_new_tokens=300, temperature=1.0, seed=seed
        )
        assert step.record.constrained and step.record.finish_reason == "tool_calls"
        calls = _calls_are_valid(_raw(model6, step))
        assert [c.name for c in calls] == [c.name for c in step.tool_calls]


def _raw(model, step) -> str:
    return model.tokenizer.decode(step.token_ids, skip_special_tokens=True)


def test_steps_with_tools_are_constrained_and_free_text_stays_free(model6):
    assert not model6.generate(QUESTION, step_type="tool_call", hints=CALL, max_new_tokens=8).record.constrained
    # A final answer with tools decodes under the free-text grammar: text that opens no call is
    # left as the model writes it, up to where the random model's bytes stop being valid UTF-8
    # (which no grammar over text admits; a trained model does not write it).
    answer = model6.generate(QUESTION, tools=TOOLS, step_type="final_answer", max_new_tokens=24)
    free = model6.generate(QUESTION, tools=TOOLS, step_type="final_answer", max_new_tokens=24, constrain=False)
    assert answer.record.constrained and not free.record.constrained
    decode = model6.tokenizer.decode
    valid = max(i for i in range(len(free.token_ids) + 1) if "\ufffd" not in decode(free.token_ids[:i]))
    assert valid > 0 and answer.token_ids[:valid] == free.token_ids[:valid]
    assert not _raw(model6, answer).startswith("<tool_call>")


def test_free_text_grammar_admits_text_and_holds_calls_to_the_schemas(model6):
    grammar = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids)
    specs = normalize_tools(TOOLS)
    valid = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}</tool_call>'
    for text in ("It is sunny in Oslo.", "<tool_response> is not a call", "<p>3 days</p>", valid):
        assert _accepts(grammar.constraint(specs, free_text=True), text, model6.tokenizer), text
    # A reply that opens a call must finish a valid one: an unknown tool or argument is refused.
    for bad in ('<tool_call>{"name": "get_news"', '<tool_call>{"name": "clock", "arguments": {"tz"'):
        assert not _accepts(grammar.constraint(specs, free_text=True), bad, model6.tokenizer), bad
    # Text may not carry a call anywhere but as the whole reply: no smuggled call past the schema.
    smuggled = (
        ' <tool_call>{"name": "get_weather", "arguments": {"city": 5}}</tool_call>',
        'Sure.\n<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "evil": 1}}</tool_call>',
        "Sure.\n" + valid,
    )
    for bad in smuggled:
        assert not _accepts(grammar.constraint(specs, free_text=True), bad, model6.tokenizer), bad
    # A tool-call step's grammar admits no text at all.
    assert not _accepts(grammar.constraint(specs), "It is sunny", model6.tokenizer)


def test_a_tool_call_step_may_decline_in_words_but_not_smuggle_a_call(model6):
    """``decline``: no offered tool fits. Text passes unless it starts with ``<`` (after any
    whitespace), so ``<`` still forces the whole call opening."""
    grammar = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids)
    specs = normalize_tools(TOOLS)
    valid = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}</tool_call>'
    # Leading whitespace is fine (a SentencePiece model opens with a spaced word); a "<" is not.
    for text in ("Sorry, none of my tools can book flights.", "Which city?", " Sorry.", "\nSorry.", valid):
        assert _accepts(grammar.constraint(specs, decline=True), text, model6.tokenizer), text
    for bad in ("<p>no</p>", " <p>no</p>", "Sure.\n" + valid, '<tool_call>{"name": "get_news"'):
        assert not _accepts(grammar.constraint(specs, decline=True), bad, model6.tokenizer), bad
    constraint = grammar.constraint(specs, decline=True)
    encode = lambda text: model6.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    constraint.advance(encode("<")[0])
    assert constraint.forced_token(len(model6.tokenizer)) is not None  # the call opening rides along


def test_words_only_admits_declining_text_and_no_call(model6):
    """``words_only``: a no-tool-fits head decided that no offered tool fits; the reply is text."""
    grammar = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids)
    specs = normalize_tools(TOOLS)
    valid = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}</tool_call>'
    for text in ("Sorry, none of my tools can book flights.", " Which city?"):
        assert _accepts(grammar.constraint(specs, decline=True, words_only=True), text, model6.tokenizer), text
    for bad in (valid, " " + valid, "<p>no</p>", "Sure.\n" + valid):
        assert not _accepts(grammar.constraint(specs, decline=True, words_only=True), bad, model6.tokenizer), bad


def test_a_step_declines_unless_the_caller_demands_a_call(model6):
    """Without a tool_choice that demands a call, a random model's tool-call step may answer in
    text: the record says it declined the tools. With tool_choice="required" it must call."""
    for seed in range(4):
        step = model6.generate(
            QUESTION, tools=TOOLS, step_type="tool_call", max_new_tokens=40, temperature=1.0, seed=seed
        )
        assert step.record.constrained
        assert step.record.declined_tools == (not step.tool_calls and step.record.error is None)
        forced = model6.generate(
            QUESTION, tools=TOOLS, step_type="tool_call", hints=CALL, max_new_tokens=300, temperature=1.0, seed=seed
        )
        assert forced.tool_calls and not forced.record.declined_tools


@pytest.mark.parametrize("draft", DRAFTS)
def test_greedy_lossless_equals_constrained_full_depth(model6, draft, monkeypatch):
    from agentroute.decode.speculative import SpeculativeSettings

    # Random weights: the cost model would stop drafting; exactness is tested with drafts in every round.
    monkeypatch.setattr(model6, "speculative", SpeculativeSettings(fixed_k=4))
    full = model6.generate(QUESTION, tools=TOOLS, step_type="tool_call", hints=CALL, program="0-5", max_new_tokens=200)
    fast = model6.generate(
        QUESTION, tools=TOOLS, step_type="tool_call", hints=CALL, program=draft, mode="lossless", max_new_tokens=200
    )
    assert fast.record.constrained and fast.record.drafted_tokens > 0 and fast.record.forced_tokens > 0
    assert fast.token_ids == full.token_ids and fast.tool_calls == full.tool_calls
    _calls_are_valid(_raw(model6, full))


@pytest.mark.parametrize("draft", DRAFTS)
def test_greedy_lossless_equals_full_depth_where_a_step_may_decline(model6, draft, monkeypatch):
    """Without a demanded call the grammar also admits words: draft and verifier share that mask,
    so lossless stays token-identical to full depth whichever way the step goes."""
    from agentroute.decode.speculative import SpeculativeSettings

    monkeypatch.setattr(model6, "speculative", SpeculativeSettings(fixed_k=4))
    for question in (QUESTION, [{"role": "user", "content": "Hello there, how are you?"}]):
        full = model6.generate(question, tools=TOOLS, step_type="tool_call", program="0-5", max_new_tokens=60)
        fast = model6.generate(
            question, tools=TOOLS, step_type="tool_call", program=draft, mode="lossless", max_new_tokens=60
        )
        assert fast.record.constrained and fast.token_ids == full.token_ids
        assert fast.record.declined_tools == full.record.declined_tools


def test_sampled_lossless_stays_inside_the_grammar(model6):
    for seed in range(2):
        step = model6.generate(
            QUESTION, tools=TOOLS, step_type="tool_call", hints=CALL, program="0-2,5", mode="lossless",
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


def test_forced_token_is_the_grammars_only_choice(model6):
    constraint = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids).constraint(normalize_tools(TOOLS))
    vocab, encode = len(model6.tokenizer), lambda text: model6.tokenizer.encode(text, add_special_tokens=False)
    assert constraint.forced_token(vocab) == encode("<")[0]  # a call must open with its tag
    for token in encode('<tool_call>{"name": "clock", "arguments": {"utc": '):
        constraint.advance(token)
    assert constraint.forced_token(vocab) is None  # true or false: the model chooses
    constraint.advance(encode("t")[0])
    assert constraint.forced_token(vocab) == encode("r")[0]  # the mask is recomputed after advance
    constraint.rollback(1)
    assert constraint.forced_token(vocab) is None and constraint.allowed(vocab).sum() > 1


def test_a_token_the_parser_refuses_is_never_chosen(model6, monkeypatch):
    """llguidance's mask can admit a token its parser then refuses (``.",`` after an object's last
    property, once on the test split); choose() takes the next best instead of breaking the grammar."""
    import torch

    from agentroute.decode.sampling import Sampler

    constraint = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids).constraint(normalize_tools(TOOLS))
    encode = lambda text: model6.tokenizer.encode(text, add_special_tokens=False)  # noqa: E731
    for token in encode('<tool_call>{"name": "clock", "arguments": {"utc": '):
        constraint.advance(token)
    vocab = len(model6.tokenizer)
    allowed = constraint.allowed(vocab).nonzero().flatten().tolist()
    logits = torch.zeros(1, vocab)
    logits[0, allowed[0]], logits[0, allowed[1]] = 2.0, 1.0
    refused = {allowed[0]}
    real = type(constraint).accepts
    monkeypatch.setattr(type(constraint), "accepts", lambda self, t: t not in refused and real(self, t))
    pick = lambda masked: int(masked.argmax(dim=-1))  # noqa: E731
    assert constraint.choose(logits, pick) == allowed[1]
    assert constraint.allowed(vocab)[allowed[0]]  # the mask itself is left as the grammar gave it
    sampler = Sampler(0.0, 1.0, 0, None, constraint=constraint)
    assert sampler(logits) == allowed[1]  # and the sampler advanced by that token
    refused.update(range(vocab))
    with pytest.raises(GenerationError, match="refuses every allowed token"):
        constraint.choose(logits, pick)


def _token_by_token(model, program: str, max_new_tokens: int) -> list[int]:
    """Constrained greedy decoding one forward pass per token: the reference for jump-forward."""
    import torch

    from agentroute.model import executor
    from agentroute.model.kv_cache import ProgramKVCache

    constraint = GrammarTokenizer(model.tokenizer, model.stop_token_ids).constraint(normalize_tools(TOOLS))
    ids, kv, decode = model.encode(QUESTION, tools=TOOLS), ProgramKVCache(), model.program(program)
    prefill = decode if decode.loops else model.program("0-5")  # generate's prefill="full", loops use their own
    logits = executor.prefill(model.parts, kv, prefill, torch.tensor([ids]))
    out = []
    while True:
        token = int(constraint.mask(logits).argmax(dim=-1))
        constraint.advance(token)
        out.append(token)
        if token in model.stop_token_ids or len(out) == max_new_tokens:
            return out
        logits = executor.decode_step(model.parts, kv, decode, torch.tensor([[token]]), len(ids) + len(out) - 1)


@pytest.mark.parametrize("program", ["0-5", "0-2,5", "0-2,2,3-5"])
@pytest.mark.parametrize("max_new_tokens", [200, 70])  # 70 stops inside a forced run of the call
def test_forced_tokens_need_no_forward_pass_of_their_own(model6, monkeypatch, program, max_new_tokens):
    from agentroute.model import executor

    calls = []
    real = executor.forward
    monkeypatch.setattr(executor, "forward", lambda *a, **k: calls.append(a[3].shape[1]) or real(*a, **k))
    step = model6.generate(
        QUESTION,
        tools=TOOLS,
        step_type="tool_call",
        hints=CALL,
        program=program,
        max_new_tokens=max_new_tokens,
        reuse_prefix=False,
    )
    cached = model6.prefix_cache.kv.usable_length(model6.program(program).slots)
    passes = list(calls)
    assert step.token_ids == _token_by_token(model6, program, max_new_tokens)
    record = step.record
    assert record.forced_tokens > record.completion_tokens / 2  # byte tokens of the call's literals and keys
    # One prefill, then one pass per token the model chose; a reply cut inside a forced run also
    # writes the tokens it left pending, so the cache ends as token-by-token decoding leaves it.
    chosen = record.completion_tokens - 1 - record.forced_tokens
    assert len(passes) - 1 in (chosen, chosen + 1) and sum(passes[1:]) == record.completion_tokens - 1
    assert cached == record.prompt_tokens + record.completion_tokens - 1


def test_schema_the_engine_cannot_compile_is_a_clear_error(model6):
    from agentroute.errors import ToolSchemaError

    bad = {
        "name": "odd",
        "parameters": {"type": "object", "properties": {"x": {"type": "string", "pattern": "(?<=a)b"}}},
    }
    with pytest.raises(ToolSchemaError, match="odd.*call grammar"):
        model6.generate(QUESTION, tools=[bad], step_type="tool_call", hints=CALL, max_new_tokens=4)


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


QUOTE = {
    "name": "quote_price",
    "description": "Price quote",
    "parameters": {
        "type": "object",
        "properties": {
            "amount": {"type": "integer"},
            "price_text": {"type": "string"},
            "discount": {"type": "string"},
            "rate": {"type": "number"},
        },
        "required": ["amount"],
    },
}


def test_values_are_kept_as_written_in_strings_and_plain_in_numbers(model6):
    """ "329,000", "1.5k" and "25%" survive verbatim as strings, through the grammar, the renderer and
    the parser; a number argument is the plain number (329000), never "329" cut at the comma."""
    from agentroute.steps.tools import format_tool_call

    grammar = GrammarTokenizer(model6.tokenizer, model6.stop_token_ids)
    specs = normalize_tools([QUOTE])
    call = {"name": "quote_price", "arguments": {"amount": 329000, "price_text": "329,000", "discount": "25%"}}
    text = format_tool_call(call)
    assert '"price_text": "329,000", "discount": "25%"' in text and '"amount": 329000' in text
    assert _accepts(grammar.constraint(specs), text, model6.tokenizer)
    assert parse_tool_calls(text, specs).tool_calls[0].arguments == call["arguments"]
    for verbatim in ("1.5k", "Café Ünïcode", "  spaced  ", "12 kg"):
        line = format_tool_call({"name": "quote_price", "arguments": {"amount": 1, "price_text": verbatim}})
        assert parse_tool_calls(line, specs).tool_calls[0].arguments["price_text"] == verbatim
        assert _accepts(grammar.constraint(specs), line, model6.tokenizer), verbatim
    # A number with a thousands separator is not JSON: "329," must go on to another argument.
    cut = '<tool_call>{"name": "quote_price", "arguments": {"amount": 329,000'
    assert not _accepts(grammar.constraint(specs), cut, model6.tokenizer)


def test_a_pack_trained_before_declining_keeps_tool_call_steps_calling(model6, monkeypatch):
    """A pack whose data had no no-tool-fits rows (v2/v3) never learnt to decline: under it a
    tool-call step calls, as before; without a pack (or with a v4 pack) it may decline."""
    from types import SimpleNamespace

    assert model6.may_decline
    monkeypatch.setattr(model6, "pack", SimpleNamespace(manifest=SimpleNamespace(data={"version": "agentsteps-v3"})))
    assert not model6.may_decline
    for seed in range(3):
        step = model6.generate(
            QUESTION, tools=TOOLS, step_type="tool_call", max_new_tokens=300, temperature=1.0, seed=seed
        )
        assert step.tool_calls and not step.record.declined_tools
    monkeypatch.setattr(model6, "pack", SimpleNamespace(manifest=SimpleNamespace(data={"version": "agentsteps-v4"})))
    assert model6.may_decline


def test_a_tool_whose_arguments_refer_to_their_own_definitions_is_constrained(model6):
    """Haystack's create_tool_from_function writes a pydantic argument as "$defs" and a "$ref" to it;
    the call schema holds every tool, so the reference is read from the tool's own parameters."""
    pytest.importorskip("haystack")
    from haystack.tools import create_tool_from_function
    from pydantic import BaseModel

    class Item(BaseModel):
        sku: str
        qty: int = 1

    def order(items: list[Item], note: str = "") -> str:
        """Order items."""
        return "ok"

    tool = create_tool_from_function(order)
    assert tool.parameters["properties"]["items"]["items"] == {"$ref": "#/$defs/Item"}
    spec = {"name": tool.name, "description": tool.description, "parameters": tool.parameters}
    result = model6.generate(QUESTION, tools=[spec], step_type="tool_call", hints=CALL, max_new_tokens=60)
    assert result.record.constrained
    calls = call_schema(normalize_tools([spec]))
    assert calls["$defs"]["tool0"]["properties"]["items"]["items"] == {"$ref": "#/$defs/tool0/$defs/Item"}
