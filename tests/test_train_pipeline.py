"""Pieces of ``agentroute train``: router fitting, the program library, training examples and the
resumable LoRA training loop (on a tiny model)."""

import json
import random
import re
import shutil
from dataclasses import replace
from types import SimpleNamespace

import pytest
import torch
from tiny_models import tiny_model

from agentroute import LayerProgram, RoutedModel, StepType
from agentroute.errors import AgentRouteError
from agentroute.evaluation.steps import parse_step
from agentroute.steps.tools import format_tool_call
from agentroute.training.adapter import (
    AdapterConfig,
    AdapterSettingError,
    adapter_seconds,
    lora_config,
    train_adapter,
)
from agentroute.training.examples import (
    TrainExample,
    end_of_turn_id,
    teacher_example,
    tool_call_example,
    tool_call_text,
)
from agentroute.training.library import DEFAULT_CANDIDATES, build_library, check_cached_library
from agentroute.training.router_fit import fit_router, safety_labels

TYPES = [StepType.TOOL_CALL, StepType.PLANNING, StepType.FINAL_ANSWER]

# -- router fitting -------------------------------------------------------------------------------


def separable_rows(hidden: int = 4, per_type: int = 20, seed: int = 0):
    """Features [N, 2 * hidden]: the step type shifts feature 0..2, safety follows the sign of feature 3."""
    gen = torch.Generator().manual_seed(seed)
    n = per_type * len(TYPES)
    y = torch.arange(len(TYPES)).repeat_interleave(per_type)
    x = torch.randn(n, 2 * hidden, generator=gen) * 0.3
    x[torch.arange(n), y] += 3.0
    x[:, 3] = torch.where(torch.arange(n) % 2 == 0, 1.0, -1.0) * (1 + torch.rand(n, generator=gen))
    return x, y


def test_fit_router_learns_separable_types_and_safety():
    hidden = 4
    # Library: 2 tool_call programs, 1 planning, 2 final_answer -> 5 columns.
    columns = {StepType.TOOL_CALL: [0, 1], StepType.PLANNING: [2], StepType.FINAL_ANSWER: [3, 4]}
    n_programs = 5
    type_x, type_y = separable_rows(hidden, seed=0)
    safe_x, safe_t = separable_rows(hidden, seed=1)
    positive = safe_x[:, 3] > 0
    labels = torch.zeros(len(safe_x), n_programs)
    known = torch.zeros(len(safe_x), n_programs)
    for i, t in enumerate(safe_t.tolist()):
        cols = columns[TYPES[t]]
        known[i, cols] = 1.0
        labels[i, cols[0]] = float(positive[i])  # the cheap program: safe only for "easy" prompts
        if len(cols) > 1:
            labels[i, cols[1]] = 1.0  # the dear one: always safe
    # Columns of other types are unknown for a row; give them contradicting labels the fit must ignore.
    labels = torch.where(known.bool(), labels, 1.0 - labels)
    rows = (type_x, type_y), (safe_x, safe_t, labels, known)
    # Unpenalised, the fit reproduces every label of separable rows; the default L2 penalties soften
    # probabilities near the boundary but keep most of a clear signal.
    penalised, _ = fit_router(hidden, TYPES, n_programs, *rows, seed=0)
    with torch.no_grad():
        type_logits, safe_logits = penalised(safe_x, safe_t)
    soft = torch.sigmoid(safe_logits) > 0.5
    assert (soft[known.bool()] == labels.bool()[known.bool()]).float().mean() >= 0.9
    assert (type_logits.argmax(-1) == safe_t).all()  # the type penalty keeps clearly separated types apart
    net, stats = fit_router(hidden, TYPES, n_programs, *rows, seed=0, safe_l2=0.0, type_l2=0.0)
    assert stats["train_type_accuracy"] == 1.0
    assert stats["final_loss"] < 0.2
    assert not net.training
    with torch.no_grad():
        type_logits, _ = net(type_x)
        _, safe_logits = net(safe_x, safe_t)
        # Held-out rows of the same distribution.
        test_x, test_y = separable_rows(hidden, seed=2)
        test_logits, _ = net(test_x)
    assert (type_logits.argmax(-1) == type_y).all()
    assert (test_logits.argmax(-1) == test_y).all()
    predicted = torch.sigmoid(safe_logits) > 0.5
    assert (predicted[known.bool()] == labels.bool()[known.bool()]).all()
    # Standardisation statistics come from the training features.
    torch.testing.assert_close(net.mean, torch.cat([type_x, safe_x]).mean(0))


def test_safety_head_does_not_memorise_noise():
    # 120 rows, 256 features, labels unrelated to the features and 10% safe: the shipped pack's
    # situation. Unpenalised, the head separates its rows and calls unseen prompts safe at will;
    # the L2 penalty keeps held-out probabilities near the base rate, so the router abstains.
    hidden, n = 128, 120
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(2 * n, 2 * hidden, generator=gen)
    y = (torch.rand(2 * n, 1, generator=gen) < 0.1).float()
    t, known = torch.zeros(2 * n, dtype=torch.long), torch.ones(2 * n, 1)
    type_rows = (x[:8], torch.arange(8) % len(TYPES))
    called_safe = {}
    for l2 in (0.0, None):
        net, _ = fit_router(hidden, TYPES, 1, type_rows, (x[:n], t[:n], y[:n], known[:n]), seed=0, safe_l2=l2)
        with torch.no_grad():
            called_safe[l2] = int((torch.sigmoid(net(x[n:], t[n:])[1]) >= 0.5).sum())
    assert called_safe[None] <= 2 < called_safe[0.0], called_safe


