"""Lean decode passes (packed bf16 linears, fused layers, row-by-row attention): fast, and exact.

Every check here is bit for bit or token for token: lean decode must compute what the plain modules
(and stock ``generate()``) compute, and a decode chunk must compute what one-token passes do.
"""

import contextlib
import copy

import pytest
import torch
import torch.nn.functional as F
from tiny_models import FAMILIES, PROMPTS, tiny_model
from torch import nn

from agentroute import RoutedModel
from agentroute.decode.speculative import SpeculativeSettings
from agentroute.model import executor, fused_layer, lean_decode
from agentroute.model.hf_parts import ROW_ATTENTION
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.program import LayerProgram

N_LAYERS = 4
SKIP_MIDDLE = "0,2-3"  # every layer but a middle one: the draft of the lossless tests
NEW_TOKENS = 48


def is_packed(module: nn.Module) -> bool:
    """Whether ``module`` computes with a packed copy in decode chunks (its copy or its patched forward)."""
    return module in lean_decode._PACKED or "forward" in vars(module)


def make_lean(family: str, seed: int = 0) -> RoutedModel:
    hf, tok = tiny_model(family, n_layers=N_LAYERS, seed=seed)
    model = RoutedModel(hf.to(torch.bfloat16), tok, name=f"tiny-bf16-{family}")
    assert model.dtype == torch.bfloat16
    if not model.use_lean_decode():
        pytest.skip("lean decode needs a torch with oneDNN (mkldnn) on a CPU")
    assert model.lean
    return model


@pytest.fixture(params=sorted(FAMILIES))
def lean_model(request) -> RoutedModel:
    return make_lean(request.param)


def stock_generate(model: RoutedModel, prompt_ids, max_new_tokens: int) -> list[int]:
    out = model.hf_model.generate(
        torch.tensor([prompt_ids]), max_new_tokens=max_new_tokens, do_sample=False, min_new_tokens=0
    )
    return out[0, len(prompt_ids) :].tolist()


# -- a. greedy: lean == plain == stock generate -----------------------------------------------------


def test_lean_greedy_equals_plain_and_stock_generate(lean_model):
    parts = lean_model.parts
    assert parts.fused or any(is_packed(m) for m in lean_model.hf_model.modules()), "nothing was packed"
    prompts = [lean_model.encode(p) for p in PROMPTS[:3]]
    lean_fixed = [lean_model.generate_ids(ids, max_new_tokens=NEW_TOKENS, ignore_eos=True).token_ids for ids in prompts]
    lean_eos = [lean_model.generate_ids(ids, max_new_tokens=NEW_TOKENS).token_ids for ids in prompts]
    assert all(len(t) == NEW_TOKENS for t in lean_fixed)
    # Stock generate() stops at EOS, as generate_ids does by default (test_greedy_equivalence's comparison).
    assert lean_eos == [stock_generate(lean_model, ids, NEW_TOKENS) for ids in prompts]
    assert any(len(t) > 8 for t in lean_eos), "replies too short to compare"

    assert lean_model.use_lean_decode(False) is False
    plain_fixed = [
        lean_model.generate_ids(ids, max_new_tokens=NEW_TOKENS, ignore_eos=True).token_ids for ids in prompts
    ]
    plain_eos = [lean_model.generate_ids(ids, max_new_tokens=NEW_TOKENS).token_ids for ids in prompts]
    assert lean_fixed == plain_fixed
    assert lean_eos == plain_eos
    assert plain_eos == [stock_generate(lean_model, ids, NEW_TOKENS) for ids in prompts]


# -- b. bf16 lossless == plain full-depth bf16 decoding ------------------------------------------


@pytest.mark.parametrize("fixed_k", [1, 3, 8])
def test_bf16_lossless_equals_full_depth(lean_model, fixed_k):
    lean_model.speculative = SpeculativeSettings(fixed_k=fixed_k)
    for prompt in PROMPTS[:3]:
        ids = lean_model.encode(prompt)
        full = lean_model.generate_ids(ids, max_new_tokens=NEW_TOKENS, ignore_eos=True)
        assert len(full.token_ids) == NEW_TOKENS
        fast = lean_model.generate_ids(
            ids, program=SKIP_MIDDLE, mode="lossless", max_new_tokens=NEW_TOKENS, ignore_eos=True
        )
        assert fast.record.drafted_tokens > 0 and fast.record.draft_program == SKIP_MIDDLE
        assert fast.token_ids == full.token_ids, (prompt, fixed_k)
        assert fast.text == full.text
        assert fast.record.dtype == "bfloat16"


