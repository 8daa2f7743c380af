"""Call or words: a tool-call step's choice, made once its prompt is prefilled.

With a pack's no-tool-fits head (``steps.decline_head``) a tool-call step that may decline does not
leave the choice to its first token: it starts under the calls-only grammar, the head reads the
last prompt token's hidden state after its layer, which the step's own prefill computes on the way
(full depth's first layers in order, the default for every decode mode; a program prefill that
skips or reorders them runs those layers once more), and at or above the threshold the reply's
grammar becomes declining words only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from agentroute.decode.tool_grammar import TokenConstraint
from agentroute.model.program import LayerProgram
from agentroute.steps.decline_head import DeclineHead
from agentroute.steps.prompt_states import prompt_hidden


@dataclass(frozen=True)
class DeclineChoice:
    layer: int  # the head reads the last prompt token after this many decoder layers
    head: DeclineHead
    threshold: float
    words: Callable[[], TokenConstraint]  # a fresh grammar state admitting only text that declines

    def reads(self, prefill_program: LayerProgram) -> bool:
        """Whether ``prefill_program`` passes through full depth's first ``layer`` layers in order."""
        return list(prefill_program.layers[: self.layer]) == list(range(self.layer))

    def capture(self) -> LastTokenCapture:
        return LastTokenCapture(self.layer)

    def decide(self, hidden: torch.Tensor) -> tuple[TokenConstraint | None, float]:
        """(the declining-words grammar state, or None to keep calling; P(no tool fits)) from the
        last prompt token's hidden state."""
        probability = self.head.probability(hidden)
        return (self.words() if probability >= self.threshold else None), probability

    def decide_apart(self, parts, prompt_ids: Sequence[int]) -> tuple[TokenConstraint | None, float]:
        """``decide`` with the head's layers run over the prompt on their own (a prefill that does
        not pass through them)."""
        return self.decide(prompt_hidden(parts, prompt_ids, self.layer)[-1])


def decline_choice(pack, constraint: Callable[..., TokenConstraint]) -> DeclineChoice | None:
    """With ``pack``'s no-tool-fits head, a tool-call step's choice; None (no pack, or one without a
    head) leaves it to the reply's first token under the call-or-words grammar. ``constraint(**kw)``
    builds the step's grammar state (``RoutedModel._tool_constraint`` for its tools)."""
    head = pack.decline_head if pack is not None else None
    if head is None:
        return None
    spec = pack.manifest.decline
    return DeclineChoice(spec.layer, head, spec.threshold, words=lambda: constraint(decline=True, words_only=True))


class LastTokenCapture:
    """An ``on_layer`` hook for a prefill: keeps the last row's hidden state after ``layer`` layers."""

    def __init__(self, layer: int) -> None:
        self.layer = layer
        self.seen = 0
        self.hidden: torch.Tensor | None = None

    def __call__(self, _layer: int, _hidden_in: torch.Tensor, hidden: torch.Tensor) -> None:
        self.seen += 1
        if self.seen == self.layer:
            self.hidden = hidden[0, -1].detach().clone()
