"""Cached decoding equals uncached recomputation, for skip and loop programs; the hole policy holds."""

import pytest
import torch

from agentroute.model import executor
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.program import LayerProgram

PROGRAMS = ["0-5", "0-1,4-5", "0,2,5", "0-2,2,3-5", "0-3,1-2,4-5", "1,1,1"]


def _decode_with_cache(model, prompt_ids, program, prefill_program, steps):
    """Greedy decode token by token over one cache; return the logits of every step."""
    cache = ProgramKVCache()
    ids = torch.tensor([prompt_ids])
    logits = [executor.prefill(model.parts, cache, prefill_program, ids)]
    tokens = []
    for i in range(steps):
        token = int(logits[-1].argmax())
        tokens.append(token)
        logits.append(executor.decode_step(model.parts, cache, program, torch.tensor([[token]]), len(prompt_ids) + i))
    return tokens, torch.cat(logits[:-1])


@pytest.mark.parametrize("spec", PROGRAMS)
@torch.inference_mode()
def test_cached_equals_uncached_recomputation(llama_model, spec):
    """With the program prefilling too, every step's logits equal a from-scratch forward with no past."""
    program = LayerProgram.parse(spec, llama_model.n_layers)
    prompt = llama_model.encode("Call the search tool for llamas.")
    tokens, cached = _decode_with_cache(llama_model, prompt, program, program, steps=12)
    for step in range(len(tokens)):
        sequence = torch.tensor([prompt + tokens[:step]])
        fresh = executor.forward(llama_model.parts, ProgramKVCache(), program, sequence, start=0)
        torch.testing.assert_close(cached[step], fresh[0], atol=1e-4, rtol=0)


@pytest.mark.parametrize("spec", PROGRAMS)
@torch.inference_mode()
def test_incremental_decode_equals_one_parallel_chunk(llama_model, spec):
    """Full-depth prefill then routed decode: token-by-token equals one chunk over the same past."""
    program = LayerProgram.parse(spec, llama_model.n_layers)
    prefill_program = program if program.loops else LayerProgram.full(llama_model.n_layers)
    prompt = llama_model.encode("Plan a three-step trip to Rome.")
    tokens, cached = _decode_with_cache(llama_model, prompt, program, prefill_program, steps=10)
    cache = ProgramKVCache()
    first = executor.prefill(llama_model.parts, cache, prefill_program, torch.tensor([prompt]))
    chunk = executor.forward(
        llama_model.parts, cache, program, torch.tensor([tokens[:-1]]), start=len(prompt), all_logits=True
    )
    torch.testing.assert_close(torch.cat([first, chunk[0]]), cached, atol=1e-4, rtol=0)


def test_generate_uses_program_and_reports_it(llama_model):
    full = llama_model.generate("Why is the sky blue?", max_new_tokens=16)
    skipped = llama_model.generate("Why is the sky blue?", program="0-1,4-5", max_new_tokens=16)
    looped = llama_model.generate("Why is the sky blue?", program="0-2,2,3-5", max_new_tokens=16)
    assert skipped.record.layers_per_token == 4 and looped.record.layers_per_token == 7
    assert looped.record.prefill_program == "0-2,2-5"  # a loop needs its own prompt keys
    # different programs compute different functions of a random model
    assert len({tuple(full.token_ids), tuple(skipped.token_ids), tuple(looped.token_ids)}) > 1


def test_update_refuses_to_write_past_a_hole():
    cache = ProgramKVCache()
    kv = torch.zeros(1, 2, 3, 4)
    cache.begin(0)
    cache.activate((0, 0))
    cache.update(kv, kv, 0)
    cache.activate((1, 0))
    cache.update(kv[:, :, :2], kv[:, :, :2], 1)  # slot (1, 0) stops short: a hole at position 2
    assert cache.usable_length([(0, 0), (1, 0)]) == 2
    cache.begin(3)
    cache.activate((1, 0))
    with pytest.raises(RuntimeError, match="KV hole"):
        cache.update(kv[:, :, :1], kv[:, :, :1], 1)
    cache.crop(2)
    cache.begin(2)
    cache.activate((0, 0))
    keys, _ = cache.update(kv[:, :, :1], kv[:, :, :1], 0)
    assert keys.shape[2] == 3 and cache.valid[(0, 0)] == 3


def test_cache_grows_past_its_initial_capacity():
    cache = ProgramKVCache(initial_capacity=2)
    cache.begin(0)
    cache.activate((0, 0))
    for i in range(9):
        cache.begin(i)
        k = torch.full((1, 1, 1, 2), float(i))
        keys, values = cache.update(k, k, 0)
    assert keys[0, 0, :, 0].tolist() == [float(i) for i in range(9)]


def test_skip_program_prefix_reuse_recomputes_holes(llama_model):
    """After a skip-program step, the next step's full prefill must not read the skipped layers' holes."""
    history = [{"role": "user", "content": "Call the weather tool for Paris."}]
    first = llama_model.generate(history, program="0,5", max_new_tokens=10)
    history += [{"role": "assistant", "content": first.text}, {"role": "user", "content": "Now Rome."}]
    warm = llama_model.generate(history, max_new_tokens=10)
    cold = llama_model.generate(history, max_new_tokens=10, reuse_prefix=False)
    assert warm.record.reused_prompt_tokens > 0
    assert warm.token_ids == cold.token_ids


@pytest.mark.parametrize("spec", ["0-5", "0-1,4-5", "0-2,2,3-5"])
@torch.inference_mode()
def test_forced_argmax_reuses_the_prefix_and_equals_recomputation(llama_model, spec):
    """Teacher forcing from the warm prefix cache equals a from-scratch forward at every position."""
    prompt = llama_model.encode("Call the search tool for llamas.")
    reply = llama_model.generate_ids(prompt, max_new_tokens=10, ignore_eos=True).token_ids  # warms the cache
    program = LayerProgram.parse(spec, llama_model.n_layers)
    predicted = llama_model.forced_argmax(prompt, reply, program)
    prefill_program = program if program.loops else LayerProgram.full(llama_model.n_layers)
    cache = ProgramKVCache()
    first = executor.prefill(llama_model.parts, cache, prefill_program, torch.tensor([prompt]))
    rest = executor.forward(llama_model.parts, cache, program, torch.tensor([reply[:-1]]), len(prompt), True)
    assert predicted == [int(first.argmax())] + rest[0].argmax(-1).tolist()
