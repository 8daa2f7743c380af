"""The call grammar as GBNF, for llama.cpp's server: what a served tool-call step may write.

In process a tool-call step decodes under an llguidance grammar (``decode.tool_grammar``); an
engine decodes what the client sends it. llama-server takes a GBNF grammar in a completion
request's ``grammar`` field (default builds have no llguidance, so its Lark is not an option),
so a client-rendered step sends the same language written in GBNF:

* ``calls``: one or more calls in the model's format (``<tool_call>{"name": ..., "arguments":
  {...}}</tool_call>`` lines for the hand-written one), each call's arguments held to its tool's
  schema with the prompt's separators and no free whitespace;
* with ``decline``, also text that does not start with ``<`` (after whitespace) and holds no
  ``<tool_call>``: a tool-call step that finds no offered tool fits says so in words;
* with ``free_text`` (a step not typed as a tool call), any text that holds no ``<tool_call>``,
  so a call can only be the whole reply, and then a valid one;
* with ``json_schema``, one JSON value of that schema instead of the text.

Schemas are turned into rules for the keywords that shape a value (type, properties, required,
additionalProperties, items, enum, const, anyOf/oneOf, local ``$ref``) and for those that narrow
one where they translate (``gbnf_values``: pattern, lengths, integer bounds, item counts); the
rest (format, bounds on non-integers, regexes with lookarounds) are left to the parser's check,
as llguidance's lenient mode does, so a schema never stops a step. Objects write their properties in the
schema's order, optional ones may be left out, as the in-process grammar does; an object that
lists its properties admits no other keys unless ``additionalProperties`` says so (in process a
nested object also admits extra keys after its declared ones).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.errors import ToolSchemaError
from agentroute.serve.gbnf_values import array_items, class_escape, integer_gbnf, literal, string_gbnf
from agentroute.steps.call_formats import HAND_WRITTEN, CallFormat, special_pieces
from agentroute.steps.call_parsing import closed_objects, closed_parameters
from agentroute.steps.tools import ToolSpec

# The text a reply may hold only as a whole, valid call (as ``tool_grammar``'s TEXT rule).
CALL_MARK = "<tool_call>"
_WS = " \\t\\r\\n"
# Rules of JSON's primitive values, GBNF bodies as written (raw strings: GBNF's own escapes).
_PRIMITIVES = {
    "string": [
        ("string", r'"\"" char* "\""'),
        ("char", r'[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'),
        ("first-char", r'[^ "\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})'),
    ],
    "integer": [("integer", r'"-"? ("0" | [1-9] [0-9]{0,18})')],
    "number": [("number", r'"-"? ("0" | [1-9] [0-9]{0,18}) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?')],
    "boolean": [("boolean", r'"true" | "false"')],
    "null": [("null", r'"null"')],
}


def call_gbnf(
    tools: Sequence[ToolSpec],
    *,
    free_text: bool = False,
    decline: bool = False,
    json_schema: Mapping[str, Any] | None = None,
    call_format: CallFormat = HAND_WRITTEN,
    tokens: Mapping[str, int] | None = None,
) -> str:
    """GBNF for one reply: calls of ``tools`` (module docstring), with ``decline`` or ``free_text``
    also text, with ``json_schema`` a JSON value instead of text. ``tokens``: texts the tokenizer
    holds as single special tokens, which the grammar writes as the token (``<[id]>``)."""
    if not tools and json_schema is None:
        raise ToolSchemaError("a constrained reply needs at least one tool or a JSON schema")
    rules = _Rules(call_format.key_separator, call_format.item_separator)
    starts = []
    if json_schema is not None:
        starts.append(rules.value(closed_objects(dict(json_schema)), "answer"))
    if tools:
        f, tokens = call_format, tokens or {}
        bodies = []
        for spec in tools:
            head = "{" + json.dumps("name") + f.key_separator + json.dumps(spec.name, ensure_ascii=False)
            head += f.item_separator + json.dumps(f.arguments_key) + f.key_separator
            arguments = rules.value(closed_parameters(spec.parameters), f"args-{len(bodies)}")
            bodies.append(f"{literal(head)} {arguments} {literal('}')}")
        rules.add("body", " | ".join(bodies))
        call = " ".join(filter(None, [_pieces(f.call_open, tokens), "body", _pieces(f.call_close, tokens)]))
        rules.add("call", call)
        more = f"({' '.join(filter(None, [_pieces(f.separator, tokens), 'call']))})*" if f.multiple else ""
        rules.add("calls", " ".join(filter(None, [_pieces(f.prefix, tokens), "call", more, _pieces(f.suffix, tokens)])))
        starts.append("calls")
        if json_schema is None and (free_text or decline):
            starts.append(_text(rules, free_text, f.bare))
    return "\n".join([f"root ::= {' | '.join(starts)}", *rules.lines()]) + "\n"


def _text(rules: _Rules, free_text: bool, bare: bool) -> str:
    """The text alternative: any non-empty text without ``<tool_call>`` (``free_text``), or such
    text whose first character after whitespace is not ``<`` (declining words); for bare-JSON
    call formats neither may start with ``{`` or ``[``."""
    _avoid(rules, CALL_MARK)
    barred = ("<" if not free_text else "") + ("{[" if bare else "")
    if not barred:
        return "avoid-0-first"
    # Whitespace, then a first character that is neither barred nor the mark's start (which the
    # automaton then follows from its second state).
    first = [f"[^{_WS}{class_escape(''.join(sorted(set(barred + CALL_MARK[0]))))}] avoid-0"]
    if CALL_MARK[0] not in barred:
        first.append(f"{literal(CALL_MARK[0])} avoid-1")
    rules.add("text", f"[{_WS}]* ({' | '.join(first)})")
    return "text"


def _avoid(rules: _Rules, mark: str) -> None:
    """Rules ``avoid-<i>``: the rest of a text that holds no ``mark``, after its first ``i``
    characters were seen (a matching automaton, KMP's); ``avoid-0-first`` the same, non-empty."""
    states = len(mark)
    for i in range(states):
        step = {c: _next_state(mark, i, c) for c in set(mark)}
        moves = [f"{literal(c)} avoid-{j}" for c, j in sorted(step.items()) if j < states]  # j == states: the mark
        moves.append(f"[^{class_escape(''.join(sorted(step)))}] avoid-0")
        rules.add(f"avoid-{i}", " | ".join(['""', *moves]))
        if i == 0:
            rules.add("avoid-0-first", " | ".join(moves))


def _next_state(mark: str, matched: int, char: str) -> int:
    """How much of ``mark`` is matched after ``char`` follows its first ``matched`` characters."""
    seen = mark[:matched] + char
    return next(n for n in range(len(seen), -1, -1) if seen.endswith(mark[:n]))


class _Rules:
    """GBNF rules for JSON values of schemas, named, each written once."""

    def __init__(self, key_separator: str, item_separator: str) -> None:
        self.key_separator, self.item_separator = key_separator, item_separator
        self._rules: dict[str, str] = {}
        self._root: Mapping[str, Any] = {}
        self._scope = ""

    def add(self, name: str, body: str) -> None:
        self._rules[name] = body

    def lines(self) -> list[str]:
        return [f"{name} ::= {body}" for name, body in self._rules.items()]

    def value(self, schema: Any, name: str) -> str:
        """A rule ``name`` for JSON values of ``schema`` (the root of its local ``$ref``s); its name."""
        self._root = schema if isinstance(schema, Mapping) else {}
        self._scope = name  # two tools' "$defs" may share names, not content
        self.add(name, self._body(schema, name))
        return name

    def _primitive(self, kind: str) -> str:
        if kind not in self._rules:
            for rule, body in _PRIMITIVES[kind]:
                self.add(rule, body)
        return kind

    def _any(self) -> str:
        """Any JSON value, in the same separators."""
        if "any" not in self._rules:
            self.add("any", "")  # reserved first: the rule refers to itself
            sep, key = literal(self.item_separator), literal(self.key_separator)
            pair = f"{self._primitive('string')} {key} any"
            body = [
                f'"{{" ({pair} ({sep} {pair})*)? "}}"',
                f'"[" (any ({sep} any)*)? "]"',
                *(self._primitive(k) for k in ("string", "number", "boolean", "null")),
            ]
            self.add("any", " | ".join(body))
        return "any"

    def _body(self, schema: Any, name: str) -> str:
        if schema is True or not isinstance(schema, Mapping):
            return self._any()
        if "const" in schema:
            return self._json(schema["const"])
        if isinstance(schema.get("enum"), list) and schema["enum"]:
            return " | ".join(self._json(v) for v in schema["enum"])
        if isinstance(schema.get("$ref"), str):
            return self._ref(schema["$ref"])
        for key in ("anyOf", "oneOf"):
            if isinstance(schema.get(key), list) and schema[key]:
                return " | ".join(self._sub(s, f"{name}-{i}") for i, s in enumerate(schema[key]))
        if isinstance(schema.get("allOf"), list) and len(schema["allOf"]) == 1:
            return self._sub(schema["allOf"][0], f"{name}-0")
        kinds = schema.get("type")
        if isinstance(kinds, list):
            return " | ".join(self._sub({**schema, "type": k}, f"{name}-{k}") for k in kinds) or self._any()
        if kinds == "object" or (kinds is None and "properties" in schema):
            return self._object(schema, name)
        if kinds == "array" or (kinds is None and "items" in schema):
            item = self._sub(schema.get("items", True), f"{name}-item")
            return " ".join(filter(None, ['"["', array_items(item, literal(self.item_separator), schema), '"]"']))
        if kinds == "string" and (narrowed := string_gbnf(dict(schema))) is not None:
            self._primitive("string")  # its ``char`` rule
            return narrowed
        if kinds == "integer" and (narrowed := integer_gbnf(dict(schema))) is not None:
            return narrowed
        if kinds in _PRIMITIVES:
            return self._primitive(kinds)
        return self._any()  # no type, or one this grammar does not know: any value, the parser checks

    def _sub(self, schema: Any, name: str) -> str:
        """A rule of its own for a part of a schema (kept short: a rule per part)."""
        self.add(name, "")  # reserved, so nested parts get distinct names
        self.add(name, self._body(schema, name))
        return name

    def _object(self, schema: Mapping[str, Any], name: str) -> str:
        """Declared properties in order (required ones always, optional ones may be left out), then
        other keys where ``additionalProperties`` allows them."""
        props = schema.get("properties") if isinstance(schema.get("properties"), Mapping) else {}
        required = set(schema.get("required") or ()) & set(props)
        sep, key_sep = literal(self.item_separator), literal(self.key_separator)
        pairs = []
        for i, (key, sub) in enumerate(props.items()):
            value = self._sub(sub, f"{name}-p{i}")
            pairs.append((f"{literal(json.dumps(key, ensure_ascii=False))} {key_sep} {value}", key in required))
        # Undeclared keys only where the schema says so, or where it declares none (a free mapping):
        # a nested object that lists its properties is closed to them, stricter than in process
        # (which admits extra keys after the declared ones), since GBNF cannot keep an extra key
        # from repeating a declared name.
        extra = schema.get("additionalProperties", not props)
        if extra is not False:
            value = self._sub(extra, f"{name}-extra") if isinstance(extra, Mapping) else self._any()
            pairs.append((f"{self._primitive('string')} {key_sep} {value} ({sep} {self._primitive('string')} "
                          f"{key_sep} {value})*", False))  # fmt: skip
        if not pairs:
            return '"{}"'
        return f'"{{" {self._members(pairs, sep, name)} "}}"'

    def _members(self, pairs: list[tuple[str, bool]], sep: str, name: str) -> str:
        """The members of an object: each pair that is written is preceded by ``sep`` unless it is
        the first, so a rule per position says whether something came before it."""
        # rest-<i>-<written>: the pairs from i on, ``written`` saying whether one came before.
        for i in range(len(pairs), -1, -1):
            for written in (False, True):
                rule = f"{name}-rest{i}{'w' if written else ''}"
                if i == len(pairs):
                    self.add(rule, '""')
                    continue
                pair, needed = pairs[i]
                take = f"{sep + ' ' if written else ''}{pair} {name}-rest{i + 1}w"
                skip = f"{name}-rest{i + 1}{'w' if written else ''}"
                self.add(rule, take if needed else f"{take} | {skip}")
        return f"{name}-rest0"

    def _ref(self, ref: str) -> str:
        """A local ``#/...`` reference as a rule of its own (so recursive schemas stay finite)."""
        if not ref.startswith("#/"):
            return self._any()
        name = f"{self._scope}-ref-" + "".join(c if c.isalnum() else "-" for c in ref[2:])
        if name not in self._rules:
            target: Any = self._root
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(target, Mapping) else None
            self.add(name, "")  # reserved before its body, which may refer to it again
            self.add(name, self._body(target, name) if target is not None else self._any())
        return name

    def _json(self, value: Any) -> str:
        """A literal JSON value, written in the grammar's separators."""
        text = json.dumps(value, ensure_ascii=False, separators=(self.item_separator, self.key_separator))
        return literal(text)


def _pieces(text: str, tokens: Mapping[str, int]) -> str:
    """GBNF for ``text``: special tokens as token references (``<[id]>``), the rest as literals."""
    return " ".join(f"<[{tokens[p]}]>" if p in tokens else literal(p) for p in special_pieces(text, tokens))
