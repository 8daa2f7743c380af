"""The no-tool-fits head of a route pack: fitted on prompt states, read from the step's own prefill,
and deciding a tool-call step's grammar (calls only, or declining words only)."""

import json

import pytest
import torch
from test_pack import HIDDEN, N_LAYERS, edit_manifest, fresh_model, write_pack

from agentroute.pack import DECLINE_FILE, PackError, load_pack
from agentroute.steps.decline_head import DeclineHead
from agentroute.steps.prompt_states import prompt_hidden
from agentroute.training.decline_fit import fit_decline_head

LAYER = 4
# Bounded arguments: a random model under the calls grammar finishes a call well inside the limit.
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"enum": ["Paris", "Oslo"]}}, "required": ["city"]},
}
REQUEST = [{"role": "user", "content": "Translate 'good morning' into French."}]


@pytest.fixture(autouse=True)
def _calibration_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))


def head_with(weight_seed: int | None = None, bias: float = 0.0) -> DeclineHead:
    """A head set by hand: random weights (a probability that depends on the state) or zero ones."""
    head = DeclineHead(HIDDEN)
    with torch.no_grad():
        if weight_seed is None:
            head.linear.weight.zero_()
        else:
            head.linear.weight.copy_(torch.randn(1, HIDDEN, generator=torch.Generator().manual_seed(weight_seed)))
        head.linear.bias.fill_(bias)
    return head.eval()


def pack_with_head(tmp_path, head: DeclineHead, threshold: float = 0.5, layer: int = LAYER):
    model = fresh_model()
    write_pack(tmp_path / "pack", model)
    head.save(tmp_path / "pack" / DECLINE_FILE)
    edit_manifest(tmp_path / "pack", lambda m: m.update(decline={"layer": layer, "threshold": threshold}))
    load_pack(model, tmp_path / "pack")
    return model


def test_a_head_sure_that_no_tool_fits_makes_the_step_answer_in_words(tmp_path):
    model = pack_with_head(tmp_path, head_with(bias=20.0))
    step = model.generate(REQUEST, tools=[WEATHER], step_type="tool_call", max_new_tokens=12)
    assert not step.tool_calls and step.text and not step.text.lstrip().startswith("<")
    assert step.record.declined_tools and step.record.no_tool_fits_probability == pytest.approx(1.0)


def test_a_head_sure_that_a_tool_fits_makes_the_step_call(tmp_path):
    model = pack_with_head(tmp_path, head_with(bias=-20.0))
    step = model.generate(REQUEST, tools=[WEATHER], step_type="tool_call", max_new_tokens=24)
    assert step.text.startswith("<tool_call>")  # calls only: the tiny byte-level vocabulary spells it out
    assert not step.record.declined_tools and step.record.no_tool_fits_probability == pytest.approx(0.0)


@pytest.mark.parametrize("prefill", ["full", "program"])
def test_the_head_reads_the_last_prompt_token_after_its_layer(tmp_path, prefill):
    """The state the decode loop hands the head is the one of a full pass over the prompt: taken
    from the step's prefill as it passes (also when the prefix cache leaves only the prompt's end to
    run), or with a prefill that skips layers, from the head's layers run apart."""
    model = pack_with_head(tmp_path, head_with(weight_seed=0))
    head = model.pack.decline_head
    with torch.no_grad():  # scaled so that the logit is about 1: a probability far from 0 and 1
        state = prompt_hidden(model.parts, model.encode(REQUEST, [WEATHER]), LAYER)[-1]
        head.linear.weight /= head(state[None]).abs()
    for request in (REQUEST, [*REQUEST[:0], {"role": "user", "content": REQUEST[0]["content"] + " Please."}]):
        ids = model.encode(request, [WEATHER])
        expected = head.probability(prompt_hidden(model.parts, ids, LAYER)[-1])
        step = model.generate(
            request, tools=[WEATHER], step_type="tool_call", max_new_tokens=4, mode="routed", prefill=prefill
        )
        assert step.record.no_tool_fits_probability == pytest.approx(expected, abs=1e-5)
        assert 1e-4 < expected < 1 - 1e-4  # a probability that depends on the state, not a saturated one


def test_a_call_the_caller_demands_is_not_left_to_the_head(tmp_path):
    model = pack_with_head(tmp_path, head_with(bias=20.0))
    step = model.generate(
        REQUEST, tools=[WEATHER], step_type="tool_call", max_new_tokens=24, hints={"tool_choice": "required"}
    )
    assert step.text.startswith("<tool_call>") and step.record.no_tool_fits_probability is None


def test_steps_that_are_not_tool_calls_do_not_ask_the_head(tmp_path):
    model = pack_with_head(tmp_path, head_with(bias=20.0))
    step = model.generate(REQUEST, tools=[WEATHER], step_type="planning", max_new_tokens=4)
    assert step.record.no_tool_fits_probability is None


def test_a_pack_without_its_head_file_is_a_clear_error(tmp_path):
    model = fresh_model()
    write_pack(tmp_path / "pack", model)
    edit_manifest(tmp_path / "pack", lambda m: m.update(decline={"layer": LAYER, "threshold": 0.5}))
    with pytest.raises(PackError, match=DECLINE_FILE):
        load_pack(model, tmp_path / "pack")


def test_a_head_layer_the_model_does_not_have_is_a_clear_error(tmp_path):
    with pytest.raises(PackError, match=f"after layer {N_LAYERS + 1}.*{N_LAYERS} layers"):
        pack_with_head(tmp_path, head_with(), layer=N_LAYERS + 1)


def test_head_round_trips_through_safetensors(tmp_path):
    head = head_with(weight_seed=1, bias=0.3)
    head.save(tmp_path / DECLINE_FILE)
    loaded = DeclineHead.load(tmp_path / DECLINE_FILE, HIDDEN)
    x = torch.randn(HIDDEN)
    assert loaded.probability(x) == head.probability(x)
    assert not json.dumps(loaded.state_dict(), default=str).count("pickle")


def test_fit_separates_the_kinds_and_keeps_false_declines_near_the_rate():
    """Two overlapping clouds along one direction of a 64-wide state: the held-out fifth sets the
    threshold at 5% false declines of steps whose tools fit."""
    g = torch.Generator().manual_seed(0)
    n = 1000
    labels = (torch.rand(n, generator=g) < 0.2).long()
    direction = torch.randn(HIDDEN, generator=g)
    x = torch.randn(n, HIDDEN, generator=g) * 3 + 10 + labels[:, None] * 8.0 * direction / direction.norm()
    head, threshold, metrics = fit_decline_head(HIDDEN, x, labels, seed=0)
    assert metrics["decline_out_of_fold_auc"] > 0.9
    assert metrics["decline_out_of_fold_false_rate"] <= 0.06
    assert metrics["decline_out_of_fold_recall"] > 0.5
    fresh = torch.randn(2000, HIDDEN, generator=g) * 3 + 10
    fits = torch.sigmoid(head(fresh))
    assert float((fits >= threshold).float().mean()) < 0.12  # on new steps whose tools fit too


def test_fit_needs_steps_of_both_kinds():
    with pytest.raises(ValueError, match="at least 5 steps of each kind.*data v4"):
        fit_decline_head(HIDDEN, torch.randn(50, HIDDEN), torch.zeros(50, dtype=torch.long), seed=0)
