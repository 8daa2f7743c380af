"""The prompt's hidden states after full depth's first layers, for the heads of a route pack.

The router reads the mean and last token after its few layers; the no-tool-fits head's training
rows (and a step whose prefill skips the head's layers) read the last token after more of them.
One pass over the whole prompt, no cache.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def prompt_hidden(parts, prompt_ids: Sequence[int], layer: int) -> torch.Tensor:
    """[tokens, hidden] float32 on the CPU: the prompt's hidden states after the first ``layer``
    decoder layers (full depth's, in order)."""
    if not 0 < layer <= parts.n_layers:
        raise ValueError(f"layer {layer} is outside the model's 1..{parts.n_layers}")
    device = parts.device
    with torch.inference_mode():
        ids = torch.tensor([list(prompt_ids)], dtype=torch.long, device=device)
        hidden = parts.embed_tokens(ids)
        position_ids = torch.arange(ids.shape[1], device=device)[None]
        position_embeddings = parts.position_embeddings(hidden, position_ids)
        for index in range(layer):
            hidden = parts.run_layer(index, hidden, position_embeddings, position_ids, None, None)
        return hidden[0].float().cpu()
