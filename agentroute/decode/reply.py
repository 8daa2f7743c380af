"""One generation's checked plan and its growing reply.

``Plan`` is a call checked and ready to run (its options from ``agentroute.decode.options``);
``Reply`` collects tokens and applies the stop rules every decode mode shares
(stop tokens, stop strings, ``max_new_tokens``, streaming).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from agentroute.decode.sampling import Sampler
from agentroute.decode.streaming import TextStreamer
from agentroute.errors import GenerationCancelled
from agentroute.model.program import LayerProgram
from agentroute.steps.records import DecodeMode

if TYPE_CHECKING:
    from agentroute.decode.decline_choice import DeclineChoice


@dataclass(frozen=True)
class Plan:
    """One generation, checked and ready to run."""

    prompt_ids: list[int]
    program: LayerProgram
    prefill_program: LayerProgram
    sampler: Sampler
    max_new_tokens: int
    stop: list[str] | None
    stop_ids: set[int]
    reuse_prefix: bool
    on_text: Callable[[str], None] | None
    mode: DecodeMode
    jump_forward: bool = True
    # A tool-call step's call-or-words choice, made after prefill by a pack's no-tool-fits head:
    # ``sampler.constraint`` holds the calls-only grammar, replaced by words only where it declines.
    decline: DeclineChoice | None = None
    cancelled: Callable[[], object] | None = None  # the caller's stop check (GenerationOptions.cancelled)

    def check_cancelled(self) -> None:
        """Raise GenerationCancelled once the caller's check says stop."""
        if self.cancelled is not None and self.cancelled():
            raise GenerationCancelled


class Reply:
    """The tokens generated so far and the checks every decode mode applies to each new token."""

    def __init__(self, tokenizer, plan: Plan) -> None:
        self._tokenizer = tokenizer
        self._plan = plan
        self._streamer = TextStreamer(tokenizer, plan.on_text, plan.stop) if plan.on_text else None
        self.tokens: list[int] = []
        self.finish = "length"
        self.first_token_at: float | None = None
        self.forced = 0  # tokens the grammar forced (taken without logits), counted by the decode loop

    def push(self, token: int) -> bool:
        """Append ``token``; False once the reply is complete (stop token or string, max_new_tokens).

        Every decode mode keeps its tokens through here, so this is where a cancelled call stops.
        """
        plan = self._plan
        plan.check_cancelled()
        self.tokens.append(token)
        if self.first_token_at is None:
            self.first_token_at = time.perf_counter()
        if token in plan.stop_ids or (plan.stop and any(s in self._decoded() for s in plan.stop)):
            self.finish = "stop"
            return False
        if self._streamer is not None:
            self._streamer.push(self.tokens)
        return len(self.tokens) < plan.max_new_tokens

    def text(self) -> str:
        """The reply's text, cut at the first stop string."""
        text = self._decoded()
        for s in self._plan.stop or []:
            cut = text.find(s)
            if cut != -1:
                text = text[:cut]
        return text

    def _decoded(self) -> str:
        return self._tokenizer.decode(self.tokens, skip_special_tokens=True)

    def finish_stream(self, text: str) -> None:
        if self._streamer is not None:
            self._streamer.finish(text)
