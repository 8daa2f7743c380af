"""``agentroute eval`` (issue #4 part 2): step files, metrics, the runner and the command line."""

import json

import pytest
from tiny_models import save_tiny, tiny_model

from agentroute import Trace
from agentroute.cli.main import main
from agentroute.evaluation import (
    EvalError,
    calls_correct,
    evaluate,
    load_steps,
    parse_modes,
    parse_step,
    summarize,
    token_agreement,
    values_equal,
)
from agentroute.evaluation.steps import NO_TRACE_MESSAGES
from agentroute.routed_model import RoutedModel
from agentroute.steps.records import StepType

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
ASK = [{"role": "user", "content": "Weather in Oslo?"}]
GOOD_STEPS = [
    {
        "id": "weather",
        "domain": "travel",
        "step_type": "tool_call",
        "max_new_tokens": 8,
        "messages": ASK,
        "tools": [WEATHER],
        "expected": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
    },
    {
        "id": "plan",
        "step_type": "planning",
        "max_new_tokens": 8,
        "messages": [{"role": "user", "content": "Plan a trip to Rome in three steps."}],
    },
    {
        "id": "answer",
        "max_new_tokens": 6,
        "tools": [WEATHER],
        "messages": [
            *ASK,
            {"role": "assistant", "tool_calls": [{"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"role": "tool", "tool_call_id": "c1", "name": "get_weather", "content": "18 C, sunny"},
        ],
    },
]
BAD_SCHEMA = {"name": "odd", "parameters": {"type": "object", "properties": {"a": {"type": "no-such-type"}}}}
BAD_LINES = {
    "not-json": '{"id": "broken", "messages": [',
    "role": json.dumps({"id": "robot", "messages": [{"role": "robot", "content": "beep"}]}),
    "expected-tool": json.dumps(
        {"id": "mail", "messages": ASK, "tools": [WEATHER], "expected": {"tool_calls": [{"name": "send_email"}]}}
    ),
    "assistant-tool": json.dumps(
        {
            "id": "ghost",
            "messages": [*ASK, {"role": "assistant", "tool_calls": [{"id": "c", "name": "search", "arguments": {}}]}],
            "tools": [WEATHER],
        }
    ),
    "schema": json.dumps({"id": "schema", "messages": ASK, "tools": [BAD_SCHEMA]}),
    "no-messages": json.dumps({"id": "empty"}),
    "answer": json.dumps({"id": "numb", "messages": ASK, "answer": 42}),
}
STEP_KEYS = {
    "id",
    "step_type",
    "text",
    "tool_calls",
    "completion_tokens",
    "layers_fraction",
    "decode_tokens_per_s",
    "matches_full",
    "token_agreement",
    "tool_calls_match_full",
    "correct",
}
STEP_EXTRAS = {"forced_agreement", "program", "budget", "finish_reason", "error", "line", "category"}
STEP_EXTRAS |= {"draft_program", "acceptance_rate"}  # lossless mode (null otherwise)
STEP_EXTRAS |= {"declined_tools", "no_tool_fits_probability"}  # the no-tool-fits head (null without one)
STEP_EXTRAS |= {"call_error"}
SUMMARY_KEYS = {"n", "layers_fraction", "decode_speedup", "matches_full", "token_agreement", "tool_calls_match_full"}
SUMMARY_KEYS |= {"accuracy", "call_errors"}


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    hf, tok = tiny_model("qwen2", n_layers=6)
    routed = RoutedModel(hf, tok, "tiny-eval", policy={"budgets": {"tool_call": 0.5}})
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AGENTROUTE_CACHE", str(tmp_path_factory.mktemp("cache")))
        routed.router.program_for(0.5)  # calibrate once, into a throwaway cache
    return routed


def write_lines(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture
def steps_file(tmp_path):
    return write_lines(tmp_path / "steps.jsonl", [json.dumps(s) for s in GOOD_STEPS])


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("eval-model"), "qwen2", n_layers=6)


# -- metrics ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actual", "expected", "equal"),
    [
        (1, 1.0, True),
        (2.5, 2.50, True),
        (1, 2, False),
        (True, 1, False),
        (False, False, True),
        ("1", 1, False),
        ("  Oslo ", "oslo", True),
        ("OSLO", "Oslo, NO", False),
        (None, None, True),
        (None, "", False),
        ({"a": [1, {"b": " X "}]}, {"a": [1.0, {"b": "x"}]}, True),
        ({"a": 1}, {"a": 1, "b": 2}, False),
        ([1, 2], [2, 1], False),
        ([1, 2], [1, 2, 3], False),
    ],
)
def test_values_equal(actual, expected, equal):
    assert values_equal(actual, expected) is equal


def test_correct_compares_count_names_and_arguments_in_any_order():
    oslo, rome = {"name": "w", "arguments": {"city": "Oslo", "days": 1}}, {"name": "w", "arguments": {"city": "Rome"}}
    assert calls_correct([{"name": "w", "arguments": {"city": " oslo", "days": 1.0}}], [oslo]) is True
    assert calls_correct([oslo, rome], [rome, oslo]) is True  # parallel calls: any order
    assert calls_correct([oslo, oslo], [rome, oslo]) is False  # each expected call matched once
    assert calls_correct([oslo], [oslo, rome]) is False
    assert calls_correct([oslo], []) is False  # no tool fits: any call is wrong
    assert calls_correct([], []) is True
    assert calls_correct([{"name": "W", "arguments": oslo["arguments"]}], [oslo]) is False
    assert calls_correct([oslo], None) is None


def test_token_agreement_is_the_common_prefix_over_full_length():
    assert token_agreement([1, 2, 3, 4], [1, 2, 3, 4]) == 1.0
    assert token_agreement([1, 2, 9, 4], [1, 2, 3, 4]) == 0.5
    assert token_agreement([1, 2], [1, 2, 3, 4]) == 0.5
    assert token_agreement([5], [1, 2]) == 0.0


def test_summary_means_skip_nulls_and_speedup_is_a_median():
    def row(step_type, rate, calls_match, correct):
        return {
            "step_type": step_type,
            "layers_fraction": 0.5,
            "decode_tokens_per_s": rate,
            "matches_full": False,
            "token_agreement": 0.5,
            "tool_calls_match_full": calls_match,
            "correct": correct,
            "forced_agreement": 0.75,
        }

    routed = [
        row("tool_call", 30.0, True, True),
        row("tool_call", 20.0, None, False),
        row("planning", None, None, None),
    ]
    full = [row("tool_call", 10.0, None, None), row("tool_call", 10.0, None, None), row("planning", 10.0, None, None)]
    summary = summarize(routed, full)
    assert list(summary) == ["tool_call", "planning", "all"]
    assert summary["tool_call"]["decode_speedup"] == 2.5 and summary["planning"]["decode_speedup"] is None
    assert summary["all"]["tool_calls_match_full"] == 1.0 and summary["all"]["accuracy"] == 0.5
    assert summary["planning"]["accuracy"] is None and summary["all"]["n"] == 3


def test_modes_put_full_first_and_accept_lossless():
    assert parse_modes("routed") == ["full", "routed"]
    assert parse_modes(["routed", "full", "routed"]) == ["full", "routed"]
    assert parse_modes("lossless,routed") == ["full", "lossless", "routed"]
    with pytest.raises(EvalError, match="unknown mode 'fast'"):
        parse_modes("fast")


# -- reading steps ----------------------------------------------------------------------------------


def test_bad_lines_are_reported_with_line_numbers_and_the_rest_is_kept(tmp_path):
    lines = [json.dumps(GOOD_STEPS[0]), *BAD_LINES.values(), "", json.dumps(GOOD_STEPS[1])]
    steps, problems = load_steps(write_lines(tmp_path / "mixed.jsonl", lines))
    assert [s.id for s in steps] == ["weather", "plan"] and steps[1].line == 10
    by_line = {p.line: p for p in problems}
    assert sorted(by_line) == [2, 3, 4, 5, 6, 7, 8]
    assert by_line[2].id is None and "not valid JSON" in by_line[2].error
    assert by_line[3].id == "robot" and "unknown role 'robot'" in by_line[3].error
    assert "'send_email', which is not offered" in by_line[4].error
    assert "message 1 (assistant) calls tool 'search', which is not offered" in by_line[5].error
    assert "not a valid JSON Schema" in by_line[6].error
    assert "no 'messages'" in by_line[7].error
    assert by_line[8].id == "numb" and "'answer' must be a non-empty string" in by_line[8].error


def test_limit_and_duplicate_ids(tmp_path):
    lines = [json.dumps(GOOD_STEPS[0]), json.dumps(GOOD_STEPS[0]), json.dumps(GOOD_STEPS[1]), json.dumps(GOOD_STEPS[2])]
    steps, problems = load_steps(write_lines(tmp_path / "dup.jsonl", lines), limit=2)
    assert [s.id for s in steps] == ["weather", "plan"]
    assert [(p.line, p.id) for p in problems] == [(2, "weather")] and "already has id" in problems[0].error


def test_missing_file_is_an_eval_error(tmp_path):
    with pytest.raises(EvalError, match="no steps file"):
        load_steps(tmp_path / "nope.jsonl")


# -- running ----------------------------------------------------------------------------------------


def test_report_shape_and_full_depth_is_the_reference(model, steps_file):
    report = evaluate(model, steps_file, modes="routed")
    assert set(report) == {"model", "pack", "seed", "repeats", "modes", "problems"}
    assert report["model"] == "tiny-eval" and report["problems"] == [] and report["repeats"] == 1
    assert list(report["modes"]) == ["full", "routed"]
    for mode in report["modes"].values():
        assert [s["id"] for s in mode["steps"]] == ["weather", "plan", "answer"]
        for step in mode["steps"]:
            assert set(step) == STEP_KEYS | STEP_EXTRAS
            assert 0.0 <= step["forced_agreement"] <= 1.0
        for stats in [*mode["summary"].values(), *mode["categories"].values()]:
            assert set(stats) == SUMMARY_KEYS | {"forced_agreement"}
        # Steps without a category field are grouped under their step type.
        assert list(mode["categories"]) == ["final_answer", "planning", "tool_call", "all"]
    full, routed = report["modes"]["full"], report["modes"]["routed"]
    assert all(s["matches_full"] and s["token_agreement"] == 1.0 for s in full["steps"])
    assert [s["step_type"] for s in full["steps"]] == ["tool_call", "planning", "final_answer"]
    assert full["steps"][0]["correct"] is not None and full["steps"][1]["correct"] is None
    for step in full["steps"]:  # a wrong reply says what it got wrong; a right one, or none expected, nothing
        assert (step["call_error"] is not None) == (step["correct"] is False)
    tool_step = routed["steps"][0]
    assert tool_step["layers_fraction"] == 0.5 < full["steps"][0]["layers_fraction"] == 1.0
    assert routed["steps"][1]["layers_fraction"] == 1.0 and routed["steps"][1]["matches_full"]
    assert routed["summary"]["tool_call"]["n"] == 1 and routed["summary"]["all"]["n"] == 3
    assert full["summary"]["all"]["matches_full"] == 1.0


def test_forced_agreement_of_a_skipping_program_is_computed(model, steps_file):
    from agentroute.evaluation import forced_agreement

    prompt = model.encode(ASK, tools=[WEATHER])
    # Long enough to get past the tokens the call grammar forces (the tool's name, the keys).
    full = model.generate(ASK, tools=[WEATHER], program="0-5", max_new_tokens=80, hints={"tool_choice": "required"})
    assert full.record.constrained  # the call grammar picked the tokens: argmaxes under it agree
    assert forced_agreement(model, prompt, model.program("0-5"), full.token_ids, [WEATHER]) == 1.0
    skipping = forced_agreement(model, prompt, model.program("0,2,5"), full.token_ids, [WEATHER])
    assert 0.0 <= skipping < 1.0  # a random model with half its layers gone disagrees somewhere


def test_forced_agreement_of_a_final_answer_that_offers_tools(model):
    # A final answer with tools decodes under the grammar that also admits text; teacher forcing
    # must take its argmaxes under that grammar too, not the call-only one (which refuses text).
    answer = {"id": "answer", "step_type": "final_answer", "messages": ASK, "tools": [WEATHER], "max_new_tokens": 12}
    policy = model.policy
    model.router.policy = policy.model_copy(update={"budgets": {**policy.budgets, StepType.FINAL_ANSWER: 0.5}})
    try:
        report = evaluate(model, [answer])
    finally:
        model.router.policy = policy
    assert not report["problems"]
    (row,) = report["modes"]["routed"]["steps"]
    assert row["layers_fraction"] == 0.5 and 0.0 <= row["forced_agreement"] <= 1.0


def test_modes_alternate_per_step_and_repeats_take_the_median(model, steps_file, monkeypatch):
    calls = []
    generate = model.generate

    def spy(messages, **kwargs):
        calls.append("full" if kwargs.get("budget") == 1.0 else "routed")
        return generate(messages, **kwargs)

    monkeypatch.setattr(model, "generate", spy)
    report = evaluate(model, steps_file, repeats=2, progress=lambda *a: calls.append(a[:2]))
    generations = [c for c in calls if isinstance(c, str)]
    assert generations == ["full", "routed"] * 6
    assert calls[-1] == (12, 12) and report["repeats"] == 2


def test_in_memory_steps_and_bad_ones_become_problems(model):
    steps = [GOOD_STEPS[1], {"messages": [{"role": "robot", "content": "x"}]}]
    report = evaluate(model, steps, modes=["full"])
    assert list(report["modes"]) == ["full"] and len(report["modes"]["full"]["steps"]) == 1
    assert report["problems"] == [{"line": 2, "id": "step-2", "error": report["problems"][0]["error"]}]
    assert "unknown role" in report["problems"][0]["error"]


def test_a_step_that_fails_to_generate_is_a_problem_and_left_out_of_every_mode(model):
    too_long = {**GOOD_STEPS[1], "id": "too-long", "max_new_tokens": 5000}
    report = evaluate(model, [too_long, GOOD_STEPS[0]])
    assert [s["id"] for s in report["modes"]["routed"]["steps"]] == ["weather"]
    assert [s["id"] for s in report["modes"]["full"]["steps"]] == ["weather"]
    (problem,) = report["problems"]
    assert problem["id"] == "too-long" and "exceeds the model's context" in problem["error"]


def test_a_trace_with_messages_replays_and_one_without_is_reported(model, tmp_path):
    with Trace(tmp_path / "with.jsonl", include_messages=True), Trace(tmp_path / "without.jsonl"):
        model.generate(ASK, tools=[WEATHER], max_new_tokens=4)
        model.generate("Plan a day in Paris.", step_type="planning", max_new_tokens=4)
    steps, problems = load_steps(tmp_path / "with.jsonl")
    assert problems == [] and [s.step_type.value for s in steps] == ["tool_call", "planning"]
    assert steps[0].tools[0].name == "get_weather"
    report = evaluate(model, tmp_path / "with.jsonl")
    assert report["modes"]["routed"]["steps"][0]["layers_fraction"] == 0.5
    steps, problems = load_steps(tmp_path / "without.jsonl")
    assert steps == [] and [(p.line, p.error) for p in problems] == [(1, NO_TRACE_MESSAGES), (2, NO_TRACE_MESSAGES)]


# -- command line -----------------------------------------------------------------------------------


def test_cli_json_to_stdout_with_problems_on_stderr(tiny_dir, tmp_path, capsys):
    lines = [json.dumps(GOOD_STEPS[0]), BAD_LINES["role"], json.dumps(GOOD_STEPS[2])]
    policy = tmp_path / "policy.yaml"
    policy.write_text("budgets: {tool_call: 0.5}\n")
    args = ["--model", str(tiny_dir), "--policy", str(policy), "--modes", "routed", "--json", "-"]
    code = main(["eval", str(write_lines(tmp_path / "s.jsonl", lines)), *args])
    out, err = capsys.readouterr()
    assert code == 0
    report = json.loads(out)
    assert report["model"] == tiny_dir.name and [s["id"] for s in report["modes"]["routed"]["steps"]] == [
        "weather",
        "answer",
    ]
    assert report["modes"]["routed"]["steps"][0]["layers_fraction"] == 0.5
    assert report["problems"][0]["line"] == 2 and "line 2 (robot): message 0 has unknown role" in err


def test_cli_writes_a_file_and_prints_a_summary(tiny_dir, steps_file, tmp_path, capsys):
    out_file = tmp_path / "report.json"
    code = main(["eval", str(steps_file), "--model", str(tiny_dir), "--limit", "2", "--json", str(out_file)])
    assert code == 0
    report = json.loads(out_file.read_text())
    assert [s["id"] for s in report["modes"]["full"]["steps"]] == ["weather", "plan"]
    assert "routed vs full depth" in capsys.readouterr().out


def test_cli_per_type_keeps_the_first_steps_of_each_type(tiny_dir, steps_file, tmp_path, capsys):
    out_file = tmp_path / "report.json"
    for spec, kept in (("planning=1,tool_call=1", ["weather", "plan"]), ("1", ["weather", "plan", "answer"])):
        argv = ["eval", str(steps_file), "--model", str(tiny_dir), "--per-type", spec, "--json", str(out_file)]
        assert main(argv) == 0
        assert [s["id"] for s in json.loads(out_file.read_text())["modes"]["full"]["steps"]] == kept
    for bad, message in (("tool_call=0", "not a positive step count"), ("tool_cal=3", "unknown step type")):
        assert main(["eval", str(steps_file), "--model", str(tmp_path / "none"), "--per-type", bad]) == 2
        assert message in capsys.readouterr().err


def test_cli_exits_2_when_nothing_can_be_evaluated(tmp_path, capsys):
    bad = write_lines(tmp_path / "bad.jsonl", list(BAD_LINES.values()))
    assert main(["eval", str(bad), "--model", str(tmp_path / "never-loaded"), "--json", "-"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "nothing to evaluate" in err and "line 6 (empty)" in err and "Traceback" not in err


def test_cli_rejects_an_unknown_mode_before_loading(steps_file, tmp_path, capsys):
    assert main(["eval", str(steps_file), "--modes", "full,fast", "--model", str(tmp_path / "none")]) == 2
    assert "unknown mode 'fast'" in capsys.readouterr().err


@pytest.mark.slow
def test_default_model_routed_tool_step(steps_file):
    from agentroute import load

    model = load("default", policy={"budgets": {"tool_call": 0.6}})
    report = evaluate(model, steps_file)
    assert report["modes"]["routed"]["summary"]["tool_call"]["layers_fraction"] <= 0.6
    assert all(s["matches_full"] for s in report["modes"]["full"]["steps"])


def test_a_failed_call_is_not_a_reply_in_words(model):
    """A step that expects no call (no offered tool fits) is correct only when the reply made none
    and tried none: a call dropped for breaking its schema still counts as a wrong call."""
    from agentroute.evaluation.runner import _row

    step = parse_step({"id": "none", "messages": ASK, "tools": [WEATHER], "expected": {"tool_calls": []}})
    result = model.generate(ASK, max_new_tokens=2)
    assert _row(step, result, result, None)["correct"] is True
    failed = result.record.model_copy(update={"error": "tool call 1 breaks the schema of get_weather"})
    broken = type(result)(text=result.text, token_ids=result.token_ids, record=failed, tool_calls=[])
    assert _row(step, broken, result, None)["correct"] is False
    assert _row(step, broken, result, None)["call_error"] == {"kind": "called"}
    assert _row(step, result, result, None)["call_error"] is None
    # Where a call is expected, a dropped call is its own kind, not a wrong count.
    oslo = {"name": "get_weather", "arguments": {"city": "Oslo"}}
    wanted = parse_step({"id": "w", "messages": ASK, "tools": [WEATHER], "expected": {"tool_calls": [oslo]}})
    assert _row(wanted, broken, result, None)["call_error"] == {"kind": "invalid call"}
