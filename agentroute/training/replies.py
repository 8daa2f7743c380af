"""The pack's reply store (``decode.reply_store``): the model's own full-depth replies on training
steps, as users load the pack, which lossless mode drafts from.

Run last, once the adapter, router and manifest are on disk: the replies come from
``load(model, pack=out)``, the weights, dtype and decode kernels a user gets, so drafts retrieved
from them agree with that user's full-depth reply as often as the store can. Cached one JSON line
per step (``work/replies.jsonl``, as ``teacher_replies`` writes it), so an interrupted run keeps
what it made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from agentroute.decode.reply_store import ReplyStore
from agentroute.evaluation.steps import EvalStep
from agentroute.pack import REPLIES_FILE
from agentroute.training.teacher import teacher_replies


def build_reply_store(
    model_name: str,
    out: Path,
    steps: Sequence[EvalStep],
    max_new_tokens: int,
    work: Path,
    progress: Callable[[int, int], None],
    model=None,
) -> dict | None:
    """Write ``out/replies.safetensors`` from ``steps``' replies; return the manifest entry (None,
    and no file, when there are no steps). ``model``: the pack already loaded as users load it
    (``load(model_name, pack=out)``), else it is loaded here."""
    from agentroute.loading import load

    (out / REPLIES_FILE).unlink(missing_ok=True)  # the pack loads here without a store of its own
    if not steps:
        return None
    if model is None:
        model = load(model_name, pack=out)
    model.reply_store = None  # replies of a store being replaced must not draft the new one's
    replies = teacher_replies(model, steps, work / "replies.jsonl", max_new_tokens, progress)
    store = ReplyStore([replies[s.id] for s in steps])
    store.save(out / REPLIES_FILE)
    return {"count": len(store), "tokens": sum(map(len, store.replies)), "max_new_tokens": max_new_tokens}
