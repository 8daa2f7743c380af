"""An exported program checkpoint as a GGUF file for llama.cpp and Ollama, written with ``gguf``.

Llama-architecture models only (the default model and its family); other families go through
llama.cpp's own converter. Tensor names come from gguf's ``TensorNameMap``; the query and key
projections are permuted the way llama.cpp's converter does (llama.cpp applies rotary embeddings
to interleaved pairs, Hugging Face to split halves); the tokenizer is written as GPT-2 BPE with
its merges and the chat template, so a GGUF chat endpoint formats prompts as the checkpoint does.
"""

from __future__ import annotations

import json
from pathlib import Path

import gguf
import torch

from agentroute.export.checkpoint import ExportError
from agentroute.model.hf_parts import no_progress_bars

GGUF_TYPES = {
    "f32": (torch.float32, gguf.LlamaFileType.ALL_F32),
    "f16": (torch.float16, gguf.LlamaFileType.MOSTLY_F16),
    # 8-bit blocks of 32 weights with one scale each: llama.cpp's fastest type on this CPU (124 against
    # 99 tokens/s for bf16 at full depth, DESIGN.md). Quantized with gguf's own reference code.
    "q8_0": (torch.float32, gguf.LlamaFileType.MOSTLY_Q8_0),
}
Q8_BLOCK = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0][0]


def write_gguf(checkpoint: str | Path, out_file: str | Path, kind: str = "f16") -> Path:
    """Write the checkpoint directory (one ``write_program_checkpoint`` wrote) as ``out_file``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if kind not in GGUF_TYPES:
        raise ExportError(f"GGUF type must be one of {', '.join(GGUF_TYPES)}, got {kind!r}")
    checkpoint, out_file = Path(checkpoint), Path(out_file)
    config = json.loads((checkpoint / "config.json").read_text())
    if config.get("model_type") != "llama":
        raise ExportError(
            f"GGUF export writes Llama-architecture models; {config.get('model_type')!r} needs llama.cpp's "
            "convert_hf_to_gguf.py on the exported checkpoint"
        )
    dtype, file_type = GGUF_TYPES[kind]
    with no_progress_bars():
        hf = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    cfg = hf.config
    n_head, n_kv = cfg.num_attention_heads, cfg.num_key_value_heads
    head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // n_head
    writer = gguf.GGUFWriter(str(out_file), "llama")
    writer.add_name(checkpoint.name)
    writer.add_file_type(file_type)
    writer.add_block_count(cfg.num_hidden_layers)
    writer.add_context_length(cfg.max_position_embeddings)
    writer.add_embedding_length(cfg.hidden_size)
    writer.add_feed_forward_length(cfg.intermediate_size)
    writer.add_head_count(n_head)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(cfg.rope_parameters["rope_theta"]) if getattr(cfg, "rope_parameters", None)
                              else float(getattr(cfg, "rope_theta", 10000.0)))  # fmt: skip
    writer.add_layer_norm_rms_eps(cfg.rms_norm_eps)
    writer.add_vocab_size(cfg.vocab_size)
    _add_tokenizer(writer, tokenizer, cfg.vocab_size)
    names = gguf.TensorNameMap(gguf.MODEL_ARCH.LLAMA, cfg.num_hidden_layers)
    tied = getattr(cfg, "tie_word_embeddings", False)
    for name, tensor in hf.state_dict().items():
        if tied and name == "lm_head.weight":
            continue  # llama.cpp reads the embedding when there is no output tensor
        target = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if target is None:
            raise ExportError(f"no GGUF name for tensor {name}")
        if name.endswith("q_proj.weight"):
            tensor = _permute(tensor, n_head, n_head)
        elif name.endswith("k_proj.weight"):
            tensor = _permute(tensor, n_head, n_kv)
        # Norm weights stay float32, as llama.cpp's converter keeps 1-D tensors.
        data = tensor.to(torch.float32 if tensor.dim() == 1 else dtype).numpy()
        if kind == "q8_0" and tensor.dim() == 2 and tensor.shape[-1] % Q8_BLOCK == 0:
            quantized = gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0)
            writer.add_tensor(target, quantized, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
        else:  # as llama.cpp's converter: a row that is not whole blocks stays unquantized
            writer.add_tensor(target, data)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return out_file


def _permute(weights: torch.Tensor, n_head: int, n_head_kv: int) -> torch.Tensor:
    """Hugging Face's split-half rotary layout -> llama.cpp's interleaved one (as its converter)."""
    heads = n_head_kv if n_head_kv != n_head else n_head
    rows = weights.shape[0]
    return weights.reshape(heads, 2, rows // heads // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def _add_tokenizer(writer: gguf.GGUFWriter, tokenizer, vocab_size: int) -> None:
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    model = state["model"]
    if model.get("type") != "BPE":
        raise ExportError(f"GGUF export writes BPE tokenizers; this one is {model.get('type')}")
    by_id = {i: t for t, i in model["vocab"].items()}
    specials = {a["id"] for a in state.get("added_tokens", []) if a.get("special")}
    for added in state.get("added_tokens", []):
        by_id[added["id"]] = added["content"]
    tokens, types = [], []
    for i in range(vocab_size):
        token = by_id.get(i, f"[PAD{i}]")
        tokens.append(token)
        types.append(
            gguf.TokenType.CONTROL if i in specials else gguf.TokenType.NORMAL if i in by_id else gguf.TokenType.UNUSED
        )
    merges = [m if isinstance(m, str) else " ".join(m) for m in model.get("merges", [])]
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    for setter, token_id in (
        (writer.add_bos_token_id, tokenizer.bos_token_id),
        (writer.add_eos_token_id, tokenizer.eos_token_id),
    ):
        if token_id is not None:
            setter(token_id)
    writer.add_add_bos_token(False)
    if tokenizer.chat_template:
        writer.add_chat_template(tokenizer.chat_template)
