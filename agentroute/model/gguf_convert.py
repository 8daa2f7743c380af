"""Convert a GGUF file into a cached Hugging Face checkpoint (safetensors + tokenizer).

Dequantizing a GGUF file takes tens of seconds; the result is written once under the cache
directory and later loads read plain safetensors in seconds.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from pathlib import Path

import torch

from agentroute.errors import ModelLoadError
from agentroute.model.cache_dir import cache_root

log = logging.getLogger(__name__)


def _fingerprint(path: Path) -> str:
    """Cheap identity of a GGUF file: name, size and a hash of its first and last MiB."""
    stat = path.stat()
    digest = hashlib.sha256(f"{path.name}:{stat.st_size}".encode())
    with path.open("rb") as fh:
        digest.update(fh.read(1 << 20))
        fh.seek(max(stat.st_size - (1 << 20), 0))
        digest.update(fh.read(1 << 20))
    return digest.hexdigest()[:16]


def converted_dir(gguf_path: Path) -> Path:
    return cache_root() / "converted" / f"{gguf_path.stem}-{_fingerprint(gguf_path)}"


def ensure_converted(gguf_path: Path) -> Path:
    """Return a checkpoint directory for ``gguf_path``, converting it the first time."""
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise ModelLoadError(f"GGUF file {gguf_path} does not exist")
    target = converted_dir(gguf_path)
    if (target / "config.json").is_file():
        return target
    try:
        import gguf  # noqa: F401
    except ImportError as exc:
        raise ModelLoadError("loading a .gguf file needs the gguf package: pip install 'gguf==0.19.0'") from exc
    from transformers import AutoModelForCausalLM, AutoTokenizer

    log.info("converting %s to safetensors under %s (once)", gguf_path, target)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except Exception as exc:  # transformers raises many types for unreadable files
        raise ModelLoadError(f"cannot read GGUF file {gguf_path}: {exc}") from exc
    # transformers marks GGUF-loaded models as quantized and refuses save_pretrained; the weights
    # are already dequantized to float32, so the marker is stale.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    target.parent.mkdir(parents=True, exist_ok=True)
    # Write into a temporary sibling and rename, so an interrupted conversion never leaves a
    # half-written checkpoint that later loads would trust.
    tmp = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        model.generation_config.save_pretrained(tmp)
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if not (target / "config.json").is_file():
            raise
    return target
