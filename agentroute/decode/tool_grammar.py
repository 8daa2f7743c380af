"""Grammar-constrained tool calls: a tool-call step can only write valid calls of the given tools.

A 135M model knows the call format but often breaks it: an unknown tool name, a missing brace, an
argument the schema does not have. On a step the router types as a tool call, the reply is decoded
under a grammar (llguidance, the engine behind vLLM's, SGLang's and llama.cpp's structured output)
that admits exactly one or more lines of::

    <tool_call>{"name": <one of the tools>, "arguments": <an object valid for that tool's schema>}</tool_call>

in the separators of ``tools.py``'s format (the one the prompt shows and route packs train on),
then the end-of-turn token. Arguments the schema does not declare are refused unless it sets
``additionalProperties``. Masking only removes tokens the grammar forbids, so the model still
chooses the tool and writes the values; the reply it would have written anyway is unchanged.

A tool-call step may also decline in text when no offered tool fits (unless the caller's
``tool_choice`` demands a call): ``decline`` admits text that does not start with ``<`` (after any
whitespace: SentencePiece models open a reply with a spaced word), so a ``<`` still forces the
whole ``<tool_call>{"name": "`` opening. ``words_only`` admits that declining text alone: a pack's
no-tool-fits head (``steps.decline_head``) has decided that no offered tool fits.

Other steps that offer tools (planning, reasoning, final answers) may reply in free text, so
their grammar also admits any text that holds no ``<tool_call>``: a step the router did not type
as a tool call still writes a valid call when it writes one, and only as the whole reply (the
trigger of llama.cpp's lazy grammars, as a grammar alternative, with no text before the call that
could carry a second, unchecked one). Text stays as the model writes it, except that it must
be valid UTF-8 without special tokens.

``TokenConstraint`` holds one reply's grammar state: ``mask`` the logits of the next position,
``advance`` by the token chosen, ``rollback`` rejected speculative drafts; ``forced_token`` says
when the grammar leaves a single choice, which the decode loops then take without logits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from functools import lru_cache

import llguidance
import llguidance.hf
import torch

from agentroute.errors import GenerationError, ToolSchemaError
from agentroute.steps.call_formats import HAND_WRITTEN, CallFormat, special_pieces
from agentroute.steps.call_parsing import closed_objects, closed_parameters
from agentroute.steps.string_start import unspaced_strings
from agentroute.steps.tools import ToolSpec

# Compact separators, as ``json.dumps`` writes the calls in the prompt; no free whitespace, so a
# small model cannot wander into blank lines inside a call. "lenient" skips schema keywords the
# engine does not support (e.g. "format") instead of refusing the tool.
_JSON_STYLE = {"whitespace_flexible": False, "key_separator": ": ", "item_separator": ", ", "lenient": True}
_BITS = torch.arange(32, dtype=torch.int32)


def call_schema(tools: Sequence[ToolSpec], call_format: CallFormat = HAND_WRITTEN) -> dict:
    """JSON Schema of one call object ``{"name": ..., "arguments": {...}}`` of any of ``tools``
    (``"parameters"`` and other separators where ``call_format`` says so)."""
    if not tools:
        raise ToolSchemaError("a constrained tool call needs at least one tool")
    key = call_format.arguments_key
    options, defs = [], {}
    for index, spec in enumerate(tools):
        arguments = unspaced_strings(closed_parameters(spec.parameters))
        # '#' is now the call schema's root, not the parameters': the tool's local references
        # ('#/$defs/Item', as pydantic writes nested models) point to a copy kept under $defs.
        rerooted = _rerooted(arguments, f"#/$defs/tool{index}")
        if rerooted != arguments:
            arguments = defs[f"tool{index}"] = rerooted
        options.append(
            {
                "type": "object",
                "properties": {"name": {"const": spec.name}, key: arguments},
                "required": ["name", key],
                "additionalProperties": False,
            }
        )
    style = {**_JSON_STYLE, "key_separator": call_format.key_separator, "item_separator": call_format.item_separator}
    return {"anyOf": options, **({"$defs": defs} if defs else {}), "x-guidance": style}


def _rerooted(schema, root: str):
    """``schema`` with each local ``$ref`` ("#/...") read from ``root`` instead of "#"."""
    if isinstance(schema, list):
        return [_rerooted(s, root) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {k: _rerooted(v, root) for k, v in schema.items()}
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        out["$ref"] = root + ref[1:]
    return out


def call_grammar(
    tools: Sequence[ToolSpec],
    free_text: bool = False,
    json_schema: dict | None = None,
    call_format: CallFormat = HAND_WRITTEN,
    tokens: Mapping[str, int] | None = None,
    decline: bool = False,
    words_only: bool = False,
) -> str:
    """llguidance grammar: one or more ``<tool_call>...</tool_call>`` lines, nothing else; with
    ``free_text``, also any reply with no ``<tool_call>`` anywhere in it (left unconstrained); with
    ``decline`` (a tool-call step that may find no tool fits), also such text when it does not start
    with ``<`` (or, for bare-JSON formats, ``{``/``[``) after any whitespace; with ``words_only``
    that text and no call.

    ``json_schema`` (structured output) replaces that free text by one JSON value valid for the
    schema: a step that may answer answers with such an object (or, with tools, calls them).
    ``call_format`` is the model's own (``call_formats``): its calls, and for a format whose call
    is bare JSON (Llama's, Mistral's list) free text that starts with neither ``{`` nor ``[``, so
    the native call is only written through the grammar. ``tokens`` are the texts the tokenizer
    holds as single special tokens (``[TOOL_CALLS]``, Qwen's ``<tool_call>``): the grammar writes
    those as the token, as the model does.
    """
    rules = []
    if json_schema is not None:
        answer = {**closed_objects(json_schema), "x-guidance": _JSON_STYLE}
        rules.append(f"answer: %json {json.dumps(answer, ensure_ascii=False)}")
    if not tools:
        if json_schema is None:
            raise ToolSchemaError("a constrained reply needs at least one tool or a JSON schema")
        return llguidance.LLMatcher.grammar_from_lark("\n".join(["start: answer", *rules]))
    f, tokens = call_format, tokens or {}
    more = f"({' '.join(filter(None, [_literal(f.separator, tokens), 'call']))})*" if f.multiple else ""
    calls = [
        " ".join(filter(None, ["calls:", _literal(f.prefix, tokens), "call", more, _literal(f.suffix, tokens)])),
        " ".join(filter(None, ["call:", _literal(f.call_open, tokens), "body", _literal(f.call_close, tokens)])),
    ]
    # TEXT excludes every reply that holds "<tool_call>" anywhere, so a call can only be the whole
    # reply and valid: " <tool_call>..." or "Sure.\n<tool_call>..." cannot smuggle one past the
    # schema. Other text, "<tool_response>" echoes included, stays free.
    text = "TEXT: /(?s:.+)/ & ~/(?s:.*)<tool_call>(?s:.*)/" + ("" if not f.bare else " & ~/[ \\t\\r\\n]*[\\[{](?s:.*)/")
    if not free_text and decline:
        declined = "DECLINE: /(?s:.+)/ & ~/(?s:.*)<tool_call>(?s:.*)/ & ~/[ \\t\\r\\n]*<(?s:.*)/"
        declined += "" if not f.bare else " & ~/[ \\t\\r\\n]*[\\[{](?s:.*)/"
        if json_schema is not None:
            start = ["start: answer | calls"]
        else:
            start = ["start: DECLINE", declined] if words_only else ["start: DECLINE | calls", declined]
    elif not free_text:
        start = ["start: calls"]
    elif json_schema is not None:
        start = ["start: answer | calls"]
    else:
        start = ["start: TEXT | calls", text]
    body = f"body: %json {json.dumps(call_schema(tools, f), ensure_ascii=False)}"
    return llguidance.LLMatcher.grammar_from_lark("\n".join([*start, *calls, body, *rules]))


def _literal(text: str, tokens: Mapping[str, int]) -> str:
    """Lark for ``text``: special tokens as token references (``<[id]>``), the rest as strings
    ("" for no text)."""
    return " ".join(f"<[{tokens[p]}]>" if p in tokens else json.dumps(p) for p in special_pieces(text, tokens))


class GrammarTokenizer:
    """A model's tokenizer as llguidance sees it (built once per model: about a second)."""

    def __init__(self, hf_tokenizer, eos_ids: Sequence[int]) -> None:
        try:
            self.ll = llguidance.hf.from_tokenizer(hf_tokenizer, eos_token=sorted(eos_ids) or None)
        except ValueError as exc:
            raise GenerationError(
                f"constrained tool calls need a fast (Rust) Hugging Face tokenizer: {exc}; "
                "pass constrain=False to decode tool calls without a grammar"
            ) from None
        # The grammar ends the reply with an end-of-turn token, which must also stop decoding.
        self.eos_ids = sorted(eos_ids) or list(self.ll.eos_tokens)
        added = getattr(hf_tokenizer, "added_tokens_decoder", {})
        self.tokens = {t.content: i for i, t in added.items() if t.content and self.ll.is_special_token(i)}
        self._grammars = lru_cache(maxsize=32)(self._compile)

    def constraint(
        self,
        tools: Sequence[ToolSpec],
        free_text: bool = False,
        json_schema: dict | None = None,
        call_format: CallFormat | None = None,
        decline: bool = False,
        words_only: bool = False,
    ) -> TokenConstraint:
        """A fresh grammar state for one reply that may only call ``tools`` (or, with
        ``free_text``, write text that is not a call, or with ``json_schema`` a JSON value of it;
        with ``decline`` text that starts with a word, and with ``words_only`` only that text), in
        ``call_format`` (default: the hand-written prompt's)."""
        # Not sort_keys: the grammar writes arguments in the order the schema declares them (the
        # order the prompt shows and packs train on); sorting would force alphabetical order.
        fmt = asdict(call_format or HAND_WRITTEN)
        key = json.dumps({"tools": [t.model_dump() for t in tools], "schema": json_schema, "format": fmt})
        grammar = self._grammars(key, free_text, decline, words_only)
        return TokenConstraint(llguidance.LLMatcher(self.ll, grammar), self.eos_ids, text=free_text or words_only)

    def _compile(self, key: str, free_text: bool, decline: bool, words_only: bool = False) -> str:
        spec = json.loads(key)
        tools = [ToolSpec(**t) for t in spec["tools"]]
        fmt = CallFormat(**spec["format"])
        grammar = call_grammar(tools, free_text, spec["schema"], fmt, self.tokens, decline, words_only)
        error = llguidance.LLMatcher.validate_grammar(grammar, self.ll)
        if error:
            what = f"the tool schemas of {', '.join(t.name for t in tools)}" if tools else "the JSON schema"
            raise ToolSchemaError(
                f"{what} cannot be turned into a call grammar ({error}); simplify the schema or pass constrain=False"
            )
        return grammar


class TokenConstraint:
    """One reply's position in the call grammar."""

    def __init__(self, matcher: llguidance.LLMatcher, eos_ids: Sequence[int], text: bool = False) -> None:
        self._matcher = matcher
        self._eos_ids = list(eos_ids)
        # Whether the reply may be text that is no call (a step that is not a tool call, or one that
        # declines in words): lossless drafts from the store of the model's own replies then apply.
        self.text = text
        # Per accepted token: whether the matcher consumed it. Once the grammar has ended (the
        # end-of-turn token) a speculative draft may still propose tokens; they are tracked here,
        # not fed to the matcher, so ``rollback`` undoes exactly what was consumed.
        self._consumed: list[bool] = []
        # The mask of the current state (computing one walks the grammar): ``forced_token`` and
        # ``mask`` at the same position share it; ``advance``/``rollback`` drop it.
        self._allowed: torch.Tensor | None = None

    @property
    def stopped(self) -> bool:
        """Whether the grammar has ended: only the end-of-turn token can follow."""
        return self._matcher.is_stopped()

    def allowed(self, vocab_size: int) -> torch.Tensor:
        """Boolean mask [vocab_size] of the tokens the grammar allows next (do not modify it)."""
        if self._allowed is not None and self._allowed.numel() == vocab_size:
            return self._allowed
        allowed = torch.zeros(vocab_size, dtype=torch.bool)
        if self._matcher.is_stopped():
            allowed[self._eos_ids] = True
        else:
            words = torch.frombuffer(bytearray(self._matcher.compute_bitmask()), dtype=torch.int32)
            bits = ((words[:, None] >> _BITS) & 1).flatten().bool()
            n = min(vocab_size, bits.numel())
            allowed[:n] = bits[:n]
            if not allowed.any():
                raise GenerationError(f"the tool-call grammar allows no next token ({self._matcher.get_error()})")
        self._allowed = allowed
        return allowed

    def forced_token(self, vocab_size: int) -> int | None:
        """The next token when the grammar allows only that one, else None.

        Most of a call is forced: the grammar writes each literal in the tokenizer's canonical
        tokens (``<``, ``tool``, ``_``, ``call``, ...), and a schema's keys and closing braces
        leave one choice; on the tool-call test steps 71% of the tokens are. A forced token is
        what greedy or sampled decoding would pick from any logits, so it needs no logits: the
        decode loops append it and run it through the model with the next token that does
        ("jump-forward" decoding), which leaves the reply unchanged.
        """
        allowed = self.allowed(vocab_size)
        if int(allowed.sum()) != 1:
            return None
        return int(allowed.nonzero()[0, 0])

    def mask(self, logits: torch.Tensor, allowed: torch.Tensor | None = None) -> torch.Tensor:
        """``logits`` ([..., vocab]) with every token the grammar forbids at -inf (a new tensor)."""
        if allowed is None:
            allowed = self.allowed(logits.shape[-1])
        return logits.masked_fill(~allowed.to(logits.device), float("-inf"))

    def accepts(self, token: int) -> bool:
        """Whether the grammar can consume ``token`` next, without consuming it.

        The bitmask can admit a token that the parser then refuses (seen once on the test split:
        ``.",`` after the last property of an object, where llguidance's lexer-level mask is
        looser than its parser). Every decode loop checks its choice with this and, when refused,
        takes its next choice instead (``choose``), so the reply stays a valid call.
        """
        return self._matcher.is_stopped() or self._matcher.validate_tokens([token]) == 1

    def choose(self, logits: torch.Tensor, pick, allowed: torch.Tensor | None = None) -> int:
        """``pick(masked logits)`` ([1, vocab] -> token id), re-picked without any token the
        parser refuses; ``allowed`` is the mask to start from (default: this state's)."""
        allowed = self.allowed(logits.shape[-1]) if allowed is None else allowed
        refused = False
        while True:
            token = pick(self.mask(logits, allowed))
            if self.accepts(token):
                return token
            if not refused:  # the shared mask stays as the grammar gave it; copy only on a refusal
                allowed, refused = allowed.clone(), True
            allowed[token] = False
            if not allowed.any():
                raise GenerationError(
                    f"the tool-call grammar refuses every allowed token ({self._matcher.get_error()})"
                )

    def advance(self, token: int) -> None:
        self._allowed = None
        if self._matcher.is_stopped():
            self._consumed.append(False)
            return
        if not self._matcher.consume_token(token):
            raise GenerationError(f"token {token} breaks the tool-call grammar ({self._matcher.get_error()})")
        self._consumed.append(True)

    def rollback(self, n: int) -> None:
        """Undo the last ``n`` tokens (speculative drafts the verifier rejected)."""
        if n <= 0:
            return
        self._allowed = None
        undone, self._consumed = self._consumed[-n:], self._consumed[:-n]
        consumed = sum(undone)
        if consumed and not self._matcher.rollback(consumed):
            raise GenerationError(f"cannot roll the tool-call grammar back ({self._matcher.get_error()})")
