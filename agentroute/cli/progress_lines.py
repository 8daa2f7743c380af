"""Progress as plain lines, for runs whose stderr is a log file rather than a terminal.

rich's live progress bar draws nothing until it stops when its console is not a terminal, so a
pack trained for hours with ``nohup agentroute train ... > train.log`` would log no progress at
all. Here each stage prints a line at most every ``every`` seconds and once when it ends: items
done, the rate over this run (a resumed stage starts mid-way), elapsed time and time left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console


@dataclass
class _Stage:
    started: float
    first_done: int
    printed: float


class ProgressLines:
    def __init__(self, console: Console, every: float = 60.0, clock: Callable[[], float] = time.monotonic):
        self.console, self.every, self.clock = console, every, clock
        self.stages: dict[str, _Stage] = {}

    def __call__(self, label: str, done: int, total: int) -> None:
        now = self.clock()
        stage = self.stages.get(label)
        if stage is None:
            # The rate counts items finished after the stage's first report (a resumed stage starts
            # mid-way, and the first item's time began before this clock did); its line says where.
            stage = self.stages[label] = _Stage(now, done, now - self.every)
        elif now - stage.started < 1:
            # Items read back from the stage's cache arrive in a burst: not work of this run.
            stage.started, stage.first_done = now, done
        if done < total and now - stage.printed < self.every:
            return
        stage.printed = now
        text = line(label, done, total, done - stage.first_done, now - stage.started)
        self.console.print(text, highlight=False, markup=False, soft_wrap=True)


def line(label: str, done: int, total: int, done_here: int, seconds: float) -> str:
    """``adapter (LoRA): 840/3364 (25%), 3.4 s each, 47m 36s elapsed, about 2h 23m left``."""
    parts = [f"{label}: {done}/{total} ({done / total:.0%})" if total else f"{label}: {done}"]
    if done_here > 0 and seconds >= 1:  # a stage read back from its cache has no rate worth a line
        rate = done_here / seconds
        parts.append(f"{rate:.2f}/s" if rate >= 1 else f"{1 / rate:.1f} s each")
        parts.append(f"{duration(seconds)} elapsed")
        if done < total:
            parts.append(f"about {duration((total - done) / rate)} left")
    return ", ".join(parts)


def duration(seconds: float) -> str:
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {secs:02d}s" if minutes else f"{secs}s"
