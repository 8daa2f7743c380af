"""Lossless mode: self-speculative decoding. A routed program drafts, full depth verifies.

The routed (draft) program proposes ``k`` tokens one at a time; the full (verifier) program then
runs once over the last verified token plus the ``k`` drafts in parallel, which yields its own
next-token distribution at each of the ``k + 1`` positions. On a memory-bound machine that
parallel pass costs about one decode step, so every accepted draft token saves most of a
full-depth step.

Acceptance
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

KV cache (one ``ProgramKVCache`` shared by draft and verifier; the hole policy of ``kv_cache``)
    Let ``position`` be the number of verified positions; the last emitted token sits there and
    is not in the cache yet. Every verifier slot holds exactly ``[0, position)``.

    1. Draft: the draft program decodes ``last, x1, .., x(k-1)`` at ``position ..``, writing its
       own slots there. It reads only its slots, which all hold ``[0, position)``.
    2. Verify: the full program runs ``last, x1, .., xk`` starting at ``position`` - a position
       every slot holds - and overwrites every verifier slot over ``[position, position + k]``,
       so the draft's entries in shared slots are replaced by full-depth ones. (No crop before
       it: ``update`` overwrites in place, and a looping draft's own slots must keep its
       entries, see below.)
    3. Accept ``a`` drafts plus one new token, then ``crop(position + a + 1)``: the positions
       kept hold the inputs ``last, x1, .., xa``, all verified; nothing unverified survives.
    4. When the reply ends (stop token, stop string, ``max_new_tokens``, possibly in the middle
       of an accepted run), crop to ``len(prompt) + len(reply) - 1``: exactly what routed
       decoding leaves, so prefix reuse by the next call sees a cache it would have built itself.

Looping drafts
    A draft that loops a layer has draft-only slots ``(layer, 1)`` the verifier never writes.
    They are kept complete by running the draft before the verifier over the same positions,
    so the verifier's writes win in every shared slot: the prompt is prefilled by the draft and
    then by full depth (``prefill``), and each round the draft also runs its last draft ``xk``
    (one extra draft pass) so that its slots hold every position the verifier may accept. The
    caller turns prefix reuse off for such calls (a reused prefix would need the draft's slots
    for it, written by this same draft). Skip-only drafts share the full-depth slots and need
    neither.

Adaptive k
    ``k`` starts at ``settings.k_initial``; it grows by one when a whole draft is accepted and
    halves when the first draft token is rejected, within ``[k_min, k_max]``. It is never larger
    than the tokens still allowed minus one (the bonus token), so no pass computes tokens past
    ``max_new_tokens``.

Cost accounting
    ``SpeculativeStats.layer_evaluations`` counts, per forward pass, the program's length: a
    parallel verify pass over ``k + 1`` tokens counts once per layer, because decode time on a
    memory-bound machine follows the weight bytes read and one pass reads each layer once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from agentroute import executor
from agentroute.errors import GenerationError
from agentroute.hf_parts import ModelParts
from agentroute.kv_cache import ProgramKVCache
from agentroute.program import LayerProgram
from agentroute.sampling import Sampler


@dataclass(frozen=True)
class SpeculativeSettings:
    """Draft length control."""

    k_initial: int = field(default=4, metadata={"help": "draft tokens in the first round"})
    k_min: int = field(default=1, metadata={"help": "fewest draft tokens per round"})
    k_max: int = field(default=8, metadata={"help": "most draft tokens per round"})

    def __post_init__(self) -> None:
        if not 1 <= self.k_min <= self.k_initial <= self.k_max:
            raise GenerationError(
                f"speculative settings need 1 <= k_min <= k_initial <= k_max, got k_min={self.k_min}, "
                f"k_initial={self.k_initial}, k_max={self.k_max}"
            )


@dataclass(frozen=True)
class Programs:
    """The program that drafts and the one that verifies (full depth for a lossless reply)."""

    draft: LayerProgram
    verifier: LayerProgram

    def __post_init__(self) -> None:
        if self.verifier.loops:
            raise GenerationError(f"the verifier program {self.verifier} must not loop a layer")
        if not set(self.draft.layers) <= set(self.verifier.layers):
            raise GenerationError(
                f"draft program {self.draft} runs layers the verifier {self.verifier} does not; "
                "their slots would hold unverified keys"
            )


@dataclass
class SpeculativeStats:
    """What a speculative decode did: for the record and for tuning ``k``."""

    tokens: list[int] = field(default_factory=list)  # tokens emitted by this decode, in order
    drafted: int = 0  # draft tokens proposed
    accepted: int = 0  # draft tokens the verifier accepted (before any stop cut the reply)
    draft_passes: int = 0
    verify_passes: int = 0
    layer_evaluations: int = 0  # sum over forward passes of the program's length

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.drafted if self.drafted else None


def prefill(
    parts: ModelParts,
    cache: ProgramKVCache,
    programs: Programs,
    input_ids: torch.Tensor,
    start: int = 0,
    capacity: int | None = None,
) -> torch.Tensor:
    """Encode the prompt for speculative decoding; returns the verifier's next-token logits.

    A looping draft runs first so its draft-only slots hold the prompt; the verifier then
    overwrites every slot the two share.
    """
    if programs.draft.loops:
        executor.prefill(parts, cache, programs.draft, input_ids, start=start, capacity=capacity)
    return executor.prefill(parts, cache, programs.verifier, input_ids, start=start, capacity=capacity)


def decode(
    parts: ModelParts,
    cache: ProgramKVCache,
    programs: Programs,
    sampler: Sampler,
    sequence: list[int],
    limit: int,
    emit: Callable[[int], bool],
    settings: SpeculativeSettings | None = None,
) -> SpeculativeStats:
    """Decode up to ``limit`` more tokens after ``sequence`` (prompt + reply so far).

    The last token of ``sequence`` is not in ``cache`` yet; every verifier slot holds the
    positions before it. Each accepted token is passed to ``emit``, which returns False when the
    reply is complete (stop token or string, length limit); decoding then ends at once.
    ``sequence`` is extended with the emitted tokens; the cache is left cropped to
    ``len(sequence) - 1``.
    """
    settings = settings or SpeculativeSettings()
    stats = SpeculativeStats()
    k = settings.k_initial
    sequence = list(sequence)
    done = limit < 1
    while not done:
        position = len(sequence) - 1
        n_draft = min(k, limit - len(stats.tokens) - 1)
        drafts, draft_probs, allowed = _draft(parts, cache, programs.draft, sampler, sequence, n_draft, stats)
        chunk = torch.tensor([[sequence[-1], *drafts]], dtype=torch.long, device=parts.device)
        logits = executor.forward(parts, cache, programs.verifier, chunk, position, all_logits=True)[0]
        stats.verify_passes += 1
        stats.layer_evaluations += len(programs.verifier)
        if sampler.constraint is not None:
            # Each verifier position gets the grammar mask of the prefix it extends: the one the
            # draft saw there (the last one: after all drafts), so both choose among the same tokens.
            allowed.append(sampler.constraint.allowed(logits.shape[-1]))
            logits = logits.masked_fill(~torch.stack(allowed).to(logits.device), float("-inf"))
        if sampler.greedy:
            accepted, token = _accept_greedy(drafts, logits)
        else:
            accepted, token = _accept_sampled(drafts, draft_probs, logits, sampler, sequence)
        if sampler.constraint is not None:
            sampler.constraint.rollback(n_draft - accepted)
            sampler.constraint.advance(token)
        cache.crop(position + accepted + 1)
        stats.drafted += n_draft
        stats.accepted += accepted
        if n_draft:
            if accepted == n_draft:
                k = min(k + 1, settings.k_max)
            elif accepted == 0:
                k = max(k // 2, settings.k_min)
        for new in [*drafts[:accepted], token]:
            sequence.append(new)
            stats.tokens.append(new)
            if not emit(new) or len(stats.tokens) >= limit:
                done = True
                break
    # A stop may cut an accepted run short: keep only the positions of the reply's inputs.
    cache.crop(len(sequence) - 1)
    return stats


def _draft(parts, cache, draft: LayerProgram, sampler: Sampler, sequence: list[int], n: int, stats):
    """Propose ``n`` tokens with the draft program.

    Returns them, (sampling) their distributions and, under a grammar constraint, the allowed-token
    masks of the ``n`` positions they were drawn at; the constraint is left advanced by all drafts.
    A looping draft also runs its last draft token, so its draft-only slots cover every position
    the verifier can accept (see the module docstring).
    """
    position = len(sequence) - 1
    drafts: list[int] = []
    probs: list[torch.Tensor] = []
    allowed: list[torch.Tensor] = []
    constraint = sampler.constraint
    token = sequence[-1]
    passes = n + 1 if draft.loops else n
    for i in range(passes):
        step = torch.tensor([[token]], dtype=torch.long, device=parts.device)
        logits = executor.decode_step(parts, cache, draft, step, position + i)
        stats.draft_passes += 1
        stats.layer_evaluations += len(draft)
        if i == n:
            break
        if constraint is not None:
            allowed.append(constraint.allowed(logits.shape[-1]))
            logits = constraint.mask(logits, allowed[-1])
        if sampler.greedy:
            token = int(logits.argmax(dim=-1))
        else:
            q = sampler.probs(logits, _history(sequence, drafts))
            token = sampler.draw(q)
            probs.append(q[0])
        drafts.append(token)
        if constraint is not None:
            constraint.advance(token)
    return drafts, probs, allowed


def _accept_greedy(drafts: list[int], logits: torch.Tensor) -> tuple[int, int]:
    """Drafts kept (the prefix equal to the verifier's argmax) and the verifier's next token."""
    targets = logits.argmax(dim=-1).tolist()
    accepted = 0
    while accepted < len(drafts) and drafts[accepted] == targets[accepted]:
        accepted += 1
    return accepted, targets[accepted]


def _accept_sampled(drafts, draft_probs, logits, sampler: Sampler, sequence: list[int]) -> tuple[int, int]:
    """Speculative rejection sampling; returns drafts kept and the token drawn after them."""
    for i, (token, q) in enumerate(zip(drafts, draft_probs, strict=True)):
        p = sampler.probs(logits[i : i + 1], _history(sequence, drafts[:i]))[0]
        # Accept with probability min(1, p/q); q[token] > 0 because the draft drew it.
        if sampler.uniform() * float(q[token]) < float(p[token]):
            continue
        residual = torch.clamp(p - q, min=0)
        # p == q everywhere (up to rounding) leaves no residual mass; p itself is then exact.
        return i, sampler.draw((residual if float(residual.sum()) > 0 else p)[None])
    n = len(drafts)
    return n, sampler.draw(sampler.probs(logits[n : n + 1], _history(sequence, drafts)))


def _history(sequence: list[int], drafts: list[int]) -> torch.Tensor:
    """Token ids before the position being sampled, as the warpers' ``input_ids`` ([1, length])."""
    return torch.tensor([sequence + drafts], dtype=torch.long)
