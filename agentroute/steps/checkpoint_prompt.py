"""How an exported checkpoint's prompts write tools, kept beside its weights in ``agentroute.json``.

An exported program is a standard checkpoint, loaded with no pack; a pack trained on signature
tool lines (``steps.tools.TOOL_STYLES``) must still be prompted that way when ``agentroute serve``
or ``agentroute.load`` reads the export, and one trained on said values (``steps.said_values``)
must keep writing dates and times as phrases. Stock transformers ignores the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from agentroute.errors import ModelLoadError
from agentroute.steps.tools import TOOL_STYLES

PROMPT_FILE = "agentroute.json"


def write_checkpoint_prompt(checkpoint: Path, tool_style: str, said_values: bool = False) -> None:
    text = json.dumps({"tool_style": tool_style, "said_values": said_values}) + "\n"
    (checkpoint / PROMPT_FILE).write_text(text, encoding="utf-8")


def checkpoint_prompt(checkpoint: Path) -> tuple[str, bool]:
    """(tool style, said values) as ``checkpoint/agentroute.json`` gives them; ("json", False) where
    there is no such file, as for any checkpoint not exported by AgentRoute."""
    path = checkpoint / PROMPT_FILE
    if not path.is_file():
        return "json", False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ModelLoadError(f"{path} is not a JSON object with a 'tool_style': {exc}") from exc
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path} is not a JSON object with a 'tool_style': it holds {type(data).__name__}")
    style, said = data.get("tool_style", "json"), data.get("said_values", False)
    if style not in TOOL_STYLES:
        raise ModelLoadError(
            f"{path} names tool_style {style!r}; this release writes tools as {', '.join(TOOL_STYLES)}"
        )
    if not isinstance(said, bool):
        raise ModelLoadError(f"{path} gives said_values {said!r}; it must be true or false")
    return style, said
