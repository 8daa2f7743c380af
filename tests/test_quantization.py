"""bitsandbytes nf4 and int8 load through agentroute.load and stay greedy-equivalent to stock generate."""

import warnings

import pytest
import torch
from tiny_models import PROMPTS, save_tiny

import agentroute


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("tiny-llama"), "llama", n_layers=4)


@pytest.mark.parametrize("quantization", ["nf4", "int8"])
def test_quantized_full_program_matches_stock_generate_on_the_same_model(tiny_dir, quantization, caplog):
    model = agentroute.load(tiny_dir, quantization=quantization)
    assert model.quantization == quantization
    linear = model.parts.layers[0].mlp.down_proj
    assert type(linear).__module__.startswith("bitsandbytes"), type(linear)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for prompt in PROMPTS[:5]:
            ids = model.encode(prompt)
            ours = model.generate(prompt, max_new_tokens=32)
            stock = model.hf_model.generate(torch.tensor([ids]), max_new_tokens=32, do_sample=False)
            assert ours.token_ids == stock[0, len(ids) :].tolist(), prompt
            assert ours.record.quantization == quantization
    assert not [w for w in caught if "MatMul8bitLt" in str(w.message)], "bitsandbytes cast warning leaked"
    assert "MatMul8bitLt" not in caplog.text, "bitsandbytes cast warning leaked"


def test_quantized_skip_and_loop_programs_run(tiny_dir):
    model = agentroute.load(tiny_dir, quantization="nf4")
    assert model.generate("hi", program="0,3", max_new_tokens=6).record.layers_per_token == 2
    assert model.generate("hi", program="0-1,1-3", max_new_tokens=6).record.layers_per_token == 5
