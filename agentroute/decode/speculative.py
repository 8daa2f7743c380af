"""Lossless mode: self-speculative decoding. A routed program drafts, full depth verifies.

The routed (draft) program proposes ``k`` tokens one at a time; the full (verifier) program then
runs once over the last verified token plus the ``k`` drafts in parallel, which yields its own
next-token distribution at each of the ``k + 1`` positions. On a memory-bound machine that
parallel pass costs about one decode step, so every accepted draft token saves most of a
full-depth step.

Acceptance: ``agentroute.decode.acceptance`` (greedy prefix match, or speculative rejection
sampling that keeps full depth's distribution).

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

Draft length and draft weights
    Each round drafts the ``k`` that maximises the expected tokens per second, given the
    acceptance rate observed so far in this reply (starting from ``settings.prior_acceptance``)
    and the timed cost of draft and verify passes (``agentroute.decode.draft_length``); ``k = 0`` is a plain
    full-depth pass, so lossless mode falls back to full depth's speed where drafting does not
    pay. After ``probe_every`` such rounds one token is drafted again. ``fixed_k`` turns the
    model off (tests of the mechanism, benchmarks of one draft length). ``k`` is never larger
    than the tokens still allowed minus one (the bonus token), so no pass computes tokens past
    ``max_new_tokens``. The draft may run on other weights than the verifier (``draft_parts``:
    int8 copies on a CPU, ``agentroute.decode.draft_weights``): the reply stays the verifier's, only
    the acceptance rate changes. The draft's keys for draft tokens are overwritten by the verify
    pass like any other draft entry.

Cost accounting
    ``SpeculativeStats.layer_evaluations`` counts, per forward pass, the program's length: a
    parallel verify pass over ``k + 1`` tokens counts once per layer, because decode time on a
    memory-bound machine follows the weight bytes read and one pass reads each layer once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch

from agentroute.decode.acceptance import accept_greedy, accept_sampled
from agentroute.decode.draft_length import PassCosts, SpeculativeSettings, measure_costs
from agentroute.decode.drafting import Draft, draft_round, token_history
from agentroute.decode.prompt_lookup import lookup_continuation
from agentroute.decode.reply_store import ReplyStore
from agentroute.decode.sampling import Sampler
from agentroute.errors import GenerationError
from agentroute.model import executor
from agentroute.model.hf_parts import ModelParts
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.program import LayerProgram

# The draft-length names stay importable from here, where lossless mode is documented.
__all__ = [
    "PassCosts",
    "Programs",
    "SpeculativeSettings",
    "SpeculativeStats",
    "decode",
    "draft_sources",
    "measure_costs",
    "prefill",
]


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
    drafted: int = 0  # tokens the draft program chose (grammar-forced drafts are not counted)
    accepted: int = 0  # of those, tokens the verifier accepted (before any stop cut the reply)
    forced: int = 0  # emitted tokens the grammar forced (drafted without logits, accepted by construction)
    looked_up: int = 0  # drafted tokens copied from the context (prompt lookup), verified like the others
    looked_up_accepted: int = 0  # of those, tokens the verifier accepted
    retrieved: int = 0  # drafted tokens retrieved from a store of the model's own replies (``reply_store``)
    retrieved_accepted: int = 0  # of those, tokens the verifier accepted
    draft_passes: int = 0
    verify_passes: int = 0
    layer_evaluations: int = 0  # sum over forward passes of the program's length

    @property
    def acceptance_rate(self) -> float | None:
        return self.accepted / self.drafted if self.drafted else None


def draft_sources(draft: LayerProgram, same_weights: bool, settings: SpeculativeSettings, greedy: bool):
    """(whether the draft program drafts, whether prompt lookup drafts) for a lossless reply.

    A full-depth draft on the verifier's own weights would cost what it saves, so it never runs;
    prompt lookup copies the argmax path only, so it drafts for greedy replies."""
    return not (draft.is_full and same_weights), settings.lookup and greedy


def prefill(
    parts: ModelParts,
    cache: ProgramKVCache,
    programs: Programs,
    input_ids: torch.Tensor,
    start: int = 0,
    capacity: int | None = None,
    draft_parts: ModelParts | None = None,
    on_layer=None,
) -> torch.Tensor:
    """Encode the prompt for speculative decoding; returns the verifier's next-token logits.

    A looping draft runs first (on ``draft_parts``, default ``parts``) so its draft-only slots
    hold the prompt; the verifier then overwrites every slot the two share. ``on_layer`` observes
    the verifier's layers (``executor.forward``).
    """
    if programs.draft.loops:
        executor.prefill(draft_parts or parts, cache, programs.draft, input_ids, start=start, capacity=capacity)
    verifier = programs.verifier
    return executor.prefill(parts, cache, verifier, input_ids, start=start, capacity=capacity, on_layer=on_layer)


def decode(
    parts: ModelParts,
    cache: ProgramKVCache,
    programs: Programs,
    sampler: Sampler,
    sequence: list[int],
    limit: int,
    emit: Callable[[int], bool],
    settings: SpeculativeSettings | None = None,
    jump_forward: bool = True,
    draft_parts: ModelParts | None = None,
    costs: PassCosts | None = None,
    text_lookup: Callable[[list[int], int], list[int]] | None = None,
    replies: ReplyStore | None = None,
    reply_start: int | None = None,
) -> SpeculativeStats:
    """Decode up to ``limit`` more tokens after ``sequence`` (prompt + reply so far).

    The last token of ``sequence`` is not in ``cache`` yet; every verifier slot holds the
    positions before it. Each accepted token is passed to ``emit``, which returns False when the
    reply is complete (stop token or string, length limit); decoding then ends at once.
    ``sequence`` is extended with the emitted tokens; the cache is left cropped to
    ``len(sequence) - 1``.

    Under a tool-call grammar, tokens it forces (``TokenConstraint.forced_token``) are drafted
    without a draft pass and need no verifier logits: given the accepted prefix before them, full
    depth's masked choice is that token. They still go through the verify pass for their keys.
    ``jump_forward=False`` drafts them like any other token. The draft runs on ``draft_parts``
    (default ``parts``: the verifier's weights). ``costs``: the pass times that set the draft
    length (``draft_length.measure_costs``; measured here when not given and ``k`` is not fixed).
    ``text_lookup``: copies matched on text (``prompt_lookup.TextLookup``, in a reply that is a
    call), tried before token n-grams, which copy where it finds nothing. ``replies``: a store of
    the model's own replies (``reply_store``), drafting where the context has no match; its
    acceptance is estimated apart from the context's, since it guesses rather than copies.
    ``reply_start``: where the reply begins in ``sequence`` (the store matches a reply's opening).
    """
    settings = settings or SpeculativeSettings()
    stats = SpeculativeStats()
    draft_parts = draft_parts or parts
    program_drafts, lookup = draft_sources(programs.draft, draft_parts is parts, settings, sampler.greedy)
    if costs is None and settings.fixed_k is None and program_drafts:
        costs = measure_costs(parts, draft_parts, programs, sequence, settings.k_max)
    kept, seen = settings.prior_acceptance * settings.prior_weight, settings.prior_weight  # acceptance estimate
    # The same for copies: [kept, seen] for the context (prompt lookup) and for the reply store.
    copy_counts = {
        False: [settings.lookup_prior * settings.prior_weight, settings.prior_weight],
        True: [settings.replies_prior * settings.prior_weight, settings.prior_weight],
    }
    # The store holds text replies: it drafts where the reply may be text (no grammar, or one that
    # allows words), not under a calls-only grammar, which would refuse its first token anyway.
    writes_text = sampler.constraint is None or sampler.constraint.text
    retrieve = lookup and replies is not None and settings.replies and writes_text
    idle = 0  # rounds in a row without drafts
    sequence = list(sequence)
    done = limit < 1
    constraint = sampler.constraint
    while not done:
        position = len(sequence) - 1
        copied = text_lookup(sequence, settings.lookup_max) if lookup and text_lookup is not None else []
        if lookup and not copied:
            copied = lookup_continuation(sequence, settings.lookup_ngram, settings.lookup_max)
        retrieved = retrieve and not copied
        if retrieved:
            copied = replies.draft(sequence, settings.lookup_max, reply_start)
        copy_kept, copy_seen = copy_counts[retrieved]
        forced_per_chosen = stats.forced / max(1, len(stats.tokens) - stats.forced)
        if not program_drafts:
            k = 0
        elif settings.fixed_k:
            k = settings.fixed_k
        else:
            k = settings.best_k(min(kept / seen, 0.999), costs, forced_per_chosen)
        if copied and costs is not None:
            # Copy only as many tokens as their verify rows pay for (rows cost more where products
            # work in blocks, as the int4 kernel's 4-row blocks do); none where a plain pass pays more.
            acceptance = min(copy_kept / copy_seen, 0.999)
            copied = copied[: settings.best_copy(acceptance, len(copied), costs, forced_per_chosen)]
        if copied and k > 0 and costs is not None:
            # A round drafts from the context or by the program, not both: the one expected to
            # yield more tokens per second, from each one's acceptance so far in this reply.
            copy_rate = settings.lookup_rate(min(copy_kept / copy_seen, 0.999), len(copied), costs, forced_per_chosen)
            if copy_rate < settings.rate(k, min(kept / seen, 0.999), costs, forced_per_chosen):
                copied = []
        if copied:
            k = 0
        if k == 0 and program_drafts and not copied and idle >= settings.probe_every:
            k = 1  # drafting did not pay so far: try one token to see whether that changed
        idle = idle + 1 if k == 0 else 0
        room = limit - len(stats.tokens) - 1
        draft = draft_round(draft_parts, cache, programs.draft, sampler, sequence, k, room, stats, jump_forward, copied)
        logits = _verify(parts, cache, programs.verifier, sequence[-1], draft, position, stats)
        if constraint is not None:
            # Each verifier position gets the grammar mask of the prefix it extends: the one the
            # draft saw there (the last one: after all drafts), so both choose among the same tokens.
            masks = [*draft.allowed, constraint.allowed(logits.shape[-1])]
            logits = logits.masked_fill(~torch.stack(masks).to(logits.device), float("-inf"))
        if sampler.greedy:
            accepted, token = accept_greedy(draft.tokens, logits)
        else:
            accepted, token = accept_sampled(draft.tokens, draft.probs, logits, sampler, sequence)
        if constraint is not None:
            constraint.rollback(len(draft.tokens) - accepted)
            if not constraint.accepts(token):
                # The mask let through a token the parser refuses: the verifier's next choice, as
                # full depth's sampler takes it (``TokenConstraint.choose``).
                history = None if sampler.greedy else token_history(sequence, draft.tokens[:accepted])
                token = sampler.pick(logits[accepted : accepted + 1], history)[0]
            constraint.advance(token)
        cache.crop(position + accepted + 1)
        copies = draft.looked_up
        if retrieved:
            stats.retrieved += sum(copies)
            stats.retrieved_accepted += sum(copies[:accepted])
        else:
            stats.looked_up += sum(copies)
            stats.looked_up_accepted += sum(copies[:accepted])
        copy_counts[retrieved][0] += sum(copies[:accepted])
        copy_counts[retrieved][1] += sum(copies[:accepted]) + int(accepted < len(draft.tokens) and copies[accepted])
        chosen = [not f and not c for f, c in zip(draft.forced, copies, strict=True)]
        stats.drafted += sum(chosen)
        stats.accepted += sum(chosen[:accepted])
        # Each chosen draft up to the first rejection is one observation of the acceptance rate;
        # the ones after it were never tested.
        kept += sum(chosen[:accepted])
        seen += sum(chosen[:accepted]) + int(accepted < len(draft.tokens) and chosen[accepted])
        for index, new in enumerate([*draft.tokens[:accepted], token]):
            sequence.append(new)
            stats.tokens.append(new)
            stats.forced += int(index < accepted and draft.forced[index])
            if not emit(new) or len(stats.tokens) >= limit:
                done = True
                break
    # A stop may cut an accepted run short: keep only the positions of the reply's inputs.
    cache.crop(len(sequence) - 1)
    return stats


def _verify(parts, cache, verifier: LayerProgram, last: int, draft: Draft, position: int, stats) -> torch.Tensor:
    """Full-depth logits after ``last`` and each draft token ([len(draft.tokens) + 1, vocab]), in one pass.

    Rows that predict a forced token are left at zero (the LM head is skipped for them): the
    grammar mask turns them into that token alone.
    """
    chunk = torch.tensor([[last, *draft.tokens]], dtype=torch.long, device=parts.device)
    stats.verify_passes += 1
    stats.layer_evaluations += len(verifier)
    needed = [i for i, forced in enumerate(draft.forced) if not forced] + [len(draft.tokens)]
    if len(needed) == chunk.shape[1]:
        return executor.forward(parts, cache, verifier, chunk, position, all_logits=True)[0]
    rows = executor.forward(parts, cache, verifier, chunk, position, logits_at=needed)[0]
    logits = rows.new_zeros(chunk.shape[1], rows.shape[-1])
    logits[needed] = rows
    return logits
