"""How an exported checkpoint's prompts write tools, kept beside its weights in ``agentroute.json``.

An exported program is a standard checkpoint, loaded with no pack; a pack trained on signature
tool lines (``steps.tools.TOOL_STYLES``) must still be prompted that way when ``agentroute serve``
or ``agentroute.load`` reads the export. Stock transformers ignores the file.
"""

from __future__ import annotations

import json
from pathlib import Path

from agentroute.errors import ModelLoadError
from agentroute.steps.tools import TOOL_STYLES

PROMPT_FILE = "agentroute.json"


def write_checkpoint_prompt(checkpoint: Path, tool_style: str) -> None:
    (checkpoint / PROMPT_FILE).write_text(json.dumps({"tool_style": tool_style}) + "\n", encoding="utf-8")


def checkpoint_tool_style(checkpoint: Path) -> str:
    """The tool style ``checkpoint/agentroute.json`` names; "json" where there is none."""
    path = checkpoint / PROMPT_FILE
    if not path.is_file():
        return "json"
    try:
        style = json.loads(path.read_text(encoding="utf-8")).get("tool_style", "json")
    except (ValueError, AttributeError) as exc:
        raise ModelLoadError(f"{path} is not a JSON object with a 'tool_style': {exc}") from exc
    if style not in TOOL_STYLES:
        raise ModelLoadError(
            f"{path} names tool_style {style!r}; this release writes tools as {', '.join(TOOL_STYLES)}"
        )
    return style
