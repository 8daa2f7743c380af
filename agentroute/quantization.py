"""Quantization names -> bitsandbytes configs."""

from __future__ import annotations

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
    return BitsAndBytesConfig(load_in_8bit=True)
