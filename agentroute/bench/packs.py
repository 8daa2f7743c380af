"""Route-pack report: step typing, router seeds, and the eval numbers side by side.

* Step-type prediction on the length-matched test file (tool-call and planning prompts of equal
  token length), decisions only.
* Skip differential for several router seeds: the router is refitted from the pack's cached
  training rows (``PACK/work/router_rows.safetensors``) with each seed and the programs it picks
  on the test split are read off (their layer fraction), decisions only. The LoRA adapter is the
  pack's own for every seed: retraining it three times does not fit this CPU's time budget.
* Optional ``agentroute eval`` reports (base model at full depth; the pack, full and routed)
  summarised into the acceptance table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentroute.evaluation.step_typing import step_type_report
from agentroute.evaluation.steps import load_steps
from agentroute.steps.step_types import StepContext


def router_seed_differentials(model, steps, seeds: list[int]) -> list[dict[str, Any]]:
    from safetensors.torch import load_file

    from agentroute.training.router_fit import fit_router
    from agentroute.training.train_data import ROUTED_TYPES

    pack = model.pack
    rows_file = pack.path / "work" / "router_rows.safetensors"
    if not rows_file.is_file():
        return []
    rows = load_file(str(rows_file))
    original = pack.router
    out = []
    try:
        for seed in seeds:
            net, _ = fit_router(
                model.hf_model.config.hidden_size,
                ROUTED_TYPES,
                len(pack.flat),
                (rows["type_x"], rows["type_y"]),
                (rows["safe_x"], rows["safe_t"], rows["safe_y"], rows["known"]),
                seed,
            )
            pack.router = net
            fractions: dict[str, list[float]] = {}
            for step in steps:
                context = StepContext(messages=step.messages, tools=step.tools, step_type=step.step_type)
                decision = model.router.decide(context, None, model.encode(step.messages, step.tools))
                fractions.setdefault(step.step_type.value, []).append(decision.program.cost)
            mean = {t: sum(v) / len(v) for t, v in fractions.items()}
            differential = mean.get("planning", 1.0) - mean.get("tool_call", 1.0)
            out.append({"seed": seed, "layers_fraction": mean, "skip_differential": differential})
    finally:
        pack.router = original
    return out


# Issue 25's targets for the default pack at full depth, per tool-call category of the test split.
CATEGORY_TARGETS = {"simple": 0.75, "multiple": 0.75, "parallel": 0.60, "real_world": 0.50, "no_tool_fits": 0.75}
CATEGORY_ORDER = ("simple", "multiple", "parallel", "multi_turn", "real_world", "no_tool_fits")


def category_accuracy(report: dict) -> dict[str, dict[str, Any]]:
    """Full-depth accuracy and step count per tool-call category of an ``agentroute eval`` report
    (``tool_calls``: all of them together)."""
    steps = [s for s in report["modes"]["full"]["steps"] if s.get("correct") is not None]
    out: dict[str, dict[str, Any]] = {}
    for name in [*CATEGORY_ORDER, "tool_calls"]:
        chosen = [s for s in steps if name == "tool_calls" or s.get("category") == name]
        if chosen:
            out[name] = {"n": len(chosen), "accuracy": sum(bool(s["correct"]) for s in chosen) / len(chosen)}
    return out


def summarize_evals(base: dict | None, packed: dict | None, compare: dict | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if compare is not None:
        out["compare_categories"] = category_accuracy(compare)
    if base is not None:
        out["base_full_tool_accuracy"] = base["modes"]["full"]["summary"].get("tool_call", {}).get("accuracy")
    if packed is not None:
        full = packed["modes"]["full"]["summary"]
        routed = packed["modes"].get("routed", {}).get("summary", {})
        out["pack_full_tool_accuracy"] = full.get("tool_call", {}).get("accuracy")
        out["categories"] = category_accuracy(packed)
        out["routed"] = {
            t: {
                k: s.get(k)
                for k in (
                    "n",
                    "layers_fraction",
                    "decode_speedup",
                    "tool_calls_match_full",
                    "token_agreement",
                    "forced_agreement",
                    "accuracy",
                    "matches_full",
                )
            }
            for t, s in routed.items()
        }
    return out


def run(
    model,
    data_dir: Path,
    seeds: list[int],
    base_eval: Path | None,
    pack_eval: Path | None,
    test_file: str,
    compare_eval: Path | None = None,
    compare_label: str = "previous pack",
) -> dict[str, Any]:
    matched, _ = load_steps(data_dir / "test_length_matched.jsonl")
    test, _ = load_steps(data_dir / test_file)
    typing = step_type_report(model, matched)
    seeds_report = router_seed_differentials(model, test, seeds)
    base = json.loads(base_eval.read_text()) if base_eval else None
    packed = json.loads(pack_eval.read_text()) if pack_eval else None
    compare = json.loads(compare_eval.read_text()) if compare_eval else None
    return {
        "compare_label": compare_label,
        "pack": str(model.pack.path),
        "training": model.pack.manifest.training,
        "step_typing_length_matched": typing,
        "router_seeds": seeds_report,
        "router_seeds_steps": f"{test_file} ({len(test)} steps)",
        "eval": summarize_evals(base, packed, compare),
    }


def markdown(report: dict[str, Any]) -> str:
    t = report["training"]
    runs = f", over {t['runs']} runs of the command (reruns resume from cached stages)" if t.get("runs", 1) > 1 else ""
    lines = [
        f"Pack trained in {t.get('total_seconds', 0) / 60:.1f} min (adapter {t.get('adapter_seconds', 0) / 60:.1f} "
        f"min), peak RSS {t.get('peak_rss_mb', 0):.0f} MB, seed {t.get('seed')}, {t.get('device')}{runs}.",
        "",
        f"Step-type accuracy on length-matched tool-call/planning prompts: "
        f"{report['step_typing_length_matched']['accuracy']:.1%} "
        f"(n={report['step_typing_length_matched']['n']}).",
        "",
    ]
    if report["router_seeds"]:
        lines += ["| router seed | tool-call layers | planning layers | skip differential |", "|---|---|---|---|"]
        for row in report["router_seeds"]:
            f = row["layers_fraction"]
            lines.append(
                f"| {row['seed']} | {f.get('tool_call', 1):.0%} | {f.get('planning', 1):.0%} | "
                f"{100 * row['skip_differential']:.1f} pts |"
            )
        lines.append("")
    ev = report["eval"]
    if ev.get("categories"):
        lines += _category_table(ev, report.get("compare_label", "previous pack"))
    if ev:
        lines += ["| metric | value |", "|---|---|"]
        for key in ("base_full_tool_accuracy", "pack_full_tool_accuracy"):
            if ev.get(key) is not None:
                lines.append(f"| {key.replace('_', ' ')} | {ev[key]:.0%} |")
        for step_type, s in ev.get("routed", {}).items():
            parts = [f"{k}={v:.2f}" for k, v in s.items() if isinstance(v, float)]
            lines.append(f"| routed (lossy) {step_type} (n={s['n']}) | {', '.join(parts)} |")
    return "\n".join(lines) + "\n"


def _category_table(ev: dict[str, Any], label: str) -> list[str]:
    """Full-depth tool-call accuracy per category: this pack, the compared one, the issue's target."""
    ours, theirs = ev["categories"], ev.get("compare_categories", {})
    head = ["category", "steps", *([label] if theirs else []), "this pack", "target"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, stats in ours.items():
        row = [name.replace("_", " ") if name != "tool_calls" else "all tool-call steps", str(stats["n"])]
        if theirs:
            row.append(f"{theirs[name]['accuracy']:.0%}" if name in theirs else "-")
        target = CATEGORY_TARGETS.get(name, 0.60 if name == "tool_calls" else None)
        row += [f"{stats['accuracy']:.0%}", f">= {target:.0%}" if target is not None else "-"]
        lines.append("| " + " | ".join(row) + " |")
    return [*lines, ""]
