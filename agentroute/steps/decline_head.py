"""The no-tool-fits head of a route pack: call a tool, or say in words that none fits.

A tool-call step is decoded under a grammar that admits calls of the offered tools; a pack trained
on data with no-tool-fits rows may also let the reply decline in words. Left to the reply's first
token, that choice is poor for a 135M model: measured on the dev split, the margin
log P(words) - log P(call) of no-tool-fits steps overlaps that of steps whose tools fit, and no
bias on it separates them. A linear probe on the prompt's hidden states separates them better, and
the last prompt token's state alone does as well as that and the prompt's mean together (dev AUC
0.97 at layer 20 against 0.95; 0.86 at the router's layer 4). So this head reads the last prompt
token's hidden state after ``layer`` decoder layers, standardised with the training statistics,
and gives the probability that no offered tool fits. The decode loop takes that state from the
step's own full-depth prefill as it passes (prefix reuse leaves the last token to compute), so
the head costs one small product. At or above ``threshold`` the step answers in words (the grammar
admits no call); below it the step must call.

Deterministic, and its weights are plain tensors in safetensors (nothing is unpickled).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class DeclineHead(nn.Module):
    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(hidden_size))
        self.register_buffer("std", torch.ones(hidden_size))
        self.linear = nn.Linear(hidden_size, 1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Logits [B] that no offered tool fits, from last-token hidden states [B, hidden]."""
        return self.linear((features - self.mean) / self.std)[:, 0]

    def probability(self, hidden: torch.Tensor) -> float:
        """For one prompt: its last token's hidden state [hidden] (any dtype or device)."""
        with torch.inference_mode():
            return float(torch.sigmoid(self(hidden.detach().reshape(1, -1).float().cpu()))[0])

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(path))

    @classmethod
    def load(cls, path: Path, hidden_size: int) -> DeclineHead:
        from safetensors.torch import load_file

        head = cls(hidden_size)
        head.load_state_dict(load_file(str(path)))
        return head.eval()
