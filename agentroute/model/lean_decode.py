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
      the machine at hand, not assumed; a weight that disagrees keeps ``F.linear``, which decode
      chunks then call one row at a time: oneDNN's plain bfloat16 product is not row-invariant,
      and on this CPU every MLP down projection of the default model, 576 x 1536, fails the check).
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

from agentroute.model.int4_weights import Int4Weight, to_int4

log = logging.getLogger(__name__)

_IN_DECODE = contextvars.ContextVar("agentroute_decode_chunk", default=False)
# Rows up to which packed products were checked row-invariant (verify chunks with forced tokens stay below).
MAX_CHUNK_ROWS = 64
_PROBE_ROWS = (1, 2, 3, 5, 9, 17, 33, MAX_CHUNK_ROWS)
# Packed copies live beside their modules, not in them: oneDNN's opaque tensors cannot be deep-copied
# or saved, and a copy of the model should simply compute plainly.
_PACKED: weakref.WeakKeyDictionary[nn.Module, Product] = weakref.WeakKeyDictionary()


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

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._linear_pointwise(x, self.packed, self.bias, "none", [], "")


@dataclass(frozen=True)
class LowRankSum:
    """An int4 product plus a LoRA adapter kept beside it: ``W x + up(down x)``, the adapter's
    scaling folded into ``up``, all in two int4 products.

    Why not merge: merging the adapter and quantizing again would round most of it away (its
    changes to the default pack's weights are ~1/20 of a 4-bit step). Why int4 for the adapter
    too: each extra small product costs a CPU decode pass tens of microseconds of dispatch, and
    ``down``'s rows ride in ``W``'s product (its rank padded to 64 with zero rows, exact zeros in
    int4) while ``up`` is one more int4 call. The adapter's weights in 4-bit groups change its
    output by a few percent of the adapter's own size (accuracy measured in docs/speed.md).
    """

    joined: Int4Weight  # [out + padded rank, in]: W's rows, then down's
    up: Int4Weight  # [out, padded rank]
    out_features: int

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.reshape(-1, x.shape[-1])
        both = self.joined(rows)
        low = both[:, self.out_features :].contiguous()
        out = both[:, : self.out_features] + self.up(low)
        return out.reshape(*x.shape[:-1], self.out_features)


Product = PackedWeight | Int4Weight | LowRankSum


