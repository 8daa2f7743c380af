"""Dependency messages that say nothing to an AgentRoute user, each dropped only around the call
that raises it; any other message or warning still gets through.

- Importing peft imports bitsandbytes, which logs (once, at import, on CPUs with AVX512-BF16)
  that an optional ``kernels`` package for 4-bit CPU matmuls is missing.
- peft reads transformers' deprecated ``is_gradient_checkpointing`` (a FutureWarning).
- accelerate's ``save_state`` warns on every training checkpoint that it left out the LM head,
  which the model ties to the embedding: reloading into the same model restores the tie.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

_BNB_LOGGER = "bitsandbytes.backends.cpu.ops"
_BNB_KERNELS_NOTE = "Failed to load CPU gemm_4bit_forward from kernels-community"
_PEFT_DEPRECATION = r"`is_gradient_checkpointing` is deprecated"
_ACCELERATE_LOGGER = "accelerate.utils.other"
_TIED_HEAD_NOTE = "Removed shared tensor"


class _DropLogRecord(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        # accelerate prefixes its messages with the process rank ("[RANK 0] ...").
        return not str(record.msg).split("] ", 1)[-1].startswith(self.prefix)


@contextmanager
def dropped_log_records(logger_name: str, prefix: str) -> Iterator[None]:
    """Drop the records of ``logger_name`` whose message starts with ``prefix`` for the duration."""
    logger, drop = logging.getLogger(logger_name), _DropLogRecord(prefix)
    logger.addFilter(drop)
    try:
        yield
    finally:
        logger.removeFilter(drop)


@contextmanager
def quiet_peft() -> Iterator[None]:
    """Around importing peft and wrapping or loading a model with it."""
    with dropped_log_records(_BNB_LOGGER, _BNB_KERNELS_NOTE), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_PEFT_DEPRECATION, category=FutureWarning)
        yield


def quiet_checkpoint():
    """Around accelerate's ``save_state`` of a model whose LM head is tied to its embedding."""
    return dropped_log_records(_ACCELERATE_LOGGER, _TIED_HEAD_NOTE)
