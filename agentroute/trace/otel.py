"""OpenTelemetry export of step records as GenAI spans.

``genai_attributes`` maps a StepRecord to the GenAI semantic conventions (``gen_ai.*``) plus
``agentroute.*`` attributes for what the conventions lack (layer programs, step types).
``export_record`` emits one ``chat {model}`` span per step, but only when an SDK tracer provider
is installed; with the API alone (or no OpenTelemetry at all) it does nothing, cheaply.
"""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from typing import Any

from agentroute.steps.records import StepRecord

logger = logging.getLogger(__name__)

AttributeValue = str | int | float | bool | list
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_tracer_cache: dict[str, Any] = {}


def genai_attributes(record: StepRecord) -> dict[str, AttributeValue]:
    """Span attributes for ``record``; fields that are None are left out (OTel forbids None values)."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "agentroute",
        "gen_ai.request.model": record.model,
        "gen_ai.response.model": record.model,
        "gen_ai.response.id": record.id,
        "gen_ai.response.finish_reasons": [record.finish_reason],
        "gen_ai.usage.input_tokens": record.prompt_tokens,
        "gen_ai.usage.output_tokens": record.completion_tokens,
        "gen_ai.request.temperature": record.temperature,
        "gen_ai.request.seed": record.seed,
        "agentroute.step_type": _value(record.step_type),
        "agentroute.step_type_source": record.step_type_source,
        "agentroute.step_type_observed": _value(record.step_type_observed),
        "agentroute.budget": record.budget,
        "agentroute.program": record.program,
        "agentroute.prefill_program": record.prefill_program,
        "agentroute.quantization": record.quantization,
        "agentroute.dtype": record.dtype,
        "agentroute.layers_per_token": record.layers_per_token,
        "agentroute.layers_fraction": record.layers_fraction,
        "agentroute.ttft_s": record.ttft_s,
        "agentroute.latency_s": record.latency_s,
        "agentroute.decode_tokens_per_s": record.decode_tokens_per_s,
        "agentroute.reused_prompt_tokens": record.reused_prompt_tokens,
        "agentroute.error": record.error,
        "agentroute.declined_tools": record.declined_tools,
        "agentroute.no_tool_fits_probability": record.no_tool_fits_probability,
    }
    return {key: value for key, value in attributes.items() if value is not None}


def export_record(record: StepRecord) -> None:
    """Emit ``record`` as a finished span when an OpenTelemetry SDK tracer provider is configured.

    The span is a child of the caller's current span (e.g. a framework's agent span). It never
    raises: telemetry must not break an agent step, so failures are logged at debug level.
    """
    api = _otel_api()
    if api is None:
        return
    try:
        provider = api.get_tracer_provider()
        # The default provider is a proxy that forwards to a no-op one until an SDK is installed.
        if isinstance(provider, (api.ProxyTracerProvider, api.NoOpTracerProvider)):
            return
        tracer = _tracer(provider)
        end_ns = _unix_ns(record.timestamp)
        # The model builds the record when the step ends, so the timestamp is the span's end.
        start_ns = end_ns - int(record.latency_s * 1e9)
        span = tracer.start_span(
            f"chat {record.model}",
            kind=api.SpanKind.CLIENT,
            attributes=genai_attributes(record),
            start_time=start_ns,
        )
        if record.error is not None:
            span.set_attribute("error.type", "agentroute.step_error")
            span.set_status(api.Status(api.StatusCode.ERROR, record.error))
        span.end(end_time=end_ns)
    except Exception:
        logger.debug("could not export step record %s to OpenTelemetry", record.id, exc_info=True)


@functools.cache
def _otel_api():
    """The ``opentelemetry.trace`` module, or None when the API is not installed (checked once)."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace


def _tracer(provider):
    # get_tracer builds a new Tracer each call in the SDK; keep one per provider.
    cached = _tracer_cache.get("tracer")
    if cached is not None and _tracer_cache.get("provider") is provider:
        return cached
    tracer = provider.get_tracer("agentroute", version("agentroute"))
    _tracer_cache.update(provider=provider, tracer=tracer)
    return tracer


def _unix_ns(moment: datetime) -> int:
    if moment.tzinfo is None:  # records written without a zone are UTC, as the model writes them
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1) * 1000


def _value(step_type) -> str | None:
    return None if step_type is None else str(getattr(step_type, "value", step_type))