def test_bf16_lossless_stops_where_full_depth_does(lean_model):
    """Without ignore_eos: the same reply and the same finish reason (EOS inside an accepted run)."""
    lean_model.speculative = SpeculativeSettings(fixed_k=8)
    for prompt in PROMPTS[3:6]:
        ids = lean_model.encode(prompt)
        full = lean_model.generate_ids(ids, max_new_tokens=NEW_TOKENS)
        fast = lean_model.generate_ids(ids, program=SKIP_MIDDLE, mode="lossless", max_new_tokens=NEW_TOKENS)
        assert fast.token_ids == full.token_ids, prompt
        assert fast.record.finish_reason == full.record.finish_reason


# -- c. a decode chunk == one-token passes, bit for bit -------------------------------------------


def _chunk_vs_single_steps(model: RoutedModel, program, n_tokens: int, seed: int = 1):
    parts = model.parts
    prompt = model.encode(PROMPTS[0])
    start = len(prompt)
    generator = torch.Generator().manual_seed(seed)
    chunk = torch.randint(3, parts.vocab_size, (1, n_tokens), generator=generator)
    cache = ProgramKVCache()
    full = model.program(None)
    with torch.inference_mode():
        executor.prefill(parts, cache, full, torch.tensor([prompt]))
        assert cache.usable_length(full.slots) == start
        together = executor.forward(parts, cache, program, chunk, start, all_logits=True)
        assert cache.usable_length(program.slots) == start + n_tokens
        cache.crop(start)
        singles = []
        for i in range(n_tokens):
            singles.append(executor.forward(parts, cache, program, chunk[:, i : i + 1], start + i))
        # The same positions again, as a chunk after the crop: the same logits (no state leaks between runs).
        cache.crop(start)
        again = executor.forward(parts, cache, program, chunk, start, all_logits=True)
    return together, torch.stack(singles, dim=1), again


@pytest.mark.parametrize("n_tokens", [9, 150])
@pytest.mark.parametrize("program", [None, SKIP_MIDDLE])
def test_decode_chunk_equals_one_token_passes(lean_model, n_tokens, program):
    if n_tokens == 150:
        assert n_tokens > 2 * lean_decode.MAX_CHUNK_ROWS  # split in three pieces, the last one short
    together, singles, again = _chunk_vs_single_steps(lean_model, lean_model.program(program), n_tokens)
    assert together.shape == singles.shape == (1, n_tokens, lean_model.parts.vocab_size)
    assert together.dtype == torch.float32
    mismatched = [i for i in range(n_tokens) if not torch.equal(together[0, i], singles[0, i])]
    assert not mismatched, f"chunk rows differ from one-token passes at positions {mismatched}"
    assert torch.equal(together, again)


def test_long_chunk_logits_at_and_last(lean_model):
    """The split path also answers ``logits_at`` and the last position like one-token passes."""
    parts, full = lean_model.parts, lean_model.program(None)
    together, singles, _ = _chunk_vs_single_steps(lean_model, full, 150, seed=2)
    prompt = lean_model.encode(PROMPTS[0])
    chunk = torch.randint(3, parts.vocab_size, (1, 150), generator=torch.Generator().manual_seed(2))
    cache = ProgramKVCache()
    wanted = [0, 63, 64, 100, 128, 149]
    with torch.inference_mode():
        executor.prefill(parts, cache, full, torch.tensor([prompt]))
        picked = executor.forward(parts, cache, full, chunk, len(prompt), logits_at=wanted)
        cache.crop(len(prompt))
        last = executor.forward(parts, cache, full, chunk, len(prompt))
    assert picked.shape == (1, len(wanted), parts.vocab_size)
    assert torch.equal(picked[0], singles[0, wanted])
    assert last.shape == (1, parts.vocab_size)
    assert torch.equal(last[0], singles[0, -1])


# -- d. a fused layer == the Hugging Face module path ---------------------------------------------


def _decode_with_layers(parts, prompt, tokens):
    """Per-layer outputs and logits of one-token decode passes of ``tokens`` after ``prompt``."""
    cache = ProgramKVCache()
    full_program = LayerProgram.full(parts.n_layers)
    outputs, logits = [], []
    with torch.inference_mode():
        executor.prefill(parts, cache, full_program, torch.tensor([prompt]))
        for i, token in enumerate(tokens):
            seen: list[tuple[int, torch.Tensor]] = []

            def record(layer, hidden_in, hidden_out, seen=seen):
                seen.append((layer, hidden_out.clone()))

            step = executor.forward(
                parts, cache, full_program, torch.tensor([[token]]), len(prompt) + i, on_layer=record
            )
            outputs.append(seen)
            logits.append(step)
    return outputs, logits


@contextlib.contextmanager
def _module_path(parts):
    """Decode through the model's own modules (no fused layers) inside the block."""
    saved, parts.fused = parts.fused, {}
    try:
        yield
    finally:
        parts.fused = saved


