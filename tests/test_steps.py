"""Step types, depth policy, budget -> program, and the step fields of a generation's record."""

import pytest

import agentroute
from agentroute import DepthPolicy, PolicyError, StepType
from agentroute.model.calibration import block_influence, layer_importance, program_for_budget
from agentroute.routed_model import RoutedModel
from agentroute.steps.step_types import StepContext, observe_step_type, predict_step_type

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
USER = [{"role": "user", "content": "Weather in Paris?"}]


def ctx(messages=USER, **kwargs):
    return StepContext(messages=messages, **kwargs)


# -- prediction ---------------------------------------------------------------------------------


def test_caller_beats_hints_beats_rules():
    hint_map = {"planner": StepType.PLANNING}
    assert predict_step_type(ctx(step_type=StepType.REASONING, hints={"node": "planner"}), hint_map) == (
        StepType.REASONING,
        "caller",
    )
    assert predict_step_type(ctx(tools=[WEATHER], hints={"node": "planner"}), hint_map) == (StepType.PLANNING, "hint")
    assert predict_step_type(ctx(tools=[WEATHER]), hint_map) == (StepType.TOOL_CALL, "rule")
    assert predict_step_type(ctx(), hint_map) == (StepType.OTHER, "default")


def test_structural_rules():
    after_tool = USER + [
        {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "name": "get_weather", "arguments": {}}]},
        {"role": "tool", "tool_call_id": "1", "name": "get_weather", "content": "18C"},
    ]
    assert predict_step_type(ctx(after_tool, tools=[WEATHER]), {}) == (StepType.FINAL_ANSWER, "rule")
    assert predict_step_type(ctx(tools=[WEATHER], hints={"tool_choice": "required"}), {})[0] == StepType.TOOL_CALL
    assert predict_step_type(ctx(tools=[WEATHER], hints={"tool_choice": "none"}), {}) == (StepType.OTHER, "default")


def test_router_predictor_is_used_when_nothing_else_decides():
    assert predict_step_type(ctx(), {}, predictor=lambda c: StepType.PLANNING) == (StepType.PLANNING, "router")


def test_observed_types():
    assert observe_step_type(ctx(tools=[WEATHER]), "<tool_call>...</tool_call>", 1) == StepType.TOOL_CALL
    assert observe_step_type(ctx(tools=[WEATHER]), "It is sunny.", 0) == StepType.FINAL_ANSWER
    assert observe_step_type(ctx(), "1. Book flights\n2. Book hotel\n3. Pack", 0) == StepType.PLANNING
    assert observe_step_type(ctx(), "Paris is the capital of France.", 0) == StepType.OTHER


def test_unknown_step_type_is_a_clear_error(llama_model):
    with pytest.raises(agentroute.AgentRouteError, match="unknown step type 'thinking'.*tool_call"):
        llama_model.generate("hi", step_type="thinking")


# -- policy ---------------------------------------------------------------------------------------


def test_policy_from_dict_yaml_and_toml(tmp_path):
    data = {"budgets": {"tool_call": 0.5, "planning": 0.9}, "hint_map": {"planner": "planning"}}
    policy = DepthPolicy.from_dict(data)
    assert policy.budget_for(StepType.TOOL_CALL) == 0.5 and policy.budget_for(StepType.OTHER) == 1.0
    (tmp_path / "p.yaml").write_text("budgets:\n  tool_call: 0.5\n  planning: 0.9\nhint_map:\n  planner: planning\n")
    (tmp_path / "p.toml").write_text('hint_map = {planner = "planning"}\n[budgets]\ntool_call = 0.5\nplanning = 0.9\n')
    assert DepthPolicy.from_file(tmp_path / "p.yaml") == policy == DepthPolicy.from_file(tmp_path / "p.toml")
    assert policy.protected(30) == {0, 29}


