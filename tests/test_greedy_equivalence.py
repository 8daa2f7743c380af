"""The executor's first test: full program + greedy == stock transformers generate(), token for token."""

import torch
from tiny_models import PROMPTS

NEW_TOKENS = 32


def stock_generate(model, prompt_ids, max_new_tokens=NEW_TOKENS):
    out = model.hf_model.generate(
        torch.tensor([prompt_ids]), max_new_tokens=max_new_tokens, do_sample=False, min_new_tokens=0
    )
    return out[0, len(prompt_ids) :].tolist()


def test_full_program_matches_stock_generate(family_model):
    for prompt in PROMPTS:
        ids = family_model.encode(prompt)
        ours = family_model.generate(prompt, max_new_tokens=NEW_TOKENS)
        assert ours.token_ids == stock_generate(family_model, ids), prompt
        assert ours.record.completion_tokens == len(ours.token_ids)
        assert ours.record.prompt_tokens == len(ids)


def test_prefix_reuse_changes_nothing(llama_model):
    """A growing conversation reuses its cached prefix and still equals a cold run."""
    history = [{"role": "user", "content": "Plan a trip to Rome."}]
    for turn in range(3):
        warm = llama_model.generate(history, max_new_tokens=12)
        cold = llama_model.generate(history, max_new_tokens=12, reuse_prefix=False)
        assert warm.token_ids == cold.token_ids
        if turn:
            assert warm.record.reused_prompt_tokens > 0
        assert cold.record.reused_prompt_tokens == 0
        history += [{"role": "assistant", "content": warm.text}, {"role": "user", "content": f"And day {turn + 2}?"}]


def test_record_fields(llama_model):
    result = llama_model.generate("hello", program="0-2,4-5", max_new_tokens=8)
    rec = result.record
    assert rec.program == "0-2,4-5" and rec.prefill_program == "0-5"
    assert rec.layers_per_token == 5 and abs(rec.layers_fraction - 5 / 6) < 1e-6
    assert rec.completion_tokens == len(result.token_ids) <= 8
    assert 0 < rec.ttft_s <= rec.latency_s
    assert rec.model == "tiny-llama" and rec.quantization is None
    assert rec.finish_reason in ("stop", "length")
    assert rec.model_dump_json()
