"""``programs.json``: searched layer programs per step type and budget, and how a router uses them.

Written by ``agentroute search`` (entries for the same step type and budget are replaced, others
kept, so one file collects several searches) and read by ``agentroute.load(..., programs=PATH)``.
For a step of type T with budget b the router takes T's entry with the largest budget not above
b; a step type without such an entry falls back to the training-free Block Influence program.
"""

from __future__ import annotations

import json
import logging
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from agentroute.errors import AgentRouteError
from agentroute.model.program import LayerProgram
from agentroute.steps.records import StepType

PROGRAMS_FORMAT = "agentroute-programs/1"
# Shipped with the package: ``agentroute search`` on the embedded model's base weights (README).
BUILTIN_PROGRAMS = ("default",)

log = logging.getLogger(__name__)


class ProgramsError(AgentRouteError, ValueError):
    """A programs file that cannot be used: unreadable, malformed, or searched for another model."""


class ProgramEntry(BaseModel):
    budget: float = Field(gt=0, le=1)
    program: str
    cost: float
    loops: bool
    dev: dict[str, float] = Field(default_factory=dict, description="fidelity on the dev steps it was chosen on")
    best_skip: dict[str, Any] | None = Field(None, description="the best skip-only program, when loops were searched")
    search: dict[str, Any] = Field(default_factory=dict, description="settings, data checksum, seconds")


class ProgramsFile(BaseModel):
    format: str
    model: dict[str, Any]
    weights: str = Field(description="checksum of the (adapted) weights the programs were scored with")
    pack: str | None = None
    programs: dict[StepType, list[ProgramEntry]] = Field(default_factory=dict)


def resolve_programs_path(path: str | Path) -> Path:
    """``"default"`` -> the library searched for the default model, shipped in the package."""
    if str(path) in BUILTIN_PROGRAMS:
        return Path(str(resources.files("agentroute") / "programs" / f"{path}.json"))
    return Path(path).expanduser()


def read_programs(path: str | Path) -> ProgramsFile:
    """The programs file at ``path`` (or the shipped ``"default"``), checked; ProgramsError otherwise."""
    return _read(resolve_programs_path(path))


def _read(path: Path) -> ProgramsFile:
    if not path.is_file():
        raise ProgramsError(f"no programs file at {path}; write one with `agentroute search --out {path}`")
    try:
        data = ProgramsFile.model_validate_json(path.read_text(encoding="utf-8"))
    except (ValidationError, ValueError, OSError) as exc:
        raise ProgramsError(f"{path} is not a valid programs file: {exc}") from exc
    if data.format != PROGRAMS_FORMAT:
        raise ProgramsError(f"{path} has format {data.format!r}; this release reads {PROGRAMS_FORMAT!r}")
    return data


def write_programs(path: str | Path, new: ProgramsFile) -> ProgramsFile:
    """Write ``new``, merged into the file at ``path`` when it holds programs for the same model."""
    path = Path(path)
    merged = new
    if path.exists():
        old = _read(path)
        _check_model(old.model, new.model, f"{path} holds programs for another model; choose another --out")
        programs = {t: list(entries) for t, entries in old.programs.items()}
        for step_type, entries in new.programs.items():
            kept = [e for e in programs.get(step_type, []) if all(e.budget != n.budget for n in entries)]
            programs[step_type] = sorted(kept + list(entries), key=lambda e: e.budget)
        merged = new.model_copy(update={"programs": programs})
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(merged.model_dump(mode="json"), indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return merged


class ProgramLibrary:
    """Searched programs bound to one model: ``choose(step_type, budget)``."""

    def __init__(self, data: ProgramsFile, n_layers: int, source: str = "") -> None:
        self.data = data
        self.source = source
        self.n_layers = n_layers
        self.entries: dict[StepType, list[tuple[float, LayerProgram]]] = {
            t: sorted((e.budget, LayerProgram.parse(e.program, n_layers)) for e in entries)
            for t, entries in data.programs.items()
        }

    def skip_programs(self) -> dict[StepType, list[LayerProgram]]:
        """Per step type, each entry's program, or its best skip-only program when it loops
        (what a route pack can train under: ``agentroute train --programs``)."""
        out: dict[StepType, list[LayerProgram]] = {}
        for step_type, entries in self.data.programs.items():
            for entry in entries:
                text = entry.best_skip["program"] if entry.loops and entry.best_skip else entry.program
                program = LayerProgram.parse(text, self.n_layers)
                if not program.loops:
                    out.setdefault(step_type, []).append(program)
        return out

    def choose(self, step_type: StepType, budget: float) -> LayerProgram | None:
        within = [p for b, p in self.entries.get(step_type, []) if b <= budget + 1e-9]
        return within[-1] if within else None

    def __str__(self) -> str:
        return self.source or "programs"


def load_library(model, path: str | Path) -> ProgramLibrary:
    """Read ``path`` and check it against ``model``; raise ProgramsError when it does not fit."""
    from agentroute.model.calibration import weights_fingerprint
    from agentroute.pack import model_fingerprint

    path = resolve_programs_path(path)
    data = _read(path)
    _check_model(data.model, model_fingerprint(model), f"{path} was searched for another model")
    if data.weights != weights_fingerprint(model):
        pack = getattr(model, "pack", None)
        log.warning(
            "%s was scored with other weights (searched with pack %s, loaded with %s): the programs run, "
            "but their measured fidelity may not carry over; search again for this combination",
            path, data.pack, pack,
        )  # fmt: skip
    return ProgramLibrary(data, model.n_layers, str(path))


def _check_model(expected: dict[str, Any], actual: dict[str, Any], message: str) -> None:
    from agentroute.pack import fingerprint_mismatches

    wrong = fingerprint_mismatches(expected, actual)
    if wrong:
        detail = ", ".join(f"{k}: file {expected.get(k)!r}, model {actual.get(k)!r}" for k in wrong)
        raise ProgramsError(f"{message} ({detail})")
