"""The reply store of a pack already written: ``agentroute train --out PACK --data DATA --store-only``.

A pack's last stage, its store of full-depth replies (``training.replies``), runs after
``pack.json`` is written and takes about half an hour on two CPU cores. A pack whose run stopped
during that stage, or whose ``work`` files are gone (a new machine, a copied pack), gets its store
here: the same free-text steps the run chose (the seed and counts the pack records, over the data
it was trained on, checked by its sha256), decoded by the pack's model as users load it (this
machine's default dtype and kernels). Replies already in ``OUT/work/replies.jsonl`` are kept.
"""

from __future__ import annotations

import json
from dataclasses import fields
from pathlib import Path

from agentroute.evaluation.steps import EvalError
from agentroute.pack import MANIFEST, REPLIES_FILE, write_manifest
from agentroute.training.replies import build_reply_store
from agentroute.training.train_data import sha256, split_steps, train_steps

# What the reply stage's choice of steps and their length depend on: a pack must record these.
NEEDED = ("seed", "reply_steps", "reply_tokens")


def add_reply_store(model_name: str, data_dir: Path, out: Path, progress) -> dict:
    """Build ``out``'s reply store from ``data_dir`` and record it in ``out/pack.json``; return the
    manifest."""
    from agentroute.loading import load
    from agentroute.training.pipeline import TrainConfig

    path = out / MANIFEST
    if not path.is_file():
        raise EvalError(
            f"{out} holds no {MANIFEST}: --store-only adds a reply store to a pack already written there "
            "(a run stopped before that continues with --resume)"
        )
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        settings = dict(manifest["training"]["config"])
    except (ValueError, KeyError, TypeError) as exc:
        raise EvalError(f"{path} is no pack manifest with training settings ({exc}); retrain the pack") from exc
    missing = [key for key in NEEDED if key not in settings]
    if missing:
        raise EvalError(f"{path} records no {', '.join(missing)}, so its reply store's steps are unknown")
    train_file = data_dir / "train.jsonl"
    if not train_file.is_file():
        raise EvalError(f"{data_dir} has no train.jsonl: pass the --data directory {out} was trained on")
    trained_on = (manifest.get("data") or {}).get("train_sha256")
    if trained_on is None:
        raise EvalError(f"{path} records no train_sha256 of its data, so its steps cannot be checked; retrain it")
    if trained_on != sha256(train_file):
        raise EvalError(
            f"{train_file} is not the data {out} was trained on (its sha256 differs from the pack's "
            f"{trained_on[:12]}...); pass the --data directory it was trained with"
        )
    # The recorded split settings (the reply steps come from the front of each free-text type, but
    # the split also checks its other counts against the data); a field this release lacks is
    # ignored, one the pack lacks keeps its default.
    known = {f.name for f in fields(TrainConfig)} - {"adapter", "programs"}
    config = TrainConfig(**{key: value for key, value in settings.items() if key in known})
    steps = split_steps(train_steps(data_dir), config)["replies"]
    if not (out / REPLIES_FILE).is_file() and manifest.pop("replies", None) is not None:
        write_manifest(out, manifest)  # a store already lost: the pack loads without one
    model = load(model_name, pack=out)  # a model the pack does not fit fails here, before its store is touched
    work = out / "work"
    work.mkdir(parents=True, exist_ok=True)
    # The pack loads without a store while it builds one, as at the end of a training run.
    manifest.pop("replies", None)
    write_manifest(out, manifest)
    replies = build_reply_store(
        model_name, out, steps, config.reply_tokens, work, lambda d, t: progress("reply store", d, t), model
    )
    if replies is not None:
        manifest["replies"] = replies
    write_manifest(out, manifest)
    return manifest