def pack_weight(
    weight: torch.Tensor,
    bias: torch.Tensor | None = None,
    reference=None,
    int4: bool = False,
    low_rank: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> Product | None:
    """``weight`` packed, or None where packing is not exact on this machine.

    Exact means: every row of a chunk of up to ``MAX_CHUNK_ROWS`` rows equals its one-row
    product, and (dense bfloat16 only) one-row products equal ``reference`` (default
    ``F.linear`` on ``weight``) bit for bit. ``int4``: the weight
    in 4-bit groups (``int4_weights``), which no dense product equals. ``low_rank``: a LoRA adapter's (down, up)
    weights, scaling folded into up, added beside the packed weight.
    """
    if not _lean_weight(weight):
        return None
    if int4 or low_rank is not None:
        reference = None  # no dense product equals these: row invariance is all there is to check
    elif reference is None:
        reference = lambda rows: F.linear(rows, weight, bias)  # noqa: E731
    with torch.no_grad():
        weight = weight.detach()
        bias = None if bias is None else bias.detach()
        if low_rank is not None:
            packed = _int4_low_rank(weight, bias, low_rank) if int4 else None
        elif int4:
            packed = to_int4(weight, bias)
        else:
            packed = PackedWeight(torch.ops.mkldnn._reorder_linear_weight(weight, 1), bias, weight.shape[0])
        if packed is None or not _exact(packed, weight.shape[1], weight.dtype, reference):
            log.info("packed %s is not exact on this machine; keeping F.linear", tuple(weight.shape))
            return None
    return packed


_RANK_MULTIPLE = 64


def _int4_low_rank(weight, bias, low_rank) -> LowRankSum | None:
    """``weight`` with its adapter (down, up) as a ``LowRankSum``; the rank padded with zeros to a
    multiple of 64, the int4 kernel's smallest input width."""
    down, up = (part.to(weight.dtype) for part in low_rank)
    pad = -down.shape[0] % _RANK_MULTIPLE
    down = torch.cat([down, down.new_zeros(pad, down.shape[1])])
    up = torch.cat([up, up.new_zeros(up.shape[0], pad)], 1)
    joined_bias = None if bias is None else torch.cat([bias, bias.new_zeros(down.shape[0])])
    joined, up = to_int4(torch.cat([weight, down]), joined_bias), to_int4(up.contiguous())
    return None if joined is None or up is None else LowRankSum(joined, up, weight.shape[0])


def packed_linear(x: torch.Tensor, weight: Product) -> torch.Tensor:
    return weight(x)


def pack_linears(modules: list[nn.Module], int4: bool = False) -> int:
    """Give every plain bfloat16 ``nn.Linear`` in ``modules`` a packed copy used in decode chunks.

    Returns how many linears were packed. Idempotent: a linear packed before is packed again
    from its current weight (call it after weights change, e.g. a merged adapter).
    """
    packed = 0
    for root in modules:
        for module in root.modules():
            if type(module) is nn.Linear:
                weight = pack_weight(module.weight, module.bias, int4=int4)
                if weight is None and int4:  # a shape the int4 kernel cannot take: dense packed
                    weight = pack_weight(module.weight, module.bias)
                if weight is not None:
                    _PACKED[module] = weight
                    packed += 1
                if weight is not None or _lean_weight(module.weight):
                    # Unpacked, it still multiplies decode chunks row by row (``_forward``).
                    module.forward = types.MethodType(_forward, module)
    return packed


def unpack_linears(modules: list[nn.Module]) -> None:
    """Drop the packed copies: every linear computes with ``F.linear`` again (training, export)."""
    for root in modules:
        for module in root.modules():
            _PACKED.pop(module, None)
            if getattr(module.__dict__.get("forward"), "__func__", None) is _forward:
                module.__dict__.pop("forward")


def _exact(weight: Product, in_features: int, dtype: torch.dtype, reference=None) -> bool:
    """Row invariance up to ``MAX_CHUNK_ROWS`` rows, and one-row products equal to ``reference``'s
    where one is given."""
    generator = torch.Generator().manual_seed(0)
    rows = torch.randn(MAX_CHUNK_ROWS, in_features, generator=generator).to(dtype)
    singles = torch.cat([packed_linear(rows[i : i + 1], weight) for i in range(MAX_CHUNK_ROWS)])
    if reference is not None and not all(torch.equal(singles[i : i + 1], reference(rows[i : i + 1])) for i in range(8)):
        return False
    return all(torch.equal(packed_linear(rows[:n], weight), singles[:n]) for n in _PROBE_ROWS)


def _lean_weight(weight: torch.Tensor) -> bool:
    """Whether lean decode covers this weight: bfloat16 on a CPU, where it packs (``pack_weight``)
    and where oneDNN's plain products are not row-invariant, so an unpacked one needs
    ``_forward``'s care (float32 keeps ``F.linear`` everywhere)."""
    return weight.dtype == torch.bfloat16 and weight.device.type == "cpu"


def _forward(self: nn.Linear, x: torch.Tensor) -> torch.Tensor:
    """In a decode chunk (at most ``MAX_CHUNK_ROWS`` rows: the executor splits longer ones), the
    packed product, or, where the weight did not pack exactly, ``F.linear`` one row at a time:
    either way row ``i`` of a chunk is what a one-token pass computes, so a verify pass never
    depends on how many tokens it carries. Elsewhere (prefill) ``F.linear``."""
    rows = x.numel() // x.shape[-1]
    if _IN_DECODE.get() and rows <= MAX_CHUNK_ROWS:
        packed = _PACKED.get(self)  # a deep copy of the module has none: it computes plainly
        if packed is not None:
            return packed_linear(x, packed)
        if rows > 1 and _lean_weight(self.weight):
            flat = x.reshape(rows, x.shape[-1])
            out = torch.cat([F.linear(flat[i : i + 1], self.weight, self.bias) for i in range(rows)])
            return out.reshape(*x.shape[:-1], out.shape[-1])
    return F.linear(x, self.weight, self.bias)