@pytest.mark.parametrize(
    "data, fragment",
    [
        ({"budgets": {"tool_call": 0}}, r"\(0, 1\]"),
        ({"budgets": {"tool_call": 1.5}}, r"\(0, 1\]"),
        ({"budgets": {"thinking": 0.5}}, "budgets.thinking"),
        ({"default_budget": -1}, "default_budget"),
        ({"hint_map": {"planner": "dreaming"}}, "hint_map"),
    ],
)
def test_bad_policies_name_the_field(data, fragment):
    with pytest.raises(PolicyError, match=fragment):
        DepthPolicy.from_dict(data)


def test_policy_file_errors(tmp_path):
    with pytest.raises(PolicyError, match="does not exist"):
        DepthPolicy.from_file(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("budgets: [")
    with pytest.raises(PolicyError, match="cannot parse"):
        DepthPolicy.from_file(tmp_path / "bad.yaml")
    with pytest.raises(PolicyError, match="out of range"):
        DepthPolicy(protected_layers=[40]).protected(30)


# -- budget -> program ----------------------------------------------------------------------------


def test_program_for_budget_drops_least_important_unprotected_layers():
    importance = [0.9, 0.1, 0.5, 0.05, 0.3, 0.8]
    assert program_for_budget(importance, 1.0).layers == (0, 1, 2, 3, 4, 5)
    assert program_for_budget(importance, 0.67, protected={0, 5}).layers == (0, 2, 4, 5)
    assert program_for_budget(importance, 0.34, protected={0, 5}).layers == (0, 5)
    assert program_for_budget(importance, 0.01).layers == (0,)


def test_calibration_is_computed_once_and_cached(llama_model, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path))
    importance = layer_importance(llama_model)
    assert len(importance) == llama_model.n_layers and all(v >= 0 for v in importance)
    assert list((tmp_path / "calibration").glob("*.json"))
    monkeypatch.setattr("agentroute.model.calibration.block_influence", lambda *a: pytest.fail("recomputed"))
    assert layer_importance(llama_model) == importance
    assert block_influence(llama_model) == pytest.approx(importance)


def test_budget_and_policy_choose_the_program(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path))
    from tiny_models import tiny_model

    hf, tok = tiny_model("llama", n_layers=10)
    model = RoutedModel(hf, tok, "tiny10", policy={"budgets": {"tool_call": 0.6, "planning": 0.9}})
    tool_step = model.generate(USER, tools=[WEATHER], max_new_tokens=4)
    assert tool_step.record.step_type == StepType.TOOL_CALL and tool_step.record.step_type_source == "rule"
    assert tool_step.record.budget == 0.6 and tool_step.record.layers_per_token == 6
    assert {0, 9} <= set(tool_step.record.layers_executed.which)
    plan = model.generate("Plan a trip", step_type="planning", max_new_tokens=4)
    assert plan.record.budget == 0.9 and plan.record.layers_per_token == 9
    other = model.generate("hello", max_new_tokens=4)
    assert other.record.budget == 1.0 and other.record.program == "0-9"
    override = model.generate("hello", budget=0.5, max_new_tokens=4)
    assert override.record.layers_per_token == 5
    explicit = model.generate("hello", program="0-2,7-9", max_new_tokens=4)
    assert explicit.record.budget is None and explicit.record.program == "0-2,7-9"
    with pytest.raises(agentroute.GenerationError, match="not both"):
        model.generate("hello", program="0-9", budget=0.5)
    with pytest.raises(PolicyError, match=r"\(0, 1\]"):
        model.generate("hello", budget=0)


# -- tools through generate ----------------------------------------------------------------------


def test_generate_with_tools_records_a_parse_failure_instead_of_raising(llama_model):
    result = llama_model.generate(USER, tools=[WEATHER], max_new_tokens=12, hints={"node": "agent", "obj": object()})
    rec = result.record
    assert result.tool_calls == [] and rec.tool_calls == []
    assert rec.step_type == StepType.TOOL_CALL
    assert rec.step_type_observed == StepType.FINAL_ANSWER  # a random model answers in text
    assert rec.hints["node"] == "agent" and isinstance(rec.hints["obj"], str)
    assert rec.model_dump_json()


def test_tool_schemas_reach_the_prompt(llama_model):
    with_tools = llama_model.encode(USER, tools=[WEATHER])
    without = llama_model.encode(USER)
    assert len(with_tools) > len(without)
    assert "get_weather" in llama_model.tokenizer.decode(with_tools)


