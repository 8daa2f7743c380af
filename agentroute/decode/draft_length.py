"""How many tokens lossless mode drafts per round: settings and a cost model from timed passes.

A round drafts ``k`` tokens (``k`` draft passes) and verifies them in one full-depth pass over
every token the round added. It yields ``(1 - a^(k+1)) / (1 - a)`` chosen tokens for an
acceptance rate ``a`` (each draft is kept until the first rejection, then the verifier adds its
own). What a round costs depends on the machine, so it is timed, not assumed (``measure_costs``,
once per draft program and weights): a pass over ``n`` tokens costs a fixed part plus ``n`` times
a per-token part. On a GPU the per-token part is close to zero (a parallel pass costs about one
decode step); on this 2-core CPU a verify pass of 9 tokens costs about twice a one-token pass, so
drafting only pays with a draft far cheaper than full depth (int8 weights, ``draft_weights``)
that full depth agrees with often.

Under a tool-call grammar every chosen token brings ``f`` forced tokens along (counted in the
reply so far), which ride in every pass's chunk, so a round verifies about ``(k + 1)(1 + f)``
tokens. ``k = 0`` is a plain full-depth pass.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field

import torch

from agentroute.errors import GenerationError


@dataclass(frozen=True)
class SpeculativeSettings:
    """Draft length control and draft weights for lossless mode."""

    k_max: int = field(default=8, metadata={"help": "most tokens the draft program chooses per round"})
    prior_acceptance: float = field(default=0.8, metadata={"help": "acceptance rate assumed before any draft"})
    prior_weight: float = field(default=4.0, metadata={"help": "how many drafted tokens the prior counts as"})
    probe_every: int = field(default=16, metadata={"help": "undrafted rounds before drafting one token again"})
    fixed_k: int | None = field(default=None, metadata={"help": "draft exactly this many tokens per round"})
    lookup: bool = field(
        default=True, metadata={"help": "greedy replies also draft tokens copied from the context (prompt lookup)"}
    )
    lookup_prior: float = field(default=0.5, metadata={"help": "acceptance assumed for lookup drafts at first"})
    lookup_ngram: int = field(default=3, metadata={"help": "longest context n-gram matched for prompt lookup"})
    lookup_max: int = field(default=10, metadata={"help": "most tokens copied per round by prompt lookup"})
    replies: bool = field(
        default=True,
        metadata={
            "help": "where the context has no match, greedy replies draft from the route pack's store of the "
            "model's own replies"
        },
    )
    replies_prior: float = field(
        default=0.4, metadata={"help": "acceptance assumed for drafts from the reply store at first"}
    )
    lookup_text: bool = field(
        default=True,
        metadata={"help": "prompt lookup also matches the reply's text where its tokens occur nowhere before"},
    )
    draft_weights: str = field(
        default="auto",
        metadata={"help": "'int8': the draft runs int8 copies of the weights (CPU); 'same'; 'auto': int8 where it can"},
    )

    def __post_init__(self) -> None:
        if self.k_max < 1 or not 0 < self.prior_acceptance < 1 or self.prior_weight <= 0 or self.probe_every < 1:
            raise GenerationError(
                "speculative settings need k_max >= 1, 0 < prior_acceptance < 1, prior_weight > 0 and "
                f"probe_every >= 1, got {self}"
            )
        if self.lookup_ngram < 2 or self.lookup_max < 1 or not 0 < self.lookup_prior < 1:
            raise GenerationError(
                "prompt lookup needs lookup_ngram >= 2, lookup_max >= 1 and 0 < lookup_prior < 1, got "
                f"{self.lookup_ngram}, {self.lookup_max}, {self.lookup_prior}"
            )
        if not 0 < self.replies_prior < 1:
            raise GenerationError(f"replies_prior must be between 0 and 1, got {self.replies_prior}")
        if self.fixed_k is not None and self.fixed_k < 1:
            raise GenerationError(f"fixed_k must be at least 1 (or None for the cost model), got {self.fixed_k}")
        from agentroute.decode.draft_weights import DRAFT_WEIGHTS

        if self.draft_weights not in DRAFT_WEIGHTS:
            raise GenerationError(
                f"draft_weights must be one of {', '.join(DRAFT_WEIGHTS)}, got {self.draft_weights!r}"
            )

    def rate(self, k: int, acceptance: float, costs: PassCosts, forced: float = 0.0) -> float:
        """Expected chosen tokens per second of a round that drafts ``k`` tokens with the program."""
        return (1 - acceptance ** (k + 1)) / (1 - acceptance) / costs.round_seconds(k, forced)

    def lookup_rate(self, acceptance: float, n: int, costs: PassCosts, forced: float = 0.0) -> float:
        """The same for a round that verifies ``n`` tokens copied from the context (no draft pass)."""
        seconds = costs.verify_seconds((n + 1) * (1 + forced))
        return (1 - acceptance ** (n + 1)) / (1 - acceptance) / seconds

    def best_copy(self, acceptance: float, available: int, costs: PassCosts, forced: float = 0.0) -> int:
        """How many of ``available`` copied tokens a round verifies: the most tokens per second,
        0 when a plain pass is expected to do better."""
        rates = [self.lookup_rate(acceptance, n, costs, forced) for n in range(available + 1)]
        return max(range(len(rates)), key=lambda n: (rates[n], -n))

    def best_k(self, acceptance: float, costs: PassCosts, forced: float = 0.0) -> int:
        """Draft length with the most chosen tokens per second, 0 when drafting does not pay.

        ``forced``: forced tokens per chosen one, which ride along in every pass's chunk.
        """
        rates = [self.rate(k, acceptance, costs, forced) for k in range(self.k_max + 1)]  # k = 0: a plain pass
        return max(range(len(rates)), key=lambda k: (rates[k], -k))  # the shortest of equal rates


@dataclass(frozen=True)
class PassCosts:
    """Seconds of a draft pass and of a verify pass: a fixed part plus a part per token in the chunk,
    and, where they were timed, the seconds of chunks of 1, 2, ... rows (``draft_rows``,
    ``verify_rows``), which the cost model reads instead of the straight line.

    Why the rows: under int4 products a chunk's rows cost in blocks of 4 (the kernel dequantizes a
    weight tile once per 4 rows), so on the default model a verify of 2-4 rows costs 1.0-1.4
    one-row passes and one of 5 costs 1.6-1.9 (by context length; docs/speed.md): a line through 1
    and 9 rows put 4 rows at 1.66 and trimmed copies that paid.
    """

    draft_fixed: float
    draft_per_token: float
    verify_fixed: float
    verify_per_token: float
    draft_rows: tuple[float, ...] = ()
    verify_rows: tuple[float, ...] = ()

    def draft_seconds(self, rows: float) -> float:
        return _seconds(rows, self.draft_rows, self.draft_fixed, self.draft_per_token)

    def verify_seconds(self, rows: float) -> float:
        return _seconds(rows, self.verify_rows, self.verify_fixed, self.verify_per_token)

    def round_seconds(self, k: int, forced: float) -> float:
        """A round of ``k`` drafts, each chunk carrying ``forced`` forced tokens per chosen one."""
        chunk = 1 + forced
        return k * self.draft_seconds(chunk) + self.verify_seconds((k + 1) * chunk)


def _seconds(rows: float, timed: tuple[float, ...], fixed: float, per_token: float) -> float:
    """A pass over ``rows`` rows (fractional where forced tokens are counted on average): from the
    timed chunks, linear between two timed sizes and past the longest one; the line without them."""
    if not timed:
        return fixed + per_token * rows
    if rows <= 1:
        return timed[0]
    if rows >= len(timed):
        return timed[-1] + per_token * (rows - len(timed))
    low = int(rows)
    return timed[low - 1] + (timed[low] - timed[low - 1]) * (rows - low)


def measure_costs(
    parts, draft_parts, programs, prompt_ids, k_max: int, repeats: int = 3, verify_rows: tuple[float, ...] = ()
) -> PassCosts:
    """Time draft and verify passes of 1 to ``k_max + 1`` tokens on a scratch cache.

    The passes follow a prefill of (up to 64 of) the prompt's tokens, so they attend to a short
    context; the median of ``repeats`` runs is taken because the machine may be shared. Nothing
    touches the caller's cache. ``verify_rows``: verify passes timed before (they do not depend on
    the draft program), reused instead of timed again. A full-depth draft on the verifier's own
    weights (prompt lookup alone: it never runs) takes the verify times.
    """
    from agentroute.model import executor
    from agentroute.model.kv_cache import ProgramKVCache

    context = list(prompt_ids[:64])
    wide = k_max + 1
    cache = ProgramKVCache()
    ids = torch.tensor([context], device=parts.device)
    if programs.draft.loops:  # its own slots must hold the context too
        executor.prefill(draft_parts, cache, programs.draft, ids)
    executor.prefill(parts, cache, programs.verifier, ids)

    def timed(which, program, n: int, all_logits: bool) -> float:
        chunk = torch.tensor([(context * wide)[:n]], device=parts.device)
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            logits = executor.forward(which, cache, program, chunk, len(context), all_logits=all_logits)
            if logits.is_cuda:
                torch.cuda.synchronize(logits.device)
            times.append(time.perf_counter() - began)
            cache.crop(len(context))
        return statistics.median(times)

    # A verify pass needs the logits of every chosen token; a draft pass the last position's.
    if len(verify_rows) != wide:
        verify_rows = tuple(timed(parts, programs.verifier, n, True) for n in range(1, wide + 1))
    if draft_parts is parts and programs.draft == programs.verifier:
        draft_rows = verify_rows
    else:
        draft_rows = tuple(timed(draft_parts, programs.draft, n, False) for n in range(1, wide + 1))
    fixed_d, per_d = _line(draft_rows)
    fixed_v, per_v = _line(verify_rows)
    return PassCosts(fixed_d, per_d, fixed_v, per_v, draft_rows, verify_rows)


def _line(rows: tuple[float, ...]) -> tuple[float, float]:
    """(fixed part, part per token) of the line through the first and the last timed chunk."""
    per_token = max(rows[-1] - rows[0], 0.0) / max(len(rows) - 1, 1)
    return max(rows[0] - per_token, 1e-6), per_token
