"""A fused decoder layer's decode-chunk forward as one TorchScript function: the same aten ops,
without Python between them.

Why
    After the fused layers (``fused_layer``), a one-token pass of the default model (int4 products,
    400-token context) still spent about a sixth of its time in Python: each layer's ~85 small ops
    are each parsed and dispatched from Python, a microsecond or two apiece, 30 layers a pass.
    TorchScript runs the same ops from its interpreter instead. Measured side by side on the
    default model: 15.5 ms -> 13.0 ms per one-token pass, 19.4 ms -> 17.4 ms per 3-row verify pass,
    logits bit for bit equal.

What stays exact
    The script calls the very aten kernels ``run_fused`` calls, in the same order, on the same
    elements; TorchScript only fuses ops on a CPU where its fuser can (``_jit_can_fuse_on_cpu``,
    off in torch's builds) and none is asked for here. Each layer is also checked when it is fused:
    chunks of 1, 2 and 5 rows over a probe past must give ``run_fused``'s output and cache writes
    bit for bit, or the layer keeps ``run_fused``.

What it covers
    Llama-layout layers with inline RMS norms (Qwen3's per-head query and key norms included,
    Gemma's ``1 + weight`` form), the joint rotary embedding, SiLU or GELU-tanh, and products that
    are int4 (with or without a LoRA adapter beside them) or packed bfloat16, biases included
    (Qwen2): the default model and every supported family. A layer with other parts (another
    activation, a norm computed otherwise) keeps ``run_fused``.

Why TorchScript
    ``torch.jit.script`` is deprecated in favour of ``torch.compile``, but ``torch.compile`` writes
    new kernels (its fused norms round differently from eager ones, per chunk shape) and needs a
    C++ compiler at run time, so it cannot keep one-token passes and verify chunks bit-identical.
    Where scripting fails (a torch without it), every layer keeps ``run_fused``.
"""

from __future__ import annotations

import functools
import logging
import warnings
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from agentroute.model.int4_weights import GROUP, Int4Weight
from agentroute.model.lean_decode import LowRankSum, PackedWeight, Product

log = logging.getLogger(__name__)

# Product kinds the script computes (``_encode``).
_INT4, _INT4_LOW_RANK, _PACKED_BF16 = 0, 1, 2


def _product(
    x: torch.Tensor,
    kind: int,
    weight: torch.Tensor,
    scales: torch.Tensor,
    up: torch.Tensor,
    up_scales: torch.Tensor,
    bias: torch.Tensor | None,
    out: int,
) -> torch.Tensor:
    """``Int4Weight``, ``LowRankSum`` or ``PackedWeight``'s ``__call__`` on rows ``x`` [rows, in].
    ``kind`` is ``_encode``'s, spelled as literals (TorchScript reads no module globals)."""
    if kind == 2:
        return torch.ops.mkldnn._linear_pointwise(x, weight, bias, "none", [], "")
    y = torch.ops.aten._weight_int4pack_mm_for_cpu(x, weight, 32, scales)
    if bias is not None:
        y = y + bias
    if kind == 1:
        low = y[:, out:].contiguous()
        y = y[:, :out] + torch.ops.aten._weight_int4pack_mm_for_cpu(low, up, 32, up_scales)
    return y


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """Llama's RMSNorm: float32 statistics, cast back, times the weight (``fused_layer.RMSNorm``)."""
    x32 = x.float()
    return weight * (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)).to(x.dtype)


def rms_norm_scaled_first(x: torch.Tensor, scale: torch.Tensor, eps: float) -> torch.Tensor:
    """Gemma's RMSNorm: float32 statistics times ``scale`` (its ``1 + weight`` in float32), then cast."""
    x32 = x.float()
    return (x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps) * scale).to(x.dtype)


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """Gemma's activation (``GELUTanh``)."""
    return F.gelu(x, approximate="tanh")


def _norm(x: torch.Tensor, weight: torch.Tensor, eps: float, scaled_first: bool) -> torch.Tensor:
    if scaled_first:
        return rms_norm_scaled_first(x, weight, eps)
    return rms_norm(x, weight, eps)


