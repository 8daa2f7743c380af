"""Which grammar a client-rendered step sends to an engine, so served calls are held to the tools'
schemas as in process.

In process a step with tools (or a ``json_schema``) decodes under the call grammar: a tool-call
step calls, or declines in words where the pack learnt to; any other step may answer in text,
but a call it starts must be valid. On llama.cpp's server the client sends the same language as
GBNF in the completion request's ``grammar`` field (``serve.gbnf``), or, for a JSON answer with no
tools, the schema in its ``json_schema`` field (llama.cpp converts it itself). Other engines get
no grammar from a client-rendered prompt (vLLM's and SGLang's structured outputs are not wired
here yet); an AgentRoute server renders and constrains the step itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.serve.endpoints import ServeError
from agentroute.serve.gbnf import call_gbnf
from agentroute.steps.call_formats import HAND_WRITTEN, native_call_format
from agentroute.steps.call_parsing import closed_objects
from agentroute.steps.records import StepType
from agentroute.steps.step_types import StepContext, call_required
from agentroute.steps.tools import ToolSpec

GRAMMARS = ("auto", "gbnf", "none")
LLAMA_CPP = "llamacpp"  # what llama-server's /v1/models says under owned_by


def check_grammar(grammar: Any) -> str:
    if grammar not in GRAMMARS:
        raise ServeError(
            f"grammar must be one of {', '.join(map(repr, GRAMMARS))} ('auto': GBNF for llama.cpp servers), "
            f"got {grammar!r}"
        )
    return grammar


def speaks_gbnf(grammar: str, listed: Sequence[Mapping[str, Any]]) -> bool:
    """Whether an endpoint gets GBNF: always, never, or (auto) when its model listing is llama.cpp's."""
    if grammar != "auto":
        return grammar == "gbnf"
    return any(m.get("owned_by") == LLAMA_CPP for m in listed)


def grammar_fields(
    tokenizer,
    specs: list[ToolSpec],
    context: StepContext,
    step_type: StepType,
    json_schema: Mapping[str, Any] | None,
    may_decline: bool,
) -> dict[str, Any]:
    """The request fields that hold this step's reply to its tools and schema on llama-server
    (empty where nothing constrains it)."""
    if not specs:
        return {} if json_schema is None else {"json_schema": closed_objects(dict(json_schema))}
    free_text = step_type != StepType.TOOL_CALL
    decline = may_decline and not call_required(context)
    call_format = native_call_format(tokenizer) or HAND_WRITTEN
    grammar = call_gbnf(
        specs,
        free_text=free_text,
        decline=decline,
        json_schema=json_schema,
        call_format=call_format,
        tokens=_special_tokens(tokenizer),
    )
    return {"grammar": grammar}


def _special_tokens(tokenizer) -> dict[str, int]:
    """Texts the tokenizer holds as single special tokens (Qwen's ``<tool_call>``): the grammar
    writes them as the token, as the model does."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return {t.content: int(i) for i, t in added.items() if t.content and getattr(t, "special", False)}
