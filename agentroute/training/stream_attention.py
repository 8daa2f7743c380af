"""Attention for the packed training sequence (``streams.stream_logits``) in two cheap calls.

The packed sequence is the prompt followed by one copy of the reply per program; its mask lets
the prompt attend causally and each copy attend to the prompt and its own earlier tokens. One
SDPA call with that mask as a tensor computes every query against every key: on the CPU, SDPA's
flash kernel cannot skip masked blocks of an explicit mask, and a forward and backward over a
1080-token sequence (900 prompt tokens, 3 copies of 60) took 65 ms per layer against 50 ms for
the two calls here, in bfloat16 (SmolLM2-135M's 9 heads of 64). The prompt runs as plain causal
attention (``is_causal``, which skips the upper triangle), and the copies run as a batch of
``n`` short sequences over the prompt's keys and their own - the same products, so the same
result up to the order of floating-point sums.

Outside ``packed_streams`` (inference, the detached path, prefill) the registered function is
SDPA unchanged.
"""

from __future__ import annotations

import contextlib
from contextvars import ContextVar

import torch

from agentroute.model.hf_parts import ROW_ATTENTION

STREAM_ATTENTION = "agentroute_streams"
# Implementations whose packed call is plain SDPA with the mask, which the split reproduces.
SDPA_BASED = ("sdpa", STREAM_ATTENTION, ROW_ATTENTION)

# (prompt length, number of copies, copy length) while a packed forward runs, else None.
_LAYOUT: ContextVar[tuple[int, int, int] | None] = ContextVar("agentroute_stream_layout", default=None)


@contextlib.contextmanager
def packed_streams(parts, prompt_len: int, n_streams: int, stream_len: int):
    """Run ``parts``' layers with the split attention for a packed sequence of this layout (the
    model's attention implementation is switched for the block and restored after it)."""
    before = parts.model.config._attn_implementation
    if before not in SDPA_BASED:  # eager (softcapping, say) or another kernel: keep its masked path
        yield
        return
    _register()
    if before != STREAM_ATTENTION:
        parts.model.set_attn_implementation(STREAM_ATTENTION)
    token = _LAYOUT.set((prompt_len, n_streams, stream_len))
    try:
        yield
    finally:
        _LAYOUT.reset(token)
        if before != STREAM_ATTENTION:
            parts.model.set_attn_implementation(before)


def _stream_attention(module, query, key, value, attention_mask, **kwargs):
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    layout = _LAYOUT.get()
    if layout is None or query.shape[0] != 1 or query.shape[2] != key.shape[2]:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    p, n, r = layout
    kwargs.pop("is_causal", None)  # set per call below
    if query.shape[2] != p + n * r:
        raise ValueError(f"packed attention expected {p} + {n} x {r} positions, got {query.shape[2]}")
    prompt_out, _ = sdpa_attention_forward(
        module, query[:, :, :p], key[:, :, :p], value[:, :, :p], None, is_causal=True, **kwargs
    )
    if r == 0:
        return prompt_out, None
    # [1, heads, n*r, d] -> [n, heads, r, d]: each copy a sequence of its own in a batch of n.
    copies = lambda t: t[:, :, p:].reshape(t.shape[1], n, r, t.shape[3]).transpose(0, 1)  # noqa: E731
    with_prompt = lambda t: torch.cat([t[:, :, :p].expand(n, -1, -1, -1), copies(t)], dim=2)  # noqa: E731
    own = torch.ones(r, r, dtype=torch.bool, device=query.device).tril()
    mask = torch.cat([torch.ones(r, p, dtype=torch.bool, device=query.device), own], dim=1)[None, None]
    stream_out, _ = sdpa_attention_forward(module, copies(query), with_prompt(key), with_prompt(value), mask, **kwargs)
    # [n, r, heads, d] -> [1, n*r, heads, d], after the prompt's rows.
    return torch.cat([prompt_out, stream_out.reshape(1, n * r, *stream_out.shape[2:])], dim=1), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

    AttentionInterface.register(STREAM_ATTENTION, _stream_attention)
    AttentionMaskInterface.register(STREAM_ATTENTION, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
