"""Which served endpoint runs a step: ``export.json``'s entries, each with the base URL serving it.

Every ``role: "model"`` entry needs a URL (one for all, or one per entry name); a ``draft`` entry
needs none (the engine runs it as the full model's draft), but it is remembered for the step types
it drafts, so records can say which draft the engine may have used. A step goes to the entry that
serves its type; ``program=`` to the entry whose program it is; ``budget=`` to the dearest entry
within it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentroute.errors import AgentRouteError, GenerationError, ProgramError
from agentroute.export.run import EXPORT_FORMAT
from agentroute.model.program import LayerProgram
from agentroute.steps.policy import check_budget
from agentroute.steps.records import StepType
from agentroute.steps.tools import TOOL_STYLES


class ServeError(AgentRouteError, ValueError):
    """A manifest or endpoint map that cannot be used, or an endpoint that did not answer as OpenAI's API."""


@dataclass(frozen=True)
class ServedEntry:
    """One served model: its name (the model id sent), base URL, program and the step types it serves.

    ``program`` is None for an endpoint known only by URL (``ServedModel.single``): the server
    routes, and its record says what ran."""

    name: str
    url: str
    program: LayerProgram | None
    step_types: tuple[StepType, ...]
    drafts: tuple[tuple[StepType, str], ...] = ()  # (step type, draft entry name) the engine may run

    def draft_for(self, step_type: StepType) -> str | None:
        return next((name for t, name in self.drafts if t == step_type), None)


def base_url(url: Any) -> str:
    """``http://host:port``, with or without ``/v1``, as ``http://host:port/v1``."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ServeError(f"an endpoint is an http(s) URL such as 'http://127.0.0.1:8000/v1', got {url!r:.80}")
    url = url.rstrip("/")
    return url if url.endswith("/v1") else f"{url}/v1"


def read_manifest(manifest: str | Path | Mapping[str, Any]) -> tuple[dict[str, Any], Path | None]:
    """The manifest as a dict and the directory it lies in (None for a dict), checked."""
    folder = None
    if isinstance(manifest, (str, Path)):
        path = Path(manifest)
        path = path / "export.json" if path.is_dir() else path
        if not path.is_file():
            raise ServeError(f"no export manifest at {path}; write one with `agentroute export --out DIR`")
        try:
            manifest = json.loads(path.read_text())
        except ValueError as exc:
            raise ServeError(f"{path} is not JSON: {exc}") from None
        folder = path.parent
    if not isinstance(manifest, Mapping):
        raise ServeError(f"a manifest is export.json's path or its dict, got {type(manifest).__name__}")
    if manifest.get("format") != EXPORT_FORMAT:
        raise ServeError(f"the manifest's format is {manifest.get('format')!r}, not {EXPORT_FORMAT!r}")
    n_layers = manifest.get("n_layers")
    entries = manifest.get("entries")
    if not isinstance(n_layers, int) or not isinstance(entries, list) or not entries:
        raise ServeError("the manifest needs n_layers (an integer) and a non-empty list of entries")
    if manifest.get("tool_style", "json") not in TOOL_STYLES:
        raise ServeError(
            f"the manifest's tool_style is {manifest.get('tool_style')!r}; this release writes tools as "
            f"{' or '.join(map(repr, TOOL_STYLES))}: export the pack again with it"
        )
    return dict(manifest), folder


def served_entries(manifest: Mapping[str, Any], endpoints: str | Mapping[str, str]) -> list[ServedEntry]:
    """The manifest's model entries with their URLs; ServeError for an entry without one."""
    n_layers = manifest["n_layers"]
    models = [e for e in manifest["entries"] if isinstance(e, Mapping) and e.get("role") == "model"]
    drafts = [e for e in manifest["entries"] if isinstance(e, Mapping) and e.get("role") == "draft"]
    if not models:
        raise ServeError("the manifest has no entry with role 'model' to send steps to")
    names = [e.get("name") for e in models]
    if isinstance(endpoints, Mapping):
        unknown = sorted(set(endpoints) - set(names))
        if unknown:
            raise ServeError(f"endpoints name {unknown}, which the manifest does not serve; its models: {names}")
    out = []
    for entry in models:
        url = endpoints.get(entry["name"]) if isinstance(endpoints, Mapping) else endpoints
        if url is None:
            raise ServeError(
                f"entry {entry['name']!r} (serves {', '.join(entry.get('step_types', [])) or 'no step type'}) has no "
                "endpoint; give one URL for all entries or one per entry name"
            )
        try:
            program = LayerProgram.parse(entry["program"], n_layers)
            types = tuple(StepType(t) for t in entry.get("step_types", []))
            by_type = tuple((StepType(t), d["name"]) for d in drafts for t in d.get("step_types", []) if t in types)
        except (KeyError, ProgramError, ValueError) as exc:
            raise ServeError(f"manifest entry {entry.get('name')!r} cannot be read: {exc}") from None
        out.append(ServedEntry(entry["name"], base_url(url), program, types, by_type))
    return out


def choose_entry(
    entries: list[ServedEntry],
    step_type: StepType,
    n_layers: int | None,
    program: Any = None,
    budget: float | None = None,
) -> ServedEntry:
    """The entry that serves this step: by ``program``, else ``budget``, else its step type."""
    known = [e for e in entries if e.program is not None]
    if program is not None or budget is not None:
        if program is not None and budget is not None:
            raise GenerationError("pass either program= or budget=, not both")
        if not known or n_layers is None:
            if budget == 1.0 and program is None:
                return entries[0]
            raise GenerationError(
                "this endpoint is known only by its URL, so program=/budget= cannot pick what it runs; "
                "build the ServedModel from export.json to route by program or budget"
            )
        if program is not None:
            wanted = LayerProgram.coerce(program, n_layers)
            match = next((e for e in known if e.program.layers == wanted.layers), None)
            if match is None:
                served = ", ".join(f"{e.name}: {e.program}" for e in known)
                raise GenerationError(f"program {wanted} is not served; the served programs are {served}")
            return match
        budget = check_budget(budget)
        within = [e for e in known if e.program.cost <= budget + 1e-9]
        if not within:
            cheapest = min(known, key=lambda e: e.program.cost)
            raise GenerationError(
                f"budget {budget} is below every served program; the cheapest is {cheapest.name} "
                f"({len(cheapest.program)} of {n_layers} layers, {cheapest.program.cost:.3g})"
            )
        dearest = max(e.program.cost for e in within)
        ties = [e for e in within if e.program.cost == dearest]
        return next((e for e in ties if step_type in e.step_types), ties[0])
    return next((e for e in entries if step_type in e.step_types or e.program is None), _fallback(entries))


def _fallback(entries: list[ServedEntry]) -> ServedEntry:
    """A step type no entry lists (an older manifest): the full model, else the first entry."""
    return next((e for e in entries if e.program is not None and e.program.is_full), entries[0])
