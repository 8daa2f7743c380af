"""Step -> (type, budget, program): the decision made before each generation.

The caller's explicit program wins; otherwise the step's budget (caller override, else the policy's
budget for the predicted type) becomes a program. Without a route pack that is the training-free
calibration baseline (``calibration.program_for_budget``); with one, the pack's router reads the
prompt's early hidden states to predict the step type (when nothing settles it) and to pick the
cheapest program of its library within the budget that it predicts will reproduce full depth.
Searched programs (``agentroute search``), when loaded, replace the calibration baseline for the
step types and budgets they cover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from agentroute.errors import GenerationError
from agentroute.model.calibration import layer_importance, program_for_budget
from agentroute.model.program import LayerProgram
from agentroute.steps.policy import DepthPolicy, PolicyError, check_budget
from agentroute.steps.records import StepType, StepTypeSource
from agentroute.steps.step_types import StepContext, StepPredictor, predict_step_type


@dataclass(frozen=True)
class RouteDecision:
    step_type: StepType
    source: StepTypeSource
    budget: float | None
    program: LayerProgram
    mode: str = "routed"


class Router:
    """Turns a StepContext into a RouteDecision for one model; caches a program per budget."""

    def __init__(self, model, policy: DepthPolicy, predictor: StepPredictor | None = None) -> None:
        self.model = model
        self.policy = policy  # checked against the model here, not at the first step
        self.predictor = predictor
        self._programs: dict[tuple[float, frozenset[int]], LayerProgram] = {}
        self._importance: list[float] | None = None
        # Searched programs (``agentroute search``): used for step types they cover, before the
        # Block Influence fallback. Set by ``load(programs=...)`` or ``RoutedModel.use_programs``.
        self.programs = None

    @property
    def policy(self) -> DepthPolicy:
        return self._policy

    @policy.setter
    def policy(self, policy: DepthPolicy) -> None:
        n = self.model.n_layers
        protected = policy.protected(n)  # PolicyError for a layer the model does not have
        budgets = {policy.default_budget, *policy.budgets.values(), *policy.draft_budgets.values()}
        for budget in sorted(budgets):
            _check_protected_fit(budget, protected, n)
        self._policy = policy

    def decide(self, context: StepContext, program=None, prompt_ids=None, mode: str | None = None) -> RouteDecision:
        """``mode``: the caller's decode mode, else the policy's for the step type. In lossless
        mode the policy's draft budget replaces the step's budget (a caller's budget still wins)."""
        pack = getattr(self.model, "pack", None) if prompt_ids is not None else None
        features = None

        def from_pack(_context: StepContext) -> StepType:
            nonlocal features
            features = pack.features(self.model, prompt_ids)
            return pack.predict(features)[0]

        predictor = from_pack if pack is not None and program is None else self.predictor
        step_type, source = predict_step_type(context, self.policy.hint_map, predictor)
        mode = mode if mode is not None else self.policy.mode_for(step_type)
        if program is not None:
            if context.budget is not None:
                raise GenerationError("pass either program= or budget=, not both")
            return RouteDecision(step_type, source, None, self.model.program(program), mode)
        if context.budget is not None:
            budget = check_budget(context.budget)
            _check_protected_fit(budget, self.policy.protected(self.model.n_layers), self.model.n_layers)
        elif mode == "lossless":
            budget = self.policy.draft_budget_for(step_type)
        else:
            budget = self.policy.budget_for(step_type)
        if pack is not None and budget < 1.0:
            if features is None:
                features = pack.features(self.model, prompt_ids)
            chosen = pack.choose(step_type, pack.predict(features, step_type)[1], budget)
            if chosen is not None:
                return RouteDecision(step_type, source, budget, chosen, mode)
        return RouteDecision(step_type, source, budget, self.program_for(budget, step_type), mode)

    def lossless_drafts(self) -> list[LayerProgram]:
        """The programs lossless steps can draft with under the policy: the pack's programs within
        each lossless type's draft budget (``decide`` picks among them), else the budget's program."""
        pack = getattr(self.model, "pack", None)
        drafts = []
        for step_type, mode in self.policy.modes.items():
            if mode != "lossless":
                continue
            budget = self.policy.draft_budget_for(step_type)
            library = pack.library.get(step_type, []) if pack is not None and budget < 1.0 else []
            drafts += [p for p in library if p.cost <= budget + 1e-9] or [self.program_for(budget, step_type)]
        return list(dict.fromkeys(drafts))

    def program_for(self, budget: float, step_type: StepType | None = None) -> LayerProgram:
        if budget >= 1.0:
            return LayerProgram.full(self.model.n_layers)
        if self.programs is not None and step_type is not None:
            searched = self.programs.choose(step_type, budget)
            if searched is not None:
                return searched
        # Keyed by the protected layers too: the policy can be replaced (e.g. a budget sweep), and
        # a program cached under another policy's protected layers would silently be wrong.
        protected = frozenset(self.policy.protected(self.model.n_layers))
        key = (budget, protected)
        if key not in self._programs:
            if self._importance is None:
                self._importance = layer_importance(self.model)
            self._programs[key] = program_for_budget(self._importance, budget, set(protected))
        return self._programs[key]


def _check_protected_fit(budget: float, protected: set[int], n_layers: int) -> None:
    """A budget below 1 must keep at least the protected layers, or the step would run more layers
    than its record says it may."""
    keep = max(math.floor(budget * n_layers + 1e-9), 1)
    if budget < 1.0 and len(protected) > keep:
        raise PolicyError(
            f"budget {budget} keeps {keep} of {n_layers} layers, but the policy protects {len(protected)}; "
            "protect fewer layers (protected_layers) or raise the budget"
        )