def test_fit_router_is_seeded_and_works_without_safety_rows():
    hidden = 4
    type_rows = separable_rows(hidden)
    empty = (torch.zeros(0, 2 * hidden), torch.zeros(0, dtype=torch.long), torch.zeros(0, 3), torch.zeros(0, 3))
    a, stats = fit_router(hidden, TYPES, 3, type_rows, empty, seed=3, epochs=50)
    b, _ = fit_router(hidden, TYPES, 3, type_rows, empty, seed=3, epochs=50)
    assert stats["train_type_accuracy"] == 1.0
    for key, value in a.state_dict().items():
        torch.testing.assert_close(value, b.state_dict()[key])


def test_safety_labels_match_forced_argmax(llama_model):
    prompt = llama_model.encode("Plan a three-step trip to Rome.")
    reply = llama_model.generate_ids(prompt, None, max_new_tokens=8, ignore_eos=True).token_ids
    n = llama_model.n_layers
    full = LayerProgram.full(n)
    programs = [LayerProgram.skip(n, [2]), LayerProgram.skip(n, range(1, n - 1)), full]
    example = TrainExample("x", StepType.PLANNING, prompt, list(reply), gold=False)
    labels = safety_labels(llama_model.parts, example, programs, full)
    reference = llama_model.forced_argmax(prompt, reply, full)
    expected = [llama_model.forced_argmax(prompt, reply, p) == reference for p in programs]
    assert labels == expected
    assert labels[-1] is True  # full depth reproduces itself
    assert labels[1] is False  # two layers of six do not reproduce a random model


# -- program library ------------------------------------------------------------------------------


def test_build_library_default_candidates():
    n = 10
    importance = [0.9, 0.1, 0.5, 0.2, 0.05, 0.6, 0.3, 0.15, 0.4, 0.8]
    protected = {0, n - 1}
    library = build_library(importance, protected)
    assert set(library) == set(DEFAULT_CANDIDATES)
    for step_type, programs in library.items():
        assert programs, step_type
        assert len({p.layers for p in programs}) == len(programs), "programs are distinct"
        costs = [p.cost for p in programs]
        assert costs == sorted(costs) and len(set(costs)) == len(costs), "cheapest first"
        assert costs[-1] <= max(DEFAULT_CANDIDATES[step_type]) + 1e-9
        for program in programs:
            assert protected <= set(program.layers)
            assert not program.loops and list(program.layers) == sorted(program.layers)
            # The skipped layers are the least important unprotected ones.
            kept = [importance[i] for i in program.layers if i not in protected]
            assert all(importance[s] <= min(kept, default=1.0) for s in program.skipped)
    # 10 layers: 0.45 -> 4 layers, 0.5 and 0.55 -> 5 (deduplicated), 0.6 -> 6.
    assert [len(p) for p in library[StepType.TOOL_CALL]] == [4, 5, 6]
    assert [str(p) for p in library[StepType.TOOL_CALL]] == ["0,2,5,9", "0,2,5,8-9", "0,2,5-6,8-9"]


def test_build_library_custom_candidates_keep_protected_layers():
    n = 6
    importance = [0.0, 0.9, 0.8, 0.7, 0.6, 0.0]  # the protected ends look least important
    candidates = {StepType.TOOL_CALL: (0.9, 0.2, 0.5, 0.55), StepType.PLANNING: (1.0,)}
    library = build_library(importance, {0, 5}, candidates)
    tool = library[StepType.TOOL_CALL]
    assert [str(p) for p in tool] == ["0,5", "0-1,5", "0-3,5"]  # 0.2 -> at least the protected layers
    assert all({0, 5} <= set(p.layers) for p in tool)
    assert library[StepType.PLANNING] == [LayerProgram.full(n)]


def test_build_library_adds_searched_skip_programs_only():
    n = 6
    importance = [0.0, 0.9, 0.8, 0.7, 0.6, 0.0]
    candidates = {StepType.TOOL_CALL: (0.5,), StepType.PLANNING: (0.9,)}
    searched = {
        StepType.TOOL_CALL: [LayerProgram.parse(s, n) for s in ("0,2,4-5", "0-2,2,5", "1-5", "0-1,5")],
        StepType.REASONING: [LayerProgram.parse("0-1,3-5", n)],  # no candidates for reasoning: not added
    }
    library = build_library(importance, {0, 5}, candidates, searched=searched)
    # 0.5 keeps 0-1,5 (Block Influence); the searched loop and the one skipping protected layer 0
    # are left out, the duplicate is kept once, and the result stays cheapest first.
    assert [str(p) for p in library[StepType.TOOL_CALL]] == ["0-1,5", "0,2,4-5"]
    assert set(library) == {StepType.TOOL_CALL, StepType.PLANNING}


def test_resuming_under_another_library_is_refused(tmp_path):
    first = {StepType.TOOL_CALL: [LayerProgram.parse("0-1,5", 6)]}
    check_cached_library(tmp_path, first)
    check_cached_library(tmp_path, first)  # the same library resumes
    with pytest.raises(AgentRouteError, match="another program library"):
        check_cached_library(tmp_path, {StepType.TOOL_CALL: [LayerProgram.parse("0,2,5", 6)]})


def test_searched_entries_give_their_skip_programs(llama_model, tmp_path):
    from agentroute.model.calibration import weights_fingerprint
    from agentroute.pack import model_fingerprint
    from agentroute.program_library import PROGRAMS_FORMAT, ProgramEntry, ProgramsFile, load_library, write_programs

    loop = ProgramEntry(budget=0.8, program="0-1,1,2,5", cost=5 / 6, loops=True,
                        best_skip={"program": "0-3,5", "agreement": 0.5})  # fmt: skip
    skip = ProgramEntry(budget=0.5, program="0,2,5", cost=0.5, loops=False)
    data = ProgramsFile(
        format=PROGRAMS_FORMAT,
        model=model_fingerprint(llama_model),
        weights=weights_fingerprint(llama_model),
        programs={StepType.TOOL_CALL: [skip, loop]},
    )
    write_programs(tmp_path / "programs.json", data)
    library = load_library(llama_model, tmp_path / "programs.json")
    assert [str(p) for p in library.skip_programs()[StepType.TOOL_CALL]] == ["0,2,5", "0-3,5"]


