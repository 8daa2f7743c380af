"""What a training run in ``OUT/work`` was started with, so that ``--resume`` only continues the same run.

``OUT/work`` caches teacher replies, LoRA checkpoints and router rows. Continuing them with another
base model, other training data or other settings would mix two runs into one pack without a
word; ``run.json`` records the run's identity and a resumed run must match it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentroute.errors import AgentRouteError

RUN_FILE = "run.json"


class ResumeError(AgentRouteError, ValueError):
    """``OUT/work`` holds another run than the one asked for, or a run that was not asked to resume."""


def check_run(work: Path, identity: dict[str, Any], resume: bool) -> None:
    """Record ``identity`` for a new run in ``work``; for an existing one, require ``resume`` and the
    same identity (``model``, ``data``, ``config``), naming what differs.

    The model is compared as packs compare it (shapes and embedding values, not its name or path);
    settings that only one side records (a field a later version added) are not compared, since
    the older run could not have set them."""
    from agentroute.pack import fingerprint_mismatches

    path = work / RUN_FILE
    if not path.is_file():
        started = [name for name in ("checkpoint.json", "teacher.jsonl", "train_log.jsonl") if (work / name).is_file()]
        if started and not resume:
            raise ResumeError(
                f"{work} already holds a training run (from before runs were recorded: {', '.join(started)}); "
                "pass --resume to continue it, or choose another --out"
            )
        path.write_text(json.dumps(identity, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        return
    seen = json.loads(path.read_text(encoding="utf-8"))
    if not resume:
        raise ResumeError(f"{work} already holds a training run; pass --resume to continue it, or choose another --out")
    wrong = fingerprint_mismatches(seen.get("model") or {}, identity["model"])
    if wrong:
        raise ResumeError(
            f"--resume: {work} was trained on another base model (its {', '.join(wrong)} differ); "
            "resume with the same --model, or choose another --out"
        )
    for key, what in (("data", "training data"), ("config", "training settings")):
        before, now = seen.get(key), identity.get(key)
        if isinstance(before, dict) and isinstance(now, dict):
            before, now = _shared(before, now), _shared(now, before)
        if before != now:
            raise ResumeError(
                f"--resume: {work} was trained with another {what} ({_difference(before, now)}); "
                "resume with the same --model, --data and settings, or choose another --out"
            )


def _shared(values: dict[str, Any], other: dict[str, Any]) -> dict[str, Any]:
    """``values`` restricted to the keys ``other`` also has, recursively."""
    return {
        k: _shared(v, other[k]) if isinstance(v, dict) and isinstance(other[k], dict) else v
        for k, v in values.items()
        if k in other
    }


def _difference(before: Any, now: Any) -> str:
    if isinstance(before, dict) and isinstance(now, dict):
        keys = sorted(k for k in before.keys() | now.keys() if before.get(k) != now.get(k))
        return "; ".join(f"{k}: {before.get(k)!r} then, {now.get(k)!r} now" for k in keys[:3])
    return f"{before!r} then, {now!r} now"


# Settings added after runs were first recorded, with the value every earlier run trained with. A
# resumed run that recorded none of them keeps that value: its cached checkpoint was trained on the
# examples it then had, and the adapter's example order depends on their count.
BEFORE_RECORDED = {"question_call_examples": 0, "tool_mix": None}


def settings_before_recording(work: Path) -> dict[str, Any]:
    """Of ``BEFORE_RECORDED``, the settings that the run cached in ``work`` did not record (none
    for a new run)."""
    path = work / RUN_FILE
    if not path.is_file():
        return {}
    config = json.loads(path.read_text(encoding="utf-8")).get("config") or {}
    return {name: value for name, value in BEFORE_RECORDED.items() if name not in config}
