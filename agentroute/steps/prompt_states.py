"""The prompt's hidden states layer by layer, for the heads of a route pack.

The router reads them after its first few layers and the no-tool-fits head after more of them;
both read the same pass (full depth's layers in order, no cache), which stops at the deepest layer
asked for so far and resumes from there when a deeper one is asked: a step pays for the layers
its heads read once, and nothing for the layers after them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


class PromptStates:
    """One prompt's hidden states, advanced through full depth's first layers on demand."""

    def __init__(self, parts, prompt_ids: Sequence[int]) -> None:
        self.parts = parts
        self.prompt_ids = tuple(prompt_ids)
        with torch.inference_mode():
            ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=parts.device)
            self._hidden = parts.embed_tokens(ids)
            self._position_ids = torch.arange(ids.shape[1], device=parts.device)[None]
            self._position_embeddings = parts.position_embeddings(self._hidden, self._position_ids)
        self.layer = 0  # decoder layers run so far

    def features(self, layer: int) -> torch.Tensor:
        """[2 * hidden] float32 on the CPU: the mean over the prompt's tokens and the last token's
        hidden state after the first ``layer`` decoder layers (the router's features)."""
        hidden = self._advance(layer)[0].float()
        return torch.cat([hidden.mean(0), hidden[-1]]).cpu()

    def last_token(self, layer: int) -> torch.Tensor:
        """[hidden] float32 on the CPU: the last token's hidden state after ``layer`` layers (the
        no-tool-fits head's input)."""
        return self._advance(layer)[0, -1].float().cpu()

    def _advance(self, layer: int) -> torch.Tensor:
        if layer < self.layer:
            raise ValueError(f"the prompt's states are past layer {layer} (at {self.layer}): read shallower first")
        if not 0 < layer <= self.parts.n_layers:
            raise ValueError(f"layer {layer} is outside the model's 1..{self.parts.n_layers}")
        with torch.inference_mode():
            for index in range(self.layer, layer):
                self._hidden = self.parts.run_layer(
                    index, self._hidden, self._position_embeddings, self._position_ids, None, None
                )
            self.layer = layer
        return self._hidden
