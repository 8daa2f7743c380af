"""quantization="int4": decode passes multiply by 4-bit weights in groups of 32 (torch's CPU kernel).

The int4 products equal no dense product, so these tests check what must still hold: the file's
Q4_1 groups come back exactly, products are close to the dense ones, a decode chunk computes what
one-token passes do bit for bit (so lossless mode equals full depth under int4), and a LoRA
adapter kept beside the int4 weights still acts.
"""

import pytest
import torch
import torch.nn.functional as F
from tiny_models import FAMILIES, PROMPTS, tiny_model

from agentroute import RoutedModel
from agentroute.decode.speculative import SpeculativeSettings
from agentroute.errors import QuantizationError
from agentroute.loading import check_load_arguments
from agentroute.model import executor, int4_weights, lean_decode
from agentroute.model.kv_cache import ProgramKVCache

pytestmark = pytest.mark.skipif(
    not int4_weights.int4_available(torch.bfloat16, "cpu"), reason="this torch has no CPU int4 kernel"
)

NEW_TOKENS = 40


def q4_1_weight(out_features: int, in_features: int, seed: int = 0) -> torch.Tensor:
    """A float32 weight that is exactly Q4_1: every group of 32 is minimum + scale * q, q in 0..15,
    each group using both ends of its range (as llama.cpp's quantizer leaves it)."""
    generator = torch.Generator().manual_seed(seed)
    groups = in_features // 32
    q = torch.randint(0, 16, (out_features, groups, 32), generator=generator)
    q[..., 0], q[..., 1] = 0, 15
    scale = torch.rand(out_features, groups, 1, generator=generator) * 0.01 + 0.001
    low = -8 * scale + torch.randn(out_features, groups, 1, generator=generator) * 0.01
    return (q * scale + low).reshape(out_features, in_features)


def test_q4_1_groups_come_back_exactly():
    weight = q4_1_weight(96, 128)
    q, scale, low = int4_weights.quantize_groups(weight)
    assert q.dtype == torch.int32 and q.min() >= 0 and q.max() <= 15
    assert scale.shape == low.shape == (96, 4)
    assert torch.allclose(int4_weights.dequantize(weight), weight, rtol=0, atol=1e-7)


def test_int4_product_is_close_to_dense_and_row_invariant():
    weight = q4_1_weight(192, 576, seed=1).bfloat16()
    packed = int4_weights.to_int4(weight)
    assert packed is not None and packed.out_features == 192
    x = torch.randn(5, 576, generator=torch.Generator().manual_seed(2)).bfloat16()
    dense = F.linear(x.float(), weight.float())
    error = (packed(x).float() - dense).abs().max() / dense.abs().max()
    assert error < 0.02, error
    assert lean_decode._exact(packed, 576, torch.bfloat16)  # row invariance
    assert packed(x.unsqueeze(0)).shape == (1, 5, 192)  # batch dimensions pass through


def test_shapes_the_kernel_cannot_take_are_refused():
    assert int4_weights.to_int4(torch.zeros(64, 96, dtype=torch.bfloat16)) is None  # in_features % 64
    assert int4_weights.to_int4(torch.zeros(64, 128)) is None  # float32: the kernel takes bfloat16


def make_int4(family: str, adapter: bool = False) -> RoutedModel:
    hf, tok = tiny_model(family, n_layers=4)
    hf = hf.to(torch.bfloat16)
    if adapter:
        hf = with_random_adapter(hf)
    model = RoutedModel(hf, tok, name=f"tiny-int4-{family}", quantization="int4")
    assert model.use_lean_decode()
    assert sorted(model.parts.fused) == [0, 1, 2, 3], "every layer should run fused int4 products"
    return model


def with_random_adapter(hf):
    """A peft LoRA adapter on every linear, unmerged, with weights large enough to change replies."""
    from peft import LoraConfig, get_peft_model

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    peft_model = get_peft_model(hf, LoraConfig(r=8, lora_alpha=16, target_modules=targets, lora_dropout=0.0))
    generator = torch.Generator().manual_seed(3)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.copy_(torch.randn(param.shape, generator=generator) * 0.3)
    return peft_model.eval()


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_int4_lossless_equals_int4_full_depth(family):
    model = make_int4(family)
    for fixed_k in (1, 3, 8):
        model.speculative = SpeculativeSettings(fixed_k=fixed_k)
        for prompt in PROMPTS[:2]:
            ids = model.encode(prompt)
            full = model.generate_ids(ids, max_new_tokens=NEW_TOKENS, ignore_eos=True)
            fast = model.generate_ids(ids, program="0,2-3", mode="lossless", max_new_tokens=NEW_TOKENS, ignore_eos=True)
            assert fast.record.drafted_tokens > 0
            assert fast.token_ids == full.token_ids, (family, fixed_k, prompt)
            assert full.record.quantization == "int4"


