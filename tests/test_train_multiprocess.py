"""Adapter training in two CPU processes (torchrun, as `accelerate launch` does for multi-CPU):
each process trains its share of every accumulation window and the gradients are summed, so both
processes end with the same weights, close to one process's; a window that leaves a process
without an example (an odd count) must not hang the collective."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

TESTS = Path(__file__).resolve().parent
SCRIPT = textwrap.dedent(
    f"""
    import sys
    from pathlib import Path
    sys.path.insert(0, {str(TESTS)!r})
    import torch
    from accelerate import PartialState
    from test_train_pipeline import CONFIG, LIBRARY, fresh_model, hand_examples, lora_state
    from agentroute.training.adapter import train_adapter

    out, count = Path(sys.argv[1]), int(sys.argv[2])
    (out / "work").mkdir(parents=True, exist_ok=True)
    model = fresh_model()
    peft_model = train_adapter(model, hand_examples(model)[:count], LIBRARY, CONFIG, out / "work", seed=0)
    torch.save(lora_state(peft_model), out / f"lora_{{PartialState().process_index}}.pt")
    """
)


def _run(command: list[str], out: Path, count: int) -> None:
    out.mkdir(parents=True)
    script = out / "train.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([*command, str(script), str(out), str(count)], capture_output=True, text=True,
                          timeout=240, env=env)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]


@pytest.mark.slow
@pytest.mark.parametrize("count", [4, 3])  # 3: the last window gives the second process no example
def test_two_processes_train_the_same_adapter(tmp_path, count):
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2"]
    _run(torchrun, tmp_path / "two", count)
    _run([sys.executable], tmp_path / "one", count)
    rank0, rank1 = (torch.load(tmp_path / "two" / f"lora_{r}.pt") for r in (0, 1))
    single = torch.load(tmp_path / "one" / "lora_0.pt")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # the processes stay in step
    assert any(v.abs().sum() > 0 for k, v in rank0.items() if "lora_B" in k)  # it trained
    # Summed gradients give one process's update; Adam turns rounding in near-zero gradients into
    # at most about one learning-rate step (1e-2 here) per weight.
    assert max((single[k] - rank0[k]).abs().max().item() for k in single) < 2e-2
