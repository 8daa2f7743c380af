"""A generation made into an agent step: tool calls parsed, step type observed, routing recorded."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import jsonschema

from agentroute.steps.records import GenerationResult, StepType
from agentroute.steps.reply_parsing import parse_tool_calls
from agentroute.steps.routing import RouteDecision
from agentroute.steps.said_values import stated_today
from agentroute.steps.step_types import StepContext, observe_step_type


def step_result(
    result: GenerationResult,
    context: StepContext,
    decision: RouteDecision,
    json_schema: dict | None = None,
    said_values: bool = False,
) -> GenerationResult:
    """Parse tool calls and fill the record's step fields; with ``json_schema`` (structured output)
    a reply that makes no call is checked as one JSON value of the schema; ``said_values``: the
    model was trained to word dates and times (``steps.said_values``)."""
    text, calls, error, said = result.text, [], None, []
    if context.tools:
        digest, today = conversation_digest(context.messages), stated_today(context.messages)
        parsed = parse_tool_calls(result.text, context.tools, digest, today, said_values)
        text, calls, error = (parsed.content if parsed.tool_calls else result.text), parsed.tool_calls, parsed.error
        said = parsed.said_arguments
    if json_schema is not None and not calls:
        error = json_answer_error(text, json_schema)
    record = result.record.model_copy(
        update={
            "step_type": decision.step_type,
            "step_type_source": decision.source,
            "step_type_observed": observe_step_type(context, result.text, len(calls)),
            "budget": decision.budget,
            "tool_calls": calls,
            "said_arguments": said,
            "error": error,
            "finish_reason": "tool_calls" if calls else result.record.finish_reason,
            "hints": context.hints,
            # A JSON answer under a response format is the step's answer, not a declined call.
            "declined_tools": bool(context.tools)
            and decision.step_type == StepType.TOOL_CALL
            and not calls
            and error is None
            and json_schema is None,
        }
    )
    return GenerationResult(text=text, token_ids=result.token_ids, record=record, tool_calls=calls)


def json_answer_error(text: str, schema: dict[str, Any]) -> str | None:
    """Why ``text`` is not one JSON value valid for ``schema`` (a reply cut off by max_new_tokens,
    or a keyword the grammar engine skips), or None."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return f"the reply is not the JSON the schema asks for: {exc}"
    violation = jsonschema.exceptions.best_match(jsonschema.validators.validator_for(schema)(schema).iter_errors(value))
    return None if violation is None else f"the reply breaks the JSON schema: {violation.message}"


def conversation_digest(messages: list[dict[str, Any]]) -> str:
    """A short digest of the conversation a reply answers: it keeps call ids apart across turns."""
    text = json.dumps(messages, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:16]
