"""Structured output: ``generation_kwargs["response_format"]`` as ``OpenAIChatGenerator`` takes it.

The value is a pydantic model class, OpenAI's ``{"type": "json_schema", "json_schema": {"name",
"schema", "strict"}}``, ``{"type": "json_object"}`` (any JSON object) or a bare JSON Schema dict. A
reply that makes no tool call is decoded under the schema's grammar (``RoutedModel.generate(...,
json_schema=...)``), so its text is one JSON value the schema accepts unless ``max_new_tokens`` cut
it off (the step record's ``error`` says so). ``to_dict`` writes a pydantic model as OpenAI's dict,
as ``OpenAIChatGenerator.to_dict`` does, so a pipeline serialises and loads back to the same schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel

from agentroute import AgentRouteError
from agentroute.steps.response_format import is_openai_response_format, openai_response_format_schema


def response_format_schema(response_format: Any) -> dict[str, Any] | None:
    """The JSON Schema a reply must follow (None for ``{"type": "text"}``); ValueError for another value."""
    if _is_model(response_format):
        return response_format.model_json_schema()
    if not isinstance(response_format, Mapping):
        raise ValueError(
            "generation_kwargs response_format must be a pydantic model class or a JSON schema dict, "
            f"got {type(response_format).__name__}"
        )
    if is_openai_response_format(response_format):
        try:
            return openai_response_format_schema(response_format)
        except AgentRouteError as exc:
            raise ValueError(f"generation_kwargs {exc}") from None
    return dict(response_format)  # a bare JSON Schema


def serializable_response_format(generation_kwargs: dict[str, Any]) -> dict[str, Any]:
    """``generation_kwargs`` with a pydantic ``response_format`` written as OpenAI's JSON-schema dict."""
    response_format = generation_kwargs.get("response_format")
    if not _is_model(response_format):
        return generation_kwargs
    body = {"name": response_format.__name__, "strict": True, "schema": response_format.model_json_schema()}
    return {**generation_kwargs, "response_format": {"type": "json_schema", "json_schema": body}}


def _is_model(value: Any) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)
