"""Next-token choice: greedy, or temperature / top-k / top-p sampling with a seeded generator.

The filtering uses transformers' own logits warpers so it behaves exactly as ``generate()`` does.
With a ``constraint`` (a tool-call grammar, ``tool_grammar``) the tokens it forbids are masked
before the choice and the chosen token advances it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from transformers import LogitsProcessorList, TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

from agentroute.errors import GenerationError

if TYPE_CHECKING:
    from agentroute.decode.tool_grammar import TokenConstraint


@dataclass
class Sampler:
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    constraint: TokenConstraint | None = None
    _generator: torch.Generator | None = field(default=None, init=False, repr=False)
    _warpers: LogitsProcessorList | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.temperature is None or self.temperature < 0:
            raise GenerationError(f"temperature must be >= 0 (0 means greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise GenerationError(f"top_p must be in (0, 1], got {self.top_p}")
        if self.top_k is None or self.top_k < 0:
            raise GenerationError(f"top_k must be >= 0 (0 disables it), got {self.top_k}")
        if self.greedy:
            return
        # Record the seed actually used so a sampled reply can be reproduced from its trace.
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(2**31)
        self._generator = torch.Generator().manual_seed(int(self.seed))
        warpers = [TemperatureLogitsWarper(self.temperature)]
        if self.top_k:
            warpers.append(TopKLogitsWarper(self.top_k))
        if self.top_p < 1.0:
            warpers.append(TopPLogitsWarper(self.top_p))
        self._warpers = LogitsProcessorList(warpers)

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def __call__(self, logits: torch.Tensor, input_ids: torch.Tensor | None = None) -> int:
        """Pick the next token from logits of shape [1, vocab] (and advance the constraint by it)."""
        token, _ = self.pick(logits, input_ids)
        if self.constraint is not None:
            self.constraint.advance(token)
        return token

    def pick(
        self, logits: torch.Tensor, input_ids: torch.Tensor | None = None, allowed: torch.Tensor | None = None
    ) -> tuple[int, torch.Tensor | None]:
        """The next token from logits [1, vocab] and, when sampling, the distribution it was drawn
        from ([vocab]); under a constraint, among the tokens its mask (``allowed``, default the
        current state's) admits and its parser accepts. The constraint is not advanced."""
        drawn = {}

        def choose(masked: torch.Tensor) -> int:
            if self.greedy:
                return int(masked.argmax(dim=-1))
            drawn["q"] = self.probs(masked, input_ids)
            return self.draw(drawn["q"])

        token = self.constraint.choose(logits, choose, allowed) if self.constraint is not None else choose(logits)
        return token, drawn["q"][0] if "q" in drawn else None

    def probs(self, logits: torch.Tensor, input_ids: torch.Tensor | None = None) -> torch.Tensor:
        """The distribution sampling draws from: softmax of the warped logits ([1, vocab])."""
        if self.greedy:
            raise GenerationError("a greedy sampler has no sampling distribution; use argmax")
        return torch.softmax(self._warpers(input_ids, logits.float()), dim=-1)

    def draw(self, weights: torch.Tensor) -> int:
        """One token index drawn from ``weights`` ([1, vocab], non-negative, need not sum to 1)."""
        # Sample on the CPU generator so the result does not depend on the device's RNG state.
        return int(torch.multinomial(weights.cpu(), 1, generator=self._generator))

    def uniform(self) -> float:
        """A uniform number in [0, 1) from the same seeded generator (speculative acceptance tests)."""
        return float(torch.rand(1, generator=self._generator))