def test_fused_layers_equal_the_module_path(lean_model):
    parts = lean_model.parts
    assert len(parts.fused) == parts.n_layers, f"only layers {sorted(parts.fused)} fused"
    prompt = lean_model.encode(PROMPTS[1])
    tokens = lean_model.encode(PROMPTS[2])[:6]
    fused_layers, fused_logits = _decode_with_layers(parts, prompt, tokens)
    with _module_path(parts):
        plain_layers, plain_logits = _decode_with_layers(parts, prompt, tokens)
    for step, (fused, plain) in enumerate(zip(fused_layers, plain_layers, strict=True)):
        assert [layer for layer, _ in fused] == [layer for layer, _ in plain] == list(range(parts.n_layers))
        for (layer, a), (_, b) in zip(fused, plain, strict=True):
            assert torch.equal(a, b), f"step {step}: fused layer {layer} differs from the module path"
    for a, b in zip(fused_logits, plain_logits, strict=True):
        assert torch.equal(a, b)


def test_fused_chunk_equals_module_path_one_token_passes(lean_model):
    """A 9-token chunk through fused layers == 9 one-token passes through the plain modules."""
    parts = lean_model.parts
    assert parts.fused
    prompt = lean_model.encode(PROMPTS[1])
    tokens = lean_model.encode(PROMPTS[4])[:9]
    full = lean_model.program(None)
    cache = ProgramKVCache()
    with torch.inference_mode():
        executor.prefill(parts, cache, full, torch.tensor([prompt]))
        together = executor.forward(parts, cache, full, torch.tensor([tokens]), len(prompt), all_logits=True)
    with _module_path(parts):
        _, plain_logits = _decode_with_layers(parts, prompt, tokens)
    for i, plain in enumerate(plain_logits):
        assert torch.equal(together[0, i], plain[0]), f"chunk row {i}"


def test_fused_run_layer_is_used_only_in_decode_chunks(lean_model, monkeypatch):
    from agentroute.model import hf_parts

    calls = []
    real = hf_parts.run_fused
    monkeypatch.setattr(hf_parts, "run_fused", lambda *a, **k: calls.append(1) or real(*a, **k))
    ids = lean_model.encode(PROMPTS[0])
    cache = ProgramKVCache()
    full = lean_model.program(None)
    with torch.inference_mode():
        executor.prefill(lean_model.parts, cache, full, torch.tensor([ids]))
        assert calls == []  # prefill computes as stock generate() does
        executor.decode_step(lean_model.parts, cache, full, torch.tensor([[5]]), len(ids))
    assert len(calls) == lean_model.n_layers


# -- e. unpack and copies -------------------------------------------------------------------------


def test_unpack_leaves_plain_linears_and_copies_work(lean_model):
    hf = lean_model.hf_model
    linears = [m for m in hf.modules() if type(m) is nn.Linear]
    assert is_packed(lean_model.parts.lm_head)
    assert any(is_packed(m) for m in linears) or lean_model.parts.fused

    # A deep copy while packed works and computes plainly, with its own weights.
    packed_copy = copy.deepcopy(hf)
    copied_head = packed_copy.lm_head
    assert copied_head not in lean_decode._PACKED
    with torch.no_grad():
        copied_head.weight.mul_(-1)  # tied to the copy's embedding only, not the original's
    x = torch.randn(1, 1, copied_head.in_features).to(torch.bfloat16)
    with torch.inference_mode(), lean_decode.decode_chunk():
        assert torch.equal(copied_head(x), F.linear(x, copied_head.weight))
        assert torch.equal(lean_model.parts.lm_head(x), F.linear(x, lean_model.parts.lm_head.weight))
        assert not torch.equal(copied_head(x), lean_model.parts.lm_head(x))

    ids = lean_model.encode(PROMPTS[0])
    before = lean_model.generate_ids(ids, max_new_tokens=16, ignore_eos=True).token_ids

    assert hf.config._attn_implementation == ROW_ATTENTION
    assert lean_model.use_lean_decode(False) is False
    assert not lean_model.lean and lean_model.parts.fused == {}
    assert hf.config._attn_implementation == "sdpa"  # the plain attention is back, as loaded
    packed_now = [name for name, m in hf.named_modules() if is_packed(m)]
    assert packed_now == [], packed_now
    plain_copy = copy.deepcopy(hf)
    assert not any(is_packed(m) for m in plain_copy.modules())
    with torch.inference_mode():
        inputs = torch.tensor([ids])
        assert torch.equal(plain_copy(inputs).logits, hf(inputs).logits)
    assert lean_model.generate_ids(ids, max_new_tokens=16, ignore_eos=True).token_ids == before

    # And on again: packed from the current weights, the same reply.
    assert lean_model.use_lean_decode() is True
    assert is_packed(lean_model.parts.lm_head) and len(lean_model.parts.fused) == lean_model.n_layers
    assert hf.config._attn_implementation == ROW_ATTENTION
    assert lean_model.generate_ids(ids, max_new_tokens=16, ignore_eos=True).token_ids == before


