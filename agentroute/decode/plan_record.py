"""The step record of one decoded plan: programs, layer cost, tokens, timings, lossless counts."""

from __future__ import annotations

from typing import Any

from agentroute.decode.reply import Plan, Reply
from agentroute.decode.speculative import SpeculativeStats
from agentroute.steps.records import LayersExecuted, StepRecord


def plan_record(
    plan: Plan,
    reply: Reply,
    stats: SpeculativeStats | None,
    *,
    reused: int,
    started: float,
    finished: float,
    draft_weights: str | None,
    model: str,
    quantization: str | None,
    n_layers: int,
    dtype: str | None = None,
    no_tool_fits: float | None = None,
) -> StepRecord:
    """The record of ``plan`` decoded into ``reply``; ``reused`` prompt tokens came from the prefix
    cache. In lossless mode the layer cost counts draft and verify passes (``stats``), and
    ``draft_weights`` says which weights drafted ('int8' or 'same'). ``no_tool_fits``: the pack's
    no-tool-fits head's probability, where it chose between calling and declining."""
    program, generated = plan.program, reply.tokens
    decode_time = finished - reply.first_token_at
    layers_per_token = len(program)
    mode = "full" if plan.mode == "routed" and program.is_full else plan.mode
    extra: dict[str, Any] = {"mode": mode, "program": str(program)}
    if plan.mode == "lossless":
        # The reply is the verifier's (full depth); the draft is reported beside it.
        extra["program"] = str(plan.prefill_program)
        layers_per_token = len(plan.prefill_program)
        if stats is not None:
            chosen = len(generated) - 1 - stats.forced  # decoded tokens the model chose
            if chosen > 0:
                layers_per_token = round(stats.layer_evaluations / chosen, 3)
            rate = stats.acceptance_rate
            extra.update(
                draft_program=str(program),
                drafted_tokens=stats.drafted,
                accepted_tokens=stats.accepted,
                acceptance_rate=round(rate, 6) if rate is not None else None,
                draft_weights=draft_weights,
                looked_up_tokens=stats.looked_up,
                looked_up_accepted=stats.looked_up_accepted,
                retrieved_tokens=stats.retrieved,
                retrieved_accepted=stats.retrieved_accepted,
            )
    return StepRecord(
        model=model,
        quantization=quantization,
        dtype=dtype,
        prefill_program=str(plan.prefill_program),
        layers_per_token=layers_per_token,
        layers_fraction=round(layers_per_token / n_layers, 6),
        layers_executed=LayersExecuted(count=len(program), fraction=round(program.cost, 6), which=list(program.layers)),
        prompt_tokens=len(plan.prompt_ids),
        reused_prompt_tokens=reused,
        completion_tokens=len(generated),
        ttft_s=reply.first_token_at - started,
        latency_s=finished - started,
        decode_tokens_per_s=(len(generated) - 1) / decode_time if len(generated) > 1 and decode_time > 0 else None,
        finish_reason=reply.finish,
        temperature=plan.sampler.temperature,
        seed=plan.sampler.seed,
        constrained=plan.sampler.constraint is not None,
        forced_tokens=stats.forced if stats is not None else reply.forced,
        no_tool_fits_probability=None if no_tool_fits is None else round(no_tool_fits, 6),
        **extra,
    )