# -- training examples ------------------------------------------------------------------------------

TOOL_NAMES = ["get_weather", "search_web", "send_email", "convert_units", "book_flight", "lookup_stock"]


def weather_step(expected=({"name": "get_weather", "arguments": {"city": "Oslo"}},)):
    return parse_step(
        {
            "id": "weather-1",
            "step_type": "tool_call",
            "messages": [{"role": "user", "content": "Weather in Oslo?"}],
            "tools": [
                {"name": name, "description": f"tool {name}", "parameters": {"type": "object", "properties": {}}}
                for name in TOOL_NAMES
            ],
            "expected": {"tool_calls": list(expected)},
        }
    )


def offered_tools(model, prompt_ids) -> list[str]:
    text = model.tokenizer.decode(prompt_ids)
    return [name for name in TOOL_NAMES if name in text]


@pytest.mark.parametrize("max_distractors", [0, 2, 10])
def test_tool_call_example(llama_model, max_distractors):
    model = llama_model
    eos = model.tokenizer.eos_token_id
    assert eos is not None and model.stop_token_ids == {eos}
    step = weather_step()
    example = tool_call_example(model, step, random.Random(0), max_distractors)
    assert example.step_type == StepType.TOOL_CALL and example.gold and example.id == "weather-1"
    offered = offered_tools(model, example.prompt_ids)
    assert "get_weather" in offered
    assert len(offered) == 1 + min(max_distractors, len(TOOL_NAMES) - 1)
    # The prompt is what generate() would see with those tools.
    assert example.prompt_ids[-3:] == model.encode(step.messages)[-3:]
    assert example.reply_ids[-1] == eos == end_of_turn_id(model)
    assert eos not in example.reply_ids[:-1]
    reply_text = model.tokenizer.decode(example.reply_ids[:-1])
    assert reply_text == format_tool_call({"name": "get_weather", "arguments": {"city": "Oslo"}})
    assert reply_text == tool_call_text(step)


def test_tool_call_example_keeps_every_expected_tool(llama_model):
    calls = [{"name": "search_web", "arguments": {"q": "x"}}, {"name": "send_email", "arguments": {"to": "a"}}]
    step = weather_step(calls)
    for seed in range(5):
        example = tool_call_example(llama_model, step, random.Random(seed), 1)
        offered = offered_tools(llama_model, example.prompt_ids)
        assert {"search_web", "send_email"} <= set(offered) and len(offered) == 3
    text = llama_model.tokenizer.decode(example.reply_ids[:-1])
    assert text == "\n".join(format_tool_call(c) for c in calls)


def test_a_said_values_model_trains_on_dates_as_the_user_said_them(llama_model):
    day = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}$"}
    step = parse_step(
        {
            "id": "sun-1",
            "step_type": "tool_call",
            "messages": [
                {"role": "system", "content": "Today is Thursday, 2026-09-24."},
                {"role": "user", "content": "When does the sun rise in Oslo next Friday?"},
            ],
            "tools": [
                {
                    "name": "sun",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "date": day}},
                }
            ],
            "expected": {"tool_calls": [{"name": "sun", "arguments": {"city": "Oslo", "date": "2026-10-02"}}]},
        }
    )
    said = {"name": "sun", "arguments": {"city": "Oslo", "date": "next Friday"}}
    assert tool_call_text(step, said_values=True) == format_tool_call(said)
    assert tool_call_text(step) == format_tool_call(step.expected[0])
    llama_model.said_values = True
    try:
        example = tool_call_example(llama_model, step, random.Random(0), 0)
    finally:
        llama_model.said_values = False
    assert llama_model.tokenizer.decode(example.reply_ids[:-1]) == format_tool_call(said)


def test_tool_call_example_distractors_depend_on_the_rng(llama_model):
    step = weather_step()
    draws = {
        tuple(offered_tools(llama_model, tool_call_example(llama_model, step, random.Random(s), 2).prompt_ids))
        for s in range(8)
    }
    assert len(draws) > 1
    same = [tool_call_example(llama_model, step, random.Random(7), 2).prompt_ids for _ in range(2)]
    assert same[0] == same[1]


def test_teacher_example_and_missing_end_of_turn(llama_model):
    step = weather_step()
    example = teacher_example(llama_model, step, [5, 6, 7])
    assert example.prompt_ids == llama_model.encode(step.messages, step.tools)
    assert example.reply_ids == [5, 6, 7] and not example.gold
    assert example.step_type == StepType.TOOL_CALL
    with pytest.raises(ValueError, match="no end-of-turn token"):
        end_of_turn_id(SimpleNamespace(stop_token_ids=set(), name="no-eos"))


# -- LoRA training loop ---------------------------------------------------------------------------


def fresh_model() -> RoutedModel:
    model, tok = tiny_model("llama", n_layers=4)
    return RoutedModel(model, tok, name="tiny-llama")


def hand_examples(model) -> list[TrainExample]:
    eos = end_of_turn_id(model)
    pairs = [
        ("Weather in Oslo?", '{"city": "Oslo"}', StepType.TOOL_CALL, True),
        ("Weather in Rome?", '{"city": "Rome"}', StepType.TOOL_CALL, True),
        ("Plan a trip.", "1. Go\n2. See", StepType.PLANNING, False),
        ("2 + 2 = ?", "4", StepType.PLANNING, False),
    ]
    return [
        TrainExample(
            f"ex-{i}",
            step_type,
            model.encode(prompt),
            [*model.tokenizer(reply, add_special_tokens=False)["input_ids"], eos],
            gold=gold,
        )
        for i, (prompt, reply, step_type, gold) in enumerate(pairs)
    ]


