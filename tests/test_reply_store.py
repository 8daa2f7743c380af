"""Drafts from a store of the model's own replies: what is retrieved, the pack file, and that
lossless replies stay exactly full depth's."""

from __future__ import annotations

import pytest
import torch
from tiny_models import tiny_model

from agentroute import RoutedModel
from agentroute.decode.draft_length import SpeculativeSettings
from agentroute.decode.reply_store import ReplyStore
from agentroute.errors import GenerationError


def test_drafts_what_most_matching_replies_continue_with():
    store = ReplyStore([[1, 2, 3, 4, 5], [9, 2, 3, 4, 6], [2, 3, 4, 5, 7], [8, 8, 8]])
    # (2, 3, 4) occurs in three replies, continued by 5, 6 and 5: 5 wins; after (.., 4, 5) the two
    # that agreed end or go on with 7, which is all that is left.
    assert store.draft([0, 2, 3, 4], limit=3) == [5, 7]
    assert store.draft([0, 2, 3, 4], limit=1) == [5]
    assert store.draft([7, 7, 9, 2], limit=4) == [3, 4, 6]  # (9, 2) occurs in the second reply alone
    assert store.draft([5, 6], limit=3) == []  # no tail of two tokens occurs
    assert store.draft([3], limit=3) == []  # one token is too short a tail


def test_a_reply_opening_as_stored_ones_do_drafts_from_its_first_token():
    store = ReplyStore([[40, 41, 42, 43, 44], [40, 41, 42, 50], [60, 61, 62]])
    prompt = [7, 8, 9, 40]  # 40 also ends the prompt here: only the reply's own start counts
    # The reply so far is [40]: the start and 40 open two stored replies, which go on 41, 42, then
    # 43 or 50 (one of two: half agree, the first seen wins).
    assert store.draft([*prompt, 40], limit=3, reply_start=len(prompt)) == [41, 42, 43]
    assert store.draft([*prompt, 40, 41], limit=2, reply_start=len(prompt)) == [42, 43]
    assert store.draft([*prompt, 60], limit=2, reply_start=len(prompt)) == [61, 62]
    # Without the reply's start, a tail reaching into the prompt is matched as plain tokens.
    assert store.draft([*prompt, 60], limit=2) == []
    assert store.draft([*prompt, 41], limit=2, reply_start=len(prompt)) == []  # no stored reply opens with 41


def test_stops_where_the_replies_part_ways():
    store = ReplyStore([[1, 2, 3, 4], [1, 2, 3, 5], [1, 2, 3, 6], [1, 2, 7, 7]])
    assert store.draft([1, 2], limit=4) == [3]  # 3 (three of four), then 4, 5 and 6: one of three each


def test_save_and_load_round_trip(tmp_path):
    store = ReplyStore([[5, 6, 7], [8, 9], [10, 11, 12, 13]])
    store.save(tmp_path / "replies.safetensors")
    loaded = ReplyStore.load(tmp_path / "replies.safetensors", vocab_size=20)
    assert loaded.replies == store.replies
    assert loaded.draft([4, 5, 6], 2) == [7]
    with pytest.raises(ValueError, match="vocabulary of 10"):
        ReplyStore.load(tmp_path / "replies.safetensors", vocab_size=10)