@pytest.mark.parametrize("adapter", [False, True])
def test_int4_chunk_equals_one_token_passes(adapter):
    model = make_int4("llama", adapter=adapter)
    parts, full = model.parts, model.program(None)
    prompt = model.encode(PROMPTS[0])
    chunk = torch.randint(3, parts.vocab_size, (1, 12), generator=torch.Generator().manual_seed(1))
    cache = ProgramKVCache()
    with torch.inference_mode():
        executor.prefill(parts, cache, full, torch.tensor([prompt]))
        together = executor.forward(parts, cache, full, chunk, len(prompt), all_logits=True)
        cache.crop(len(prompt))
        singles = [executor.forward(parts, cache, full, chunk[:, i : i + 1], len(prompt) + i) for i in range(12)]
    assert torch.equal(together, torch.stack(singles, dim=1))


def _next_logits(model: RoutedModel, prompt_ids) -> torch.Tensor:
    """Logits of one decode pass after the prompt (the int4 products run in decode passes only)."""
    parts, full = model.parts, model.program(None)
    cache = ProgramKVCache()
    with torch.inference_mode():
        executor.prefill(parts, cache, full, torch.tensor([prompt_ids[:-1]]))
        return executor.forward(parts, cache, full, torch.tensor([prompt_ids[-1:]]), len(prompt_ids) - 1)[0]


def test_adapter_kept_beside_int4_weights_still_acts():
    int4 = make_int4("llama", adapter=True)
    dense = RoutedModel(with_random_adapter(tiny_model("llama", n_layers=4)[0].to(torch.bfloat16)), int4.tokenizer, "d")
    bare = RoutedModel(tiny_model("llama", n_layers=4)[0].to(torch.bfloat16), int4.tokenizer, "b")
    ids = int4.encode(PROMPTS[2])
    with_adapter, quantized, without = (_next_logits(m, ids).float() for m in (dense, int4, bare))
    # The int4 pass is near the dense pass with the adapter, and far from the one without it.
    assert (quantized - with_adapter).abs().mean() < 0.3 * (without - with_adapter).abs().mean()


def test_int4_load_errors_name_the_fix(tmp_path):
    with pytest.raises(QuantizationError, match="bfloat16"):
        check_load_arguments("default", quantization="int4", dtype="float32", pack=None)
    with pytest.raises(QuantizationError, match="kernels='auto'"):
        check_load_arguments("default", quantization="int4", kernels="plain", pack=None)


def test_turning_lean_passes_off_drops_int4_and_says_so():
    model = make_int4("llama")
    ids = model.encode(PROMPTS[1])
    model.generate_ids(ids, max_new_tokens=8)  # fills the prefix cache under int4
    assert model.use_lean_decode(False) is False
    assert model.quantization is None and not model.parts.fused
    dense = model.generate_ids(ids, max_new_tokens=NEW_TOKENS)
    assert dense.record.quantization is None
    stock = model.hf_model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False)
    assert dense.token_ids == stock[0, len(ids) :].tolist()


def _tiny_gguf(path, quant) -> str:
    """A GGUF file with two decoder-block weights stored as ``quant`` (enough for the type check)."""
    import gguf
    import numpy as np
    from gguf.quants import quantize

    writer = gguf.GGUFWriter(str(path), "llama")
    for name in ("blk.0.attn_q.weight", "blk.0.ffn_down.weight"):
        data = np.random.default_rng(0).standard_normal((8, 64)).astype(np.float32)
        if quant == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, quantize(data, quant), raw_dtype=quant)
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))  # 1-D: not a linear
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return str(path)


def test_auto_picks_int4_only_for_q4_1_files(tmp_path):
    import gguf

    from agentroute.model import quantization
    from agentroute.model.default_model import default_gguf_path

    q4_1 = _tiny_gguf(tmp_path / "q4_1.gguf", gguf.GGMLQuantizationType.Q4_1)
    f32 = _tiny_gguf(tmp_path / "f32.gguf", gguf.GGMLQuantizationType.F32)
    assert quantization.gguf_linears_are_q4_1(q4_1)
    assert not quantization.gguf_linears_are_q4_1(f32)
    bf16 = torch.bfloat16
    assert quantization.auto_quantization(q4_1, bf16, "cpu", "auto") == "int4"
    assert quantization.auto_quantization(f32, bf16, "cpu", "auto") is None
    assert quantization.auto_quantization(q4_1, torch.float32, "cpu", "auto") is None
    assert quantization.auto_quantization(q4_1, bf16, "cpu", "plain") is None
    assert quantization.auto_quantization(None, bf16, "cpu", "auto") is None  # a checkpoint directory
    # The embedded file is taken as Q4_1 without reading its header: check that it is.
    path = default_gguf_path()
    assert quantization._gguf_linears_are_q4_1(str(path), path.stat().st_size, path.stat().st_mtime_ns)
