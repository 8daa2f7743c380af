"""4-bit weights for decode passes on a CPU: torch's int4 kernel on groups of 32 input columns.

Why
    A bfloat16 decode pass of SmolLM2-135M is memory-bound: its 30 layers' linears read ~215 MB
    per token. torch ships a CPU kernel for weight-only int4 products
    (``aten._weight_int4pack_mm_for_cpu``, the one torchao's int4 CPU layout calls) that reads a
    quarter of those bytes. Measured on this project's AMX CPU, 2 threads, the 120 decoder linears
    at one row: 3.3 ms against 10.5 ms for prepacked bfloat16 (``lean_decode``).

Which weights
    Each group of 32 input columns of a row has a scale and a minimum, and its weights are
    ``minimum + scale * q`` with ``q`` in 0..15, picked from the group's range: the layout of
    GGUF's Q4_1. The embedded default model is shipped as Q4_1 with these very groups, so for it
    the kernel multiplies by the file's own 4-bit weights (scale and zero rounded to bfloat16, as
    the kernel takes them); for any other checkpoint it is a real, lossy quantization.

What stays exact
    The kernel is row-invariant (row ``i`` of a chunk equals the one-row product of that row;
    checked per weight at packing time by ``lean_decode``), so verify passes still compute what
    one-token passes would, and lossless mode stays identical to full depth under these weights.
    It does not equal ``F.linear`` on the dense weights: full depth under int4 is its own
    setting, checked for accuracy against the dense model (docs/speed.md).

Prefill keeps ``F.linear`` on the dense weights (a prompt's product is compute-bound, and the
kernel's cost grows with every 4 rows); only decode chunks (``lean_decode.decode_chunk``) read
the int4 copies.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

GROUP = 32
_INNER_K_TILES = 2  # the packing's inner tiling; the kernel needs in_features divisible by GROUP * this


def int4_available(dtype: torch.dtype, device: torch.device | str) -> bool:
    """The int4 CPU kernel runs bfloat16 activations on a CPU build of torch that has it."""
    return (
        dtype == torch.bfloat16
        and torch.device(device).type == "cpu"
        and hasattr(torch.ops.aten, "_weight_int4pack_mm_for_cpu")
        and hasattr(torch.ops.aten, "_convert_weight_to_int4pack_for_cpu")
    )


def quantize_groups(weight: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Q4_1-style groups of ``weight`` [out, in]: (q int32 [out, in], scale [out, in/32], minimum [out, in/32]).

    As llama.cpp quantizes Q4_1: the scale spans the group's range in 15 steps and ``q`` rounds
    to the nearest step, so a weight that was Q4_1 already comes back on its own grid.
    """
    out_features, in_features = weight.shape
    groups = weight.detach().float().reshape(out_features, in_features // GROUP, GROUP)
    low = groups.amin(-1, keepdim=True)
    scale = (groups.amax(-1, keepdim=True) - low) / 15
    safe = torch.where(scale > 0, scale, torch.ones_like(scale))  # a constant group: every q is 0
    q = ((groups - low) / safe).round().clamp(0, 15).to(torch.int32)
    return q.reshape(out_features, in_features), scale.squeeze(-1), low.squeeze(-1)


@dataclass(frozen=True)
class Int4Weight:
    """A weight in the int4 kernel's packed layout, its scales and zeros, and its bias."""

    packed: torch.Tensor
    scales_and_zeros: torch.Tensor  # [in/32, out, 2], bfloat16: w = (q - 8) * scale + zero
    bias: torch.Tensor | None
    out_features: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        out = torch.ops.aten._weight_int4pack_mm_for_cpu(rows, self.packed, GROUP, self.scales_and_zeros)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)


def fits_int4(weight: torch.Tensor) -> bool:
    """Shapes the kernel packs: in_features a multiple of 64, out_features of 8 (checked by packing)."""
    out_features, in_features = weight.shape
    return in_features % (GROUP * _INNER_K_TILES) == 0 and out_features % 8 == 0


def to_int4(weight: torch.Tensor, bias: torch.Tensor | None = None) -> Int4Weight | None:
    """``weight`` [out, in] (bfloat16 on the CPU) quantized in groups of 32 and packed, or None
    where the kernel cannot take its shape."""
    if weight.dtype != torch.bfloat16 or weight.device.type != "cpu" or not fits_int4(weight):
        return None
    with torch.no_grad():
        q, scale, low = quantize_groups(weight)
        # The kernel computes (q - 8) * scale + zero: Q4_1's low + scale * q with zero = low + 8 * scale.
        scales_and_zeros = torch.stack([scale.t(), (low + 8 * scale).t()], dim=-1).to(torch.bfloat16).contiguous()
        packed = torch.ops.aten._convert_weight_to_int4pack_for_cpu(q, _INNER_K_TILES)
    return Int4Weight(packed, scales_and_zeros, None if bias is None else bias.detach(), weight.shape[0])


def dequantize(weight: torch.Tensor) -> torch.Tensor:
    """``weight`` rounded onto its int4 groups (float32): what the kernel multiplies by, up to
    the bfloat16 rounding of scale and zero."""
    q, scale, low = quantize_groups(weight)
    groups = q.reshape(*scale.shape, GROUP).float() * scale[..., None] + low[..., None]
    return groups.reshape(weight.shape)
