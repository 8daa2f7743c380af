"""The program library of a route pack: candidate skip programs per step type.

Candidates come from the training-free Block Influence order (``calibration``) at a few budgets
per step type: cheap ones for tool calls, mild ones for free text. Programs found by ``agentroute
search`` can join them (``agentroute train --programs programs.json``). Training makes the
adapter faithful under exactly these programs; the router then picks one per step.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from agentroute.errors import AgentRouteError
from agentroute.model.calibration import program_for_budget
from agentroute.model.program import LayerProgram
from agentroute.steps.records import StepType

log = logging.getLogger(__name__)

DEFAULT_CANDIDATES: dict[StepType, tuple[float, ...]] = {
    StepType.TOOL_CALL: (0.45, 0.5, 0.55, 0.6),
    StepType.PLANNING: (0.85, 0.9),
    StepType.REASONING: (0.85, 0.9),
    StepType.FINAL_ANSWER: (0.8, 0.85, 0.9),
}
LIBRARY_FILE = "library.json"  # in OUT/work: the library the cached adapter was trained under


def build_library(
    importance: list[float],
    protected: set[int],
    candidates: dict[StepType, tuple[float, ...]] = DEFAULT_CANDIDATES,
    searched: Mapping[StepType, Iterable[LayerProgram]] | None = None,
) -> dict[StepType, list[LayerProgram]]:
    """Step type -> distinct candidate programs, cheapest first.

    ``searched`` programs (e.g. ``ProgramLibrary.skip_programs()``) are added for the step types in
    ``candidates``. Looping programs are left out: training scores every program after a
    full-depth prompt in one packed pass, and a loop re-encodes the prompt with itself.
    """
    library: dict[StepType, list[LayerProgram]] = {}
    for step_type, budgets in candidates.items():
        programs: list[LayerProgram] = []
        for budget in sorted(budgets):
            program = program_for_budget(importance, budget, protected)
            if program not in programs:
                programs.append(program)
        for program in (searched or {}).get(step_type, ()):
            if program.loops:
                log.warning("searched %s program %s loops a layer; packs train skip programs only", step_type.value,
                            program)  # fmt: skip
            elif not protected <= set(program.layers):
                log.warning("searched %s program %s skips a protected layer; left out", step_type.value, program)
            elif program not in programs:
                programs.append(program)
        library[step_type] = sorted(programs, key=lambda p: (p.cost, p.layers))
    return library


def check_cached_library(work: Path, library: dict[StepType, list[LayerProgram]]) -> None:
    """Record the library in ``work``; refuse to resume a run that trained under another one.

    A resumed adapter continues from its checkpoint, so a changed library (another ``--programs``
    file, say) would silently mix two trainings in one pack.
    """
    path = work / LIBRARY_FILE
    current = {t.value: [str(p) for p in programs] for t, programs in library.items()}
    if path.is_file():
        cached = json.loads(path.read_text(encoding="utf-8"))
        if cached != current:
            raise AgentRouteError(
                f"{work} holds a training run with another program library ({path}); "
                "train into a new --out directory, or delete its work/ folder to start over"
            )
        return
    path.write_text(json.dumps(current, indent=2) + "\n", encoding="utf-8")
