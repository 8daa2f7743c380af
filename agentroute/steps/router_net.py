"""The learned router of a route pack: step type and program choice from early hidden states.

Features: the hidden state after the first ``layer`` decoder layers (full depth, no cache), mean
over the prompt's tokens and at its last token, standardised with the training statistics. Two
linear heads read them:

* ``type_head``: which step type the prompt asks for (tool call, planning, ...). It sees what the
  prompt says, not its length, so tool-call and planning prompts of equal length are told apart.
* ``safe_head``: for every program of the pack's library, the probability that it reproduces full
  depth on this prompt. The router takes the cheapest program of the step type, within the budget,
  whose probability reaches ``threshold``, else the dearest program within the budget.

Deterministic: no sampling, the same prompt always gets the same decision. Weights are plain
tensors in safetensors (nothing is unpickled).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from torch import nn

from agentroute.steps.prompt_states import prompt_hidden
from agentroute.steps.records import StepType


class RouterNet(nn.Module):
    def __init__(self, hidden_size: int, step_types: Sequence[StepType], n_programs: int) -> None:
        super().__init__()
        self.step_types = list(step_types)
        width = 2 * hidden_size
        self.register_buffer("mean", torch.zeros(width))
        self.register_buffer("std", torch.ones(width))
        self.type_head = nn.Linear(width, len(self.step_types))
        self.safe_head = nn.Linear(width + len(self.step_types), n_programs)

    def forward(self, features: torch.Tensor, step_type_index: torch.Tensor | None = None):
        """Type logits [B, T] and safety logits [B, P]; the safety head is told the step type
        (the true one in training, the predicted or given one at inference)."""
        x = (features - self.mean) / self.std
        type_logits = self.type_head(x)
        if step_type_index is None:
            step_type_index = type_logits.argmax(-1)
        one_hot = nn.functional.one_hot(step_type_index, len(self.step_types)).to(x.dtype)
        return type_logits, self.safe_head(torch.cat([x, one_hot], dim=-1))

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        save_file({k: v.detach().contiguous().cpu() for k, v in self.state_dict().items()}, str(path))

    @classmethod
    def load(cls, path: Path, hidden_size: int, step_types: Sequence[StepType], n_programs: int) -> RouterNet:
        from safetensors.torch import load_file

        net = cls(hidden_size, step_types, n_programs)
        net.load_state_dict(load_file(str(path)))
        return net.eval()


def safety_columns(
    library: Mapping[StepType, Sequence], step_types: Sequence[StepType]
) -> tuple[dict[StepType, slice], int]:
    """Which ``safe_head`` outputs belong to each step type's programs, and how many outputs there are.

    The programs of ``step_types`` sit side by side in that order (cheapest first within a type).
    Training writes labels and inference reads probabilities through this one layout.
    """
    columns, width = {}, 0
    for step_type in step_types:
        count = len(library.get(step_type, []))
        columns[step_type] = slice(width, width + count)
        width += count
    return columns, width


def prompt_features(parts, prompt_ids: Sequence[int], layer: int) -> torch.Tensor:
    """[2 * hidden]: mean and last-token hidden state after the first ``layer`` layers (full depth)."""
    hidden = prompt_hidden(parts, prompt_ids, layer)
    return torch.cat([hidden.mean(0), hidden[-1]])
