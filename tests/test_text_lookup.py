"""Text-matched prompt lookup: a call's values copied from the user's words across token boundaries."""

from __future__ import annotations

import pytest
from tiny_models import byte_tokenizer

from agentroute.decode import speculative
from agentroute.decode.prompt_lookup import TextLookup, lookup_continuation

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TIME = {
    "name": "get_time",
    "description": "Local time in a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def _draft(tokenizer, prompt: str, reply: str, limit: int = 10) -> str:
    prompt_ids = tokenizer.encode(prompt, add_special_tokens=False)
    sequence = prompt_ids + tokenizer.encode(reply, add_special_tokens=False)
    return tokenizer.decode(TextLookup(tokenizer, prompt_ids)(sequence, limit))


def test_a_call_copies_the_rest_of_a_value_from_the_users_words():
    tok = byte_tokenizer()
    prompt = "user: What is the weather in San Francisco today?\nassistant: "
    draft = _draft(tok, prompt, '<tool_call>{"name": "get_weather", "arguments": {"city": "San', limit=40)
    assert draft.startswith(" Francisco today")  # the user's text after the longest matching end


def test_no_draft_for_a_reply_in_words_or_a_key_without_letters_or_digits():
    tok = byte_tokenizer()
    prompt = 'user: weather in San Francisco? {"a": "b"}\nassistant: '
    assert _draft(tok, prompt, "Sure, San") == ""  # words: token n-grams copy there instead
    prompt_ids = tok.encode(prompt, add_special_tokens=False)
    lookup = TextLookup(tok, prompt_ids)
    assert lookup(prompt_ids + tok.encode("Sure", add_special_tokens=False), 10) == [] and lookup.in_words
    later = tok.encode('Sure {"city": "San', add_special_tokens=False)
    assert lookup(prompt_ids + later, 10) == []  # a reply that began in words is not decoded again
    assert _draft(tok, prompt, '{"x": "') == ""  # '": "' matches the prompt but predicts nothing
    assert _draft(tok, prompt, '{"city": "Zq') == ""  # no end of 3+ characters occurred before


def test_the_last_copied_token_is_dropped_and_limit_holds():
    tok = byte_tokenizer()
    prompt = "user: book it for Alexandra Konstantinopoulou please\nassistant: "
    draft = _draft(tok, prompt, '{"name": "Alexa', limit=5)
    assert draft == "ndra "
    # Everything after the match, up to the end of the context, less its last (maybe cut) token.
    rest = 'ndra Konstantinopoulou please\nassistant: {"name": "Alex'
    assert _draft(tok, prompt, '{"name": "Alexa', limit=100) == rest


@pytest.mark.slow
def test_with_the_default_tokenizer_only_text_matches_find_a_quoted_value():
    """Inside JSON the value follows a quote, so its first token differs from the user's
    (``"San`` / `` San``) and no token n-gram of the reply occurs in the prompt."""
    from transformers import AutoTokenizer

    from agentroute.model.default_model import default_gguf_path
    from agentroute.model.gguf_convert import ensure_converted

    tok = AutoTokenizer.from_pretrained(ensure_converted(default_gguf_path()))
    prompt = tok.encode("user: Book a table at Trattoria Bellavista for four people.\nassistant: ")
    reply = tok.encode('{"restaurant": "Trattoria Bella')
    assert lookup_continuation(prompt + reply) == []
    draft = tok.decode(TextLookup(tok, prompt)(prompt + reply, 10))
    assert draft.startswith("vista for four")


def test_lossless_tool_calls_with_text_lookup_stay_full_depths(llama_model, monkeypatch):
    """Copied drafts are verified like any other: the call is token for token full depth's."""
    calls = []
    original = TextLookup.__call__

    def spy(self, sequence, limit):
        drafted = original(self, sequence, limit)
        calls.append(len(drafted))
        return drafted

    monkeypatch.setattr(TextLookup, "__call__", spy)
    monkeypatch.setattr(llama_model, "speculative", speculative.SpeculativeSettings(draft_weights="same"))
    ask = [{"role": "user", "content": "Weather and local time in get_weather city Paris, get_time Paris?"}]
    call = {"tools": [WEATHER, TIME], "hints": {"tool_choice": "required"}, "max_new_tokens": 40}
    for program in ("0-2,5", "0-5"):
        lossless = llama_model.generate(ask, program=program, mode="lossless", **call)
        full = llama_model.generate(ask, mode="routed", budget=1.0, **call)
        assert lossless.token_ids == full.token_ids, program
        assert lossless.text.startswith("<tool_call>"), lossless.text
    assert calls and any(calls)  # text lookup ran and drafted


def test_text_lookup_can_be_turned_off(llama_model, monkeypatch):
    monkeypatch.setattr(TextLookup, "__call__", lambda *a: pytest.fail("text lookup ran while turned off"))
    settings = speculative.SpeculativeSettings(draft_weights="same", lookup_text=False)
    monkeypatch.setattr(llama_model, "speculative", settings)
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    llama_model.generate(ask, tools=[WEATHER, TIME], program="0-2,5", mode="lossless", max_new_tokens=16)