LIBRARY = {
    StepType.TOOL_CALL: [LayerProgram.skip(4, [1]), LayerProgram.skip(4, [1, 2])],
    StepType.PLANNING: [LayerProgram.skip(4, [2])],
}
CONFIG = AdapterConfig(rank=4, alpha=8, lr=1e-2, warmup=1, accumulate=2, save_every=1, programs_per_example=1)


def lora_state(peft_model) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in peft_model.named_parameters() if "lora_" in n}


def log_rows(work) -> list[dict]:
    return [json.loads(line) for line in (work / "train_log.jsonl").read_text().splitlines() if line.strip()]


class Stop(Exception):
    pass


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One uninterrupted run: (work dir, LoRA weights after training, progress calls)."""
    work = tmp_path_factory.mktemp("train")
    model = fresh_model()
    calls = []
    peft_model = train_adapter(
        model, hand_examples(model), LIBRARY, CONFIG, work, seed=0, progress=lambda *a: calls.append(a)
    )
    return work, lora_state(peft_model), calls, peft_model


def test_train_adapter_logs_checkpoints_and_learns(trained):
    work, state, calls, peft_model = trained
    rows = log_rows(work)
    assert len(rows) == 4
    assert [r["example"] for r in rows] == [1, 2, 3, 4]
    assert sorted(r["id"] for r in rows) == ["ex-0", "ex-1", "ex-2", "ex-3"]
    for row in rows:
        assert {"ce_full", "ce_program", "kl", "lr", "elapsed_s", "type"} <= set(row)
        assert all(row[k] >= 0 for k in ("ce_full", "ce_program", "kl"))
        assert row["kl"] > 0, "every example trains one skip program"
    assert (work / "checkpoint").is_dir() and any((work / "checkpoint").iterdir())
    assert json.loads((work / "checkpoint.json").read_text())["examples_done"] == 4
    assert [c[:2] for c in calls] == [(1, 4), (2, 4), (3, 4), (4, 4)]
    # Two optimizer steps moved lora_B away from its zero init; the model is back in eval mode.
    assert any(v.abs().sum() > 0 for n, v in state.items() if "lora_B" in n)
    assert not peft_model.training


def test_train_adapter_resumes_a_finished_run(trained):
    work, state, _, _ = trained
    calls = []
    model = fresh_model()
    peft_model = train_adapter(
        model, hand_examples(model), LIBRARY, CONFIG, work, seed=0, progress=lambda *a: calls.append(a)
    )
    assert len(log_rows(work)) == 4, "a finished run is not trained again"
    assert calls == []
    resumed = lora_state(peft_model)
    assert resumed.keys() == state.keys()
    for name, value in state.items():
        torch.testing.assert_close(resumed[name], value, atol=0, rtol=0)


def test_interrupted_run_continues_where_it_stopped(tmp_path, trained):
    _, state, _, _ = trained

    def stop_after(n):
        def progress(done, total, loss):
            if done == n:
                raise Stop

        return progress

    model = fresh_model()
    with pytest.raises(Stop):
        train_adapter(model, hand_examples(model), LIBRARY, CONFIG, tmp_path, seed=0, progress=stop_after(2))
    stopped = json.loads((tmp_path / "checkpoint.json").read_text())
    assert stopped["examples_done"] == 2 and stopped["seconds"] > 0
    model = fresh_model()
    peft_model = train_adapter(model, hand_examples(model), LIBRARY, CONFIG, tmp_path, seed=0)
    rows = log_rows(tmp_path)
    assert [r["example"] for r in rows] == [1, 2, 3, 4]
    # The training time counts the stopped run's examples as well as the resumed run's.
    final = json.loads((tmp_path / "checkpoint.json").read_text())["seconds"]
    assert final >= stopped["seconds"] + rows[3]["elapsed_s"] - 0.011  # both runs' time (rounding)
    assert adapter_seconds(tmp_path) == round(final, 1)
    # The resumed run ends with the same weights as the uninterrupted one.
    resumed = lora_state(peft_model)
    for name, value in state.items():
        torch.testing.assert_close(resumed[name], value, atol=1e-6, rtol=1e-5)


def test_interrupted_between_checkpoints_logs_each_example_once(tmp_path, trained):
    _, state, _, _ = trained

    def stop_at_three(done, total, loss):
        if done == 3:  # example 3 is logged; the last checkpoint holds 2 examples
            raise Stop

    model = fresh_model()
    with pytest.raises(Stop):
        train_adapter(model, hand_examples(model), LIBRARY, CONFIG, tmp_path, seed=0, progress=stop_at_three)
    model = fresh_model()
    peft_model = train_adapter(model, hand_examples(model), LIBRARY, CONFIG, tmp_path, seed=0)
    resumed = lora_state(peft_model)
    for name, value in state.items():
        torch.testing.assert_close(resumed[name], value, atol=1e-6, rtol=1e-5)
    assert [r["example"] for r in log_rows(tmp_path)] == [1, 2, 3, 4]


def test_lora_from_trains_the_upper_layers_only(tmp_path):
    """``first_layer=2`` on 4 layers: LoRA modules in layers 2 and 3 only, they learn, and layers 0-1
    are the base model's (autograd records no graph there, so the backward stops at layer 2)."""
    model = fresh_model()
    before = {n: p.detach().clone() for n, p in model.hf_model.named_parameters()}
    config = replace(CONFIG, first_layer=2)
    graph = {}  # layer -> whether its output was part of the autograd graph

    def record(index):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            graph[index] = graph.get(index, False) or out.requires_grad

        return hook

    for index, layer in enumerate(model.hf_model.model.layers):
        layer.register_forward_hook(record(index))
    peft_model = train_adapter(model, hand_examples(model), LIBRARY, config, tmp_path, seed=0)
    assert graph == {0: False, 1: False, 2: True, 3: True}
    lora = lora_state(peft_model)
    layers = {int(re.search(r"layers\.(\d+)\.", name).group(1)) for name in lora}
    assert layers == {2, 3}
    assert any(v.abs().sum() > 0 for n, v in lora.items() if "lora_B" in n)
    for name, value in peft_model.named_parameters():
        if "lora_" not in name:
            base = name.replace("base_model.model.", "").replace(".base_layer", "")
            torch.testing.assert_close(value, before[base], atol=0, rtol=0)


