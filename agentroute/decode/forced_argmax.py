"""Teacher-forced scoring: a program's greedy choice at every position of a given reply.

Evaluation asks how often a layer program would pick full depth's next token given full depth's
prefix (``evaluation.metrics``), and the training tests compare packed-stream logits against it.
One parallel pass of the program over the reply does it, after the prompt's prefill, so scoring
a reply just generated costs no second prefill (the prefix cache keeps the prompt).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from agentroute.model import executor
from agentroute.steps.tools import normalize_tools


def forced_argmax(
    model,
    prompt_ids: Sequence[int],
    tokens: Sequence[int],
    program,
    tools: Sequence[Any] | None = None,
    free_text: bool = False,
    decline: bool = False,
    words_only: bool = False,
) -> list[int]:
    """``program``'s greedy next token at every position of ``tokens`` given the true prefix, on
    ``model`` (a RoutedModel); see ``RoutedModel.forced_argmax``."""
    allowed = grammar_masks(model, tools, tokens, free_text, decline, words_only) if tools else None
    program = model.program(program)
    prompt_ids = model._check_prompt(prompt_ids, max(len(tokens), 1))
    prefill_program = model._prefill_program(program, "full")
    parts, prefix = model.parts, model.prefix_cache
    with model._lock, torch.inference_mode():
        try:
            start = prefix.prepare(prompt_ids, prefill_program)
            ids = torch.tensor([prompt_ids[start:]], dtype=torch.long, device=parts.device)
            capacity = len(prompt_ids) + len(tokens)
            logits = executor.prefill(parts, prefix.kv, prefill_program, ids, start, capacity).reshape(1, -1)
            if len(tokens) > 1:
                chunk = torch.tensor([list(tokens[:-1])], dtype=torch.long, device=parts.device)
                rest = executor.forward(parts, prefix.kv, program, chunk, len(prompt_ids), True)
                logits = torch.cat([logits, rest[0]])
            if allowed is not None:
                logits = logits.masked_fill(~allowed.to(logits.device), float("-inf"))
            return logits.argmax(-1).tolist()
        except BaseException:
            prefix.forget()
            raise


def grammar_masks(
    model, tools: Sequence[Any], tokens: Sequence[int], free_text: bool, decline: bool = False, words_only: bool = False
) -> torch.Tensor:
    """The call grammar's allowed tokens at each position of ``tokens`` ([len, vocab])."""
    constraint = model._tool_constraint(normalize_tools(tools), free_text, decline=decline, words_only=words_only)
    vocab = model.parts.vocab_size
    masks = []
    for token in tokens:
        masks.append(constraint.allowed(vocab))
        constraint.advance(token)
    return torch.stack(masks)
