"""The pack gate (benchmarks/pack_gate.py) runs each missing stage once, resumes, and tables the results."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import pack_gate  # noqa: E402

EVAL = {"modes": {"full": {"categories": {"parallel": {"n": 4, "accuracy": 0.75}, "all": {"n": 8, "accuracy": 0.5}}}}}


def _writes(path: Path, payload) -> list[str]:
    """A real stage process that writes ``payload`` as the stage's JSON."""
    return [sys.executable, "-c", f"import pathlib; pathlib.Path({str(path)!r}).write_text({json.dumps(payload)!r})"]


def test_missing_stages_run_once_and_a_rerun_resumes(tmp_path, monkeypatch):
    out = tmp_path / "gate"
    out.mkdir()
    (out / "types.json").write_text(json.dumps({"accuracy": 0.975}))
    (out / "demo.json").write_text(json.dumps([{"correct": 3, "tasks": 5}]))
    declining = {"no_tool_fits": 10, "declined_when_no_tool_fits": 8, "a_tool_fits": 14, "declined_when_a_tool_fits": 1}
    (out / "declining.json").write_text(json.dumps({"summary": declining}))
    monkeypatch.setattr(pack_gate, "stage_commands", lambda pack, data, out: {"dev": _writes(out / "dev.json", EVAL)})

    table = pack_gate.gate("some-pack", tmp_path, out)
    assert "| dev parallel | " in table and table.splitlines()[4].endswith("| 75% of 4 |")
    shipped = pack_gate.accuracies(pack_gate.SHIPPED["dev"])["all"]  # the shipped pack's stored dev result
    assert f"| dev all | {shipped} | 50% of 8 |" in table
    assert "| dev step typing | - | 97.5% |" in table and "| demo tasks right | 2/5 | 3/5 |" in table
    assert "8/10 right, 1/14 wrong |" in table
    assert (out / "gate.md").read_text() == table + "\n"

    def no_process(*args, **kwargs):
        raise AssertionError("a stage ran twice")

    monkeypatch.setattr(subprocess, "run", no_process)
    assert pack_gate.gate("some-pack", tmp_path, out) == table


def test_a_failing_stage_stops_the_gate_before_its_table(tmp_path, monkeypatch):
    failing = [sys.executable, "-c", "raise SystemExit(3)"]
    monkeypatch.setattr(pack_gate, "stage_commands", lambda pack, data, out: {"dev": failing})
    with pytest.raises(subprocess.CalledProcessError):
        pack_gate.gate("some-pack", tmp_path, tmp_path / "gate")
    assert not (tmp_path / "gate" / "gate.md").exists()
