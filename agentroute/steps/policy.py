"""DepthPolicy: step type -> depth budget (a fraction of the full program's layer cost).

Load one from a dict, a YAML or a TOML file::

    budgets: {tool_call: 0.6, planning: 0.9, reasoning: 0.9, final_answer: 0.8}
    default_budget: 1.0
    protected_layers: [0, -1]          # never skipped; negative indices count from the end
    hint_map: {planner: planning, tools: tool_call}   # graph node / agent hints -> step type
    modes: {tool_call: lossless}       # decode mode per step type (default: routed)
    draft_budgets: {planning: 1.0}     # lossless mode: the draft's budget (default: the step's)

``lossless`` mode drafts with the program of the step's draft budget and verifies at full depth,
so the reply is exactly the full-depth reply (see ``agentroute.decode.speculative``); an explicit
``mode=`` wins. A draft budget of 1.0 drafts with full depth on int8 copies of the weights
(``agentroute.decode.draft_weights``), which on a CPU beats a skipping draft on free text: skipping
layers costs more agreement with full depth than it saves time once the weights are int8.

The built-in default is full depth for every type: an unadapted model degrades quickly when layers
are skipped, so cheaper budgets belong to a route pack's policy or to the caller.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from agentroute.errors import AgentRouteError
from agentroute.steps.records import DecodeMode, StepType


class PolicyError(AgentRouteError, ValueError):
    """A depth policy that cannot be used (bad budget, unknown step type, unreadable file)."""


def check_budget(budget: float, where: str = "budget") -> float:
    """A budget is a fraction of layer cost in (0, 1]: a number, not a boolean, a string or NaN."""
    if isinstance(budget, bool) or not isinstance(budget, (int, float)) or math.isnan(budget):
        raise PolicyError(f"{where} must be a number in (0, 1], got {budget!r}")
    value = float(budget)
    if not 0 < value <= 1:
        raise PolicyError(f"{where} must be in (0, 1] (a fraction of the full model's layer cost), got {budget}")
    return value


class DepthPolicy(BaseModel):
    """Per step type, the fraction of layer cost a step may spend."""

    # Unknown keys are errors: a typo such as ``budget:`` for ``budgets:`` would otherwise load as no
    # budgets at all, and every step would silently run at full depth.
    model_config = ConfigDict(extra="forbid")

    budgets: dict[StepType, float] = Field(default_factory=dict, description="budget per step type, in (0, 1]")
    default_budget: float = Field(1.0, description="budget for step types not listed in budgets")
    protected_layers: list[StrictInt] = Field(default_factory=lambda: [0, -1], description="layers never skipped")
    hint_map: dict[str, StepType] = Field(
        default_factory=dict, description="framework hint (graph node name, agent role) -> step type"
    )
    modes: dict[StepType, DecodeMode] = Field(
        default_factory=dict, description="decode mode per step type: 'routed' (default) or 'lossless'"
    )
    draft_budgets: dict[StepType, float] = Field(
        default_factory=dict, description="lossless mode: the draft program's budget per step type, in (0, 1]"
    )

    @field_validator("budgets", "draft_budgets", "default_budget", mode="before")
    @classmethod
    def _budgets_in_range(cls, value: Any) -> Any:
        # Before pydantic's coercion, which would read True as 1.0 and "0.5" as 0.5.
        if isinstance(value, dict):
            return {step: check_budget(b, f"budget for {getattr(step, 'value', step)}") for step, b in value.items()}
        return check_budget(value, "default_budget")

    def budget_for(self, step_type: StepType) -> float:
        return self.budgets.get(step_type, self.default_budget)

    def mode_for(self, step_type: StepType) -> DecodeMode:
        return self.modes.get(step_type, "routed")

    def draft_budget_for(self, step_type: StepType) -> float:
        return self.draft_budgets.get(step_type, self.budget_for(step_type))

    def protected(self, n_layers: int) -> set[int]:
        """Protected layer indices for a model with ``n_layers`` layers (negative ones resolved)."""
        out = set()
        for index in self.protected_layers:
            resolved = index + n_layers if index < 0 else index
            if not 0 <= resolved < n_layers:
                raise PolicyError(f"protected layer {index} is out of range for a model with {n_layers} layers")
            out.add(resolved)
        return out

    # -- loading ----------------------------------------------------------------------------------

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DepthPolicy:
        if not isinstance(data, dict):
            raise PolicyError(f"a depth policy is a mapping of its fields, got {type(data).__name__}")
        fields = list(cls.model_fields)
        for key in data:
            if key not in cls.model_fields:
                close = difflib.get_close_matches(str(key), fields, n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise PolicyError(f"unknown depth policy key {key!r}; {hint}the keys are {', '.join(fields)}")
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise PolicyError(
                f"invalid depth policy: {problems} (step types: {', '.join(t.value for t in StepType)})"
            ) from exc

    @classmethod
    def from_file(cls, path: str | Path) -> DepthPolicy:
        path = Path(path)
        if not path.is_file():
            raise PolicyError(f"policy file {path} does not exist")
        try:
            if path.suffix == ".toml":
                data = tomllib.loads(path.read_text())
            else:
                data = yaml.safe_load(path.read_text()) or {}
        except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
            raise PolicyError(f"cannot parse policy file {path}: {exc}") from exc
        if not isinstance(data, dict):
            raise PolicyError(f"policy file {path} must hold a mapping, got {type(data).__name__}")
        return cls.from_dict(data)

    @classmethod
    def coerce(cls, value: DepthPolicy | dict | str | Path | None) -> DepthPolicy:
        if value is None:
            return cls()
        if isinstance(value, DepthPolicy):
            return value
        if isinstance(value, dict):
            return cls.from_dict(value)
        if isinstance(value, (str, Path)):
            return cls.from_file(value)
        raise PolicyError(
            f"policy must be a DepthPolicy, a dict or the path of a YAML/TOML file, got {type(value).__name__}"
        )
