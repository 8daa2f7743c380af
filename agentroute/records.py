"""What one generation produced and what it cost."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, Field


class GenerationRecord(BaseModel):
    """Tokens, timings and layer usage of one generation; serialises to one JSON object."""

    model: str
    quantization: str | None = None
    program: str = Field(description="decode program in compact form, e.g. '0-11,14-29'")
    prefill_program: str = Field(description="program that encoded the prompt")
    layers_per_token: int = Field(description="layer evaluations per decoded token (loops count twice)")
    layers_fraction: float = Field(description="layers_per_token / number of layers in the model")
    prompt_tokens: int
    reused_prompt_tokens: int = Field(0, description="prompt tokens whose KV came from an earlier call")
    completion_tokens: int
    ttft_s: float = Field(description="seconds from the call to the first generated token")
    latency_s: float = Field(description="seconds from the call to the last generated token")
    decode_tokens_per_s: float | None = Field(
        None, description="tokens after the first divided by the time spent decoding them"
    )
    finish_reason: Literal["stop", "length"]
    temperature: float = 0.0
    seed: int | None = None


@dataclass
class GenerationResult:
    """The reply text, its token ids (including a final end-of-turn token) and its record."""

    text: str
    token_ids: list[int]
    record: GenerationRecord

    @property
    def finish_reason(self) -> str:
        return self.record.finish_reason
