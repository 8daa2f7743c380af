"""The generation keywords ``RoutedModel.generate`` and ``generate_ids`` accept, as one checked type.

Callers pass them as keywords (``model.generate(msgs, max_new_tokens=64, temperature=0.7)``);
``parse_options`` turns them into a frozen ``GenerationOptions`` before anything runs, so a wrong
type, NaN, a boolean where a number belongs or a misspelled name fails at once with a
``GenerationError`` that names the field, instead of deep inside sampling or the decode loop.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import Annotated, Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, ValidationError, field_validator

from agentroute.errors import GenerationError

PrefillMode = Literal["full", "program"]
# The integrations' modes: "policy" leaves program and decode mode to the policy, "full" is plain
# full-depth decoding (the reference), "lossless" drafts and verifies every step. "routed" is not
# one: it named the policy mode before records used it for lossy decoding (framework_overrides).
FRAMEWORK_MODES = ("policy", "full", "lossless")
# ``strict`` keeps True out of number fields and "1" out of int fields; a float field still takes an int.
Number = Annotated[float, Field(strict=True, allow_inf_nan=False)]


class GenerationOptions(BaseModel):
    """How to pick, stop and stream the tokens of one reply."""

    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)

    max_new_tokens: StrictInt = Field(256, ge=1, description="the most tokens the reply may have")
    temperature: Number = Field(0.0, ge=0, description="0 is greedy; above 0 samples with this temperature")
    top_p: Number = Field(1.0, gt=0, le=1, description="nucleus sampling: keep the smallest set with this mass")
    top_k: StrictInt = Field(0, ge=0, description="keep the k likeliest tokens; 0 disables it")
    seed: StrictInt | None = Field(None, ge=0, lt=2**63, description="sampling seed; None draws one")
    stop: tuple[str, ...] | None = Field(None, description="strings that end the reply (one string is accepted)")
    prefill: PrefillMode = Field(
        "full",
        description='"full" encodes the prompt at full depth, "program" with the step\'s program (a looping '
        "program always prefills with itself)",
    )
    reuse_prefix: StrictBool | None = Field(
        None,
        description="reuse the KV cache of a shared prompt prefix; default on except int8 (LLM.int8 picks outlier "
        "columns per chunk, so a reused prefix would drift from stock generate())",
    )
    ignore_eos: StrictBool = Field(False, description="decode max_new_tokens whatever the model says (benchmarks)")
    on_text: Callable[[str], Any] | None = Field(None, description="called with the reply's text as it grows")
    cancelled: Callable[[], Any] | None = Field(
        None,
        description="asked before the prefill and at each new token (e.g. a threading.Event's is_set): once it "
        "returns true the generation stops, drops its half-written cache and raises GenerationCancelled; a served "
        "model then streams its request and closes it, which stops the server's decode",
    )
    mode: Literal["routed", "lossless"] | None = Field(
        None,
        description='"routed": the program decodes; "lossless": the program drafts and full depth verifies, so '
        "the reply equals full depth's (agentroute.decode.speculative); None: the policy's mode for the step "
        "type (generate_ids: routed)",
    )
    constrain: StrictBool = Field(
        True,
        description="with tools: a tool_call step decodes under a grammar that admits only valid calls of them, "
        "any other step under one that also admits text (agentroute.decode.tool_grammar)",
    )
    json_schema: dict[str, Any] | None = Field(
        None,
        description="structured output: a reply that is not a tool call is one JSON value valid for this JSON "
        "Schema, decoded under its grammar (with tools, calls stay possible)",
    )
    jump_forward: StrictBool = Field(
        True, description="tokens the grammar forces are taken without their own forward pass (same reply)"
    )

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is not None:
            try:
                jsonschema.validators.validator_for(schema).check_schema(schema)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"is not a valid JSON Schema: {exc.message}") from None
        return schema

    @field_validator("stop", mode="before")
    @classmethod
    def _stop_strings(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [value]
        if value is not None and (
            not isinstance(value, (list, tuple)) or not all(isinstance(s, str) and s for s in value)
        ):
            raise ValueError("must be a non-empty string or a list of them")
        return tuple(value) if value is not None else None


FIELDS = tuple(GenerationOptions.model_fields)


def parse_options(options: dict[str, Any]) -> GenerationOptions:
    """Generation keywords -> GenerationOptions; GenerationError naming the field otherwise."""
    for name in options:
        if name not in GenerationOptions.model_fields:
            close = difflib.get_close_matches(name, FIELDS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise GenerationError(f"unknown generation option {name!r}; {hint}the options are {', '.join(FIELDS)}")
    try:
        return GenerationOptions(**options)
    except ValidationError as exc:
        raise GenerationError(describe_errors(exc, "generation option")) from None


def describe_errors(exc: ValidationError, what: str) -> str:
    """One line per invalid field: its name, what pydantic expected and the value given (bounded)."""
    lines = []
    for err in exc.errors():
        field = ".".join(str(p) for p in err["loc"]) or "value"
        given = repr(err.get("input"))
        given = given if len(given) <= 60 else given[:57] + "..."
        message = err["msg"][:1].lower() + err["msg"][1:]
        lines.append(f"{what} {field!r}: {message}, got {given}")
    return "; ".join(lines)


def framework_overrides(mode: str, *, budget: float | None = None, program: Any = None) -> dict[str, Any]:
    """The ``generate`` keywords an integration's ``mode`` sets on a call (``FRAMEWORK_MODES``).

    "policy" sets nothing; "full" decodes plainly even where the policy is lossless, at full depth
    unless the call brings its own ``budget`` or ``program`` (full mode is the default depth, not a
    lock); "lossless" sets lossless decoding. Any other mode is a GenerationError: the old
    ``"routed"`` (which meant "policy") gets one naming the new word, since in records and in
    ``generate`` "routed" means a cheaper program decoding alone, which it never set.
    """
    if mode == "routed":
        raise GenerationError(
            "mode 'routed' is now mode 'policy' (each step as the depth policy says, the default); 'routed' "
            "means lossy decoding by a cheaper program alone, which a policy sets per step type with "
            "modes={...: 'routed'}"
        )
    if mode not in FRAMEWORK_MODES:
        raise GenerationError(f"unknown mode {mode!r}; use one of {', '.join(FRAMEWORK_MODES)}")
    if mode == "full":
        return {"mode": "routed"} if budget is not None or program is not None else {"mode": "routed", "budget": 1.0}
    return {"mode": "lossless"} if mode == "lossless" else {}
