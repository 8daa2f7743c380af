"""The decode loop of routed (non-lossless) mode: one layer program per token, grammar jump-forward."""

from __future__ import annotations

import torch

from agentroute.decode.reply import Plan, Reply
from agentroute.model import executor
from agentroute.model.hf_parts import ModelParts
from agentroute.model.kv_cache import ProgramKVCache


def routed_loop(parts: ModelParts, kv: ProgramKVCache, plan: Plan, reply: Reply, history: torch.Tensor | None) -> None:
    """Decode with ``plan.program`` until ``reply`` is complete.

    A token the tool-call grammar forces (``TokenConstraint.forced_token``) is taken without
    a forward pass of its own: it joins the next pass's chunk, so a run of forced tokens costs
    one pass together with the token after it. The reply is the one token-by-token decoding
    writes; at the end the cache holds every reply token but the last, as it would then.
    """
    constraint = plan.sampler.constraint
    jump = constraint is not None and plan.jump_forward
    position = len(plan.prompt_ids)  # where ``pending`` starts: the tokens not in the cache yet
    pending = [reply.tokens[-1]]
    while True:
        token = constraint.forced_token(parts.vocab_size) if jump else None
        if token is None:
            if history is not None:
                history = torch.cat([history, torch.tensor([pending])], dim=1)
            chunk = torch.tensor([pending], dtype=torch.long, device=parts.device)
            logits = executor.forward(parts, kv, plan.program, chunk, position)
            position += len(pending)
            token = plan.sampler(logits, history)
            pending = [token]
        else:
            constraint.advance(token)
            pending.append(token)
            reply.forced += 1
        if not reply.push(token):
            break
    if len(pending) > 1:
        chunk = torch.tensor([pending[:-1]], dtype=torch.long, device=parts.device)
        executor.forward(parts, kv, plan.program, chunk, position)
