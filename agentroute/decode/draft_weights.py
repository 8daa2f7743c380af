"""Int8 draft weights for lossless mode on a CPU.

Lossless mode (``agentroute.decode.speculative``) keeps the full-depth reply whatever the draft does, so
the draft may run on cheaper weights than the verifier: only how often it agrees changes. The
draft program runs its decoder layers and LM head as int8 copies of the verifier's weights - the
same program, with the LoRA adapter already merged in - and shares the embedding, final norm,
rotary embedding and the KV cache with the verifier. On a CPU, torch's dynamic int8 linear layers
(fbgemm) ran a SmolLM2-135M decode pass about 2.5x faster than float32 ones on the machine of the
first measurements, but only about 1.2x on a later one (an AMX CPU with fast float32 kernels);
bitsandbytes' CPU kernels are slower than float32 (see the executor benchmark). The lossless cost
model times the passes on the machine at hand and stops drafting where it does not pay.

``torch.ao.quantization.quantize_dynamic`` is deprecated in favour of torchao but still ships,
unchanged, in the pinned torch; it needs no extra dependency and is the CPU path that is fast.
"""

from __future__ import annotations

import copy
import dataclasses
import warnings

import torch
from torch import nn

from agentroute.errors import GenerationError
from agentroute.model.hf_parts import ModelParts

DRAFT_WEIGHTS = ("auto", "int8", "same")


def int8_available(parts: ModelParts) -> bool:
    """Whether int8 draft copies can be made: float32 weights on a CPU with a quantized engine."""
    weight = parts.lm_head.weight
    return (
        parts.device.type == "cpu"
        and weight.dtype == torch.float32
        and all(isinstance(block, nn.Module) and _plain_linears(block) for block in parts.layers)
        and any(engine in torch.backends.quantized.supported_engines for engine in ("fbgemm", "x86", "qnnpack"))
    )


def draft_parts(parts: ModelParts, choice: str) -> ModelParts:
    """The ModelParts the draft program runs on for ``choice`` (one of ``DRAFT_WEIGHTS``).

    ``"same"``: the verifier's own weights. ``"int8"``: int8 copies of the decoder layers and LM
    head (a clear error where they cannot be made). ``"auto"``: int8 where available, else the same.
    """
    if choice not in DRAFT_WEIGHTS:
        raise GenerationError(f"draft_weights must be one of {', '.join(DRAFT_WEIGHTS)}, got {choice!r}")
    if choice == "same" or (choice == "auto" and not int8_available(parts)):
        return parts
    if not int8_available(parts):
        raise GenerationError(
            "int8 draft weights need float32 weights on a CPU with torch's quantized engine (fbgemm/x86/qnnpack) "
            "and no bitsandbytes layers; use draft_weights='same' or 'auto'"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the torch.ao deprecation notice, once per layer
        layers = nn.ModuleList(_int8_copy(block) for block in parts.layers)
        head = _int8_copy(parts.lm_head)
    return dataclasses.replace(parts, layers=layers, lm_head=head, fused={})


def _int8_copy(module: nn.Module) -> nn.Module:
    # quantize_dynamic swaps a module's children, never the module itself: hold it in a Sequential
    # so that a bare Linear (the LM head) is swapped too.
    holder = nn.Sequential(copy.deepcopy(module).eval())
    # Per-output-channel scales: per-tensor ones (the default) cost a sixth of the acceptance rate.
    spec = {nn.Linear: torch.ao.quantization.per_channel_dynamic_qconfig}
    torch.ao.quantization.quantize_dynamic(holder, spec, dtype=torch.qint8, inplace=True)
    return holder[0]


def _plain_linears(block: nn.Module) -> bool:
    """True when every linear sublayer is a plain float ``nn.Linear`` (no bitsandbytes, no peft wrapper)."""
    return not any(type(m).__module__.startswith(("bitsandbytes", "peft")) for m in block.modules() if m is not block)
