"""Packed training forward (``training.streams``): one pass scores a reply under several programs
exactly as inference would (full-depth prefill of the prompt, then the program decodes the reply)."""

import copy

import pytest
import torch

from agentroute.model import executor
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.program import LayerProgram
from agentroute.steps.records import StepType
from agentroute.training.examples import TrainExample
from agentroute.training.objective import example_loss
from agentroute.training.streams import stream_layout, stream_logits

PROMPT = "What is the capital of France?"


def programs_for(n_layers: int) -> list[LayerProgram]:
    """Full depth first, then skip programs that keep the first and last layer."""
    return [
        LayerProgram.full(n_layers),
        LayerProgram.skip(n_layers, [1]),
        LayerProgram.skip(n_layers, [n_layers - 2]),
        LayerProgram.skip(n_layers, range(1, n_layers - 1)),
    ]


def prompt_and_reply(model, n_tokens: int = 10) -> tuple[list[int], list[int]]:
    prompt = model.encode(PROMPT)
    reply = model.generate_ids(prompt, None, max_new_tokens=n_tokens, ignore_eos=True).token_ids
    assert len(reply) == n_tokens
    return prompt, list(reply)


def reference_logits(model, prompt: list[int], reply: list[int], program: LayerProgram) -> torch.Tensor:
    """What inference computes: full-depth prefill of the prompt, then ``program`` over the reply."""
    cache = ProgramKVCache()
    full = LayerProgram.full(model.n_layers)
    with torch.inference_mode():
        first = executor.prefill(model.parts, cache, full, torch.tensor([prompt]))
        rest = executor.forward(model.parts, cache, program, torch.tensor([reply[:-1]]), len(prompt), all_logits=True)
    return torch.cat([first, rest[0]])


def test_streams_match_inference_on_every_family(family_model):
    model = family_model
    prompt, reply = prompt_and_reply(model)
    programs = programs_for(model.n_layers)
    with torch.inference_mode():
        logits = stream_logits(model.parts, prompt, reply, programs)
    assert logits.shape == (len(programs), len(reply), len(model.tokenizer))
    assert logits.dtype == torch.float32
    for s, program in enumerate(programs):
        assert logits[s].argmax(-1).tolist() == model.forced_argmax(prompt, reply, program), str(program)
        torch.testing.assert_close(logits[s], reference_logits(model, prompt, reply, program), atol=1e-4, rtol=1e-4)
    # The first reply position comes from the prompt's full-depth pass, the same in every stream.
    for s in range(1, len(programs)):
        torch.testing.assert_close(logits[s, 0], logits[0, 0])


def test_skip_streams_really_differ_from_full_depth(llama_model):
    """Guards the equivalence test against a vacuous pass (every stream silently run at full depth)."""
    prompt, reply = prompt_and_reply(llama_model)
    programs = programs_for(llama_model.n_layers)
    with torch.inference_mode():
        logits = stream_logits(llama_model.parts, prompt, reply, programs)
    for s in range(1, len(programs)):
        assert (logits[s, 1:] - logits[0, 1:]).abs().max() > 1e-2, str(programs[s])


def test_stream_order_and_count_do_not_change_a_stream(llama_model):
    """Each stream sees only the prompt and its own copy: adding or reordering streams changes nothing."""
    prompt, reply = prompt_and_reply(llama_model, 8)
    full, a, b, c = programs_for(llama_model.n_layers)
    with torch.inference_mode():
        alone = stream_logits(llama_model.parts, prompt, reply, [full, b])
        packed = stream_logits(llama_model.parts, prompt, reply, [c, b, full, a])
    torch.testing.assert_close(packed[1], alone[1], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(packed[2], alone[0], atol=1e-4, rtol=1e-4)


def test_single_program_is_plain_teacher_forcing(llama_model):
    prompt, reply = prompt_and_reply(llama_model, 6)
    program = LayerProgram.skip(llama_model.n_layers, [2, 3])
    with torch.inference_mode():
        logits = stream_logits(llama_model.parts, prompt, reply, [program])
    assert logits.shape[:2] == (1, len(reply))
    torch.testing.assert_close(logits[0], reference_logits(llama_model, prompt, reply, program), atol=1e-4, rtol=1e-4)


def test_one_token_reply(llama_model):
    prompt = llama_model.encode(PROMPT)
    eos = min(llama_model.stop_token_ids)
    full, skip = programs_for(llama_model.n_layers)[:2]
    with torch.inference_mode():
        logits = stream_logits(llama_model.parts, prompt, [eos], [full, skip])
    assert logits.shape[:2] == (2, 1)
    assert logits[0].argmax(-1).tolist() == llama_model.forced_argmax(prompt, [eos], full)


def test_looping_program_is_refused(llama_model):
    prompt, reply = prompt_and_reply(llama_model, 4)
    n = llama_model.n_layers
    looping = LayerProgram((0, 1, 2, 2, *range(3, n)), n)
    assert looping.loops
    with pytest.raises(ValueError, match="skip programs only.*looping"):
        stream_logits(llama_model.parts, prompt, reply, [LayerProgram.full(n), looping])


def test_layout_positions_and_mask():
    p, r, n = 3, 2, 3
    positions, mask = stream_layout(p, r, n)
    assert positions.tolist() == [[0, 1, 2, 3, 4, 3, 4, 3, 4]]
    assert mask.shape == (1, 1, p + n * r, p + n * r) and mask.dtype == torch.bool
    m = mask[0, 0]
    # The prompt is plain causal.
    assert m[:p, :p].tolist() == torch.ones(p, p, dtype=torch.bool).tril().tolist()
    assert not m[:p, p:].any()
    for s in range(n):
        rows = slice(p + s * r, p + (s + 1) * r)
        assert m[rows, :p].all(), "every reply token sees the whole prompt"
        assert m[rows, rows].tolist() == torch.ones(r, r, dtype=torch.bool).tril().tolist()
        for other in range(n):
            if other != s:
                assert not m[rows, p + other * r : p + (other + 1) * r].any(), (s, other)
    # Concretely: the first token of stream 1 cannot see stream 0's tokens, though they come earlier.
    assert not m[p + r, p : p + r].any()


@pytest.fixture(scope="module")
def lora_model(llama_model):
    """A peft LoRA wrapper around a copy of the tiny llama (the shared fixture stays untouched)."""
    from peft import LoraConfig, get_peft_model

    from agentroute.model.hf_parts import ModelParts

    base = copy.deepcopy(llama_model.hf_model)
    peft_model = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]))
    return peft_model, ModelParts.resolve(peft_model)


