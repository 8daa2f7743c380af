"""Cast the frozen weights once per training run instead of once per matmul.

Under bf16 autocast a linear layer casts its float32 weight to bfloat16 on every call, and
autograd keeps that copy for the backward: torch caches such casts only for weights that
require gradients, and a LoRA base weight does not. With prompts of 600-1000 tokens that is
about 200 weight casts per example. Here each frozen linear multiplies by a bfloat16 copy made
once, which is the very tensor autocast would have made, so the products are the same; the
float32 parameters stay as they are (checkpoints, merging and later stages see them unchanged).

peft casts a LoRA layer's input to its float32 weights before the adapter's product, which
autocast then casts back to bfloat16: ``disable_input_dtype_casting`` (peft's own switch) drops
that round trip, again without changing a product.
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn.functional as F
from torch import nn


@contextlib.contextmanager
def frozen_linears_in(model: nn.Module, dtype: torch.dtype | None):
    """While the block runs, every float32 ``nn.Linear`` of ``model`` whose weight is frozen
    multiplies by a ``dtype`` copy of it (``None``: nothing changes, as for float32 training)."""
    from peft.helpers import disable_input_dtype_casting

    if dtype is None:
        yield
        return
    patched = []
    try:
        for module in model.modules():
            weight = getattr(module, "weight", None)
            if (
                type(module) is not nn.Linear
                or "forward" in vars(module)  # someone else's forward (a hook, a lean kernel): left alone
                or weight is None
                or weight.requires_grad
                or weight.dtype != torch.float32
            ):
                continue
            module.forward = _linear_with(module, weight.detach().to(dtype))
            patched.append(module)
        with disable_input_dtype_casting(model):
            yield
    finally:
        for module in patched:
            del module.forward  # back to nn.Linear.forward, which reads the float32 parameter


def _linear_with(module: nn.Linear, cast: torch.Tensor):
    def forward(x: torch.Tensor) -> torch.Tensor:
        # The copy is what autocast would make; outside autocast the float32 weight, as before.
        weight = cast if torch.is_autocast_enabled(x.device.type) else module.weight
        return F.linear(x, weight, module.bias)

    return forward
