"""Training-free budget -> program: skip the layers whose removal changes the hidden state least.

Each layer's importance is its Block Influence (ShortGPT): the mean over calibration tokens of
``1 - cos(hidden_in, hidden_out)``. A layer that barely turns the residual stream can be skipped
with the least damage. Computed once per model on a small built-in set of agent-style prompts and
cached as JSON beside the converted weights. Route packs and program search replace this baseline.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
from pathlib import Path

import torch

from agentroute.model import executor
from agentroute.model.cache_dir import cache_root
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.program import LayerProgram

log = logging.getLogger(__name__)

# Mixed step types so no single kind of step decides which layers look unimportant.
CALIBRATION_PROMPTS = [
    [{"role": "user", "content": "What's the weather in Lisbon tomorrow? Use the weather tool."}],
    [{"role": "user", "content": "Convert 12 miles to kilometres and explain the formula."}],
    [{"role": "user", "content": "Plan the steps to migrate a small web app from SQLite to PostgreSQL."}],
    [{"role": "user", "content": "Why does ice float on water? Reason step by step."}],
    [{"role": "user", "content": "Summarise the causes of the First World War in three sentences."}],
    [{"role": "user", "content": 'Return only JSON: {"name": "search", "arguments": {"query": "llama"}}'}],
    [{"role": "user", "content": "Write a Python function that checks whether a string is a palindrome."}],
    [{"role": "user", "content": "A train leaves at 9:40 and arrives at 13:05. How long is the trip?"}],
]


def block_influence(model, prompts=CALIBRATION_PROMPTS) -> list[float]:
    """Mean ``1 - cos(in, out)`` per layer over the tokens of ``prompts`` (full program)."""
    n = model.n_layers
    totals = torch.zeros(n, dtype=torch.float64)
    count = 0
    full = LayerProgram.full(n)

    def observe(layer: int, hidden_in: torch.Tensor, hidden_out: torch.Tensor) -> None:
        cos = torch.nn.functional.cosine_similarity(hidden_in.float(), hidden_out.float(), dim=-1)
        totals[layer] += (1 - cos).sum().double()

    with torch.inference_mode():
        for messages in prompts:
            ids = torch.tensor([model.encode(messages)], device=model.parts.device)
            executor.forward(model.parts, ProgramKVCache(), full, ids, start=0, on_layer=observe)
            count += ids.shape[1]
    return (totals / count).tolist()


def weights_fingerprint(model) -> str:
    """Identity of a model's weights: name, layer count, quantization and a checksum of some weights.

    The checksum sums the weights as bfloat16 values: a model loaded in bfloat16 holds exactly the
    bfloat16 rounding of its float32 weights, so calibration and searched programs carry across
    the two dtypes."""
    digest = hashlib.sha256(f"{model.name}:{model.n_layers}:{model.quantization}".encode())
    with torch.inference_mode():
        for layer in (0, model.n_layers // 2, model.n_layers - 1):
            for param in list(model.parts.layers[layer].parameters())[:2]:
                digest.update(f"{float(param.to(torch.bfloat16).float().sum()):.6e}".encode())
    return digest.hexdigest()[:16]


def layer_importance(model, cache: bool = True) -> list[float]:
    """Block Influence per layer, read from the cache when this model was calibrated before."""
    path = cache_root() / "calibration" / f"{weights_fingerprint(model)}.json"
    if cache and path.is_file():
        cached = _read_cached(path, model.n_layers)
        if cached is not None:
            return cached
    importance = block_influence(model)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps({"model": model.name, "method": "block_influence", "importance": importance}))
        tmp.replace(path)
        log.info("calibrated layer importance for %s -> %s", model.name, path)
    return importance


def program_for_budget(importance: list[float], budget: float, protected: set[int] = frozenset()) -> LayerProgram:
    """The skip program that keeps the most important layers within ``budget`` of the layer cost.

    Keeps ``floor(budget * n)`` layers (at least the protected ones and at least one), dropping the
    lowest-importance unprotected layers first; order is preserved.
    """
    n = len(importance)
    keep = max(math.floor(budget * n + 1e-9), len(protected), 1)
    droppable = sorted((i for i in range(n) if i not in protected), key=lambda i: importance[i])
    skipped = droppable[: n - keep]
    return LayerProgram.skip(n, skipped)


def _read_cached(path: Path, n_layers: int) -> list[float] | None:
    """The cached importance if it is one finite number per layer; None (and a warning) otherwise.

    A damaged or foreign cache must not route: two values for a 30-layer model would make every
    budget's program one of layers 0-1."""
    try:
        importance = json.loads(path.read_text())["importance"]
        ok = (
            isinstance(importance, list)
            and len(importance) == n_layers
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in importance)
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        ok = False
    if not ok:
        log.warning("calibration cache %s does not hold %d layer values; recalibrating", path, n_layers)
        return None
    return importance
