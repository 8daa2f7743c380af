"""Await a generation from asyncio code so that cancelling the await stops the generation.

``asyncio.to_thread`` alone cannot stop the work it runs: a cancelled ``ainvoke`` or ``run_async``
would leave the decode running in its thread, holding the model's lock while the next caller waits.
``generate_async`` hands the generation a ``cancelled`` check (``GenerationOptions.cancelled``) that
the await's cancellation sets, so the decode stops at its next token and drops its half-written
cache. Both integrations use it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Any, TypeVar

Result = TypeVar("Result")


async def generate_async(generate: Callable[..., Result], *args: Any, **kwargs: Any) -> Result:
    """``generate(*args, **kwargs, cancelled=...)`` in a worker thread (the caller's context copied,
    so traces and tracing spans stay the caller's); cancelling the awaiting task stops it."""
    stop = threading.Event()
    task = asyncio.ensure_future(asyncio.to_thread(generate, *args, cancelled=stop.is_set, **kwargs))
    try:
        # shield: the thread cannot be cancelled, so the task must outlive this await to fetch its outcome.
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        stop.set()
        task.add_done_callback(_fetch_outcome)
        raise


def _fetch_outcome(task: asyncio.Future) -> None:
    """Read the abandoned task's outcome (its GenerationCancelled) so asyncio does not log it as lost."""
    if not task.cancelled():
        task.exception()
