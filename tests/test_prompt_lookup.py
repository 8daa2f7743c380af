"""Prompt-lookup drafts: what is copied from the context, and that lossless replies stay exact."""

from __future__ import annotations

import pytest
from tiny_models import tiny_model

from agentroute import RoutedModel
from agentroute.decode.draft_length import SpeculativeSettings
from agentroute.decode.prompt_lookup import lookup_continuation
from agentroute.errors import GenerationError


def test_copies_what_followed_the_latest_occurrence():
    #           0  1  2  3  4  5  6  7  8  9
    sequence = [5, 6, 7, 8, 9, 5, 6, 7, 1, 5, 6, 7]
    # The last three tokens (5, 6, 7) occurred at 5..7 (followed by 1) and at 0..2 (followed by 8).
    assert lookup_continuation(sequence, ngram=3, limit=4) == [1, 5, 6, 7]
    assert lookup_continuation(sequence, ngram=3, limit=1) == [1]


def test_falls_back_to_shorter_ngrams_and_gives_up():
    assert lookup_continuation([1, 2, 3, 4, 9, 3, 4], ngram=3, limit=2) == [9, 3]  # only (3, 4) matches
    assert lookup_continuation([1, 2, 3, 4, 5], ngram=3) == []  # nothing repeats
    assert lookup_continuation([7], ngram=3) == []
    assert lookup_continuation([], ngram=3) == []


def test_settings_check_lookup_fields():
    with pytest.raises(GenerationError, match="lookup_ngram"):
        SpeculativeSettings(lookup_ngram=1)
    with pytest.raises(GenerationError, match="lookup_max"):
        SpeculativeSettings(lookup_max=0)


@pytest.mark.parametrize("family", ["llama", "qwen2"])
def test_lossless_with_lookup_equals_full_depth(family):
    hf, tok = tiny_model(family, n_layers=4, seed=3)
    model = RoutedModel(hf, tok, name=f"tiny-{family}")
    # A repetitive prompt, so lookup finds n-grams to copy; a random tiny model also repeats itself.
    prompt = "one two three four five six one two three four five six one two three"
    full = model.generate(prompt, max_new_tokens=48, mode="routed", ignore_eos=True)
    for draft in ("0-3", "0,3"):  # full depth (lookup drafts only) and a skipping draft with lookup
        lossless = model.generate(prompt, draft, max_new_tokens=48, mode="lossless", ignore_eos=True)
        assert lossless.token_ids == full.token_ids
        assert lossless.record.looked_up_tokens > 0
        assert 0 <= lossless.record.looked_up_accepted <= lossless.record.looked_up_tokens
    model.speculative = SpeculativeSettings(lookup=False)
    plain = model.generate(prompt, "0-3", max_new_tokens=48, mode="lossless", ignore_eos=True)
    assert plain.token_ids == full.token_ids
    assert plain.record.looked_up_tokens in (None, 0)