def test_float32_model_does_not_go_lean():
    hf, tok = tiny_model("llama", n_layers=2)
    model = RoutedModel(hf, tok, name="tiny-f32")
    assert model.use_lean_decode() is False
    assert not model.parts.fused and not any(is_packed(m) for m in hf.modules())


def test_pack_weight_is_exact_and_row_invariant():
    generator = torch.Generator().manual_seed(0)
    weight = (torch.randn(48, 64, generator=generator) * 0.2).to(torch.bfloat16)
    bias = torch.randn(48, generator=generator).to(torch.bfloat16)
    packed = lean_decode.pack_weight(weight, bias)
    if packed is None:
        pytest.skip("packing is not exact on this machine (pack_weight kept F.linear)")
    rows = torch.randn(lean_decode.MAX_CHUNK_ROWS, 64, generator=generator).to(torch.bfloat16)
    singles = torch.cat([lean_decode.packed_linear(rows[i : i + 1], packed) for i in range(len(rows))])
    for i in range(len(rows)):
        assert torch.equal(singles[i : i + 1], F.linear(rows[i : i + 1], weight, bias))
    for n in (2, 7, 9, 40, lean_decode.MAX_CHUNK_ROWS):
        assert torch.equal(lean_decode.packed_linear(rows[:n], packed), singles[:n])
    assert lean_decode.pack_weight(weight.float(), bias.float()) is None  # float32 keeps F.linear


def test_fused_small_ops_fall_back_to_the_family_code_where_they_differ():
    """A shortcut that does not equal the module's arithmetic bit for bit is not used."""
    from agentroute.model import fused_layer

    def other_rotary(q, k, cos, sin):  # a family whose rotary embedding is not Llama's
        return q * cos, k * sin

    rotary = fused_layer._rotary(other_rotary, (2, 1), 8, torch.bfloat16)
    qk, cos, sin = torch.randn(1, 3, 2, 8).bfloat16(), torch.randn(1, 2, 8).bfloat16(), torch.randn(1, 2, 8).bfloat16()
    q, k = other_rotary(qk[:, :2], qk[:, 2:], cos, sin)
    assert torch.equal(rotary(qk, cos, sin), torch.cat((q, k), 1))

    class OnePlusNorm(nn.Module):  # Gemma-style: scales by 1 + weight
        def __init__(self):
            super().__init__()
            self.weight, self.variance_epsilon = nn.Parameter(torch.zeros(16)), 1e-6

        def forward(self, x):
            return x * (1 + self.weight)

    norm = OnePlusNorm()
    assert fused_layer._norm(norm, torch.bfloat16) is norm
    assert fused_layer._activation(nn.GELU(), 16, torch.bfloat16) is not F.silu
    assert fused_layer._activation(nn.SiLU(), 16, torch.bfloat16) is F.silu


def test_a_weight_that_does_not_pack_keeps_chunks_equal_to_one_token_passes(monkeypatch):
    """Where packing is not exact (on this CPU every MLP down projection of the default model in
    dense bfloat16), the layer is not fused and its plain product multiplies decode chunks row by
    row: oneDNN's multi-row bfloat16 product is not row-invariant, and once was the reason a
    lossless tool call differed from full depth at a near-tie."""
    real = lean_decode.pack_weight

    def refuse_down(weight, bias=None, reference=None, int4=False, low_rank=None):
        if weight.shape[1] > weight.shape[0]:  # the down projection: wider in than out
            return None
        return real(weight, bias, reference, int4, low_rank)

    monkeypatch.setattr(lean_decode, "pack_weight", refuse_down)
    monkeypatch.setattr(fused_layer, "pack_weight", refuse_down)
    model = make_lean("llama")
    assert not model.parts.fused  # the layers fall back to the module path
    down = model.parts.layers[0].mlp.down_proj
    assert down not in lean_decode._PACKED and "forward" in vars(down)
    x = torch.randn(1, 9, down.in_features).to(torch.bfloat16)
    with torch.inference_mode(), lean_decode.decode_chunk():
        chunk = down(x)
        for i in range(9):
            assert torch.equal(chunk[:, i : i + 1], down(x[:, i : i + 1]))
    together, singles, _ = _chunk_vs_single_steps(model, model.program(None), 9)
    assert torch.equal(together, singles)
    lean_decode.unpack_linears([model.hf_model])
    assert "forward" not in vars(down)