@pytest.mark.parametrize("first_layer", [-1, 4])
def test_lora_from_outside_the_model_names_the_range(first_layer):
    with pytest.raises(AdapterSettingError, match=r"outside the model's 4 decoder layers; give 0 .* up to 3"):
        lora_config(replace(CONFIG, first_layer=first_layer), 4)


def test_every_example_is_backpropagated_by_default(trained):
    work, _, _, _ = trained
    assert [row["backward"] for row in log_rows(work)] == [True] * 4


def _whole_loss(row, gold: dict[str, bool]) -> float:
    """An example's loss as ``objective.example_loss`` sums it (program cross-entropy for gold only)."""
    return row["ce_full"] + row["kl"] + (row["ce_program"] if gold[row["id"]] else 0.0)


def test_skip_below_skips_the_backward_of_examples_already_learnt(tmp_path, trained):
    """Selective backprop: an example whose loss is under ``skip_below`` adds no gradient. The
    threshold sits between the run's losses, so some examples are skipped and others train."""
    work, _, _, _ = trained
    model = fresh_model()
    examples = hand_examples(model)
    gold = {example.id: example.gold for example in examples}
    losses = sorted(_whole_loss(row, gold) for row in log_rows(work))
    every = tmp_path / "every"
    every.mkdir()
    peft_model = train_adapter(model, examples, LIBRARY, replace(CONFIG, skip_below=1e9), every, seed=0)
    assert [row["backward"] for row in log_rows(every)] == [False] * 4
    assert all(v.abs().sum() == 0 for n, v in lora_state(peft_model).items() if "lora_B" in n), "nothing trained"
    middle = (losses[0] + losses[-1]) / 2
    model = fresh_model()
    some = tmp_path / "some"
    some.mkdir()
    train_adapter(model, hand_examples(model), LIBRARY, replace(CONFIG, skip_below=middle), some, seed=0)
    rows = log_rows(some)
    for row in rows:
        assert row["backward"] == (_whole_loss(row, gold) >= middle)
    assert {row["backward"] for row in rows} == {True, False}


def test_a_negative_skip_below_is_refused():
    with pytest.raises(AdapterSettingError, match=r"skip_below \(--skip-below\) is -0.5; give 0"):
        lora_config(replace(CONFIG, skip_below=-0.5), 4)


@pytest.mark.slow  # compiling the layers' forward and backward takes about 8 s on 2 cores
def test_compiled_layers_train_as_eager_ones_do_and_are_eager_afterwards(tmp_path, trained):
    """Compiling changes how the layers run, not what the adapter learns; inference runs eagerly after."""
    from torch._dynamo.utils import counters

    work, state, _, _ = trained
    model = fresh_model()
    counters.clear()
    peft_model = train_adapter(model, hand_examples(model), LIBRARY, replace(CONFIG, compile=True), tmp_path, seed=0)
    assert counters["stats"]["unique_graphs"] >= 1, "the layers ran compiled (one graph serves them all)"
    eager, compiled = log_rows(work), log_rows(tmp_path)
    for a, b in zip(eager, compiled, strict=True):
        for key in ("ce_full", "ce_program", "kl"):
            assert b[key] == pytest.approx(a[key], rel=2e-2, abs=2e-3)
    # Adam steps each weight by about lr whatever its gradient's size, so an element whose gradient
    # is near zero may step either way under another summation order: compare the updates as a whole.
    compiled_b = torch.cat([v.flatten() for n, v in sorted(lora_state(peft_model).items()) if "lora_B" in n])
    eager_b = torch.cat([v.flatten() for n, v in sorted(state.items()) if "lora_B" in n])  # lora_B starts at 0
    assert torch.nn.functional.cosine_similarity(compiled_b, eager_b, dim=0) > 0.95
    assert all(layer._compiled_call_impl is None for layer in model.parts.layers)
    assert torch._dynamo.config.suppress_errors is False, "dynamo's settings are the process's again"

    def stop_at_one(done, total, loss):
        raise Stop

    model, stopped = fresh_model(), tmp_path / "stopped"
    stopped.mkdir()
    with pytest.raises(Stop):
        train_adapter(model, hand_examples(model), LIBRARY, replace(CONFIG, compile=True), stopped, 0, stop_at_one)
    assert all(layer._compiled_call_impl is None for layer in model.parts.layers), "eager after a stopped run too"


# -- the whole pipeline, on a tiny checkpoint --------------------------------------------------------

WORD_TOOL = {
    "name": "lookup",
    "description": "Look a word up",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
}


