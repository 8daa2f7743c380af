"""One generation's settings and its growing reply: options, the checked plan, stop checks.

``GenerationOptions`` are the keywords ``RoutedModel.generate`` accepts; ``Plan`` is a call checked
and ready to run; ``Reply`` collects tokens and applies the stop rules every decode mode shares
(stop tokens, stop strings, ``max_new_tokens``, streaming).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from agentroute.decode.sampling import Sampler
from agentroute.decode.streaming import TextStreamer
from agentroute.errors import GenerationError
from agentroute.model.program import LayerProgram
from agentroute.steps.records import DecodeMode

PrefillMode = Literal["full", "program"]
DECODE_MODES = ("routed", "lossless")
# The integrations' modes: "routed" leaves program and decode mode to the policy, "full" is plain
# full-depth decoding (the reference), "lossless" drafts and verifies every step.
FRAMEWORK_MODES = ("routed", "full", "lossless")


def framework_overrides(mode: str, *, budget: float | None = None, program: Any = None) -> dict[str, Any]:
    """The ``generate`` keywords an integration's ``mode`` sets on a call (``FRAMEWORK_MODES``).

    "full" decodes plainly even where the policy is lossless, at full depth unless the call brings
    its own ``budget`` or ``program`` (full mode is the default depth, not a lock); "lossless"
    sets lossless decoding; "routed" sets nothing.
    """
    if mode == "full":
        return {"mode": "routed"} if budget is not None or program is not None else {"mode": "routed", "budget": 1.0}
    return {"mode": "lossless"} if mode == "lossless" else {}


@dataclass(frozen=True)
class GenerationOptions:
    """How to pick, stop and stream tokens; shared by ``generate`` and ``generate_ids``."""

    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: Sequence[str] | None = None
    prefill: PrefillMode = "full"
    reuse_prefix: bool | None = None
    ignore_eos: bool = False
    on_text: Callable[[str], None] | None = None
    mode: DecodeMode | None = None  # None: the policy's mode for the step type (generate_ids: routed)
    constrain: bool = True  # tool_call steps with tools decode under the call grammar (generate only)
    jump_forward: bool = True  # tokens the grammar forces skip their own forward pass (same reply)


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
        """Append ``token``; False once the reply is complete (stop token or string, max_new_tokens)."""
        plan = self._plan
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


def parse_options(options: dict[str, Any]) -> GenerationOptions:
    """Generation keywords -> GenerationOptions; an unknown keyword is a clear error."""
    unknown = set(options) - set(GenerationOptions.__dataclass_fields__)
    if unknown:
        raise GenerationError(
            f"unknown generation option(s) {sorted(unknown)}; use {', '.join(GenerationOptions.__dataclass_fields__)}"
        )
    return GenerationOptions(**options)


def check_stop(stop) -> list[str] | None:
    """Stop strings as a list of non-empty strings (one string is accepted too)."""
    if stop is None:
        return None
    if isinstance(stop, str):
        stop = [stop]
    stop = list(stop)
    if not all(isinstance(s, str) and s for s in stop):
        raise GenerationError(f"stop must be a list of non-empty strings, got {stop!r}")
    return stop
