"""The program library of a route pack: candidate skip programs per step type.

Candidates come from the training-free Block Influence order (``calibration``) at a few budgets
per step type: cheap ones for tool calls, mild ones for free text. Training makes the adapter
faithful under exactly these programs; the router then picks one per step.
"""

from __future__ import annotations

from agentroute.calibration import program_for_budget
from agentroute.program import LayerProgram
from agentroute.records import StepType

DEFAULT_CANDIDATES: dict[StepType, tuple[float, ...]] = {
    StepType.TOOL_CALL: (0.45, 0.5, 0.55, 0.6),
    StepType.PLANNING: (0.85, 0.9),
    StepType.REASONING: (0.85, 0.9),
    StepType.FINAL_ANSWER: (0.8, 0.85, 0.9),
}


def build_library(
    importance: list[float], protected: set[int], candidates: dict[StepType, tuple[float, ...]] = DEFAULT_CANDIDATES
) -> dict[StepType, list[LayerProgram]]:
    """Step type -> distinct candidate programs, cheapest first."""
    library: dict[StepType, list[LayerProgram]] = {}
    for step_type, budgets in candidates.items():
        programs: list[LayerProgram] = []
        for budget in sorted(budgets):
            program = program_for_budget(importance, budget, protected)
            if program not in programs:
                programs.append(program)
        library[step_type] = programs
    return library
