"""Run a layer program over an explicit KV cache: ``prefill`` and ``decode_step``.

Both are plain functions over ``ModelParts`` (gpt-fast style) so they can be timed, compiled or
replaced independently. Prefill is parallel over the prompt; decode runs one token and is where
the time goes on every machine (it reads every executed layer's weights once per token), so that
is where skipping layers pays.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence

import torch

from agentroute.model.hf_parts import ModelParts
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.lean_decode import MAX_CHUNK_ROWS, decode_chunk
from agentroute.model.program import LayerProgram


def _causal_mask(query_len: int, start: int, device) -> torch.Tensor | None:
    """Boolean mask (True = attend) for a chunk that starts after ``start`` cached positions.

    None when attention can rely on SDPA's own causal flag (no past) or needs no mask (one query).
    SDPA aligns ``is_causal`` to the top-left corner, which is wrong once keys include a past, so
    multi-token chunks over a past get an explicit mask.
    """
    if query_len == 1 or start == 0:
        return None
    rows = torch.arange(start, start + query_len, device=device)[:, None]
    cols = torch.arange(start + query_len, device=device)[None, :]
    return (cols <= rows)[None, None]


def forward(
    parts: ModelParts,
    cache: ProgramKVCache,
    program: LayerProgram,
    input_ids: torch.Tensor,
    start: int,
    all_logits: bool = False,
    capacity: int | None = None,
    on_layer: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
    logits_at: Sequence[int] | None = None,
    decode: bool = True,
) -> torch.Tensor:
    """Run ``program`` on ``input_ids`` (shape [1, q]) placed at positions ``start..start+q-1``.

    Returns logits of the last position ([1, vocab]), of every position ([1, q, vocab]), or of the
    chunk positions ``logits_at`` ([1, len(logits_at), vocab]: the LM head is the largest matrix
    of a small model, so a verify pass skips the positions whose token the grammar forced).
    ``on_layer(layer, hidden_in, hidden_out)`` observes each executed layer (calibration).

    ``decode``: the chunk is a decode, draft or verify pass (``lean_decode.decode_chunk``): packed
    linears and row-by-row attention where the model has them, in pieces of at most
    ``MAX_CHUNK_ROWS`` tokens, so the chunk equals one-token passes bit for bit. ``prefill`` passes
    False and computes as stock ``generate()`` does.
    """
    query_len = input_ids.shape[1]
    if not decode or start == 0 or query_len <= MAX_CHUNK_ROWS:
        context = decode_chunk() if decode and start > 0 else contextlib.nullcontext()
        with context:
            return _forward(parts, cache, program, input_ids, start, all_logits, capacity, on_layer, logits_at)
    # A long decode chunk runs in pieces: each piece's rows see the keys the pieces before it wrote.
    wanted = list(range(query_len)) if all_logits else logits_at if logits_at is not None else [query_len - 1]
    pieces = []
    for begin in range(0, query_len, MAX_CHUNK_ROWS):
        end = min(begin + MAX_CHUNK_ROWS, query_len)
        rows = [i - begin for i in wanted if begin <= i < end]
        with decode_chunk():
            out = _forward(parts, cache, program, input_ids[:, begin:end], start + begin, False, capacity, on_layer,
                           rows or [end - begin - 1])  # fmt: skip
        if rows:
            pieces.append(out)
    logits = torch.cat(pieces, dim=1)
    return logits if all_logits or logits_at is not None else logits[:, -1]


def _forward(parts, cache, program, input_ids, start, all_logits, capacity, on_layer, logits_at) -> torch.Tensor:
    hidden, position_embeddings, position_ids, mask = chunk_inputs(parts, input_ids, start)
    cache.begin(start, capacity)
    hidden = run_layers(
        parts, cache, program.layers, program.slots, hidden, position_embeddings, position_ids, mask, on_layer
    )
    if logits_at is not None:
        hidden = hidden[:, list(logits_at)]
    elif not all_logits:
        hidden = hidden[:, -1:]
    logits = parts.logits(hidden).float()
    return logits if all_logits or logits_at is not None else logits[:, -1]


def chunk_inputs(parts: ModelParts, input_ids: torch.Tensor, start: int):
    """(embedded tokens, rotary embeddings, position ids, mask) of a chunk placed after ``start`` positions."""
    query_len = input_ids.shape[1]
    if parts.sliding_window is not None and start + query_len > parts.sliding_window:
        raise ValueError(
            f"sequence of {start + query_len} tokens exceeds the model's sliding window of "
            f"{parts.sliding_window}; shorten the conversation"
        )
    hidden = parts.embed_tokens(input_ids)
    position_ids = torch.arange(start, start + query_len, device=input_ids.device)[None]
    return (
        hidden,
        parts.position_embeddings(hidden, position_ids),
        position_ids,
        _causal_mask(query_len, start, input_ids.device),
    )


def run_layers(parts, cache, layers, slots, hidden, position_embeddings, position_ids, mask, on_layer=None):
    """Run ``layers`` (writing KV slot ``slots[i]`` for ``layers[i]``) on a chunk prepared by ``chunk_inputs``.

    The cache must already be positioned with ``cache.begin``. Program search calls this directly
    to resume a program from a shared prefix's hidden state instead of rerunning that prefix.
    """
    for layer, slot in zip(layers, slots, strict=True):
        cache.activate(slot)
        hidden_in = hidden
        hidden = parts.run_layer(layer, hidden, position_embeddings, position_ids, mask, cache)
        if on_layer is not None:
            on_layer(layer, hidden_in, hidden)
    return hidden


def prefill(parts, cache, program, input_ids, start=0, capacity=None, on_layer=None) -> torch.Tensor:
    """Encode the prompt (or the part of it after ``start`` already-cached positions); ``on_layer``
    as in ``forward`` (a no-tool-fits head reads the last prompt token on the way)."""
    return forward(parts, cache, program, input_ids, start, capacity=capacity, on_layer=on_layer, decode=False)


def decode_step(parts, cache, program, token: torch.Tensor, position: int) -> torch.Tensor:
    """Run one token (shape [1, 1]) at ``position``; returns next-token logits [1, vocab]."""
    return forward(parts, cache, program, token, position)
