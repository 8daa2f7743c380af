"""Training progress as plain lines when stderr is a log file (``cli.progress_lines``)."""

import io

from rich.console import Console

from agentroute.cli.progress_lines import ProgressLines, duration, line


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_line_per_interval_and_one_when_a_stage_ends():
    out, clock = io.StringIO(), Clock()
    progress = ProgressLines(Console(file=out, width=200), every=60, clock=clock)
    progress("adapter (LoRA)", 841, 3364)  # a resumed stage: its first report opens it
    for done in range(842, 900):
        clock.now += 3.4
        progress("adapter (LoRA)", done, 3364)
    clock.now += 3.4
    progress("router", 10, 10)
    lines = out.getvalue().splitlines()
    assert lines[0] == "adapter (LoRA): 841/3364 (25%)"
    # 3.4 s per item: lines every 18 items (61.2 s), each with the rate of this run and the time left.
    assert lines[1] == "adapter (LoRA): 859/3364 (26%), 3.4 s each, 1m 01s elapsed, about 2h 21m left"
    assert len([x for x in lines if x.startswith("adapter")]) == 4
    assert lines[-1] == "router: 10/10 (100%)"


def test_line_and_duration_formats():
    assert line("teacher replies", 5, 10, 5, 2.0) == "teacher replies: 5/10 (50%), 2.50/s, 2s elapsed, about 2s left"
    assert line("reply store", 10, 10, 10, 125) == "reply store: 10/10 (100%), 12.5 s each, 2m 05s elapsed"
    assert line("teacher replies", 96, 96, 95, 0.01) == "teacher replies: 96/96 (100%)"  # read from the cache
    assert [duration(s) for s in (0, 59.6, 61, 3600, 8580)] == ["0s", "1m 00s", "1m 01s", "1h 00m", "2h 23m"]


def test_items_read_back_from_a_cache_do_not_count_as_this_runs_work():
    out, clock = io.StringIO(), Clock()
    progress = ProgressLines(Console(file=out, width=40), every=60, clock=clock)
    for done in range(1, 51):  # 50 cached items in a burst
        clock.now += 0.001
        progress("teacher replies", done, 96)
    for done in range(51, 70):
        clock.now += 4
        progress("teacher replies", done, 96)
    lines = out.getvalue().splitlines()
    # A line a minute: 15 items in 60 s, 4 s each, 31 left at that rate; not wrapped at 40 columns.
    assert lines[-1] == "teacher replies: 65/96 (68%), 4.0 s each, 1m 00s elapsed, about 2m 04s left"