def attend(
    queries: torch.Tensor,
    keys: torch.Tensor,
    values: torch.Tensor,
    start: int,
    scale: float,
    kv_heads: int,
    grouped: bool,
) -> torch.Tensor:
    """Attention of a decode chunk's ``queries`` [1, q_heads, rows, head_dim] (positions ``start``,
    ``start + 1``, ...) over ``keys``/``values`` [1, kv_heads, >= start + rows, head_dim] ->
    [1, q_heads, rows, head_dim]. Row by row, each query over the keys before it, as one-token
    passes attend, so a chunk equals one-token passes bit for bit.

    ``grouped``: the query heads that share a key head go in as that head's query rows
    (``[1, kv_heads, group, head_dim]``; no mask is needed, they sit at one position) instead of
    SDPA's ``enable_gqa``, which on a CPU first repeats every key and value once per query head:
    231 us against 1247 us per layer and row over 2243 keys (bfloat16, 2 threads). It rounds
    differently at some key lengths (4 of 74 tried), so layers whose products equal stock
    transformers' (dense bfloat16: full depth token-identical to stock ``generate()``) keep
    ``enable_gqa``; int4 layers, which equal no dense product anyway, take the grouped form.
    """
    q_heads, rows, head_dim = queries.shape[1], queries.shape[2], queries.shape[3]
    group = q_heads // kv_heads
    pieces: list[torch.Tensor] = []
    for i in range(rows):
        past_keys, past_values = keys[:, :, : start + i + 1], values[:, :, : start + i + 1]
        if grouped:
            row = queries[:, :, i].reshape(1, kv_heads, group, head_dim)
            out = F.scaled_dot_product_attention(row, past_keys, past_values, scale=scale)
            pieces.append(out.reshape(1, q_heads, 1, head_dim))
        else:
            row = queries[:, :, i : i + 1]
            pieces.append(F.scaled_dot_product_attention(row, past_keys, past_values, scale=scale, enable_gqa=True))
    return pieces[0] if rows == 1 else torch.cat(pieces, 2)


def _layer(
    hidden: torch.Tensor,
    kinds: list[int],
    weights: list[torch.Tensor],
    scales: list[torch.Tensor],
    ups: list[torch.Tensor],
    up_scales: list[torch.Tensor],
    biases: list[torch.Tensor | None],
    outs: list[int],
    norms: list[torch.Tensor],
    eps: list[float],
    head_norms: list[torch.Tensor],
    head_eps: list[float],
    scaled_first: bool,
    gelu: bool,
    keys: torch.Tensor,
    values: torch.Tensor,
    start: int,
    cos: torch.Tensor,
    sin: torch.Tensor,
    q_heads: int,
    kv_heads: int,
    head_dim: int,
    scale: float,
) -> torch.Tensor:
    """``run_fused`` for one sequence's chunk ``hidden`` [1, rows, hidden]; the chunk's keys and
    values go to ``keys``/``values`` [1, kv_heads, capacity, head_dim] at ``start``. ``head_norms``:
    the per-head query and key norms' weights (Qwen3), or none; ``scaled_first``: the layer norms
    are Gemma's (``rms_norm_scaled_first``); ``gelu``: the MLP's activation is ``gelu_tanh``, not SiLU."""
    rows = hidden.shape[1]
    h = hidden[0]
    x = _norm(h, norms[0], eps[0], scaled_first)
    qkv = _product(x, kinds[0], weights[0], scales[0], ups[0], up_scales[0], biases[0], outs[0])
    qkv = qkv.view(rows, q_heads + 2 * kv_heads, head_dim)
    if len(head_norms) == 2:  # Qwen3 normalises each head's queries and keys before the rotary embedding
        qk = torch.cat(
            (
                rms_norm(qkv[:, :q_heads], head_norms[0], head_eps[0]),
                rms_norm(qkv[:, q_heads : q_heads + kv_heads], head_norms[1], head_eps[1]),
            ),
            1,
        )
    else:
        qk = qkv[:, : q_heads + kv_heads]
    qk = qk.transpose(0, 1).unsqueeze(0)
    half = head_dim // 2
    qk = qk * cos[:, None] + torch.cat((-qk[..., half:], qk[..., :half]), -1) * sin[:, None]
    end = start + rows
    keys[:, :, start:end] = qk[:, q_heads:]
    values[:, :, start:end] = qkv[:, q_heads + kv_heads :].transpose(0, 1).unsqueeze(0)
    # Grouped heads for int4 products only (``attend``); kinds[0] == 2 is packed bfloat16.
    out = attend(qk[:, :q_heads], keys, values, start, scale, kv_heads, kinds[0] != 2)
    attended = out.transpose(1, 2).reshape(rows, q_heads * head_dim)
    h = h + _product(attended, kinds[1], weights[1], scales[1], ups[1], up_scales[1], biases[1], outs[1])
    x = _norm(h, norms[1], eps[1], scaled_first)
    gate_up = _product(x, kinds[2], weights[2], scales[2], ups[2], up_scales[2], biases[2], outs[2])
    width = gate_up.shape[-1] // 2
    act = (gelu_tanh(gate_up[:, :width]) if gelu else F.silu(gate_up[:, :width])) * gate_up[:, width:]
    h = h + _product(act, kinds[3], weights[3], scales[3], ups[3], up_scales[3], biases[3], outs[3])
    return h.unsqueeze(0)


