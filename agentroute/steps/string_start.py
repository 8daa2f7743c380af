"""String arguments may not open with one space before a word, in both call grammars.

A small model writes a value as the word would stand in running text, with the space its
tokenizer folds into the word: ``"city": " Edinburgh"``, ``"payee": " FiberNet Internet"`` (2 of
the dev split's 110 tool-call steps under the shipped pack, 4 under a 3364-example one). A space
before a word is almost never meant, so the grammars refuse one space followed by anything but
a space, and the model writes the unspaced word. Other openings stay: two spaces, a tab or a
newline (text or code that starts indented, kept verbatim), a lone space; and a schema's own
``pattern``, ``enum`` or ``const`` decides alone.
"""

from __future__ import annotations

from typing import Any

# Any string but one space followed by a character that is not a space (JSON Schema's pattern, as
# llguidance reads it; the GBNF grammar writes the same language in ``serve.gbnf_values.string_gbnf``).
UNSPACED = r"^(?:[^ ][\s\S]*| (?: [\s\S]*)?)?$"


def unspaced_strings(schema: Any) -> Any:
    """``schema`` with ``UNSPACED`` as the pattern of every string schema in it (at any depth) that
    has no pattern, enum or const of its own."""
    if isinstance(schema, list):
        return [unspaced_strings(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: unspaced_strings(value) for key, value in schema.items()}
    kinds = schema.get("type")
    is_string = kinds == "string" or (isinstance(kinds, list) and "string" in kinds)
    if is_string and not any(key in schema for key in ("pattern", "enum", "const")):
        out["pattern"] = UNSPACED
    return out