def _train_dir(path):
    """A train.jsonl of short steps: tool calls with expected calls, final answers with gold texts,
    and planning and reasoning steps (distilled)."""
    rows = []
    for i, word in enumerate(["ocean", "tree", "cat", "rain", "stone", "river"]):
        rows.append({"id": f"t{i}", "step_type": "tool_call", "tools": [WORD_TOOL], "max_new_tokens": 8,
                     "messages": [{"role": "user", "content": f"look up {word}"}],
                     "expected": {"tool_calls": [{"name": "lookup", "arguments": {"word": word}}]}})  # fmt: skip
    for step_type in ("planning", "reasoning", "final_answer"):
        for i in range(3):
            rows.append({"id": f"{step_type}{i}", "step_type": step_type, "max_new_tokens": 8,
                         "messages": [{"role": "user", "content": f"{step_type} {i}: why?"}]})  # fmt: skip
            if step_type == "final_answer":
                rows[-1]["answer"] = f"It is {i}."
    path.mkdir()
    (path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _categorised(counts: dict[str, int]):
    steps = []
    for category, count in counts.items():
        for i in range(count):
            row = {"id": f"{category}-{i}", "step_type": "tool_call", "category": category,
                   "messages": [{"role": "user", "content": f"ask {i}"}], "tools": [WORD_TOOL],
                   "expected": {"tool_calls": [{"name": WORD_TOOL["name"], "arguments": {}}]}}  # fmt: skip
            steps.append(parse_step(row))
    random.Random(0).shuffle(steps)
    return steps


def test_a_tool_mix_sets_the_adapter_examples_shares_and_keeps_every_step():
    from agentroute.training.train_data import mixed_first

    steps = _categorised({"simple": 30, "parallel": 20, "multiple": 50})
    mixed = mixed_first(steps, 20, {"parallel": 0.5})
    first = [s.category for s in mixed[:20]]
    assert first.count("parallel") == 10 and first.count("simple") + first.count("multiple") == 10
    assert sorted(s.id for s in mixed) == sorted(s.id for s in steps)  # the rest follows, none lost
    order = {s.id: i for i, s in enumerate(steps)}
    assert [order[s.id] for s in mixed[:20]] == sorted(order[s.id] for s in mixed[:20])  # the split's order kept
    parallel = [s.id for s in steps if s.category == "parallel"]
    assert [s.id for s in mixed[:20] if s.category == "parallel"] == parallel[:10]


@pytest.mark.parametrize(
    ("mix", "message"),
    [
        ({"parallel": 0.9}, "asks for 18 of 20 examples; the data has 10"),
        ({"paralel": 0.5}, "names paralel, which no tool-call step"),
        ({"parallel": 0.5, "simple": 0.6}, "together at most 1"),
        ({"parallel": 0.0}, "above 0"),
        ({"simple": 0.1}, "leaves 18 of 20 examples to the other categories; the data has 10"),
    ],
)
def test_a_tool_mix_the_data_cannot_meet_is_refused(mix, message):
    from agentroute.training.train_data import mixed_first

    steps = _categorised({"simple": 30, "parallel": 10})
    with pytest.raises(AgentRouteError, match=message):
        mixed_first(steps, 20, mix)


def test_cached_replies_survive_a_line_cut_short_by_a_crash(llama_model, tmp_path):
    from agentroute.training.teacher import teacher_replies
    from agentroute.training.train_data import read_steps

    steps = [s for s in read_steps(_train_dir(tmp_path / "data") / "train.jsonl") if s.step_type == StepType.PLANNING]
    cache = tmp_path / "replies.jsonl"
    first = teacher_replies(llama_model, steps, cache, 3)
    lines = cache.read_text().splitlines()
    cache.write_text(lines[0] + "\n" + lines[1][:7])  # the second reply's line, cut mid-write
    assert teacher_replies(llama_model, steps, cache, 3) == first
    assert [json.loads(line)["id"] for line in cache.read_text().splitlines()] == [s.id for s in steps]


def test_train_pack_with_searched_programs(tmp_path, monkeypatch):
    """``agentroute train --programs``: searched skip programs join the pack's library, and a
    rerun into the same directory with another library is refused before any training."""
    from tiny_models import save_tiny

    from agentroute.loading import load
    from agentroute.model.calibration import weights_fingerprint
    from agentroute.pack import model_fingerprint
    from agentroute.program_library import PROGRAMS_FORMAT, ProgramEntry, ProgramsFile, write_programs
    from agentroute.training.pipeline import TrainConfig, train_pack

    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny(tmp_path / "model", "llama", n_layers=6)
    data = _train_dir(tmp_path / "data")
    base = load(str(model_dir))

    def programs(path, program):
        entry = ProgramEntry(budget=0.7, program=program, cost=len(program.split(",")) / 6, loops=False)
        write_programs(path, ProgramsFile(format=PROGRAMS_FORMAT, model=model_fingerprint(base),
                                          weights=weights_fingerprint(base),
                                          programs={StepType.TOOL_CALL: [entry]}))  # fmt: skip
        return str(path)

    # No question-call examples for the adapter (the default): such a run may take question-call
    # pairs later, for its step-type head only (below).
    config = TrainConfig(tool_examples=3, teacher_examples=1, answer_examples=2, router_tool_steps=2,
                         router_teacher_steps=1, type_steps=2, teacher_tokens=3,
                         programs=programs(tmp_path / "a.json", "0,2-3,5"))  # fmt: skip
    config.adapter.accumulate, config.adapter.warmup = 1, 1
    out = tmp_path / "pack"
    manifest = train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None)
    assert {"program": "0,2-3,5", "budget": round(4 / 6, 4)} in manifest["library"]["tool_call"]
    assert manifest["training"]["config"]["programs"] == config.programs
    # Final answers train on their gold texts (two of them), never on distilled base-model replies.
    distilled = {json.loads(line)["id"] for line in (out / "work" / "teacher.jsonl").read_text().splitlines()}
    assert distilled and not any(i.startswith("final_answer") for i in distilled)
    logged = [json.loads(line) for line in (out / "work" / "train_log.jsonl").read_text().splitlines()]
    assert sum(row["type"] == "final_answer" for row in logged) == 2 and manifest["training"]["examples"] == 7
    loaded = load(str(model_dir), pack=str(out))
    assert "0,2-3,5" in [str(p) for p in loaded.pack.library[StepType.TOOL_CALL]]
    # The reply store: the pack's own replies on free-text train steps, one per step, cached for --resume.
    stored = (out / "work" / "replies.jsonl").read_text().splitlines()
    assert manifest["replies"]["count"] == len(loaded.reply_store) == len(stored) > 0
    assert manifest["replies"]["tokens"] == sum(len(json.loads(line)["reply_ids"]) for line in stored)

    # A rerun of the same command resumes every cached stage; the reported time is that of both runs.
    # Length-matched pairs added to the data join the step-type rows; the safety labels (a pass per
    # program per step) are not computed again, since their steps did not change.
    first = manifest["training"]
    pair = [
        {
            "id": f"lm-train-00000-{t}",
            "step_type": t,
            "tools": [WORD_TOOL],
            "max_new_tokens": 8,
            "messages": [{"role": "user", "content": f"{t}: the word sea"}],
        }
        for t in ("tool_call", "planning")
    ]
    pair[0]["expected"] = {"tool_calls": [{"name": "lookup", "arguments": {"word": "sea"}}]}
    (data / "train_length_matched.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pair))
    # So do question-call pairs (a question the tool answers: a call; one it does not: reasoning).
    asked = [{**pair[0], "id": "qc-train-00000-tool_call", "messages": [{"role": "user", "content": "What is sea?"}]}]
    asked.append({**pair[1], "id": "qc-train-00000-reasoning", "step_type": "reasoning"})
    (data / "train_question_calls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in asked))
    monkeypatch.setattr("agentroute.training.router_rows.safety_labels", lambda *a: pytest.fail("safety labels redone"))
    with pytest.raises(AgentRouteError, match="already holds a training run; pass --resume"):
        train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None)
    rerun = train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None, resume=True)
    assert rerun["metrics"]["type_rows"] == manifest["metrics"]["type_rows"] + 4
    assert {"train_length_matched_sha256", "train_question_calls_sha256"} <= set(rerun["data"])
    again = rerun["training"]
    assert again["runs"] == 2 and again["total_seconds"] >= first["total_seconds"]
    targets = json.loads((out / "adapter" / "adapter_config.json").read_text())["target_modules"]
    assert targets == sorted(targets)  # peft writes a set: sorted, reruns write the same file
    assert again["adapter_seconds"] >= first["adapter_seconds"] and again["peak_rss_mb"] >= first["peak_rss_mb"]

    config.programs = programs(tmp_path / "b.json", "0-1,4-5")
    with pytest.raises(AgentRouteError, match="another program library"):
        train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None, resume=True)
    config.programs = programs(tmp_path / "a.json", "0,2-3,5")
    config.adapter.lr = 5e-4
    with pytest.raises(AgentRouteError, match=r"another training settings \(adapter: .*'lr': 0.0005"):
        train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None, resume=True)
    config.adapter.lr = 1e-3
    other = tmp_path / "other_data"
    shutil.copytree(data, other)
    with (other / "train.jsonl").open("a") as handle:
        handle.write((data / "train.jsonl").read_text().splitlines()[0].replace('"id": "', '"id": "x') + "\n")
    with pytest.raises(AgentRouteError, match="another training data"):
        train_pack(str(model_dir), other, out, config, "agentroute train (test)", lambda *a: None, resume=True)


