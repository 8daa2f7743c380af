"""Dependency noise dropped exactly around the calls that raise it (``agentroute.quiet``)."""

import logging
import warnings

from agentroute.quiet import _ACCELERATE_LOGGER, _BNB_KERNELS_NOTE, _BNB_LOGGER, quiet_checkpoint, quiet_peft


def test_peft_drops_exactly_the_two_dependency_messages(caplog):
    logger = logging.getLogger(_BNB_LOGGER)
    with warnings.catch_warnings(record=True) as caught, caplog.at_level(logging.WARNING):
        warnings.simplefilter("always")
        with quiet_peft():
            logger.warning(_BNB_KERNELS_NOTE + ": %s", "No module named 'kernels'")
            logger.warning("another bitsandbytes message")
            warnings.warn("`is_gradient_checkpointing` is deprecated and will be removed", FutureWarning, stacklevel=1)
            warnings.warn("our own deprecation", FutureWarning, stacklevel=1)
        logger.warning(_BNB_KERNELS_NOTE + " (after the load)")
        warnings.warn("`is_gradient_checkpointing` is deprecated (after the load)", FutureWarning, stacklevel=1)
    assert [r.getMessage() for r in caplog.records] == [
        "another bitsandbytes message",
        _BNB_KERNELS_NOTE + " (after the load)",
    ]
    assert [str(w.message) for w in caught] == [
        "our own deprecation",
        "`is_gradient_checkpointing` is deprecated (after the load)",
    ]


def test_a_checkpoint_drops_only_the_tied_head_note(caplog):
    logger = logging.getLogger(_ACCELERATE_LOGGER)
    tied = "[RANK 0] Removed shared tensor {'base_model.model.lm_head.weight'} while saving."
    with caplog.at_level(logging.WARNING):
        with quiet_checkpoint():
            logger.warning(tied)
            logger.warning("[RANK 0] something else while saving")
        logger.warning(tied)
    assert [r.getMessage() for r in caplog.records] == ["[RANK 0] something else while saving", tied]