def test_damaged_offsets_are_refused(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "replies.safetensors"
    save_file({"tokens": torch.tensor([1, 2, 3], dtype=torch.int32), "offsets": torch.tensor([0, 5])}, str(path))
    with pytest.raises(ValueError, match="offsets"):
        ReplyStore.load(path, vocab_size=10)
    save_file({"tokens": torch.tensor([1, 2, 3], dtype=torch.int32)}, str(path))
    with pytest.raises(ValueError, match="'tokens' and 'offsets'"):
        ReplyStore.load(path, vocab_size=10)


def test_settings_check_the_store_prior():
    with pytest.raises(GenerationError, match="replies_prior"):
        SpeculativeSettings(replies_prior=1.0)


@pytest.mark.parametrize("family", ["llama", "qwen3"])
def test_lossless_with_a_reply_store_equals_full_depth(family):
    hf, tok = tiny_model(family, n_layers=4, seed=5)
    model = RoutedModel(hf, tok, name=f"tiny-{family}")
    prompts = ["plan the trip to the coast", "list what the report needs", "why did the build fail"]
    full = [model.generate(p, max_new_tokens=40, mode="routed", ignore_eos=True) for p in prompts]
    # The store holds the model's own replies: retrieved drafts of a reply it holds are accepted.
    model.reply_store = ReplyStore([r.token_ids for r in full])
    for prompt, reference in zip(prompts, full, strict=True):
        lossless = model.generate(prompt, "0-3", max_new_tokens=40, mode="lossless", ignore_eos=True)
        assert lossless.token_ids == reference.token_ids
        assert lossless.record.retrieved_tokens > 0
        assert 0 < lossless.record.retrieved_accepted <= lossless.record.retrieved_tokens
    # A store of unrelated replies guesses wrong, and the reply is still full depth's.
    model.reply_store = ReplyStore([[(t * 7 + 3) % 200 + 3 for t in r.token_ids] for r in full])
    lossless = model.generate(prompts[0], "0-3", max_new_tokens=40, mode="lossless", ignore_eos=True)
    assert lossless.token_ids == full[0].token_ids
    model.speculative = SpeculativeSettings(replies=False)
    off = model.generate(prompts[0], "0-3", max_new_tokens=40, mode="lossless", ignore_eos=True)
    assert off.token_ids == full[0].token_ids and off.record.retrieved_tokens == 0


WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


def test_the_store_drafts_under_a_grammar_that_allows_text_and_not_under_calls_only():
    hf, tok = tiny_model("llama", n_layers=4, seed=5)
    model = RoutedModel(hf, tok, name="tiny-llama")
    asks = ["plan the trip to the coast", "why did the build fail"]
    # A planning step with tools offered may write text (or a call held to the schemas): a grammar
    # that allows words, under which the store's text replies draft.
    plans = [model.generate(a, tools=[WEATHER], step_type="planning", mode="routed", max_new_tokens=30) for a in asks]
    model.reply_store = ReplyStore([r.token_ids for r in plans])
    # A fixed draft length: with timed passes, whether a copy pays depends on the machine's load.
    model.speculative = SpeculativeSettings(fixed_k=2)
    for ask, reference in zip(asks, plans, strict=True):
        lossless = model.generate(ask, "0-3", tools=[WEATHER], step_type="planning", mode="lossless", max_new_tokens=30)
        assert lossless.token_ids == reference.token_ids
        assert lossless.record.retrieved_tokens > 0
    # A tool-call step may only call: the store is not asked.
    call = model.generate(asks[0], "0-3", tools=[WEATHER], step_type="tool_call", mode="lossless", max_new_tokens=30)
    assert call.record.retrieved_tokens == 0


def _pack_with_store(tmp_path, replies, entry=None):
    from test_pack import edit_manifest, fresh_model, write_pack

    from agentroute.pack import REPLIES_FILE

    model = fresh_model()
    write_pack(tmp_path / "pack", model)
    if replies is not None:
        ReplyStore(replies).save(tmp_path / "pack" / REPLIES_FILE)
    edit_manifest(
        tmp_path / "pack", lambda m: m.update(replies=entry or {"count": 1, "tokens": 3, "max_new_tokens": 8})
    )
    return model


def test_a_pack_with_a_store_sets_the_models_store(tmp_path):
    from agentroute.pack import load_pack

    model = _pack_with_store(tmp_path, [[5, 6, 7]])
    load_pack(model, tmp_path / "pack")
    assert model.reply_store is model.pack.reply_store and model.reply_store.replies == [[5, 6, 7]]


def test_a_pack_without_its_store_file_or_with_a_bad_one_is_a_clear_error(tmp_path):
    from agentroute.pack import REPLIES_FILE, PackError, load_pack

    model = _pack_with_store(tmp_path, None)
    with pytest.raises(PackError, match=REPLIES_FILE):
        load_pack(model, tmp_path / "pack")
    model = _pack_with_store(tmp_path, [[5, 6, 10**6]])
    with pytest.raises(PackError, match="outside the model's vocabulary"):
        load_pack(model, tmp_path / "pack")


def test_the_default_pack_ships_a_store():
    from agentroute.pack import REPLIES_FILE, read_manifest, resolve_pack_dir

    path = resolve_pack_dir("default")
    manifest = read_manifest(path)
    assert manifest.replies is not None and manifest.replies.count >= 100
    store = ReplyStore.load(path / REPLIES_FILE, vocab_size=49152)
    assert len(store) == manifest.replies.count and sum(map(len, store.replies)) == manifest.replies.tokens


def test_bad_stores_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="lists of token ids"):
        ReplyStore(["a reply as text"])
    hf, tok = tiny_model("llama", n_layers=2)
    model = RoutedModel(hf, tok, name="tiny")
    with pytest.raises(GenerationError, match="ReplyStore or None, got list"):
        model.reply_store = [[1, 2, 3]]
    model.reply_store = ReplyStore([[1, 2, 3]])
    model.reply_store = None


def test_no_reply_steps_means_no_store_and_no_stale_file(tmp_path):
    from agentroute.pack import REPLIES_FILE
    from agentroute.training.replies import build_reply_store

    ReplyStore([[1, 2]]).save(tmp_path / REPLIES_FILE)  # left from an earlier run
    assert build_reply_store("unused", tmp_path, [], 96, tmp_path, lambda d, t: None) is None
    assert not (tmp_path / REPLIES_FILE).exists()
