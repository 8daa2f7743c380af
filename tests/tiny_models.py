"""Tiny randomly initialised models of each supported family, plus a byte-level tokenizer.

Built from configs in milliseconds: no files, no downloads. Used by the fast test suite.
"""

from __future__ import annotations

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers
from transformers import (
    GemmaConfig,
    GemmaForCausalLM,
    LlamaConfig,
    LlamaForCausalLM,
    MistralConfig,
    MistralForCausalLM,
    PreTrainedTokenizerFast,
    Qwen2Config,
    Qwen2ForCausalLM,
    Qwen3Config,
    Qwen3ForCausalLM,
)

SPECIALS = ["<|im_start|>", "<|im_end|>", "<unk>"]
CHAT_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{'<|im_start|>assistant\n'}}{% endif %}"
)

FAMILIES = {
    "llama": (LlamaConfig, LlamaForCausalLM, {}),
    "qwen2": (Qwen2Config, Qwen2ForCausalLM, {}),
    "qwen3": (Qwen3Config, Qwen3ForCausalLM, {"head_dim": 16}),
    "mistral": (MistralConfig, MistralForCausalLM, {"sliding_window": None}),
    "gemma": (GemmaConfig, GemmaForCausalLM, {"head_dim": 16}),
}


def byte_tokenizer() -> PreTrainedTokenizerFast:
    """Byte-level tokenizer (one token per byte, no merges) with a ChatML template."""
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    vocab = {tok: i for i, tok in enumerate(SPECIALS)}
    for ch in sorted(alphabet):
        vocab[ch] = len(vocab)
    core = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    core.add_special_tokens(SPECIALS)
    tok = PreTrainedTokenizerFast(
        tokenizer_object=core, bos_token="<|im_start|>", eos_token="<|im_end|>", unk_token="<unk>"
    )
    tok.chat_template = CHAT_TEMPLATE
    return tok


def tiny_model(family: str = "llama", n_layers: int = 4, seed: int = 0):
    """A random model of ``family`` with ``n_layers`` layers, hidden size 64, in eval mode."""
    config_cls, model_cls, extra = FAMILIES[family]
    tok = byte_tokenizer()
    config = config_cls(
        vocab_size=len(tok),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=n_layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=tok.bos_token_id,
        eos_token_id=tok.eos_token_id,
        pad_token_id=tok.eos_token_id,
        tie_word_embeddings=True,
        **extra,
    )
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    # A larger-than-default init (std 0.2) gives varied replies (std 0.02 repeats one token) and spreads
    # the logits, so greedy choices are not near-ties that float
    # rounding could flip: the equivalence tests then test the executor, not luck.
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.normal_(0.0, 0.2)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.eos_token_id
    return model, tok


def save_tiny(path, family: str = "llama", n_layers: int = 4, seed: int = 0):
    """Save a tiny model and its tokenizer as a Hugging Face checkpoint directory."""
    model, tok = tiny_model(family, n_layers, seed)
    model.save_pretrained(path)
    tok.save_pretrained(path)
    return path


PROMPTS = [
    "What is the capital of France?",
    "Call the weather tool for Paris.",
    "Plan a three-step trip to Rome.",
    "2 + 2 = ?",
    "Summarise: the cat sat on the mat.",
    'Return JSON: {"name": "search", "arguments": {"q": "llamas"}}',
    "Why is the sky blue? Explain step by step.",
    "Translate 'bonjour' to English.",
    "List three prime numbers.",
    "def add(a, b):",
]