def _question_call_pair(word: str) -> list[dict]:
    asked = {"id": "qc-train-00000-tool_call", "step_type": "tool_call", "tools": [WORD_TOOL], "max_new_tokens": 8,
             "messages": [{"role": "user", "content": f"What does {word} mean?"}],
             "expected": {"tool_calls": [{"name": "lookup", "arguments": {"word": word}}]}}  # fmt: skip
    reasoned = {**asked, "id": "qc-train-00000-reasoning", "step_type": "reasoning", "expected": None}
    reasoned["messages"] = [{"role": "user", "content": "Two words at 3 letters each: how many letters?"}]
    return [asked, {k: v for k, v in reasoned.items() if v is not None}]


def test_the_adapter_trains_on_question_calls_and_a_resumed_run_keeps_them(tmp_path, monkeypatch):
    """The tool-call steps of the question-call pairs join the adapter's examples; resuming with
    other pairs is refused (the checkpoint trained on these), and a run recorded before the setting
    existed resumes with none."""
    from tiny_models import save_tiny

    from agentroute.training.pipeline import TrainConfig, train_pack
    from agentroute.training.run_state import RUN_FILE

    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny(tmp_path / "model", "llama", n_layers=4)
    data = _train_dir(tmp_path / "data")
    (data / "train_question_calls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _question_call_pair("sea")))
    config = TrainConfig(tool_examples=3, teacher_examples=1, answer_examples=2, router_tool_steps=2,
                         router_teacher_steps=1, type_steps=2, teacher_tokens=3, reply_steps=0,
                         question_call_examples=200)  # fmt: skip
    config.adapter.accumulate, config.adapter.warmup = 1, 1
    out = tmp_path / "pack"
    manifest = train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None)
    logged = [json.loads(line)["id"] for line in (out / "work" / "train_log.jsonl").read_text().splitlines()]
    assert manifest["training"]["examples"] == 8 and "qc-train-00000-tool_call" in logged
    assert manifest["training"]["config"]["question_call_examples"] == 200
    (data / "train_question_calls.jsonl").write_text("".join(json.dumps(r) + "\n" for r in _question_call_pair("sky")))
    with pytest.raises(AgentRouteError, match="another training data.*train_question_calls_sha256"):
        train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None, resume=True)
    # A run recorded before the setting existed trained without question calls, and resumes so.
    run = json.loads((out / "work" / RUN_FILE).read_text())
    del run["config"]["question_call_examples"], run["data"]["train_question_calls_sha256"]
    (out / "work" / RUN_FILE).write_text(json.dumps(run))
    (out / "work" / "checkpoint.json").unlink()  # its adapter retrains, on the examples of such a run
    resumed = train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None, resume=True)
    assert resumed["training"]["examples"] == 7 and resumed["training"]["config"]["question_call_examples"] == 0


