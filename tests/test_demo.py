"""The demos' tools, answer scorer, step table and stock baseline, and the quiet adapter load.

Everything but the last test runs in well under a second without the real model.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from tiny_models import tiny_model

from agentroute import RoutedModel, StepRecord, Trace

DEMOS = Path(__file__).resolve().parents[1] / "demos"
sys.path.insert(0, str(DEMOS))
import agent_tools  # noqa: E402
from agent_tools import answer_is_correct, calculate, convert_units, date_calc, search_docs  # noqa: E402

# --- scoring --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("The result is 852.", "852"),
        ("17.5 * 48 + 12 = 852", "852"),
        ("26.2 miles is 42.16 kilometres.", "42.16"),
        ("42.165 km", "42.16"),
        ("2026-11-24 + 45 days = 2027-01-08 (Friday).", "2027-01-08"),
        ("New employees get 25 vacation days per year.", "25"),
        ("98.6 F is 37 C (body temperature).", "37"),
    ],
)
def test_scorer_accepts_the_stated_result(answer, expected):
    assert answer_is_correct(answer, expected)


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("The result is 26.2 kilometres.", "42.16"),
        ("The number is 19.5.", "25"),
        ("The result is 8,520.", "852"),
        ("-37 C", "37"),
        ("250 days", "25"),
        ("It falls on 2027-01-09.", "2027-01-08"),
        ("I cannot tell.", "852"),
    ],
)
def test_scorer_rejects_a_wrong_result(answer, expected):
    assert not answer_is_correct(answer, expected)


@pytest.mark.parametrize(
    "answer, expected",
    [
        # the demo's own garbled answer: the date is there, but "X + 45 days = X" is false
        ("The result is 2027-01-08 (Friday) + 45 days = 2027-01-08 (Friday).", "2027-01-08"),
        ("The result is 852 + 12 = 852.", "852"),
        ("852 is not right; the result is 900.", "852"),
        ("2027-01-08 is the start; the result is 2027-02-22.", "2027-01-08"),
        ("New employees get 25 days? No: they get 20 vacation days.", "25"),
    ],
)
def test_scorer_rejects_a_garbled_answer_that_contains_the_value(answer, expected):
    assert not answer_is_correct(answer, expected)


# --- tools: every bad input is an error string, fast ----------------------------------------------


def _fast(call, *args, **kwargs) -> str:
    began = time.perf_counter()
    result = call(*args, **kwargs)
    assert time.perf_counter() - began < 1.0
    assert isinstance(result, str)
    return result


@pytest.mark.parametrize(
    "expression, error",
    [
        ("(10**100)**100", "error: result too large (max 10**300)"),  # ValueError (4300 digits) before
        ("(10.0**100)**4", "error: result too large (max 10**300)"),  # OverflowError before
        ("-" * 3000 + "1", "error: expression too long (3001 characters, max 200)"),  # RecursionError before
        ("-" * 100 + "1", "error: expression nested too deeply (max 40 levels)"),
        ("9**9**9**9", "error: exponent too large (max 1000)"),  # never ended before
        ("2**-1001", "error: exponent too large (max 1000)"),
        ("10**300 * 10", "error: result too large (max 10**300)"),
        ("1e309", "error: result too large (max 10**300)"),
        ("1/0", "error: division by zero"),
        ("(-8) ** 0.5", "error: result is not a real number"),
        ("__import__('os').system('true')", "error: unsupported element Call"),
        ("2 +", "error: not an arithmetic expression"),
    ],
)
def test_calculator_refuses_with_a_clear_error(expression, error):
    assert _fast(calculate, expression).startswith(error)


def test_calculator_still_calculates():
    assert calculate("17.5 * 48 + 12") == "852" and calculate("2 ^ 10") == "1024"
    assert calculate("(12.5 + 7) × 3") == "58.5" and calculate("10**300") == str(10**300)


def test_calculator_deadline_is_in_the_tool(monkeypatch):
    monkeypatch.setattr(agent_tools, "TIME_LIMIT_S", -1.0)  # already past: the first node stops it
    assert calculate("1 + 1").startswith("error: calculation took too long")


@pytest.mark.parametrize(
    "args, error",
    [
        (("2026-11-24", 10**12), "error: day offset too large (max 100000 days)"),
        (("2026-11-24", -(10**12)), "error: day offset too large (max 100000 days)"),
        (("9999-12-01", 90_000), "error: 9999-12-01 +90000 days falls outside the calendar (years 1 to 9999)"),
        (("0001-01-02", -5), "error: 0001-01-02 -5 days falls outside the calendar (years 1 to 9999)"),
        (("2026/11/24", 4), "error: '2026/11/24' is not a date; use ISO dates like 2026-03-01"),
        (("2026-02-30", 4), "error: '2026-02-30' is not a date"),
        (("next tuesday", 4), "error: 'next tuesday' is not a date"),
        (("9" * 100_000, 4), "error: '999999"),
        (("2026-11-24", "ten"), "error: days must be a whole number, got 'ten'"),
        (("2026-11-24", 1.5), "error: days must be a whole number, got 1.5"),
        (("2026-11-24", float("inf")), "error: days must be a whole number, got inf"),
        (("2026-11-24", float("nan")), "error: days must be a whole number, got nan"),
    ],
)
def test_date_tool_refuses_with_a_clear_error(args, error):
    assert _fast(date_calc, *args).startswith(error)


def test_date_tool_still_counts():
    assert date_calc("2026-11-24", 45) == "2026-11-24 + 45 days = 2027-01-08 (Friday)"
    assert date_calc("2026-11-24", "45") == date_calc("2026-11-24", 45.0) == date_calc("2026-11-24", 45)
    assert date_calc("2026-11-24", end="2027-01-08") == "45 days from 2026-11-24 to 2027-01-08"
    assert _fast(date_calc, "2026-11-24", end="soon").startswith("error: 'soon' is not a date")


def test_unit_and_search_tools_refuse_with_a_clear_error():
    assert _fast(convert_units, 1e308, "mi", "mm") == "error: result too large (max 10**300)"
    assert _fast(convert_units, float("inf"), "m", "km") == "error: result too large (max 10**300)"
    assert _fast(convert_units, "lots", "m", "km") == "error: value must be a number, got 'lots'"
    assert _fast(convert_units, 1, "m", "parsec").startswith("error: unknown unit 'parsec'")
    assert _fast(search_docs, "vacation " * 100).startswith("error: query too long (900 characters, max 500)")
    assert convert_units(26.2, "miles", "km") == "26.2 miles = 42.16 km"
    assert "25 vacation days" in search_docs("vacation days", top_k="many")


# --- the step table and the closing line ----------------------------------------------------------


def _record(**fields) -> StepRecord:
    base = {"model": "m", "program": "0-29", "prefill_program": "0-29", "layers_per_token": 30}
    base |= {"layers_fraction": 1.0, "prompt_tokens": 5, "completion_tokens": 3, "ttft_s": 0.1, "latency_s": 0.2}
    return StepRecord(**(base | {"finish_reason": "stop"} | fields))


def test_step_table_shows_the_verifier_depth_and_the_draft_apart():
    from react_agent import step_layers

    lossless = _record(
        mode="lossless",
        layers_per_token=45.0,  # draft plus verify passes: more than the model has, never shown as layers
        draft_program="0-2,9-11,19-24,27-29",
        drafted_tokens=8,
        accepted_tokens=7,
        looked_up_tokens=1,
        looked_up_accepted=0,
    )
    assert step_layers(lossless, 30) == ("30/30", "15/30", "7/9")
    lookup = _record(mode="lossless", draft_program="0-29", looked_up_tokens=28, looked_up_accepted=1)
    assert step_layers(lookup, 30) == ("30/30", "lookup", "1/28")
    routed = _record(program="0-11,14-29", layers_per_token=28, layers_fraction=28 / 30)
    assert step_layers(routed, 30) == ("28/30", "", "")


def test_closing_line_gives_answers_and_the_three_times():
    from react_agent import Episode, closing_line

    def episode(label, seconds, correct):
        return Episode(label, answers=[("a", i < correct) for i in range(5)], seconds=seconds)

    line = closing_line([episode("as shipped", 4.0, 3), episode("full depth", 5.0, 3), episode("stock", 10.0, 1)])
    assert line.startswith("as shipped: 3/5 answers correct, episode 4.0 s; full depth: 5.0 s (1.25x as long")
    assert "stock: 10.0 s (2.50x as long, 1/5 correct)" in line and "generate() in float32" in line
    assert "not timed" in closing_line([episode("as shipped", 4.0, 3)])


def test_stock_chat_runs_stock_generate_and_records_the_step():
    from langchain_core.messages import HumanMessage
    from stock_chat import StockChat

    model = RoutedModel(*tiny_model("llama", 4), name="tiny")
    with Trace() as trace:
        reply = StockChat(routed_model=model, max_new_tokens=5).invoke([HumanMessage("hi")])
    (record,) = trace.records
    assert isinstance(reply.content, str) and record.dtype == "float32" and record.layers_per_token == 4
    assert record.completion_tokens == 5 and record.finish_reason == "length" and record.latency_s > 0


# --- quiet dependencies ---------------------------------------------------------------------------


@pytest.mark.slow
def test_loading_the_shipped_model_prints_nothing():
    """The demo's load (the pack's adapter included) writes nothing to stderr, warnings made errors."""
    code = "import agentroute; agentroute.load(pack='default')"
    root = DEMOS.parent
    done = subprocess.run(
        [sys.executable, "-W", "error::FutureWarning", "-c", code],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
