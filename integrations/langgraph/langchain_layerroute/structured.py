"""Structured output for ``ChatLayerRoute``: schemas in LangChain's shapes -> AgentRoute's ``json_schema``.

A reply that makes no tool call is decoded under the schema's grammar (``RoutedModel.generate(...,
json_schema=...)``), so it is one JSON value the schema accepts unless ``max_new_tokens`` cut it
off. ``with_structured_output(schema)`` (method ``"json_schema"``, the default) and LangChain v1's
``create_agent(..., response_format=Model)`` (``ProviderStrategy``, chosen because the model's
profile declares ``structured_output``) both arrive here as ``response_format``.
"""

from __future__ import annotations

from collections.abc import Mapping
from operator import itemgetter
from typing import Any

from langchain_core.exceptions import OutputParserException
from langchain_core.messages import AIMessage
from langchain_core.output_parsers import JsonOutputParser, PydanticOutputParser
from langchain_core.outputs import Generation
from langchain_core.runnables import Runnable, RunnableMap, RunnablePassthrough
from pydantic import BaseModel, TypeAdapter

from agentroute import AgentRouteError
from agentroute.steps.response_format import is_openai_response_format, openai_response_format_schema

METHODS = ("json_schema", "function_calling", "json_mode")


def json_schema_of(schema: Any) -> dict[str, Any]:
    """A pydantic model, TypedDict, dataclass, JSON Schema dict or OpenAI function/response-format dict
    -> the JSON Schema a reply must follow; ValueError for anything else."""
    if isinstance(schema, Mapping):
        schema = dict(schema)
        if schema.get("type") == "json_schema":  # OpenAI's response_format (ProviderStrategy sends it)
            return _openai_schema(schema)
        if schema.get("type") == "function" and isinstance(schema.get("function"), Mapping):
            schema = dict(schema["function"])  # an OpenAI tool
        if "name" in schema and isinstance(schema.get("schema"), Mapping):
            return dict(schema["schema"])  # a response_format's json_schema body
        if "name" in schema and isinstance(schema.get("parameters"), Mapping):
            return dict(schema["parameters"])  # an OpenAI function
        return schema
    if isinstance(schema, type):
        try:
            return TypeAdapter(schema).json_schema()
        except Exception as exc:  # pydantic raises several kinds for types it cannot describe
            raise ValueError(f"cannot make a JSON Schema of {schema.__name__}: {exc}") from None
    raise ValueError(
        f"a structured output schema must be a pydantic model, a TypedDict, a dataclass or a JSON Schema dict, "
        f"got {type(schema).__name__}"
    )


def _openai_schema(response_format: Mapping[str, Any]) -> dict[str, Any] | None:
    try:
        return openai_response_format_schema(response_format)
    except AgentRouteError as exc:
        raise ValueError(str(exc)) from None


def request_schema(response_format: Any, json_schema: Any) -> dict[str, Any] | None:
    """The call's ``json_schema`` from ``response_format`` (any shape ``json_schema_of`` takes, or
    ``{"type": "json_object"}``) or ``json_schema``; both given must agree."""
    if response_format is None:
        return json_schema
    if is_openai_response_format(response_format):
        schema = _openai_schema(response_format)
    else:
        schema = json_schema_of(response_format)
    if json_schema is not None and json_schema != schema:
        raise ValueError("response_format and json_schema disagree; they are one setting, pass one of them")
    return schema


class _CompleteReply:
    """Refuses a reply the step record marks as not the JSON asked for (cut off by ``max_new_tokens``).

    LangChain's JSON parsers close a cut-off reply's open strings and brackets and parse it, so
    ``{"colours": ["red", "blu`` would pass as ``{"colours": ["red", "blu"]}``. Streamed partial
    values (``partial=True``) are left as LangChain makes them.
    """

    def parse_result(self, result: list[Generation], *, partial: bool = False) -> Any:
        message = getattr(result[0], "message", None) if result else None
        error = message.response_metadata.get("error") if isinstance(message, AIMessage) else None
        if error and not partial:
            raise OutputParserException(f"the structured reply is incomplete: {error}", llm_output=result[0].text)
        return super().parse_result(result, partial=partial)


class _CompletePydanticParser(_CompleteReply, PydanticOutputParser):
    """``PydanticOutputParser`` that refuses a cut-off reply."""


class _CompleteJsonParser(_CompleteReply, JsonOutputParser):
    """``JsonOutputParser`` that refuses a cut-off reply."""


def structured_runnable(llm: Runnable, schema: Any, include_raw: bool) -> Runnable:
    """``llm`` (bound with the response format) followed by the parser LangChain uses for ``schema``.

    A pydantic model parses into an instance (``PydanticOutputParser``, under ``json_mode`` too, as
    ChatOpenAI's does), anything else into a dict (``JsonOutputParser``); a reply cut off by
    ``max_new_tokens`` is a parsing error, not a value with its brackets closed. ``include_raw``
    returns ``{"raw", "parsed", "parsing_error"}`` and turns a parsing error into
    ``parsing_error``, as LangChain does.
    """
    is_model = isinstance(schema, type) and issubclass(schema, BaseModel)
    parser = _CompletePydanticParser(pydantic_object=schema) if is_model else _CompleteJsonParser()
    if not include_raw:
        return llm | parser
    parsed = RunnablePassthrough.assign(parsed=itemgetter("raw") | parser, parsing_error=lambda _: None)
    failed = RunnablePassthrough.assign(parsed=lambda _: None)
    return RunnableMap(raw=llm) | parsed.with_fallbacks([failed], exception_key="parsing_error")
