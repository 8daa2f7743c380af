"""The one module that knows Hugging Face model internals.

``ModelParts.resolve(model)`` finds the embedding, decoder layers, final norm, LM head and rotary
embedding of a supported causal LM, and exposes them through a small interface the executor uses.
Nothing else in AgentRoute reaches into a transformers model but ``fused_layer`` (a decoder layer's
decode-chunk forward), so supporting a new family means changing these two files only.

Checked against transformers 5.23 (see pyproject.toml for the pinned range).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import nn

from agentroute.errors import UnsupportedModelError
from agentroute.model.fused_layer import FusedLayer, fuse, run_fused
from agentroute.model.lean_decode import in_decode_chunk

# model_type -> family. Each family keeps the Llama layout (model.embed_tokens, model.layers,
# model.norm, model.rotary_emb, lm_head) and a decoder layer that takes position_embeddings and
# calls ``past_key_values.update(k, v, layer_idx)`` - the two things the executor relies on.
# Gemma scales embeddings inside its embedding module (GemmaTextScaledWordEmbedding) in
# transformers 5, so calling ``embed_tokens`` is enough for it too.
SUPPORTED_FAMILIES: dict[str, str] = {
    "llama": "llama",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
    "mistral": "mistral",
    "gemma": "gemma",
}


def check_supported(model_type: str | None, where: str) -> str:
    """Return the family of ``model_type`` or raise a clear error naming the supported ones."""
    family = SUPPORTED_FAMILIES.get(model_type or "")
    if family is None:
        raise UnsupportedModelError(
            f"{where}: architecture {model_type!r} is not supported; AgentRoute runs layer programs on "
            f"{', '.join(sorted(SUPPORTED_FAMILIES))} models"
        )
    return family


@dataclass
class ModelParts:
    """Handles on the pieces of a decoder-only transformer that a layer program needs."""

    model: nn.Module  # the *ForCausalLM module (unwrapped from peft when adapted)
    embed: nn.Module
    layers: nn.ModuleList
    norm: nn.Module
    lm_head: nn.Module
    rotary: nn.Module
    family: str
    sliding_window: int | None
    # Decoder layers with fused packed products for decode chunks (``fuse_layers``), by index.
    fused: dict[int, FusedLayer] = field(default_factory=dict)

    @classmethod
    def resolve(cls, model: nn.Module) -> ModelParts:
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        config = getattr(base, "config", None)
        family = check_supported(getattr(config, "model_type", None), type(base).__name__)
        inner = getattr(base, "model", None)
        try:
            parts = cls(
                model=base,
                embed=inner.embed_tokens,
                layers=inner.layers,
                norm=inner.norm,
                lm_head=base.lm_head,
                rotary=inner.rotary_emb,
                family=family,
                sliding_window=_sliding_window(config),
            )
        except AttributeError as exc:
            raise UnsupportedModelError(
                f"{type(base).__name__} does not have the expected layout "
                f"(model.embed_tokens/layers/norm/rotary_emb, lm_head): {exc}"
            ) from exc
        return parts

    @property
    def n_layers(self) -> int:
        return len(self.layers)

    @cached_property
    def _layer_and_head_bytes(self) -> tuple[list[int], int]:
        return [weight_bytes(block) for block in self.layers], weight_bytes(self.norm) + weight_bytes(self.lm_head)

    def pass_bytes(self, program) -> int:
        """Weight bytes one decode pass of ``program`` reads: its layers (a looped layer once per
        run), the final norm and the LM head. The embedding is a one-row lookup and is left out.
        Decode at batch size one is memory-bound, so this is what a pass costs."""
        layers, head = self._layer_and_head_bytes
        return sum(layers[i] for i in program.layers) + head

    @property
    def vocab_size(self) -> int:
        """Rows of the LM head: the width of a logits vector (may exceed the tokenizer's vocabulary)."""
        # out_features, not weight.shape: an int8 draft head (torch dynamic-quantized Linear) would
        # unpack its whole weight to answer that.
        features = getattr(self.lm_head, "out_features", None)
        return int(features) if features is not None else self.lm_head.weight.shape[0]

    @property
    def device(self) -> torch.device:
        return self.embed.weight.device

    def embed_tokens(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.embed(input_ids)

    def position_embeddings(self, hidden: torch.Tensor, position_ids: torch.Tensor):
        """(cos, sin) for the given positions; computed once per forward and shared by all layers."""
        return self.rotary(hidden, position_ids)

    def run_layer(self, index: int, hidden, position_embeddings, position_ids, attention_mask, cache):
        fused = self.fused.get(index)
        if fused is not None and in_decode_chunk():
            return run_fused(self.layers[index], fused, hidden, position_embeddings, cache)
        out = self.layers[index](
            hidden,
            attention_mask=attention_mask,
            position_ids=position_ids,
            past_key_values=cache,
            use_cache=True,
            position_embeddings=position_embeddings,
        )
        # Decoder layers return a tensor in transformers 5 and a tuple in older releases.
        return out[0] if isinstance(out, tuple) else out

    def fuse_layers(self, int4: bool = False) -> int:
        """Fused packed products (q/k/v in one, gate/up in one) for decode chunks of every decoder
        layer that has the Llama layout; returns how many were fused. Fusing was checked exact:
        a fused one-row product equals the separate ``F.linear`` products bit for bit
        (``lean_decode.pack_weight`` checks it again per weight on the machine at hand).
        ``int4``: the products multiply by 4-bit weights (``int4_weights``), and an unmerged peft
        LoRA adapter on the layer's linears joins them (``lean_decode.LowRankSum``)."""
        self.fused = {}
        for index, layer in enumerate(self.layers):
            fused = fuse(layer, int4)
            if fused is not None:
                self.fused[index] = fused
        return len(self.fused)

    def use_row_attention(self) -> None:
        """Attend row by row in decode chunks (``lean_decode``): each query of a multi-token decode or
        verify chunk runs SDPA alone over the keys before it, exactly as a one-token pass would, so
        the chunk's result equals one-token passes bit for bit (SDPA over several queries does not,
        in bfloat16). Prefill and one-token passes call SDPA unchanged."""
        _register_row_attention()
        current = self.model.config._attn_implementation
        if current != ROW_ATTENTION:
            self._plain_attention = current
        self.model.set_attn_implementation(ROW_ATTENTION)

    def use_plain_attention(self) -> None:
        """Back to the attention the model had before ``use_row_attention`` (training needs the plain
        SDPA path; row-by-row attention only pays in decode chunks)."""
        plain = getattr(self, "_plain_attention", None)
        if plain is not None and self.model.config._attn_implementation == ROW_ATTENTION:
            self.model.set_attn_implementation(plain)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.lm_head(self.norm(hidden))

    def kv_shape(self) -> tuple[int, int]:
        """(number of KV heads, head dim) of the attention layers."""
        config = self.model.config
        heads = config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // heads
        return getattr(config, "num_key_value_heads", None) or heads, head_dim


ROW_ATTENTION = "agentroute_rows"


def _row_attention(module, query, key, value, attention_mask, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    q_len = query.shape[2]
    if q_len == 1 or not in_decode_chunk():
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    start = key.shape[2] - q_len  # the chunk's queries sit at the end of the keys (batch 1, no padding)
    rows = [
        sdpa_attention_forward(
            module, query[:, :, i : i + 1], key[:, :, : start + i + 1], value[:, :, : start + i + 1], None, **kwargs
        )[0]
        for i in range(q_len)
    ]
    return torch.cat(rows, dim=1), None  # [batch, queries, heads, head_dim], as SDPA's wrapper returns


def _register_row_attention() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(ROW_ATTENTION, _row_attention)
    AttentionMaskInterface.register(ROW_ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])


def weight_bytes(module: nn.Module) -> int:
    """Bytes of parameters and buffers a forward through ``module`` reads (quantized storage included)."""
    tensors = list(module.parameters()) + list(module.buffers())
    return sum(t.numel() * t.element_size() for t in tensors)


def _sliding_window(config) -> int | None:
    """The window of any sliding-attention layer, or None when every layer attends to all tokens.

    The executor builds plain causal masks, which equal sliding-window masks only while the whole
    sequence fits in the window; callers check lengths against this value.
    """
    window = getattr(config, "sliding_window", None)
    if not window:
        return None
    layer_types = getattr(config, "layer_types", None)
    if layer_types is not None and "sliding_attention" not in layer_types:
        return None
    if getattr(config, "use_sliding_window", True) is False:
        return None
    return int(window)


@contextmanager
def no_progress_bars() -> Iterator[None]:
    """Hide transformers' progress bars ("Loading weights", "Writing model shards": each takes about
    a second locally) for the duration, then restore them as they were."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
