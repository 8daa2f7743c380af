"""Full-depth replies of the base model for steps without a gold answer (distillation targets).

Cached one JSON line per step (``work/teacher.jsonl``), so an interrupted run keeps what it made.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from agentroute.evaluation.steps import EvalStep


def teacher_replies(
    model,
    steps: Sequence[EvalStep],
    path: Path,
    max_new_tokens: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[int]]:
    """Step id -> greedy full-depth reply token ids (ending in end-of-turn when the model stopped)."""
    done: dict[str, list[int]] = {}
    if path.is_file():
        lines = path.read_text().splitlines()
        for number, line in enumerate(lines, 1):
            try:
                row = json.loads(line) if line.strip() else None
            except ValueError:
                if number < len(lines):
                    raise
                # The last line, cut short by a crash: dropped from the file and made again below.
                path.write_text("".join(kept + "\n" for kept in lines[:-1]), encoding="utf-8")
                break
            if row is not None:
                done[row["id"]] = row["reply_ids"]
    with path.open("a", encoding="utf-8") as out:
        for index, step in enumerate(steps):
            if step.id not in done:
                prompt = model.encode(step.messages, step.tools)
                result = model.generate_ids(prompt, None, max_new_tokens=max_new_tokens, temperature=0.0)
                done[step.id] = list(result.token_ids)
                out.write(json.dumps({"id": step.id, "reply_ids": done[step.id]}) + "\n")
                out.flush()
            if progress is not None:
                progress(index + 1, len(steps))
    return {step.id: done[step.id] for step in steps}
