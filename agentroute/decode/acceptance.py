"""Which drafted tokens a lossless round keeps, so the reply is distributed exactly as full depth's.

Greedy: keep the longest prefix of drafts that equal the verifier's argmax, then append the
verifier's own next token (the "bonus" token). The reply is token-for-token full depth's
greedy reply. Sampling: standard speculative rejection sampling (Leviathan et al. 2023,
Chen et al. 2023): accept draft ``x`` with probability ``min(1, p(x) / q(x))``; at the first
rejection draw from ``normalize(max(0, p - q))`` instead and stop; if all are accepted, draw
the bonus token from ``p``. ``p`` (verifier) and ``q`` (draft) are both taken after the
sampler's warpers (temperature, top-k, top-p), so the output is distributed exactly as full
depth's sampled output with the same settings. All randomness comes from the sampler's
seeded generator: a seed reproduces a reply, though not the same reply as routed full-depth
sampling with that seed (the two consume random numbers differently).
"""

from __future__ import annotations

import torch

from agentroute.decode.drafting import token_history
from agentroute.decode.sampling import Sampler


def accept_greedy(drafts: list[int], logits: torch.Tensor) -> tuple[int, int]:
    """Drafts kept (the prefix equal to the verifier's argmax) and the verifier's next token."""
    targets = logits.argmax(dim=-1).tolist()
    accepted = 0
    while accepted < len(drafts) and drafts[accepted] == targets[accepted]:
        accepted += 1
    return accepted, targets[accepted]


def accept_sampled(drafts, draft_probs, logits, sampler: Sampler, sequence: list[int]) -> tuple[int, int]:
    """Speculative rejection sampling; returns drafts kept and the token drawn after them."""
    for i, (token, q) in enumerate(zip(drafts, draft_probs, strict=True)):
        p = sampler.probs(logits[i : i + 1], token_history(sequence, drafts[:i]))[0]
        # Accept with probability min(1, p/q); q[token] > 0 because the draft drew it.
        if sampler.uniform() * float(q[token]) < float(p[token]):
            continue
        residual = torch.clamp(p - q, min=0)
        # p == q everywhere (up to rounding) leaves no residual mass; p itself is then exact.
        return i, sampler.draw((residual if float(residual.sum()) > 0 else p)[None])
    n = len(drafts)
    return n, sampler.draw(sampler.probs(logits[n : n + 1], token_history(sequence, drafts)))
