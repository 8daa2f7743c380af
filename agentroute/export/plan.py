"""Which programs a served deployment needs: the full model plus, per step type, what its policy runs.

Engines cannot pick a program per request the way the pack's router does, so each step type maps
to one served model: full depth for budget 1.0, else the pack's dearest library program within the
budget (the router's fallback when none is predicted safe; the safest fixed choice), else the
budget's training-free or searched program. A lossless step type is served by the full model and
drafted by its draft program, as the engine's own speculative decoding (draft model).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agentroute.model.program import LayerProgram
from agentroute.steps.records import StepType


@dataclass
class ExportEntry:
    program: LayerProgram
    role: str  # "model" (serves steps) or "draft" (drafts for the full model)
    step_types: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        if self.program.is_full:
            return "full"
        compact = str(self.program).replace(",", "_")
        return f"{'draft' if self.role == 'draft' else 'program'}-{compact}"


def export_plan(model) -> list[ExportEntry]:
    """The entries to export for ``model`` under its policy (and pack), full depth first."""
    policy, router, pack = model.policy, model.router, getattr(model, "pack", None)
    full = LayerProgram.full(model.n_layers)
    entries: dict[tuple[str, LayerProgram], ExportEntry] = {("model", full): ExportEntry(full, "model")}

    def add(program: LayerProgram, role: str, step_type: StepType) -> None:
        entry = entries.setdefault((role, program), ExportEntry(program, role))
        if step_type.value not in entry.step_types:
            entry.step_types.append(step_type.value)

    for step_type in StepType:
        if policy.mode_for(step_type) == "lossless":
            add(full, "model", step_type)
            budget = policy.draft_budget_for(step_type)
            if budget < 1.0:
                add(_program_for(model, pack, router, step_type, budget), "draft", step_type)
            continue
        budget = policy.budget_for(step_type)
        add(full if budget >= 1.0 else _program_for(model, pack, router, step_type, budget), "model", step_type)
    return list(entries.values())


def _program_for(model, pack, router, step_type: StepType, budget: float) -> LayerProgram:
    if pack is not None:
        within = [p for p in pack.library.get(step_type, []) if p.cost <= budget + 1e-9]
        if within:
            return within[-1]  # the dearest within the budget
    return router.program_for(budget, step_type)
