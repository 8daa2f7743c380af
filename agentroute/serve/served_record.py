"""The ``StepRecord`` of a served step, before ``step_result`` adds the step's type, calls and hints.

Measured here: latency (the whole exchange), time to first token (the first streamed piece; for a
plain request the server's own figure plus the exchange's overhead, else the latency), tokens
from ``usage``. What ran comes from the manifest entry: its program (in the full model's layer
indices, which an exported checkpoint no longer knows), prefilled by itself, as exported programs
are. ``agentroute serve`` adds its own record; what only the server knows (the grammar's forced
tokens, whether it constrained, reused prompt tokens, quantization) is kept from it.
"""

from __future__ import annotations

from typing import Any

from agentroute.decode.options import GenerationOptions
from agentroute.model.program import LayerProgram
from agentroute.serve.endpoints import ServedEntry
from agentroute.serve.transport import Reply
from agentroute.steps.records import LayersExecuted, StepRecord

# What a served entry's record says about the decode, replaced from the entry (lossless fields too:
# an engine's speculative draft is the engine's business, and the reply is full depth's either way).
_DECODE_DEFAULTS = {
    "draft_program": None,
    "draft_weights": None,
    "drafted_tokens": None,
    "accepted_tokens": None,
    "acceptance_rate": None,
    "looked_up_tokens": None,
    "looked_up_accepted": None,
    "retrieved_tokens": None,
    "retrieved_accepted": None,
}


def served_record(
    entry: ServedEntry, reply: Reply, settings: GenerationOptions, model: str, n_layers: int | None, dtype: str | None
) -> StepRecord:
    server = StepRecord.model_validate(reply.ours["record"]) if isinstance(reply.ours.get("record"), dict) else None
    prompt = _count(reply.usage, "prompt_tokens", server.prompt_tokens if server else 0)
    completion = _count(reply.usage, "completion_tokens", server.completion_tokens if server else 0)
    latency = reply.latency_s
    ttft = reply.ttft_s if reply.ttft_s is not None else _estimated_ttft(server, latency)
    fields: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "ttft_s": ttft,
        "latency_s": latency,
        "decode_tokens_per_s": (completion - 1) / (latency - ttft) if completion > 1 and latency > ttft else None,
        "finish_reason": "length" if reply.finish_reason == "length" else "stop",
        "temperature": settings.temperature,
        "seed": settings.seed,
    }
    if entry.program is not None:
        fields.update(program_fields(entry.program), model=model, dtype=dtype or (server.dtype if server else None))
    if server is not None:
        return server.model_copy(update=fields)
    if entry.program is None:  # an engine known by URL only: it serves its checkpoint whole
        fields.update(model=model, mode="full", program="full", prefill_program="full", layers_fraction=1.0)
        fields["layers_per_token"] = n_layers or 0
    return StepRecord(**fields)


def program_fields(program: LayerProgram) -> dict[str, Any]:
    """A served program's decode fields: it decodes alone and prefills with itself."""
    cost = round(program.cost, 6)
    return {
        **_DECODE_DEFAULTS,
        "mode": "full" if program.is_full else "routed",
        "program": str(program),
        "prefill_program": str(program),
        "layers_per_token": len(program),
        "layers_fraction": cost,
        "layers_executed": LayersExecuted(count=len(program), fraction=cost, which=list(program.layers)),
    }


def _count(usage: dict[str, Any], key: str, fallback: int) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else fallback


def _estimated_ttft(server: StepRecord | None, latency: float) -> float:
    """The server's time to first token plus what the exchange added to its latency."""
    if server is None:
        return latency
    return min(latency, max(0.0, server.ttft_s + latency - server.latency_s))
