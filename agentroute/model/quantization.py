"""Quantization names: ``"int4"`` (torch's CPU int4 kernel in decode passes, ``int4_weights``) and
the bitsandbytes configs (``"nf4"``, ``"int8"``)."""

from __future__ import annotations

import functools
import logging
from pathlib import Path

import torch

from agentroute.errors import QuantizationError

BNB_QUANTIZATIONS = ("nf4", "int8")
QUANTIZATIONS = ("int4", *BNB_QUANTIZATIONS)
AUTO = "auto"


def auto_quantization(gguf_file, dtype: torch.dtype, device: str, kernels: str) -> str | None:
    """What ``quantization="auto"`` picks: ``"int4"`` for a GGUF whose decoder linears are all
    Q4_1 (the embedded default model), where the int4 kernel runs (bfloat16 on the CPU, lean
    passes); None otherwise. Only Q4_1 comes back exactly in the kernel's groups: for any other
    weights int4 would be a new, lossy quantization, which is the caller's choice to make."""
    from agentroute.model.int4_weights import int4_available

    if gguf_file is None or kernels != "auto" or not int4_available(dtype, device):
        return None
    return "int4" if gguf_linears_are_q4_1(gguf_file) else None


def gguf_linears_are_q4_1(gguf_file) -> bool:
    """Whether every 2-D weight of the GGUF's decoder blocks is stored as Q4_1.

    The embedded default model's file is pinned and known to be (its blocks are Q4_1, its
    embedding Q8_0). Any other file is read once per process: gguf's reader parses the whole
    header, tokenizer included, which took about 2 s for SmolLM2's.
    """
    from agentroute.model.default_model import default_gguf_path

    if Path(gguf_file) == default_gguf_path():
        return True
    stat = Path(gguf_file).stat()
    return _gguf_linears_are_q4_1(str(gguf_file), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _gguf_linears_are_q4_1(gguf_file: str, size: int, mtime_ns: int) -> bool:
    try:
        from gguf import GGUFReader

        tensors = GGUFReader(gguf_file).tensors
    except Exception:  # not readable as GGUF: the load itself reports it
        return False
    blocks = [t for t in tensors if t.name.startswith("blk.") and len(t.shape) == 2]
    return bool(blocks) and all(t.tensor_type.name == "Q4_1" for t in blocks)


def check_int4(dtype: torch.dtype, device: str, kernels: str) -> None:
    """``"int4"`` runs in lean decode passes: bfloat16 on a CPU whose torch has the int4 kernel."""
    from agentroute.model.int4_weights import int4_available

    if kernels != "auto":
        raise QuantizationError("quantization='int4' runs in lean decode passes; leave kernels='auto'")
    if not int4_available(dtype, device):
        raise QuantizationError(
            f"quantization='int4' needs dtype='bfloat16' on the CPU with torch's int4 kernel "
            f"(got {str(dtype).removeprefix('torch.')} on {device}); use quantization=None, or 'nf4'/'int8' on CUDA"
        )


def bnb_config(name: str | None, compute_dtype: torch.dtype):
    """A ``BitsAndBytesConfig`` for ``"nf4"`` (4-bit NormalFloat) or ``"int8"``; None for None and
    for ``"int4"`` (not a bitsandbytes scheme: the weights load dense and are packed afterwards)."""
    if name is None or name == "int4":
        return None
    if name not in QUANTIZATIONS:
        raise QuantizationError(f"unknown quantization {name!r}; use one of {', '.join(QUANTIZATIONS)} or None")
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as exc:
        raise QuantizationError(
            f"quantization {name!r} needs bitsandbytes: pip install 'bitsandbytes==0.50.2'"
        ) from exc
    from transformers import BitsAndBytesConfig

    if name == "nf4":
        return BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_use_double_quant=False,
        )
    _quiet_int8_cast_warning()
    return BitsAndBytesConfig(load_in_8bit=True)


def _quiet_int8_cast_warning() -> None:
    """bitsandbytes logs "inputs will be cast ... to float16" on every int8 matmul with float32
    inputs, i.e. hundreds of times per generated token. The cast is how LLM.int8 works; drop it."""
    logger = logging.getLogger("bitsandbytes.autograd._functions")
    if not any(isinstance(f, _DropCastWarning) for f in logger.filters):
        logger.addFilter(_DropCastWarning())


class _DropCastWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "inputs will be cast" not in record.getMessage()
