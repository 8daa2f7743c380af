"""The package layout holds the data flow (docs/architecture.md): imports read with ``ast``, no import run.

A step flows model -> steps -> decode -> trace, driven by the modules at the top (``loading``,
``routed_model``, ``pack``, ``program_library``); the offline tools (data, evaluation, search,
training, bench) sit above the runtime and the CLI above everything. Lazy imports inside functions
count too: a cycle hidden in a function is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "agentroute"

# What each stage may import besides itself and ``agentroute.errors``. The runtime core never imports
# the offline tools; every layer may import the ones listed for it.
RUNTIME = {"model", "steps", "decode", "trace", "top"}
ALLOWED = {
    "model": set(),
    "steps": {"model"},
    "decode": {"model", "steps"},
    "trace": {"model", "steps"},
    "top": {"model", "steps", "decode", "trace"},
    "data": {"steps"},
    "evaluation": RUNTIME | {"data"},
    "search": RUNTIME | {"evaluation", "training"},
    "training": RUNTIME | {"evaluation", "data"},
    "bench": RUNTIME | {"data", "evaluation", "search", "training", "export", "serve"},
    "export": RUNTIME,
    "serve": RUNTIME | {"export"},
    "cli": RUNTIME | {"data", "evaluation", "search", "training", "bench", "export", "serve"},
}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _public_sources() -> dict[str, str]:
    """``from agentroute import Name`` -> the module that defines Name (read from the package's __init__)."""
    sources = {}
    for node in ast.parse((PACKAGE / "__init__.py").read_text()).body:
        if isinstance(node, ast.ImportFrom) and node.module:
            sources.update({alias.name: node.module for alias in node.names})
    return sources


def _imports(path: Path, known: set[str], public: dict[str, str]) -> set[str]:
    """Every agentroute module that ``path`` imports, at any depth of the file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("agentroute"))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("agentroute"):
            for alias in node.names:
                submodule = f"{node.module}.{alias.name}"
                if submodule in known:
                    found.add(submodule)
                elif node.module == "agentroute" and alias.name in public:
                    found.add(public[alias.name])
                else:
                    found.add(node.module)
    return found


def _graph() -> dict[str, set[str]]:
    files = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    public = _public_sources()
    return {name: _imports(path, set(files), public) - {name} for name, path in files.items()}


def _stage(module: str) -> str:
    parts = module.split(".")
    if len(parts) > 1 and (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "top"


def test_at_most_twelve_modules_at_the_top():
    top = [p.name for p in PACKAGE.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    assert len(top) <= 12, f"{len(top)} modules directly in agentroute/: {sorted(top)}"


def test_every_stage_folder_is_known():
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders == set(ALLOWED) - {"top"}, "a new subpackage needs its place in ALLOWED and docs/architecture.md"


def test_no_import_cycles():
    graph = _graph()
    # the package root re-exports the public API; modules reach it only through those names
    graph.pop("agentroute", None)
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(module: str) -> None:
        state[module] = 1
        stack.append(module)
        for dep in sorted(graph.get(module, ())):
            if state.get(dep) == 1:
                cycle = stack[stack.index(dep) :] + [dep]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if dep in graph and not state.get(dep):
                visit(dep)
        stack.pop()
        state[module] = 2

    for module in sorted(graph):
        if not state.get(module):
            visit(module)


def test_stages_import_only_downstream():
    wrong = []
    for module, deps in _graph().items():
        if module in ("agentroute", "agentroute.__main__"):
            continue
        stage = _stage(module)
        allowed = ALLOWED[stage] | {stage}
        for dep in deps:
            if dep in ("agentroute", "agentroute.errors"):
                continue
            if _stage(dep) not in allowed:
                wrong.append(f"{module} ({stage}) imports {dep} ({_stage(dep)})")
    assert not wrong, "\n".join(sorted(wrong))


def _third_party_imports(folder: Path) -> dict[Path, set[str]]:
    out = {}
    for path in folder.rglob("*.py"):
        names = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
        out[path] = names
    return out


INTEGRATIONS = {
    "haystack_integrations": ROOT / "integrations" / "haystack",
    "langchain_layerroute": ROOT / "integrations" / "langgraph",
}


def test_core_never_imports_integrations_demos_or_benchmarks():
    outside = set(INTEGRATIONS) | {"demos", "benchmarks", "tests"}
    bad = {p: names & outside for p, names in _third_party_imports(PACKAGE).items() if names & outside}
    assert not bad, bad


def test_integrations_never_import_each_other():
    for own, folder in INTEGRATIONS.items():
        others = set(INTEGRATIONS) - {own}
        bad = {p: names & others for p, names in _third_party_imports(folder).items() if names & others}
        assert not bad, bad
