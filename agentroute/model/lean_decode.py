"""Lean decode passes on a CPU: prepacked bfloat16 linears and row-invariant decode chunks.

Why
    On this project's AMX CPU a bfloat16 decode pass of SmolLM2-135M spent 25 of its 33 ms in
    ``F.linear`` at one row, about 11 GB/s against a ~23 GB/s memory roofline: oneDNN reorders the
    plain weight layout on every call. Reordering each weight once into oneDNN's blocked layout
    (``torch.ops.mkldnn._reorder_linear_weight``, what inductor's ``freezing`` does) makes the
    same product 2-2.5x faster, with no compile step at start-up.

What stays exact
    * One-row products of the packed weight equal ``F.linear``'s bit for bit, so a full-depth
      decode stays token-identical to stock ``generate()`` (checked per weight at packing time on
      the machine at hand, not assumed; a weight that disagrees keeps ``F.linear``).
    * The packed product is row-invariant: row ``i`` of a multi-row chunk equals the one-row
      product of that row. Together with row-by-row attention (``hf_parts.ROW_ATTENTION``), a
      verify pass over ``k + 1`` tokens computes, bit for bit, what ``k + 1`` one-token passes
      would. Lossless mode is then identical to full depth by construction, not by the luck of
      near-ties, and so is grammar jump-forward (forced tokens ride in a chunk).
    * Prefill keeps ``F.linear`` on the plain weight (stock ``generate()``'s prefill): the dense
      weights stay, the packed copy is extra memory (the linears' bytes once more).

Decode chunks are marked with ``decode_chunk()``: the executor's decode and verify passes run in
it, prefill does not. Float32 keeps ``F.linear`` everywhere: there the packed product is slower
on this CPU and not row-invariant.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import types
import weakref
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

log = logging.getLogger(__name__)

_IN_DECODE = contextvars.ContextVar("agentroute_decode_chunk", default=False)
# Rows up to which packed products were checked row-invariant (verify chunks with forced tokens stay below).
MAX_CHUNK_ROWS = 64
_PROBE_ROWS = (1, 2, 3, 5, 9, 17, 33, MAX_CHUNK_ROWS)
# Packed copies live beside their modules, not in them: oneDNN's opaque tensors cannot be deep-copied
# or saved, and a copy of the model should simply compute plainly.
_PACKED: weakref.WeakKeyDictionary[nn.Module, PackedWeight] = weakref.WeakKeyDictionary()


@contextlib.contextmanager
def decode_chunk():
    """Run the forwards inside as decode passes: packed linears, attention row by row."""
    token = _IN_DECODE.set(True)
    try:
        yield
    finally:
        _IN_DECODE.reset(token)


def in_decode_chunk() -> bool:
    return _IN_DECODE.get()


def packing_available(dtype: torch.dtype, device: torch.device | str) -> bool:
    """Packed linears need bfloat16 weights on a CPU whose torch has oneDNN (mkldnn)."""
    return (
        dtype == torch.bfloat16
        and torch.device(device).type == "cpu"
        and torch.backends.mkldnn.is_available()
        and hasattr(torch.ops.mkldnn, "_reorder_linear_weight")
    )


@dataclass(frozen=True)
class PackedWeight:
    """A weight reordered for oneDNN (and its bias): what ``packed_linear`` multiplies by."""

    packed: torch.Tensor
    bias: torch.Tensor | None
    out_features: int


def pack_weight(weight: torch.Tensor, bias: torch.Tensor | None = None, reference=None) -> PackedWeight | None:
    """``weight`` packed, or None where packing is not exact on this machine.

    Exact means: one-row products equal ``reference`` (default ``F.linear`` on ``weight``) bit for
    bit, and every row of a chunk of up to ``MAX_CHUNK_ROWS`` rows equals its one-row product.
    """
    if weight.dtype != torch.bfloat16 or weight.device.type != "cpu":
        return None
    reference = reference or (lambda rows: F.linear(rows, weight, bias))
    with torch.no_grad():
        weight = weight.detach()
        bias = None if bias is None else bias.detach()
        packed = PackedWeight(torch.ops.mkldnn._reorder_linear_weight(weight, 1), bias, weight.shape[0])
        if not _exact(packed, weight.shape[1], weight.dtype, reference):
            log.info("packed %s disagrees with F.linear on this machine; keeping F.linear", tuple(weight.shape))
            return None
    return packed


def packed_linear(x: torch.Tensor, weight: PackedWeight) -> torch.Tensor:
    return torch.ops.mkldnn._linear_pointwise(x, weight.packed, weight.bias, "none", [], "")


def pack_linears(modules: list[nn.Module]) -> int:
    """Give every plain bfloat16 ``nn.Linear`` in ``modules`` a packed copy used in decode chunks.

    Returns how many linears were packed. Idempotent: a linear packed before is packed again
    from its current weight (call it after weights change, e.g. a merged adapter).
    """
    packed = 0
    for root in modules:
        for module in root.modules():
            if type(module) is nn.Linear:
                weight = pack_weight(module.weight, module.bias)
                if weight is not None:
                    _PACKED[module] = weight
                    module.forward = types.MethodType(_forward, module)
                    packed += 1
    return packed


def unpack_linears(modules: list[nn.Module]) -> None:
    """Drop the packed copies: every linear computes with ``F.linear`` again (training, export)."""
    for root in modules:
        for module in root.modules():
            if _PACKED.pop(module, None) is not None:
                module.__dict__.pop("forward", None)


def _exact(weight: PackedWeight, in_features: int, dtype: torch.dtype, reference) -> bool:
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(MAX_CHUNK_ROWS, in_features, generator=generator).to(dtype)
    singles = torch.cat([packed_linear(rows[i : i + 1], weight) for i in range(MAX_CHUNK_ROWS)])
    if not all(torch.equal(singles[i : i + 1], reference(rows[i : i + 1])) for i in range(8)):
        return False
    return all(torch.equal(packed_linear(rows[:n], weight), singles[:n]) for n in _PROBE_ROWS)


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    if _IN_DECODE.get() and x.numel() // x.shape[-1] <= MAX_CHUNK_ROWS:
        packed = _PACKED.get(self)  # a deep copy of the module has none: it computes plainly
        if packed is not None:
            return packed_linear(x, packed)
    return F.linear(x, self.weight, self.bias)