def test_train_pack_fits_a_no_tool_fits_head_on_data_that_has_such_rows(tmp_path, monkeypatch):
    """Data with tool-call steps whose gold reply is words (no expected call): the pack gets a
    no-tool-fits head, read at two thirds of the model's depth, and loads with it; its rows are
    cached, so a resumed run does not compute them again."""
    from tiny_models import save_tiny

    from agentroute.loading import load
    from agentroute.training.pipeline import TrainConfig, train_pack

    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny(tmp_path / "model", "llama", n_layers=6)
    data = _train_dir(tmp_path / "data")
    rows = [
        {"id": f"d{i}", "step_type": "tool_call", "tools": [WORD_TOOL], "max_new_tokens": 8,
         "messages": [{"role": "system", "content": "Use tools."}, {"role": "user", "content": request}],
         "expected": {"tool_calls": []}, "answer": "None of my tools can do that."}
        for i, request in enumerate(["book a flight", "hi", "sing", "order pizza", "call mom", "thanks", "dance"])
    ]  # fmt: skip
    with (data / "train.jsonl").open("a") as handle:
        handle.write("".join(json.dumps(r) + "\n" for r in rows))
    config = TrainConfig(tool_examples=2, teacher_examples=1, answer_examples=2, router_tool_steps=1,
                         router_teacher_steps=1, type_steps=2, teacher_tokens=3,
                         reply_steps=2, reply_tokens=5)  # fmt: skip
    config.adapter.accumulate, config.adapter.warmup = 1, 1
    out = tmp_path / "pack"
    manifest = train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None)
    assert manifest["decline"]["layer"] == 4 and 0 < manifest["decline"]["threshold"] < 1
    assert manifest["metrics"]["decline_rows"] == 13 - 3  # the tool-call steps after the adapter's and router's
    loaded = load(str(model_dir), pack=str(out))
    assert loaded.pack.decline_head is not None
    step = loaded.generate([{"role": "user", "content": "sing"}], tools=[WORD_TOOL], step_type="tool_call",
                           max_new_tokens=4)  # fmt: skip
    assert step.record.no_tool_fits_probability is not None
    monkeypatch.setattr("agentroute.training.decline_rows.prompt_hidden", lambda *a: pytest.fail("rows redone"))
    again = train_pack(str(model_dir), data, out, config, "agentroute train (test)", lambda *a: None, resume=True)
    assert again["decline"] == manifest["decline"]

    # A pack whose work files are gone gets its reply store again from its own settings and data:
    # the same steps, so the same replies; other data is refused by name.
    from agentroute.training.pack_store import add_reply_store

    stored = (out / "replies.safetensors").read_bytes()
    shutil.rmtree(out / "work")
    (out / "replies.safetensors").unlink()
    rebuilt = add_reply_store(str(model_dir), data, out, lambda *a: None)
    assert rebuilt["replies"] == again["replies"] and (out / "replies.safetensors").read_bytes() == stored
    assert rebuilt["replies"]["count"] == 6 and rebuilt["replies"]["max_new_tokens"] == 5  # the pack's settings
    with pytest.raises(AgentRouteError, match="no train.jsonl"):
        add_reply_store(str(model_dir), tmp_path / "nowhere", out, lambda *a: None)
    assert json.loads((out / "pack.json").read_text())["replies"] == again["replies"]
    with (data / "train.jsonl").open("a") as handle:
        handle.write(json.dumps({**rows[0], "id": "d-extra"}) + "\n")
    with pytest.raises(AgentRouteError, match="is not the data .* was trained on"):
        add_reply_store(str(model_dir), data, out, lambda *a: None)


def test_malformed_training_rows_are_refused_with_their_line_and_reason(tmp_path):
    from agentroute.training.pipeline import TrainConfig, train_pack

    data = _train_dir(tmp_path / "data")
    rows = (data / "train.jsonl").read_text().splitlines()
    rows[2] = rows[2].replace('"messages"', '"mesages"')
    rows.insert(4, "{not json")
    (data / "train.jsonl").write_text("\n".join(rows) + "\n")
    with pytest.raises(AgentRouteError, match=r"2 bad line\(s\), first: line 3 \(.*\): the step has no 'messages'"):
        train_pack("default", data, tmp_path / "pack", TrainConfig(), "test", lambda *a: None)
    assert not (tmp_path / "pack" / "work" / "run.json").exists()  # refused before anything started


def test_a_work_folder_from_before_run_records_needs_resume(tmp_path):
    from agentroute.training.run_state import ResumeError, check_run

    work = tmp_path / "work"
    work.mkdir()
    (work / "teacher.jsonl").write_text("")
    identity = {"model": {"name": "a", "embedding_probe": [0.5]}, "data": {"train_sha256": "x"}, "config": {"lr": 1}}
    with pytest.raises(ResumeError, match="from before runs were recorded: teacher.jsonl.*pass --resume"):
        check_run(work, identity, resume=False)
    check_run(work, identity, resume=True)  # continued, and recorded from now on
    # The same model under another name or path, and a setting a later version added: still the run.
    renamed = {**identity, "model": {"name": "/path/to/a.gguf", "embedding_probe": [0.5]}}
    check_run(work, {**renamed, "config": {"lr": 1, "added_later": True}}, resume=True)
    with pytest.raises(ResumeError, match="another base model \\(its embedding_probe differ"):
        check_run(work, {**identity, "model": {"name": "a", "embedding_probe": [0.9]}}, resume=True)
