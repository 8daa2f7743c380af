"""Training-free program search (issue #6): which layers to skip or loop per step type and budget.

``search.run.search`` scores candidates with ``fidelity.FidelityScorer`` (teacher-forced agreement
with full depth on dev steps), descends with ``beam``, compares with ``baselines``, and writes a
``library`` file that ``agentroute.load(..., programs=...)`` routes with.
"""

from agentroute.search.library import ProgramLibrary, ProgramsError, load_library, read_programs, write_programs
from agentroute.search.run import SearchConfig, search

__all__ = [
    "ProgramLibrary",
    "ProgramsError",
    "SearchConfig",
    "load_library",
    "read_programs",
    "search",
    "write_programs",
]
