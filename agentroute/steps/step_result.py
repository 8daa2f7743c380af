"""A generation made into an agent step: tool calls parsed, step type observed, routing recorded."""

from __future__ import annotations

from agentroute.steps.records import GenerationResult
from agentroute.steps.routing import RouteDecision
from agentroute.steps.step_types import StepContext, observe_step_type
from agentroute.steps.tools import parse_tool_calls


def step_result(result: GenerationResult, context: StepContext, decision: RouteDecision) -> GenerationResult:
    """Parse tool calls and fill the record's step fields."""
    text, calls, error = result.text, [], None
    if context.tools:
        parsed = parse_tool_calls(result.text, context.tools)
        text, calls, error = (parsed.content if parsed.tool_calls else result.text), parsed.tool_calls, parsed.error
    record = result.record.model_copy(
        update={
            "step_type": decision.step_type,
            "step_type_source": decision.source,
            "step_type_observed": observe_step_type(context, result.text, len(calls)),
            "budget": decision.budget,
            "tool_calls": calls,
            "error": error,
            "finish_reason": "tool_calls" if calls else result.record.finish_reason,
            "hints": context.hints,
        }
    )
    return GenerationResult(text=text, token_ids=result.token_ids, record=record, tool_calls=calls)
