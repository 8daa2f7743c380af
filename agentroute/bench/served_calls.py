"""Tool calls served on llama.cpp's server, with and without the call grammar as GBNF.

Each model entry of an ``agentroute export --gguf`` directory (the full model, and the programs
the policy routes steps to) runs as its own ``llama-server`` process on localhost. A
``ServedModel`` built from the export renders held-out test-split tool-call steps (the first
``per_category`` of each category) as the core does and sends each to that entry twice: held to
the tools' schemas by the call grammar in GBNF (``grammar="gbnf"``, what ``"auto"`` does on
llama.cpp) and with no grammar (``"none"``). Per entry and setting: the share of replies that
are valid (calls that parse and fit their tools' schemas, or words where the step may decline),
the share that are right (the expected calls, or none where no offered tool fits), per
category, and the median step latency. Greedy, so one run.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentroute.errors import AgentRouteError

SETTINGS = ("gbnf", "none")
STEP_TIMEOUT_S = 120.0  # a step takes a few seconds; one llama-server request hung once for minutes


def run(
    binary: Path,
    export_dirs: list[Path],
    per_category: int = 15,
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[dict[str, Any], str]:
    import torch

    from agentroute.bench.common import cpu_name
    from agentroute.bench.llama_server import Server
    from agentroute.evaluation.metrics import calls_correct
    from agentroute.serve import ServedModel
    from agentroute.serve.endpoints import read_manifest

    binary = Path(binary)
    if not binary.is_file():
        raise AgentRouteError(f"llama-server binary {binary} not found; `make llama-server` builds it")
    steps = _test_tool_calls(seed, per_category)
    threads = torch.get_num_threads()
    results: dict[str, Any] = {
        "suite": "served-calls",
        "cpu": cpu_name(),
        "threads": threads,
        "seed": seed,
        "steps": len(steps),
        "per_category": per_category,
        "server": str(binary),
        "exports": {},
    }
    for export_dir in map(Path, export_dirs):
        manifest, _ = read_manifest(export_dir)
        entries = [e for e in manifest["entries"] if e.get("role") == "model"]
        if any("gguf" not in e for e in entries):
            raise AgentRouteError(f"{export_dir} has no GGUFs: export it with `agentroute export --gguf q8_0`")
        per_entry: dict[str, Any] = {}
        for entry in entries:
            progress(f"llama-server: {export_dir.name}: {entry['name']}")
            with Server(binary, ["-m", str(export_dir / entry["gguf"])], threads) as server:
                # Every step goes to this entry: the policy's routing is not what is measured here.
                rows = {setting: [] for setting in SETTINGS}
                for setting in SETTINGS:
                    urls = {e["name"]: server.url for e in entries}
                    served = ServedModel(export_dir, urls, grammar=setting, timeout=STEP_TIMEOUT_S)
                    for index, step in enumerate(steps, 1):
                        if index % 15 == 0:
                            progress(f"{entry['name']}, grammar {setting}: {index}/{len(steps)} steps")
                        rows[setting].append(_row(served, entry, step, seed, calls_correct))
            per_entry[entry["name"]] = {"layers": entry["layers"], "program": entry["program"], "rows": rows}
        results["exports"][export_dir.name] = {"entries": per_entry, "summary": summarise(per_entry)}
    return results, markdown(results)


def _row(served, entry: dict, step, seed: int, calls_correct) -> dict[str, Any]:
    """One step on the entry: valid, right, latency; a step the server did not answer in time
    counts as neither (and says so), instead of ending the run."""
    from agentroute.serve.endpoints import ServeError

    row: dict[str, Any] = {"id": step.id, "category": step.category}
    try:
        result = served.generate(
            step.messages, program=entry["program"], tools=step.tools, step_type="tool_call", hints=step.hints,
            max_new_tokens=step.max_new_tokens, seed=seed,
        )  # fmt: skip
    except ServeError as exc:
        return {**row, "valid": False, "correct": False, "latency_s": None, "unanswered": str(exc)}
    record = result.record
    valid = record.error is None
    # Right: valid and the expected calls (none where no tool fits: a reply whose only call was
    # broken makes no call either, but is not a right answer).
    correct = valid and bool(calls_correct(result.tool_calls, step.expected))
    return {
        **row, "valid": valid, "correct": correct, "latency_s": record.latency_s,
        "completion_tokens": record.completion_tokens, "finish_reason": record.finish_reason, "error": record.error,
    }  # fmt: skip


def _test_tool_calls(seed: int, per_category: int) -> list:
    """The first ``per_category`` tool-call steps of each category in the test split, as
    ``agentroute data build --seed SEED`` writes it (file order)."""
    import tempfile

    from agentroute.data import BuildConfig, build_dataset
    from agentroute.evaluation.steps import load_steps
    from agentroute.steps.records import StepType

    with tempfile.TemporaryDirectory() as tmp:
        build_dataset(tmp, BuildConfig(seed=seed))
        steps, _ = load_steps(Path(tmp) / "test.jsonl")
    calls = [s for s in steps if s.step_type == StepType.TOOL_CALL and s.expected is not None]
    categories = sorted({s.category for s in calls}, key=str)
    return [s for c in categories for s in [s for s in calls if s.category == c][:per_category]]


def summarise(per_entry: dict[str, Any]) -> dict[str, Any]:
    """Per entry and setting: valid and right shares, over all steps and per category, median latency."""
    out: dict[str, Any] = {}
    for name, entry in per_entry.items():
        for setting, rows in entry["rows"].items():
            by_category = defaultdict(list)
            for row in rows:
                by_category[row["category"] or "-"].append(row)
            out[f"{name} / {setting}"] = {
                "layers": entry["layers"],
                "n": len(rows),
                "valid": _share(rows, "valid"),
                "correct": _share(rows, "correct"),
                "median_latency_s": statistics.median(times) if (times := _times(rows)) else None,
                "unanswered": sum("unanswered" in r for r in rows),
                "cut_at_max_tokens": sum(r.get("finish_reason") == "length" for r in rows),
                "median_ms_per_token": statistics.median(per) if (per := _per_token_ms(rows)) else None,
                "correct_by_category": {c: _share(r, "correct") for c, r in sorted(by_category.items())},
            }
    return out


def _per_token_ms(rows: list[dict[str, Any]]) -> list[float]:
    """Latency per reply token, prompt included: replies of different length compare."""
    timed = [r for r in rows if r.get("latency_s") and r.get("completion_tokens")]
    return [1000 * r["latency_s"] / r["completion_tokens"] for r in timed]


def _times(rows: list[dict[str, Any]]) -> list[float]:
    return [r["latency_s"] for r in rows if r.get("latency_s") is not None]


def _share(rows: list[dict[str, Any]], key: str) -> float | None:
    return sum(bool(r[key]) for r in rows) / len(rows) if rows else None


def markdown(results: dict[str, Any]) -> str:
    lines = []
    for export, data in results["exports"].items():
        summary = data["summary"]
        categories = sorted({c for s in summary.values() for c in s["correct_by_category"]})
        lines.append(
            f"Export `{export}`, {results['steps']} test-split tool-call steps (the first {results['per_category']} "
            f"of each category, each with its own token budget), q8_0 GGUFs on llama-server, {results['cpu']}, "
            f"{results['threads']} threads, greedy, seed {results['seed']}. *Valid*: calls that parse and fit their "
            "schemas, or words; *right*: valid and the expected calls (none where no tool fits). Latency per reply "
            "token includes the prompt:\n"
        )
        lines.append(
            "| served model / grammar | layers | valid | right | " + " | ".join(categories) + " | cut at budget "
            "| median latency | per reply token |"
        )
        lines.append("|---|---|---|---|" + "---|" * len(categories) + "---|---|---|")
        for label, s in summary.items():
            cells = [f"{s['correct_by_category'].get(c, 0):.0%}" for c in categories]
            lines.append(
                f"| {label} | {s['layers']} | {s['valid']:.0%} | {s['correct']:.0%} | " + " | ".join(cells)
                + f" | {s['cut_at_max_tokens']} | {s['median_latency_s']:.2f} s | {s['median_ms_per_token']:.0f} ms |"
            )  # fmt: skip
        lines.append("")
    return "\n".join(lines)
