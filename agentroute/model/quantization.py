"""Quantization names -> bitsandbytes configs."""

from __future__ import annotations

import logging

import torch

from agentroute.errors import QuantizationError

QUANTIZATIONS = ("nf4", "int8")


def bnb_config(name: str | None, compute_dtype: torch.dtype):
    """A ``BitsAndBytesConfig`` for ``"nf4"`` (4-bit NormalFloat) or ``"int8"``, None for None."""
    if name is None:
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
