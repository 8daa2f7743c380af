"""The scripted decode-chunk layer (``model/scripted_layer.py``): used where it covers a layer, and
bit for bit what the Python path (``run_fused`` without it) computes, or not used at all."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F
from test_int4_weights import make_int4
from test_lean_decode import make_lean
from tiny_models import PROMPTS, tiny_model
from torch import nn

from agentroute import RoutedModel
from agentroute.model import executor, fused_layer, int4_weights, scripted_layer
from agentroute.model.kv_cache import ProgramKVCache

# Llama layout with inline norms (Qwen3's per head too; Gemma's 1 + weight form) and SiLU or GELU-tanh.
COVERED = ("gemma", "llama", "mistral", "qwen2", "qwen3")


def _logits_of_chunks(model, rows_per_chunk=(1, 4, 9)) -> list[torch.Tensor]:
    """Logits of decode chunks of several sizes after a prompt, each from the same cached prompt."""
    parts, full = model.parts, model.program(None)
    prompt = model.encode(PROMPTS[1])
    tokens = torch.randint(3, parts.vocab_size, (1, max(rows_per_chunk)), generator=torch.Generator().manual_seed(2))
    cache = ProgramKVCache()
    out = []
    with torch.inference_mode():
        executor.prefill(parts, cache, full, torch.tensor([prompt]))
        for rows in rows_per_chunk:
            cache.crop(len(prompt))
            out.append(executor.forward(parts, cache, full, tokens[:, :rows], len(prompt), all_logits=True))
    return out


def _without_script(parts):
    return {index: dataclasses.replace(fused, scripted=None) for index, fused in parts.fused.items()}


@pytest.mark.parametrize("family", COVERED)
def test_llama_layout_layers_run_scripted_and_equal_the_python_path(family):
    model = make_lean(family)
    assert all(fused.scripted is not None for fused in model.parts.fused.values())
    scripted = _logits_of_chunks(model)
    model.parts.fused = _without_script(model.parts)
    python = _logits_of_chunks(model)
    for a, b in zip(scripted, python, strict=True):
        assert torch.equal(a, b)


def test_a_layer_the_script_does_not_cover_keeps_the_python_path():
    hf, tok = tiny_model("llama", n_layers=4)
    for layer in hf.model.layers:
        layer.mlp.act_fn = nn.ReLU()  # an activation the script does not compute
    model = RoutedModel(hf.to(torch.bfloat16), tok, name="tiny-relu")
    if not model.use_lean_decode():
        pytest.skip("lean decode needs a torch with oneDNN (mkldnn) on a CPU")
    assert model.parts.fused and all(fused.scripted is None for fused in model.parts.fused.values())
    assert all(type(fused.act) is nn.ReLU for fused in model.parts.fused.values())


@pytest.mark.skipif(not int4_weights.int4_available(torch.bfloat16, "cpu"), reason="no CPU int4 kernel")
@pytest.mark.parametrize("adapter", [False, True])
def test_int4_layers_with_and_without_an_adapter_run_scripted_and_exact(adapter):
    model = make_int4("llama", adapter=adapter)
    assert all(fused.scripted is not None for fused in model.parts.fused.values())
    scripted = _logits_of_chunks(model)
    model.parts.fused = _without_script(model.parts)
    for a, b in zip(scripted, _logits_of_chunks(model), strict=True):
        assert torch.equal(a, b)


def test_a_script_that_computes_differently_is_refused(monkeypatch):
    real = scripted_layer._script()
    if real is None:
        pytest.skip("TorchScript is not available in this torch")

    def off_by_a_little(*args):
        return real(*args) * 1.01

    monkeypatch.setattr(scripted_layer, "_script", lambda: off_by_a_little)
    model = make_lean("llama")
    assert model.parts.fused and all(fused.scripted is None for fused in model.parts.fused.values())


def test_without_torchscript_layers_decode_from_python(monkeypatch):
    monkeypatch.setattr(scripted_layer, "_script", lambda: None)
    model = make_lean("llama")
    assert model.parts.fused and all(fused.scripted is None for fused in model.parts.fused.values())
    reply = model.generate(PROMPTS[0], max_new_tokens=8)
    assert reply.token_ids


def test_reserve_refuses_a_hole_as_update_does():
    cache = ProgramKVCache()
    like = torch.empty(1, 2, 0, 8)
    cache.activate((0, 0))
    cache.begin(0)
    keys, values, start = cache.reserve(3, like)
    assert start == 0 and keys.shape[:2] == (1, 2) and keys.shape[-1] == 8 and cache.valid[(0, 0)] == 3
    cache.begin(5)
    with pytest.raises(RuntimeError, match="KV hole"):
        cache.reserve(1, like)
    assert cache.held((0, 0))[0].shape[2] == 3


def test_rms_norm_is_inspectable_for_the_script():
    model = make_lean("llama")
    fused = next(iter(model.parts.fused.values()))
    assert isinstance(fused.input_norm, fused_layer.RMSNorm) and isinstance(fused.post_norm, fused_layer.RMSNorm)


@pytest.mark.parametrize("rows", [1, 3])
def test_attend_grouped_or_as_stock(rows):
    """Dense layers attend as stock transformers do (SDPA's enable_gqa, bit for bit); int4 layers
    give SDPA the query heads that share a key head as its rows, the same attention up to rounding."""
    generator = torch.Generator().manual_seed(0)
    keys, values = (torch.randn(1, 3, 150, 64, generator=generator).to(torch.bfloat16) for _ in range(2))
    queries = torch.randn(1, 9, rows, 64, generator=generator).to(torch.bfloat16)
    start = 150 - rows
    stock = torch.cat(
        [
            F.scaled_dot_product_attention(
                queries[:, :, i : i + 1],
                keys[:, :, : start + i + 1],
                values[:, :, : start + i + 1],
                scale=0.125,
                enable_gqa=True,
            )  # fmt: skip
            for i in range(rows)
        ],
        2,
    )
    assert torch.equal(scripted_layer.attend(queries, keys, values, start, 0.125, 3, False), stock)
    grouped = scripted_layer.attend(queries, keys, values, start, 0.125, 3, True)
    assert grouped.shape == stock.shape
    torch.testing.assert_close(grouped.float(), stock.float(), atol=2e-2, rtol=0)
