"""The reply store of a pack already written: ``agentroute train --out PACK --data DATA --store-only``.

A pack's last stage, its store of full-depth replies (``training.replies``), runs after
``pack.json`` is written and takes about half an hour on two CPU cores. A pack whose run stopped
before it, or whose ``work`` files are gone (a new machine, a copied pack), gets its store here:
the same free-text steps the run would have chosen (the pack's own training settings over the same
data, which must be the data it was trained on), decoded by the pack's model.
"""

from __future__ import annotations

import json
from pathlib import Path

from agentroute.evaluation.steps import EvalError
from agentroute.pack import MANIFEST
from agentroute.training.adapter import AdapterConfig
from agentroute.training.replies import build_reply_store
from agentroute.training.train_data import sha256, split_steps, train_steps


def add_reply_store(model_name: str, data_dir: Path, out: Path, progress) -> dict:
    """Build ``out``'s reply store from ``data_dir`` and record it in ``out/pack.json``; return the
    manifest."""
    from agentroute.training.pipeline import TrainConfig

    path = out / MANIFEST
    if not path.is_file():
        raise EvalError(f"{out} holds no {MANIFEST}: --store-only adds a reply store to a pack already trained there")
    manifest = json.loads(path.read_text(encoding="utf-8"))
    settings = dict(manifest.get("training", {}).get("config") or {})
    if not settings:
        raise EvalError(f"{path} records no training settings, so the steps of its reply store are unknown")
    trained_on = (manifest.get("data") or {}).get("train_sha256")
    if trained_on is None:
        raise EvalError(f"{path} records no train_sha256 of its data, so its reply store's steps cannot be checked")
    given = sha256(data_dir / "train.jsonl")
    if trained_on != given:
        raise EvalError(
            f"{data_dir / 'train.jsonl'} is not the data {out} was trained on (sha256 {given[:12]}..., "
            f"the pack's {trained_on[:12]}...); pass the --data directory it was trained with"
        )
    adapter = AdapterConfig(**settings.pop("adapter", {}))
    config = TrainConfig(**settings, adapter=adapter)
    split = split_steps(train_steps(data_dir), config)
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    # The pack loads without a store while it builds one, as at the end of a training run.
    manifest.pop("replies", None)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    replies = build_reply_store(
        model_name, out, split["replies"], config.reply_tokens, work, lambda d, t: progress("reply store", d, t)
    )
    if replies is not None:
        manifest["replies"] = replies
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