def test_malformed_tool_schema_is_a_clear_error(llama_model):
    with pytest.raises(agentroute.AgentRouteError, match="tool 0"):
        llama_model.generate(USER, tools=[{"description": "no name"}])


def test_unknown_generation_option(llama_model):
    with pytest.raises(agentroute.GenerationError, match="unknown generation option"):
        llama_model.generate("hi", max_tokens=3)


def test_replacing_the_policy_never_reuses_a_program_built_for_other_protected_layers(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path))
    from tiny_models import tiny_model

    model = RoutedModel(*tiny_model("llama", n_layers=10), "tiny10")
    first = model.router.program_for(0.5)
    assert {0, 9} <= set(first.layers) and not {4, 5} <= set(first.layers)
    model.router.policy = DepthPolicy(protected_layers=[4, 5])
    second = model.router.program_for(0.5)
    assert {4, 5} <= set(second.layers) and len(second) == 5


def test_the_same_call_in_a_later_turn_gets_a_new_id():
    """Call ids follow the reply and its conversation: a repeated identical call in a later turn
    must not reuse the id an earlier result already answers."""
    from agentroute.steps.reply_parsing import parse_tool_calls
    from agentroute.steps.step_result import conversation_digest

    reply = '<tool_call>{"name": "get_weather", "arguments": {"city": "Oslo"}}</tool_call>'
    first = [{"role": "user", "content": "Weather in Oslo?"}]
    (call,) = parse_tool_calls(reply, [WEATHER], conversation_digest(first)).tool_calls
    later = [
        *first,
        {"role": "assistant", "content": "", "tool_calls": [{"id": call.id, "name": call.name, "arguments": {}}]},
        {"role": "tool", "tool_call_id": call.id, "content": "4 C"},
        {"role": "user", "content": "And now?"},
    ]
    (again,) = parse_tool_calls(reply, [WEATHER], conversation_digest(later)).tool_calls
    assert again.id != call.id and again.arguments == call.arguments
    assert parse_tool_calls(reply, [WEATHER], conversation_digest(first)).tool_calls[0].id == call.id


def test_a_tool_answered_for_an_earlier_request_is_offered_again_with_a_format():
    """With a response format, only results that answer the latest request take their tool off the
    list: a new request may ask for the same tool again."""
    from agentroute.steps.step_input import step_context

    call = {"id": "c1", "name": "get_weather", "arguments": {"city": "Oslo"}}
    answered = [
        {"role": "user", "content": "Weather in Oslo?"},
        {"role": "assistant", "content": "", "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "c1", "content": "4 C"},
    ]
    schema = {"type": "object"}
    assert step_context(answered, [WEATHER], json_schema=schema).tools == []
    again = [*answered, {"role": "assistant", "content": "4 C."}, {"role": "user", "content": "And in Rome?"}]
    assert [t.name for t in step_context(again, [WEATHER], json_schema=schema).tools] == ["get_weather"]


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", None),
        (False, None),
        ("none", "none"),
        ("required", "required"),
        ("any", "required"),
        (True, "required"),
        ("get_weather", "get_weather"),
        ({"type": "function", "function": {"name": "get_weather"}}, "get_weather"),
        ({"type": "tool", "name": "get_weather"}, "get_weather"),
        ({"type": "any"}, "required"),
    ],
)
def test_tool_choice_reads_every_frameworks_form(choice, expected):
    from agentroute.steps.step_types import tool_choice_of

    assert tool_choice_of(choice, ["get_weather"]) == expected


def test_a_tool_choice_naming_no_offered_tool_is_an_error_naming_them():
    from agentroute.steps.step_types import ToolChoiceError, tool_choice_of

    with pytest.raises(ToolChoiceError, match=r"name an offered tool \(get_weather\).*got 'get_news'"):
        tool_choice_of("get_news", ["get_weather"])
    with pytest.raises(ToolChoiceError, match="got 5"):
        tool_choice_of(5)
    assert tool_choice_of("later_tool") == "later_tool"  # names not known yet: any name passes
