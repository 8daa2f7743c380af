"""Structured output in the prompt: the schema a JSON reply must follow, told to the model.

The grammar (``json_schema=``) already makes the reply valid; telling the model the schema makes it
fill the right keys with the right values (without it a 135M model writes ``{"temp_c": 4000}``
for "4 C and rain in Oslo"). As hosted APIs do for their ``response_format``, the instruction
goes at the end of the system message (a system message is created when there is none).
"""

from __future__ import annotations

import json
from typing import Any

_INSTRUCTION = "Unless you call a tool, reply with one JSON value that follows this JSON Schema:"


def with_response_format(messages: list[dict[str, Any]], json_schema: dict[str, Any] | None) -> list[dict[str, Any]]:
    """``messages`` with the schema instruction added to the system message; unchanged without a schema."""
    if json_schema is None:
        return messages
    note = f"{_INSTRUCTION}\n{json.dumps(json_schema, ensure_ascii=False)}"
    if messages and messages[0]["role"] == "system":
        system = messages[0]["content"]
        return [{**messages[0], "content": f"{system}\n\n{note}" if system else note}, *messages[1:]]
    return [{"role": "system", "content": note}, *messages]
