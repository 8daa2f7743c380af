"""Traces: collect the StepRecord of every step run inside a ``with Trace(...)`` block.

```python
with Trace("run.jsonl") as trace:
    agent.run(...)            # each model step calls record_step(record)
latency = trace.summary()["tool_call"]["mean_latency_s"]
```

The set of active traces lives in a ``ContextVar``: a thread starts with an empty context and
an asyncio task copies its creator's context, so concurrent agents each see only their own
traces. A trace with a path appends one JSON line per step and fsyncs it, so a process killed
mid-run loses at most the step in progress; ``read_trace`` reads such a file back.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterable
from contextvars import ContextVar, Token
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from agentroute.errors import AgentRouteError
from agentroute.steps.records import StepRecord, StepType
from agentroute.trace import otel

logger = logging.getLogger(__name__)

_ACTIVE: ContextVar[tuple[Trace, ...]] = ContextVar("agentroute_active_traces", default=())


class TraceFileError(AgentRouteError):
    """A trace file that is missing, unreadable or corrupt before its last line."""


class Trace:
    """Collects the records of every step run in its scope; optionally appends them to a JSONL file.

    Use it as ``with Trace(path) as trace:`` or ``async with``. ``path=None`` keeps records in
    memory only. Traces nest: every active trace in the current context receives each record.
    ``include_messages=True`` also writes each step's input messages and tools into its JSON line,
    so ``agentroute eval`` can replay the trace.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, include_messages: bool = False) -> None:
        self.path = Path(path) if path is not None else None
        self.include_messages = include_messages
        self.records: list[StepRecord] = []
        self._lock = threading.Lock()
        self._file: IO[str] | None = None
        self._token: Token | None = None

    def __repr__(self) -> str:
        where = str(self.path) if self.path else "memory"
        return f"Trace({where!r}, records={len(self.records)}, active={self.active})"

    @property
    def active(self) -> bool:
        """True between enter and exit."""
        return self._token is not None

    def __enter__(self) -> Trace:
        with self._lock:
            # One token per instance: entering again (here or from another task) would lose the first.
            if self._token is not None:
                raise RuntimeError(f"{self!r} is already active; create a new Trace for a nested scope")
            if self.path is not None:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                _drop_partial_tail(self.path)
                self._file = open(self.path, "a", encoding="utf-8", buffering=1)
            self._token = _ACTIVE.set((*_ACTIVE.get(), self))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        with self._lock:
            token, self._token = self._token, None
            file, self._file = self._file, None
        try:
            if token is not None:
                _ACTIVE.reset(token)
        finally:
            if file is not None:
                file.close()

    async def __aenter__(self) -> Trace:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    def add(self, record: StepRecord, inputs: dict[str, Any] | None = None) -> None:
        """Append ``record``; with a path, write it as one JSON line and fsync it before returning.

        ``inputs`` (``{"messages": [...], "tools": [...]}``) joins the line when the trace was
        created with ``include_messages=True``.
        """
        if self.include_messages and inputs:
            line = json.dumps({**record.model_dump(mode="json"), **inputs}, ensure_ascii=False) + "\n"
        else:
            line = record.model_dump_json() + "\n"
        with self._lock:
            if self.path is not None and self._file is None:
                raise RuntimeError(f"{self!r} writes to a file; add records inside its 'with' block")
            self.records.append(record)
            if self._file is not None:
                # One write per line, then flush + fsync: a SIGKILL can only cut the step in progress.
                self._file.write(line)
                self._file.flush()
                os.fsync(self._file.fileno())

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per step type (``"tool_call"``, ...) and ``"all"``: counts, tokens, latency and accuracy.

        See ``summarize`` for the fields.
        """
        with self._lock:
            records = list(self.records)
        return summarize(records)


def record_step(record: StepRecord, inputs: dict[str, Any] | None = None) -> None:
    """Hand one finished step to every active trace of this context and to OpenTelemetry.

    Models call this after each step, with the step's ``inputs`` (messages and tools) for traces
    that keep them. With no trace active and no OpenTelemetry SDK configured it does one
    ContextVar lookup and one provider check.
    """
    for trace in _ACTIVE.get():
        trace.add(record, inputs)
    otel.export_record(record)


def active_traces() -> tuple[Trace, ...]:
    """The traces that receive records in the current context, outermost first."""
    return _ACTIVE.get()


def summarize(records: Iterable[StepRecord]) -> dict[str, dict[str, Any]]:
    """Statistics per step type value (in StepType order) plus ``"all"``.

    Each entry has: ``count``, ``prompt_tokens``, ``reused_prompt_tokens``, ``completion_tokens``,
    ``latency_s`` (total), ``mean_latency_s``, ``mean_ttft_s``, ``mean_layers_fraction``,
    ``mean_decode_tokens_per_s`` (over records that have one), ``errors`` (records with an error),
    ``observed`` (records with ``step_type_observed``) and ``step_type_accuracy`` (the fraction of
    those where the predicted type equals the observed one). Means are None when nothing counts.
    """
    records = list(records)
    groups: dict[str, list[StepRecord]] = {t.value: [] for t in StepType}
    for record in records:
        groups[StepType(record.step_type).value].append(record)
    out = {name: _stats(group) for name, group in groups.items() if group}
    out["all"] = _stats(records)
    return out


def _stats(records: list[StepRecord]) -> dict[str, Any]:
    rates = [r.decode_tokens_per_s for r in records if r.decode_tokens_per_s is not None]
    observed = [r for r in records if r.step_type_observed is not None]
    latency = sum(r.latency_s for r in records)
    return {
        "count": len(records),
        "prompt_tokens": sum(r.prompt_tokens for r in records),
        "reused_prompt_tokens": sum(r.reused_prompt_tokens for r in records),
        "completion_tokens": sum(r.completion_tokens for r in records),
        "latency_s": latency,
        "mean_latency_s": _mean([r.latency_s for r in records]),
        "mean_ttft_s": _mean([r.ttft_s for r in records]),
        "mean_layers_fraction": _mean([r.layers_fraction for r in records]),
        "mean_decode_tokens_per_s": _mean(rates),
        "errors": sum(1 for r in records if r.error is not None),
        "observed": len(observed),
        "step_type_accuracy": _mean([float(r.step_type == r.step_type_observed) for r in observed]),
    }


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def read_trace(path: str | os.PathLike[str]) -> list[StepRecord]:
    """Read a JSONL trace written by ``Trace``.

    A last line cut off without its newline is what a crash mid-write leaves, so it is skipped
    with a warning; any other unreadable line means the file is damaged (or not a trace) and raises
    ``TraceFileError`` naming the line.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise TraceFileError(f"no trace file at {path}") from exc
    except OSError as exc:
        raise TraceFileError(f"cannot read trace file {path}: {exc.strerror or exc}") from exc
    # Split bytes, not text: a cut can land inside a multi-byte character of the last line only.
    lines = [(n, raw) for n, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
    records = []
    for i, (number, raw) in enumerate(lines):
        try:
            records.append(StepRecord.model_validate_json(raw))
        except ValidationError as exc:
            reason = exc.errors()[0]["msg"] if exc.errors() else str(exc)
            if i == len(lines) - 1 and not data.endswith(b"\n"):
                logger.warning(
                    "%s: skipping unreadable last line %d (a step cut off by a crash?): %s", path, number, reason
                )
                continue
            raise TraceFileError(f"{path}: line {number} is not a valid step record: {reason}") from exc
    return records


def _drop_partial_tail(path: Path) -> None:
    """Cut a last line that has no newline (a crashed writer's half step) before appending.

    Appending after it would glue the next record onto it and turn a skippable last line into
    corruption in the middle of the file.
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(size - 1)
        if f.read(1) == b"\n":
            return
        end = size
        chunk = 1 << 16
        while end > 0:
            start = max(0, end - chunk)
            f.seek(start)
            block = f.read(end - start)
            cut = block.rfind(b"\n")
            if cut != -1:
                keep = start + cut + 1
                break
            end = start
        else:
            keep = 0
        logger.warning("%s: dropping %d bytes of an unfinished last line before appending", path, size - keep)
        f.truncate(keep)
