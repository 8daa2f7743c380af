"""Declining on requests outside the training data: hand-written requests over generic utility
tools (calculator, weather, translation, timers, ...; ``benchmarks/data/decline_ood.jsonl``),
unlike data v4's catalogues in the number of tools offered (one to three) and with no system
message. Each request runs as a tool-call step of the default pack at full depth, as an agent
would send it; a step declines when its reply holds no call.
"""

from __future__ import annotations

import json
from pathlib import Path

from agentroute.bench.common import REPO

REQUESTS = REPO / "benchmarks" / "data" / "decline_ood.jsonl"


def run(path: Path = REQUESTS, pack: str = "default", log=print) -> tuple[dict, str]:
    import agentroute

    model = agentroute.load(pack=pack)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    results = []
    for row in rows:
        step = model.generate(
            [{"role": "user", "content": row["request"]}],
            tools=row["tools"],
            step_type="tool_call",
            budget=1.0,  # full depth
            mode="routed",
            max_new_tokens=48,
        )
        declined = not step.tool_calls
        results.append(
            {
                "request": row["request"],
                "a_tool_fits": row["a_tool_fits"],
                "declined": declined,
                "no_tool_fits_probability": step.record.no_tool_fits_probability,
                "reply": step.text,
            }
        )
        log(f"{'declined' if declined else 'called  '} (a tool fits: {row['a_tool_fits']}) {row['request']}")
    none_fit = [r for r in results if not r["a_tool_fits"]]
    fit = [r for r in results if r["a_tool_fits"]]
    summary = {
        "pack": str(model.pack),
        "decline": model.pack.manifest.decline.model_dump() if model.pack.manifest.decline else None,
        "no_tool_fits": len(none_fit),
        "declined_when_no_tool_fits": sum(r["declined"] for r in none_fit),
        "a_tool_fits": len(fit),
        "declined_when_a_tool_fits": sum(r["declined"] for r in fit),
        "dtype": str(model.dtype).removeprefix("torch."),
        "quantization": model.quantization,
    }
    table = (
        "| requests | declined |\n|---|---|\n"
        f"| no offered tool fits | {summary['declined_when_no_tool_fits']} of {len(none_fit)} |\n"
        f"| a tool fits | {summary['declined_when_a_tool_fits']} of {len(fit)} |\n"
    )
    return {"summary": summary, "steps": results}, table
