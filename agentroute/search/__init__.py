"""Training-free program search (issue #6): which layers to skip or loop per step type and budget.

``search.run.search`` scores candidates with ``fidelity.FidelityScorer`` (teacher-forced agreement
with full depth on dev steps), descends with ``beam``, compares with ``baselines``, and writes a
programs file (``agentroute.program_library``) that ``agentroute.load(..., programs=...)`` routes with.
"""

from agentroute.search.run import SearchConfig, search

__all__ = ["SearchConfig", "search"]