def test_gradients_reach_lora_weights(llama_model, lora_model):
    peft_model, parts = lora_model
    prompt, reply = prompt_and_reply(llama_model, 6)
    programs = programs_for(llama_model.n_layers)[:3]
    example = TrainExample("x", StepType.TOOL_CALL, prompt, reply, gold=True)
    peft_model.zero_grad()
    peft_model.train()
    try:
        loss, parts_of_loss = example_loss(parts, example, programs)
        loss.backward()
    finally:
        peft_model.eval()
    assert torch.isfinite(loss)
    assert set(parts_of_loss) == {"ce_full", "ce_program", "kl"}
    assert parts_of_loss["kl"] > 0 and parts_of_loss["ce_program"] > 0
    lora_b = {n: p for n, p in peft_model.named_parameters() if "lora_B" in n}
    assert lora_b and all(p.requires_grad for p in lora_b.values())
    # lora_B starts at zero, so lora_A's gradient is zero on the first step; lora_B's is not.
    for name, param in lora_b.items():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    frozen = [p for n, p in peft_model.named_parameters() if "lora_" not in n]
    assert frozen and all(p.grad is None for p in frozen)
    peft_model.zero_grad()


def test_gradients_flow_through_a_skip_stream_alone(llama_model, lora_model):
    """The loss of one skip stream (not full depth) trains the layers that stream runs."""
    peft_model, parts = lora_model
    prompt, reply = prompt_and_reply(llama_model, 6)
    n = llama_model.n_layers
    program = LayerProgram.skip(n, [2])
    peft_model.zero_grad()
    logits = stream_logits(parts, prompt, reply, [LayerProgram.full(n), program])
    torch.nn.functional.cross_entropy(logits[1, 1:], torch.tensor(reply[1:])).backward()
    grads = {n: p.grad for n, p in peft_model.named_parameters() if "lora_B" in n}
    assert all(g is not None and g.abs().sum() > 0 for g in grads.values())
    peft_model.zero_grad()


def test_a_detached_prompt_gives_the_same_logits_and_trains_through_the_reply(llama_model, lora_model):
    """prompt_grad=False: the prompt encoded once without gradients into a KV cache, the streams on
    it; the logits are the packed forward's, and the adapter still gets gradients from the reply."""
    prompt, reply = prompt_and_reply(llama_model)
    programs = programs_for(llama_model.n_layers)
    with torch.inference_mode():
        packed = stream_logits(llama_model.parts, prompt, reply, programs)
        detached = stream_logits(llama_model.parts, prompt, reply, programs, prompt_grad=False)
        one_token = stream_logits(llama_model.parts, prompt, reply[:1], programs, prompt_grad=False)
    torch.testing.assert_close(detached, packed, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(one_token, packed[:, :1], atol=1e-4, rtol=1e-4)
    peft_model, parts = lora_model
    example = TrainExample("x", StepType.TOOL_CALL, prompt, reply[:6], gold=True)
    peft_model.zero_grad()
    loss, _ = example_loss(parts, example, programs[:3], prompt_grad=False)
    loss.backward()
    grads = [p.grad for n, p in peft_model.named_parameters() if "lora_B" in n]
    assert grads and all(g is not None and g.abs().sum() > 0 for g in grads)
    peft_model.zero_grad()


def test_the_loss_parts_are_the_streams_cross_entropies_and_kl(llama_model):
    prompt, reply = prompt_and_reply(llama_model, 6)
    programs = programs_for(llama_model.n_layers)[:3]
    example = TrainExample("x", StepType.TOOL_CALL, prompt, reply, gold=True)
    with torch.inference_mode():
        loss, parts_of_loss = example_loss(llama_model.parts, example, programs)
        logits = stream_logits(llama_model.parts, prompt, reply, programs)
    target = torch.tensor(reply)
    ce = [torch.nn.functional.cross_entropy(stream, target) for stream in logits]
    teacher = logits[0].log_softmax(-1)
    kl = [(teacher.exp() * (teacher - stream.log_softmax(-1))).sum(-1).mean() for stream in logits[1:]]
    assert parts_of_loss["ce_full"] == pytest.approx(float(ce[0]), rel=1e-5)
    assert parts_of_loss["ce_program"] == pytest.approx(float(sum(ce[1:]) / 2), rel=1e-5)
    assert parts_of_loss["kl"] == pytest.approx(float(sum(kl) / 2), rel=1e-4)
    assert float(loss) == pytest.approx(float(ce[0] + sum(ce[1:]) / 2 + sum(kl) / 2), rel=1e-5)
