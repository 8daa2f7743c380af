"""One training forward that scores a reply at full depth and under several layer programs at once.

At inference the prompt is encoded at full depth and only the reply is decoded by the program
(``prefill="full"``). Training mirrors that exactly, and cheaply: the sequence is the prompt
followed by one copy of the reply per program (stream 0 = full depth). Every copy sits at the
reply's own positions and, through the attention mask, sees the prompt and earlier tokens of its
own copy only. A layer outside a stream's program is computed for the whole sequence (one call)
but that stream's hidden states pass through unchanged, so later layers of that stream attend to
full-depth prompt keys, as at inference. The prompt - by far the longest part - is encoded once
for all streams, and stream 0's logits are the self-distillation teacher for the others.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from agentroute.model.hf_parts import ModelParts
from agentroute.model.program import LayerProgram


def stream_layout(prompt_len: int, reply_len: int, n_streams: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(position ids [1, L], boolean attention mask [1, 1, L, L], True = attend) for the packed sequence."""
    total = prompt_len + n_streams * reply_len
    reply_pos = torch.arange(prompt_len, prompt_len + reply_len)
    positions = torch.cat([torch.arange(prompt_len), reply_pos.repeat(n_streams)])
    stream = torch.cat([torch.full((prompt_len,), -1), torch.arange(n_streams).repeat_interleave(reply_len)])
    rows, cols = torch.arange(total)[:, None], torch.arange(total)[None, :]
    causal = cols <= rows
    # A token sees the prompt, and its own stream's earlier tokens.
    visible = (stream[None, :] == -1) | (stream[None, :] == stream[:, None])
    return positions[None], (causal & visible)[None, None]


def stream_logits(
    parts: ModelParts,
    prompt_ids: Sequence[int],
    reply_ids: Sequence[int],
    programs: Sequence[LayerProgram],
    prompt_grad: bool = True,
) -> torch.Tensor:
    """Logits [n_programs, len(reply_ids), vocab]: row s, position i predicts ``reply_ids[i]``
    under ``programs[s]`` after a full-depth prompt, exactly as ``generate`` decodes: the first
    reply token comes from the prompt's full-depth pass, so position 0 is the same in every row.

    ``prompt_grad=False`` encodes the prompt without gradients (``_detached_stream_logits``): the
    same logits, but the loss trains the adapter only through the reply's positions.

    Only skip programs (each layer at most once, in order) are supported: a looping program
    re-encodes the prompt with itself at inference, which this packing cannot express.
    """
    if not reply_ids:
        raise ValueError("reply_ids is empty: a training reply needs at least one token (e.g. end-of-turn)")
    for program in programs:
        if program.loops:
            raise ValueError(f"stream training supports skip programs only, got looping program {program}")
    if not prompt_grad:
        return _detached_stream_logits(parts, prompt_ids, reply_ids, programs)
    prompt, stream = list(prompt_ids), list(reply_ids[:-1])
    n, p, r = len(programs), len(prompt), len(stream)
    device = parts.device
    ids = torch.tensor([prompt + stream * n], dtype=torch.long, device=device)
    position_ids, mask = stream_layout(p, r, n)
    position_ids, mask = position_ids.to(device), mask.to(device)
    hidden = parts.embed_tokens(ids)
    position_embeddings = parts.position_embeddings(hidden, position_ids)
    stream_of = torch.cat([torch.full((p,), -1), torch.arange(n).repeat_interleave(r)]).to(device)
    hidden = _run_streams(parts, programs, hidden, position_embeddings, position_ids, mask, None, stream_of)
    first = hidden[0, p - 1 : p].expand(n, 1, -1)
    replies = torch.cat([first, hidden[0, p:].reshape(n, r, hidden.shape[-1])], dim=1)
    return parts.logits(replies).float()


def _detached_stream_logits(
    parts: ModelParts,
    prompt_ids: Sequence[int],
    reply_ids: Sequence[int],
    programs: Sequence[LayerProgram],
) -> torch.Tensor:
    """``stream_logits`` (checked there) with the prompt encoded once without gradients into a KV
    cache, which the reply streams then attend to (the adapter still shapes the prompt's keys and
    values, as at inference, but learns only from the reply's positions).

    Why: the prompt is most of every example (tools rendered with their schemas: 300-1500
    tokens against replies of 20-100), and its backward pass is most of a training step's time.
    """
    from transformers import DynamicCache

    prompt, stream = list(prompt_ids), list(reply_ids[:-1])
    n, p, r = len(programs), len(prompt), len(stream)
    device = parts.device
    cache = DynamicCache()
    with torch.no_grad():
        hidden = parts.embed_tokens(torch.tensor([prompt], dtype=torch.long, device=device))
        positions = torch.arange(p, device=device)[None]
        embeddings = parts.position_embeddings(hidden, positions)
        for layer in range(parts.n_layers):
            hidden = parts.run_layer(layer, hidden, embeddings, positions, None, cache)
        first = hidden[0, p - 1 : p].expand(n, 1, -1)
    if r == 0:
        return parts.logits(first).float()
    full_positions, full_mask = stream_layout(p, r, n)
    positions, mask = full_positions[:, p:].to(device), full_mask[:, :, p:, :].to(device)
    hidden = parts.embed_tokens(torch.tensor([stream * n], dtype=torch.long, device=device))
    embeddings = parts.position_embeddings(hidden, positions)
    stream_of = torch.arange(n, device=device).repeat_interleave(r)
    hidden = _run_streams(parts, programs, hidden, embeddings, positions, mask, cache, stream_of)
    replies = torch.cat([first, hidden[0].reshape(n, r, hidden.shape[-1])], dim=1)
    return parts.logits(replies).float()


def _run_streams(parts, programs, hidden, embeddings, positions, mask, cache, stream_of) -> torch.Tensor:
    """Every layer over the packed sequence; a stream whose program skips a layer keeps its input
    there (``stream_of``: each position's stream, -1 for the prompt, which runs every layer)."""
    runs = [set(program.layers) for program in programs]
    for layer in range(parts.n_layers):
        out = parts.run_layer(layer, hidden, embeddings, positions, mask, cache)
        skipping = [s for s in range(len(programs)) if layer not in runs[s]]
        if skipping:
            chosen = ~torch.isin(stream_of, torch.tensor(skipping, device=stream_of.device))
            out = torch.where(chosen[None, :, None], out, hidden)
        hidden = out
    return hidden
