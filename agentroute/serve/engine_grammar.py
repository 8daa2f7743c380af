"""Which grammar a client-rendered step sends to an engine, and in which request field, so served
calls are held to the tools' schemas as in process.

In process a step with tools (or a ``json_schema``) decodes under the call grammar: a tool-call
step calls, or declines in words where the pack learnt to; any other step may answer in text,
but a call it starts must be valid. An engine gets the same language in GBNF (``serve.gbnf``),
which all three engines that take a grammar per request read, each in its own field:

* llama.cpp's server: ``grammar`` (and ``json_schema`` for a JSON answer with no tools);
* vLLM (0.10.2 or later; xgrammar or llguidance): ``structured_outputs.grammar`` (``.json``);
* SGLang (xgrammar, its default backend, reads GGML BNF): ``ebnf`` (``json_schema``, as a string).

Special tokens are written as ``<[id]>`` for llama.cpp only, the one reader known to take that
form; the others get their text. ``grammar="auto"`` picks the dialect from the endpoint's model
listing (``owned_by``: ``llamacpp``, ``vllm``, ``sglang``); an AgentRoute server renders and
constrains the step itself.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.serve.endpoints import ServeError
from agentroute.serve.gbnf import call_gbnf
from agentroute.steps.call_formats import HAND_WRITTEN, native_call_format
from agentroute.steps.call_parsing import closed_objects
from agentroute.steps.records import StepType
from agentroute.steps.step_types import StepContext, call_required
from agentroute.steps.tools import ToolSpec

# The dialects: where a request carries the GBNF grammar and where a JSON answer's schema.
DIALECTS = ("llama.cpp", "vllm", "sglang")
GRAMMARS = ("auto", *DIALECTS, "gbnf", "none")  # "gbnf": llama.cpp's fields, its name before vLLM's and SGLang's
# What each engine's /v1/models says under owned_by (llama.cpp's server-context.cpp; vLLM's and
# SGLang's ModelCard defaults).
OWNERS = {"llamacpp": "llama.cpp", "vllm": "vllm", "sglang": "sglang"}


def check_grammar(grammar: Any) -> str:
    if grammar not in GRAMMARS:
        raise ServeError(
            f"grammar must be one of {', '.join(map(repr, GRAMMARS))} ('auto': the fields of the engine "
            f"the endpoint's model listing names; 'gbnf' is 'llama.cpp'), got {grammar!r}"
        )
    return grammar


def engine_dialect(grammar: str, listed: Sequence[Mapping[str, Any]]) -> str | None:
    """The dialect an endpoint gets: the one named, none, or (auto) the engine its model listing
    names (none for an engine that is not known to take a grammar)."""
    if grammar == "none":
        return None
    if grammar != "auto":
        return "llama.cpp" if grammar == "gbnf" else grammar
    return next((OWNERS[m["owned_by"]] for m in listed if m.get("owned_by") in OWNERS), None)


def grammar_fields(
    tokenizer,
    specs: list[ToolSpec],
    context: StepContext,
    step_type: StepType,
    json_schema: Mapping[str, Any] | None,
    may_decline: bool,
    dialect: str = "llama.cpp",
) -> tuple[dict[str, Any], str | None]:
    """The request fields that hold this step's reply to its tools and schema in ``dialect``, and
    the name of the field that does (``({}, None)`` where nothing constrains the step)."""
    if not specs:
        if json_schema is None:
            return {}, None
        return _placed(dialect, "json", closed_objects(dict(json_schema)))
    free_text = step_type != StepType.TOOL_CALL
    decline = may_decline and not call_required(context)
    call_format = native_call_format(tokenizer) or HAND_WRITTEN
    grammar = call_gbnf(
        specs,
        free_text=free_text,
        decline=decline,
        json_schema=json_schema,
        call_format=call_format,
        tokens=_special_tokens(tokenizer) if dialect == "llama.cpp" else {},
    )
    return _placed(dialect, "grammar", grammar)


def _placed(dialect: str, kind: str, value: Any) -> tuple[dict[str, Any], str]:
    """``value`` (a GBNF grammar, or a JSON schema where ``kind`` is ``"json"``) in the field the
    dialect's engine reads, and that field's dotted name."""
    if dialect == "vllm":
        return {"structured_outputs": {kind: value}}, f"structured_outputs.{kind}"
    if dialect == "sglang":
        if kind == "json":
            return {"json_schema": json.dumps(value)}, "json_schema"
        return {"ebnf": value}, "ebnf"
    field = "json_schema" if kind == "json" else "grammar"
    return {field: value}, field


def _special_tokens(tokenizer) -> dict[str, int]:
    """Texts the tokenizer holds as single special tokens (Qwen's ``<tool_call>``): the grammar
    writes them as the token, as the model does."""
    added = getattr(tokenizer, "added_tokens_decoder", {}) or {}
    return {t.content: int(i) for i, t in added.items() if t.content and getattr(t, "special", False)}
