"""What one agent step produced and what it cost: ``StepRecord`` and ``GenerationResult``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field


class StepType(StrEnum):
    """The kind of agent step a model call serves."""

    TOOL_CALL = "tool_call"
    PLANNING = "planning"
    REASONING = "reasoning"
    FINAL_ANSWER = "final_answer"
    OTHER = "other"


StepTypeSource = Literal["caller", "hint", "rule", "router", "default"]
DecodeMode = Literal["routed", "lossless"]
# What a record says ran: a routed decode whose program is every layer once is full depth, so
# "routed" in a record always means a lossy, cheaper program and "lossless" never reads as routed.
RecordMode = Literal["full", "routed", "lossless"]


class LayersExecuted(BaseModel):
    """Which decoder layers a decoded token ran through."""

    count: int = Field(description="layer evaluations per decoded token (a looped layer counts each time)")
    fraction: float = Field(description="count / number of layers in the model")
    which: list[int] = Field(description="the program's layer indices in execution order")


class ToolCall(BaseModel):
    """One tool call parsed from a reply."""

    id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class SaidArgument(BaseModel):
    """A date or time argument written in words and resolved to its declared form."""

    call: int = Field(description="the call's 1-based position among the calls the reply attempted")
    argument: str = Field(description="the argument's path in the call's arguments, e.g. 'date' or 'time.start'")
    said: str = Field(description="as the reply wrote it, e.g. 'next Friday'")
    value: str | None = Field(
        description="as the call passes it, e.g. '2026-10-02' (None: not read, the call was dropped)"
    )


class StepRecord(BaseModel):
    """Tokens, timings, step type and layer usage of one generation; one JSON line in a trace."""

    id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    timestamp: datetime = Field(default_factory=lambda: datetime.now(UTC))
    model: str
    quantization: str | None = None
    dtype: str | None = Field(None, description="compute dtype of the weights, e.g. 'bfloat16' or 'float32'")
    step_type: StepType = StepType.OTHER
    step_type_source: StepTypeSource = "default"
    step_type_observed: StepType | None = Field(None, description="type the reply turned out to have")
    budget: float | None = Field(None, description="requested fraction of layer cost, when a budget chose the program")
    mode: RecordMode = Field(
        "routed",
        description="'full': every layer decodes; 'routed': a cheaper program decodes (lossy); "
        "'lossless': the program drafts and full depth verifies",
    )
    program: str = Field(
        description="decode program in compact form, e.g. '0-11,14-29' (lossless: the verifier, i.e. full depth)"
    )
    draft_program: str | None = Field(None, description="lossless mode: the program that drafted tokens")
    draft_weights: str | None = Field(
        None, description="lossless mode: 'int8' when the draft ran int8 copies of the weights, 'same' otherwise"
    )
    prefill_program: str = Field(description="program that encoded the prompt")
    layers_per_token: int | float = Field(
        description="layer evaluations per decoded token that the model chose (loops count twice; tokens the "
        "tool-call grammar forced ride along in the next pass, free in every mode, and are left out); lossless: "
        "the average over the decode of draft plus verify passes, a parallel verify pass counting once per layer "
        "and an int8 draft layer (draft_weights) like a float32 one"
    )
    layers_fraction: float = Field(description="layers_per_token / number of layers in the model")
    layers_executed: LayersExecuted | None = Field(None, description="the decode program (lossless: the draft's)")
    drafted_tokens: int | None = Field(
        None, description="lossless mode: tokens the draft program chose (grammar-forced ones left out)"
    )
    accepted_tokens: int | None = Field(None, description="lossless mode: of those, tokens the verifier accepted")
    acceptance_rate: float | None = Field(None, description="accepted_tokens / drafted_tokens (None if none drafted)")
    looked_up_tokens: int | None = Field(
        None, description="lossless mode: tokens copied from the context as drafts (prompt lookup)"
    )
    looked_up_accepted: int | None = Field(None, description="lossless mode: of those, tokens the verifier accepted")
    retrieved_tokens: int | None = Field(
        None, description="lossless mode: drafts retrieved from the route pack's store of the model's own replies"
    )
    retrieved_accepted: int | None = Field(None, description="lossless mode: of those, tokens the verifier accepted")
    forced_tokens: int = Field(
        0, description="reply tokens the tool-call grammar left as the only choice, decoded without logits of their own"
    )
    prompt_tokens: int
    reused_prompt_tokens: int = Field(0, description="prompt tokens whose KV came from an earlier call")
    completion_tokens: int
    ttft_s: float = Field(description="seconds from the call to the first generated token")
    latency_s: float = Field(description="seconds from the call to the last generated token")
    decode_tokens_per_s: float | None = Field(
        None, description="tokens after the first divided by the time spent decoding them"
    )
    finish_reason: Literal["stop", "length", "tool_calls"]
    tool_calls: list[ToolCall] = Field(default_factory=list)
    error: str | None = Field(None, description="why the reply could not be used as asked (e.g. a bad tool call)")
    constrained: bool = Field(False, description="decoded under the tool-call grammar (any call it writes is valid)")
    declined_tools: bool = Field(
        False, description="a step typed as a tool call answered in text: no offered tool fit the request"
    )
    no_tool_fits_probability: float | None = Field(
        None,
        description="the route pack's no-tool-fits head: P(no offered tool fits), read after prefill; at or above "
        "its threshold the step answered in words, below it the step had to call (None: no head decided)",
    )
    said_arguments: list[SaidArgument] = Field(
        default_factory=list,
        description="date and time arguments the reply wrote in words, resolved to the form the tool's schema "
        "declares (steps.said_values)",
    )
    temperature: float = 0.0
    seed: int | None = None
    hints: dict[str, Any] = Field(default_factory=dict, description="framework hints (graph node, agent step, ...)")


# The name issue #2 introduced; a generation is an agent step with default type information.
GenerationRecord = StepRecord


@dataclass
class GenerationResult:
    """The reply text, its token ids (including a final end-of-turn token), parsed tool calls and its record."""

    text: str
    token_ids: list[int]
    record: StepRecord
    tool_calls: list[ToolCall] = field(default_factory=list)

    @property
    def finish_reason(self) -> str:
        return self.record.finish_reason
