"""One lossless round's draft: tokens the draft program chooses, the grammar forces or prompt lookup copies.

The draft runs ahead of the verifier on the shared KV cache (``agentroute.decode.speculative``
documents which slots hold what); this module only proposes, ``acceptance`` decides what stays.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from agentroute.decode.sampling import Sampler
from agentroute.model import executor
from agentroute.model.program import LayerProgram


@dataclass
class Draft:
    """One round's proposal: tokens, whether the grammar forced each, and what verification needs."""

    tokens: list[int] = field(default_factory=list)
    forced: list[bool] = field(default_factory=list)
    looked_up: list[bool] = field(default_factory=list)  # copied from the context, not chosen by a pass
    probs: list[torch.Tensor] = field(default_factory=list)  # sampling: the draft's distribution per token
    allowed: list[torch.Tensor] = field(default_factory=list)  # grammar: the mask each token was drawn under

    def add(
        self, token: int, forced: bool, probs: torch.Tensor | None, allowed: torch.Tensor | None, looked_up=False
    ) -> None:
        self.tokens.append(token)
        self.forced.append(forced)
        self.looked_up.append(looked_up)
        if probs is not None:
            self.probs.append(probs)
        if allowed is not None:
            self.allowed.append(allowed)


def draft_round(
    parts, cache, program, sampler: Sampler, sequence: list[int], k: int, room: int, stats, jump, copied=()
):
    """Propose up to ``k`` tokens chosen by the draft ``program`` and every forced token before,
    between and after them, at most ``room`` in all (with ``k`` = 0: just the forced run ahead).
    Forced tokens wait in ``pending`` and run with the next draft pass. Under a constraint the
    grammar is left advanced by all drafts. A looping draft also runs its pending tokens at the end,
    so its draft-only slots cover every position the verifier can accept (see
    ``agentroute.decode.speculative``); a skip draft leaves them to the verify pass, which writes
    every shared slot. ``copied``: prompt-lookup tokens drafted in order (no pass of their own)
    until one is not allowed by the grammar; a forced token must equal the next copied one, else
    copying stops.
    """
    copied = list(copied)
    draft = Draft()
    constraint = sampler.constraint
    start = len(sequence) - 1  # position of pending[0]
    pending = [sequence[-1]]
    chosen = 0
    while len(draft.tokens) < room:
        allowed = None
        if constraint is not None:
            if constraint.stopped:
                break  # only the end-of-turn token can follow, and it is already drafted
            forced = constraint.forced_token(parts.vocab_size) if jump else None
            allowed = constraint.allowed(parts.vocab_size)
            if forced is not None:
                copied = copied[1:] if copied and copied[0] == forced else []
                draft.add(forced, True, None if sampler.greedy else allowed.float(), allowed)
                constraint.advance(forced)
                pending.append(forced)
                continue
        if copied:
            token = copied.pop(0)
            if allowed is not None and not bool(allowed[token]):
                break
            draft.add(token, False, None, allowed, looked_up=True)
            pending.append(token)
            if constraint is not None:
                constraint.advance(token)
            if not copied:
                break
            continue
        if chosen == k:
            break
        logits = draft_pass(parts, cache, program, pending, start, stats)
        start += len(pending)
        history = None if sampler.greedy else token_history(sequence, draft.tokens)
        token, q = sampler.pick(logits, history, allowed)
        draft.add(token, False, q, allowed)
        pending = [token]
        chosen += 1
        if constraint is not None:
            constraint.advance(token)
    if program.loops:
        draft_pass(parts, cache, program, pending, start, stats)
    return draft


def draft_pass(parts, cache, program: LayerProgram, tokens: list[int], start: int, stats) -> torch.Tensor:
    """One draft pass over ``tokens`` at ``start``; the last position's logits."""
    chunk = torch.tensor([tokens], dtype=torch.long, device=parts.device)
    stats.draft_passes += 1
    stats.layer_evaluations += len(program)
    return executor.forward(parts, cache, program, chunk, start)


def token_history(sequence: list[int], drafts: list[int]) -> torch.Tensor:
    """Token ids before the position being sampled, as the warpers' ``input_ids`` ([1, length])."""
    return torch.tensor([sequence + drafts], dtype=torch.long)