@functools.cache
def _script() -> Any:
    """The scripted ``_layer`` (compiled once per process), or None where TorchScript fails."""
    if GROUP != 32:  # the script spells the int4 group out: TorchScript takes no module globals
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # see the module docstring
            return torch.jit.script(_layer)
    except Exception as exc:  # noqa: BLE001 - any failure means: decode through run_fused
        log.info("TorchScript is not available (%s); decode layers run from Python", exc)
        return None


def _encode(product: Product) -> tuple | None:
    """(kind, weight, scales, up, up_scales, bias, out_features) of a product the script computes."""
    empty = torch.empty(0)
    if type(product) is Int4Weight:
        return _INT4, product.packed, product.scales_and_zeros, empty, empty, product.bias, product.out_features
    if type(product) is LowRankSum and product.up.bias is None:
        joined = product.joined
        return (_INT4_LOW_RANK, joined.packed, joined.scales_and_zeros, product.up.packed,
                product.up.scales_and_zeros, joined.bias, product.out_features)  # fmt: skip
    if type(product) is PackedWeight:
        return _PACKED_BF16, product.packed, empty, empty, empty, product.bias, product.out_features
    return None


@dataclass(frozen=True)
class ScriptedLayer:
    """One layer's constants for the scripted forward; called as ``run_fused`` is."""

    script: Any
    products: tuple[list, ...]  # kinds, weights, scales, ups, up_scales, biases, outs
    norms: list[torch.Tensor]
    eps: list[float]
    head_norms: list[torch.Tensor]  # Qwen3's per-head query and key norms; empty elsewhere
    head_eps: list[float]
    scaled_first: bool  # Gemma's layer norms
    gelu: bool  # Gemma's activation
    heads: tuple[int, int]
    head_dim: int
    scale: float
    kv_like: torch.Tensor  # an empty [1, kv_heads, 0, head_dim] tensor: the cache's buffer shape and dtype

    def __call__(self, hidden: torch.Tensor, position_embeddings, cache) -> torch.Tensor:
        keys, values, start = cache.reserve(hidden.shape[1], self.kv_like)
        cos, sin = position_embeddings
        q_heads, kv_heads = self.heads
        return self.script(
            hidden, *self.products, self.norms, self.eps, self.head_norms, self.head_eps, self.scaled_first, self.gelu,
            keys, values, start, cos, sin,
            q_heads, kv_heads, self.head_dim, self.scale,
        )  # fmt: skip


def build(
    products,
    norms,
    heads: tuple[int, int],
    head_dim: int,
    scale: float,
    dtype: torch.dtype,
    head_norms=(),
    scaled_first: bool = False,
    gelu: bool = False,
) -> ScriptedLayer | None:
    """A ``ScriptedLayer`` for a fused layer's products (qkv, o, gate_up, down) and its inline
    norms as ``(weight, eps)`` pairs, or None where the script does not cover a part or TorchScript
    is missing. ``head_norms``: the query and key norms a Qwen3 layer applies per head, if any;
    ``scaled_first``: the layer norms are Gemma's (their weights ``1 + weight`` in float32);
    ``gelu``: Gemma's activation; ``dtype``: the layer's compute dtype, its cache's. The caller
    checks the result against ``run_fused`` before using it."""
    script = _script()
    encoded = [_encode(product) for product in products]
    if script is None or None in encoded or None in norms or None in head_norms:
        return None
    columns = tuple(list(column) for column in zip(*encoded, strict=True))
    weights = [weight for weight, _ in norms]
    return ScriptedLayer(
        script=script,
        products=columns,
        norms=weights,
        eps=[float(eps) for _, eps in norms],
        head_norms=[weight for weight, _ in head_norms],
        head_eps=[float(eps) for _, eps in head_norms],
        scaled_first=bool(scaled_first),
        gelu=bool(gelu),
        heads=heads,
        head_dim=head_dim,
        scale=float(scale),
        kv_like=torch.empty(1, heads[1], 0, head_dim, dtype=dtype, device=weights[0].device),
    )
