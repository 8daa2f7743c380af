"""The llama-server benchmark's plumbing: which servers it starts from an export, how it sums up
per-step timings, and the errors a user meets without a server binary or GGUFs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agentroute.bench.llama_server import launch_configs, markdown, summarise
from agentroute.errors import AgentRouteError

ENTRIES = [
    {"name": "full", "role": "model", "layers": 30, "path": "full", "gguf": "full.q8_0.gguf"},
    {"name": "draft-0-17", "role": "draft", "layers": 18, "path": "draft-0-17", "gguf": "draft-0-17.q8_0.gguf"},
]


def _export(tmp_path, entries):
    (tmp_path / "export.json").write_text(json.dumps({"entries": entries}))
    return tmp_path


def test_servers_are_the_full_model_with_and_without_drafts_and_the_draft_alone(tmp_path):
    configs = launch_configs(_export(tmp_path, ENTRIES))
    full, draft = str(tmp_path / "full.q8_0.gguf"), str(tmp_path / "draft-0-17.q8_0.gguf")
    assert [args for _, args, _ in configs] == [
        ["-m", full],
        ["-m", full, "--model-draft", draft, "--spec-type", "draft-simple"],
        ["-m", full, "--spec-type", "ngram-simple"],
        ["-m", draft],
    ]
    assert [layers for *_, layers in configs] == [30, 30, 30, 18]


def test_an_export_without_ggufs_is_a_clear_error(tmp_path):
    entries = [{k: v for k, v in e.items() if k != "gguf"} for e in ENTRIES]
    with pytest.raises(AgentRouteError, match="--gguf f16"):
        launch_configs(_export(tmp_path, entries))


def _row(step_id, step_type, tokens, seconds, drafted=None, accepted=None):
    return {"id": step_id, "step_type": step_type, "tokens": tokens, "decoded": len(tokens), "decode_s": seconds,
            "drafted": drafted, "draft_accepted": accepted}  # fmt: skip


def test_summary_compares_each_step_with_the_full_models():
    runs = {
        "full": {"steps": [_row("a", "tool_call", [1, 2, 3, 4], 0.4), _row("b", "planning", [5, 6], 0.2)]},
        "full + draft": {
            "steps": [_row("a", "tool_call", [1, 2, 3, 4], 0.8, 10, 4), _row("b", "planning", [5, 7], 0.1, 2, 2)]
        },
    }
    summary = summarise(runs)
    tool, plan, both = (summary["full + draft"][t] for t in ("tool_call", "planning", "all"))
    assert tool["speedup_vs_full"] == pytest.approx(0.5) and tool["identical_to_full"] == 1
    assert tool["decode_tok_s"] == pytest.approx(5.0) and tool["acceptance"] == pytest.approx(0.4)
    assert plan["speedup_vs_full"] == pytest.approx(2.0) and plan["identical_to_full"] == 0
    assert both["steps"] == 2 and both["acceptance"] == pytest.approx(6 / 12)
    assert summary["full"]["all"]["acceptance"] is None
    results = {"machine": {"processor": "x86_64"}, "threads": 2, "max_new_tokens": 96, "repeats": 2, "seed": 0,
               "exports": {"exp": {"summary": summary}}}  # fmt: skip
    table = markdown(results)
    assert "| exp | full + draft | tool call | 1 | 5.0 | 0.50x | 1 of 1 | 0.40 |" in table


def test_the_engine_suite_needs_a_server_binary_and_an_export():
    out = subprocess.run(
        [sys.executable, "-m", "agentroute", "bench", "--suite", "engine"], capture_output=True, text=True
    )
    assert out.returncode != 0 and "--llama-server PATH and --export DIR" in out.stderr


def test_served_calls_summary_counts_valid_and_right_replies_per_category():
    from agentroute.bench.served_calls import markdown, summarise

    def row(category, valid, correct):
        return {"id": "x", "category": category, "valid": valid, "correct": correct, "latency_s": 0.5,
                "completion_tokens": 10, "finish_reason": "stop"}  # fmt: skip

    rows = {
        "gbnf": [row("simple", True, True), row("simple", True, False), row("parallel", True, True)],
        "none": [row("simple", False, False), row("simple", True, True), row("parallel", False, False)],
    }
    summary = summarise({"full": {"layers": 30, "program": "0-29", "rows": rows}})
    held, free = summary["full / gbnf"], summary["full / none"]
    assert (held["valid"], held["correct"], held["n"]) == (1.0, pytest.approx(2 / 3), 3)
    assert held["correct_by_category"] == {"parallel": 1.0, "simple": 0.5}
    assert (free["valid"], free["correct"]) == (pytest.approx(1 / 3), pytest.approx(1 / 3))
    results = {"steps": 3, "per_category": 2, "cpu": "cpu", "threads": 2, "seed": 0}
    table = markdown({**results, "exports": {"exp": {"summary": summary}}})
    assert "| full / gbnf | 30 | 100% | 67% | 100% | 50% | 0 | 0.50 s | 50 ms |" in table
