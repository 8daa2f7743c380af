"""Exported programs are standard checkpoints: stock transformers loads them with no AgentRoute code
and they generate exactly what the program generates in process when it prefills with itself."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from tiny_models import tiny_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from agentroute.export.checkpoint import ExportError, write_program_checkpoint
from agentroute.export.run import export, launch_commands
from agentroute.routed_model import RoutedModel

PROMPT = [{"role": "user", "content": "What is the weather in Oslo?"}]


@pytest.fixture(scope="module")
def model() -> RoutedModel:
    hf, tok = tiny_model("llama", n_layers=6)
    policy = {
        "budgets": {"tool_call": 0.5, "reasoning": 0.7},
        "modes": {"planning": "lossless"},
        "draft_budgets": {"planning": 0.5},
    }
    return RoutedModel(hf, tok, name="tiny6", policy=policy)


def _stock_greedy(path, ids: list[int], n: int = 12) -> list[int]:
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    out = hf.generate(torch.tensor([ids]), max_new_tokens=n, do_sample=False, min_new_tokens=n)
    return out[0, len(ids) :].tolist()


@pytest.mark.parametrize("program", ["0-5", "0-1,3,5", "0-2,2,3-5", "0,5"])
def test_a_program_checkpoint_generates_what_the_program_does(model, tmp_path, program):
    path = write_program_checkpoint(model, program, tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    assert config["num_hidden_layers"] == len(model.program(program))
    ids = model.encode(PROMPT)
    ours = model.generate_ids(ids, program=program, prefill="program", max_new_tokens=12, ignore_eos=True)
    assert _stock_greedy(path, ids) == ours.token_ids
    assert AutoTokenizer.from_pretrained(path).chat_template == model.tokenizer.chat_template


def test_stock_transformers_loads_it_without_agentroute(model, tmp_path):
    path = write_program_checkpoint(model, "0-1,4-5", tmp_path / "ckpt")
    code = (
        "import sys, transformers; "
        f"m = transformers.AutoModelForCausalLM.from_pretrained({str(path)!r}); "
        "assert 'agentroute' not in sys.modules; print(m.config.num_hidden_layers)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "4"


def test_export_writes_every_program_the_policy_runs(model, tmp_path):
    manifest = export(model, tmp_path)
    assert json.loads((tmp_path / "export.json").read_text()) == manifest
    by_name = {e["name"]: e for e in manifest["entries"]}
    full = by_name["full"]
    assert full["program"] == "0-5" and full["role"] == "model"
    assert set(full["step_types"]) == {"planning", "final_answer", "other"}
    tool = next(e for e in manifest["entries"] if "tool_call" in e["step_types"] and e["role"] == "model")
    assert tool["layers"] == 3 and tool["program"] == str(model.router.program_for(0.5))
    draft = next(e for e in manifest["entries"] if e["role"] == "draft")
    assert draft["step_types"] == ["planning"] and draft["drafts_for"] == "full"
    for entry in manifest["entries"]:
        config = json.loads((tmp_path / entry["path"] / "config.json").read_text())
        assert config["num_hidden_layers"] == entry["layers"]
    vllm = launch_commands(manifest, tmp_path, "vllm")
    assert len(vllm) == sum(e["role"] == "model" for e in manifest["entries"])
    assert "--speculative-config" in vllm[0] and draft["path"] in vllm[0]


def test_llama_server_commands_run_the_draft_as_its_speculative_draft(model, tmp_path):
    """llama-server drafts with a --model-draft only when given the draft type (--spec-type)."""
    manifest = export(model, tmp_path, gguf="f32")
    draft = next(e for e in manifest["entries"] if e["role"] == "draft")
    commands = launch_commands(manifest, tmp_path, "llama.cpp")
    full = next(c for c in commands if "--alias full " in c)
    assert f"--model-draft {tmp_path / draft['gguf']} --spec-type draft-simple" in full
    assert all("--model-draft" not in c for c in commands if c is not full)


def test_quantized_or_packed_weights_are_refused(model, tmp_path, monkeypatch):
    monkeypatch.setattr(model, "quantization", "nf4")
    with pytest.raises(ExportError, match="cannot export a nf4-quantized model"):
        write_program_checkpoint(model, "0-5", tmp_path)


def test_a_gguf_of_a_program_reads_back_as_the_same_model(model, tmp_path):
    from agentroute.export.gguf_file import write_gguf

    program = "0-1,3,3,5"
    gguf_file = write_gguf(write_program_checkpoint(model, program, tmp_path / "ckpt"), tmp_path / "p.gguf", "f32")
    ids = model.encode(PROMPT)
    ours = model.generate_ids(ids, program=program, prefill="program", max_new_tokens=12, ignore_eos=True)
    # transformers' GGUF reader undoes llama.cpp's rotary permutation: the same weights come back.
    back = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf_file.name, dtype=torch.float32)
    out = back.generate(torch.tensor([ids]), max_new_tokens=12, min_new_tokens=12, do_sample=False)
    assert out[0, len(ids) :].tolist() == ours.token_ids


def test_a_q8_0_gguf_holds_8_bit_blocks_that_read_back_close(model, tmp_path):
    """q8_0: every 2-D weight in 8-bit blocks of 32 (norms stay float32), and the weights
    transformers dequantizes from it are within a block's rounding of the exported ones."""
    import gguf

    from agentroute.export.gguf_file import write_gguf

    checkpoint = write_program_checkpoint(model, "0-1,3,5", tmp_path / "ckpt")
    gguf_file = write_gguf(checkpoint, tmp_path / "p.q8_0.gguf", "q8_0")
    types = {t.name: t.tensor_type for t in gguf.GGUFReader(gguf_file).tensors}
    assert types["blk.0.attn_q.weight"] == types["token_embd.weight"] == gguf.GGMLQuantizationType.Q8_0
    assert types["blk.0.attn_norm.weight"] == types["output_norm.weight"] == gguf.GGMLQuantizationType.F32
    exported = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32).state_dict()
    back = AutoModelForCausalLM.from_pretrained(tmp_path, gguf_file=gguf_file.name, dtype=torch.float32).state_dict()
    for name in ("model.layers.2.mlp.down_proj.weight", "model.layers.0.self_attn.k_proj.weight"):
        error = (back[name] - exported[name]).abs().max()
        assert 0 < error <= exported[name].abs().max() / 127 + 1e-6, name  # one int8 step of the largest scale


def test_only_llama_models_become_gguf(tmp_path):
    from agentroute.export.gguf_file import write_gguf

    hf, tok = tiny_model("qwen2", n_layers=2)
    qwen = RoutedModel(hf, tok, name="tiny-qwen")
    with pytest.raises(ExportError, match="'qwen2' needs llama.cpp's convert_hf_to_gguf.py"):
        write_gguf(write_program_checkpoint(qwen, "0-1", tmp_path / "q"), tmp_path / "q.gguf")
