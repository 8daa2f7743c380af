"""Program search (issue #6): the fidelity scorer, the beam, loops, baselines, the programs file, the CLI."""

import json

import pytest
from tiny_models import save_tiny

from agentroute.cli.main import main
from agentroute.evaluation.metrics import forced_agreement
from agentroute.evaluation.steps import EvalError, parse_step
from agentroute.model.program import LayerProgram
from agentroute.program_library import (
    PROGRAMS_FORMAT,
    ProgramEntry,
    ProgramsError,
    ProgramsFile,
    load_library,
    read_programs,
    write_programs,
)
from agentroute.search import SearchConfig, search
from agentroute.search import run as search_run
from agentroute.search.baselines import angular_block, block_influence, early_exit, layers_for_budget, random_skips
from agentroute.search.beam import descend, loop_candidates, search_loops
from agentroute.search.fidelity import FidelityScorer
from agentroute.steps.records import StepType

TOOL = {
    "name": "lookup",
    "description": "Look a word up",
    "parameters": {"type": "object", "properties": {"word": {"type": "string"}}, "required": ["word"]},
}
PROMPTS = ["look up the word ocean", "what does cat mean?", "define the verb to run", "spell tree backwards"]


def step_dicts(step_type="tool_call", n=4, tokens=6):
    return [
        {"id": f"s{i}", "step_type": step_type, "max_new_tokens": tokens, "tools": [TOOL],
         "messages": [{"role": "user", "content": PROMPTS[i % len(PROMPTS)] + "!" * i}]}
        for i in range(n)
    ]  # fmt: skip


@pytest.fixture(scope="module")
def scorer(llama_model):
    return FidelityScorer(llama_model, [parse_step(d) for d in step_dicts()], max_new_tokens=6)


def test_full_program_agrees_fully(scorer, llama_model):
    result = scorer.score(LayerProgram.full(llama_model.n_layers))
    assert result.agreement == 1.0
    assert all(a == 1.0 for a in result.per_step)


@pytest.mark.parametrize("spec", ["0-1,3-5", "0,2,4-5", "0-3", "0-2,2-5", "0-1,1,1,4-5"])
def test_scores_equal_forced_agreement_of_the_evaluator(scorer, llama_model, spec):
    """The scorer's fast path (cached prompt, trails) must give what ``agentroute eval`` measures."""
    program = llama_model.program(spec)
    scorer.set_trail(llama_model.program("0-2,4-5"))  # shares a prefix with some of the programs
    expected = [forced_agreement(llama_model, ref.prompt_ids, program, ref.reply_ids) for ref in scorer.references]
    assert list(scorer.score(program).per_step) == pytest.approx(expected)


def test_trail_resume_equals_a_fresh_pass(scorer, llama_model):
    program = llama_model.program("0-2,4-5")
    for ref in scorer.references:
        ref.trail = None
    fresh = scorer.score(program)
    scorer.set_trail(llama_model.program("0-3,5"))
    resumed = scorer.score(program)
    assert resumed.agreement == fresh.agreement
    assert resumed.nll == pytest.approx(fresh.nll, rel=1e-5)


def test_own_prefill_of_the_full_program_changes_nothing(scorer, llama_model):
    full = LayerProgram.full(llama_model.n_layers)
    assert scorer.score(full, own_prefill=True).agreement == 1.0


def test_subset_scores_only_those_steps(scorer, llama_model):
    assert len(scorer.score(llama_model.program("0-1,3-5"), subset=[0, 2]).per_step) == 2


def test_descend_keeps_protected_layers_and_is_deterministic(scorer, llama_model):
    protected = {0, 5}
    first = descend(scorer, 3, protected, width=2)
    assert sorted(first) == [3, 4, 5]
    for count, best in first.items():
        assert len(best.program) == count and not best.program.loops
        assert protected <= set(best.program.layers)
    again = descend(scorer, 3, protected, width=2)
    assert {k: v.program for k, v in again.items()} == {k: v.program for k, v in first.items()}


def test_descend_stops_when_only_protected_layers_remain(scorer):
    result = descend(scorer, 1, {0, 1, 2, 3, 4}, width=1)
    assert sorted(result) == [5]


def test_loop_candidates_repeat_one_unprotected_layer():
    base = LayerProgram((0, 2, 3, 5), 6)
    candidates = loop_candidates(base, {0, 5})
    assert [str(c) for c in candidates] == ["0,2,2-3,5", "0,2-3,3,5"]
    assert all(c.loops and len(c) == len(base) + 1 for c in candidates)


def test_search_loops_returns_finalists_best_first(scorer):
    found = search_loops(scorer, LayerProgram((0, 2, 3, 5), 6), {0, 5}, screen_steps=2, finalists=2)
    assert len(found) == 2 and all(s.program.loops for s in found)
    assert found[0].fidelity.key() >= found[1].fidelity.key()


def test_baselines(scorer):
    stats = scorer.stats
    assert len(stats.influence) == 6 and all(len(last) == 7 for last in stats.last_inputs)
    block = angular_block(stats, 6, 3, {0, 5})
    skipped = block.skipped
    assert len(skipped) == 3 and list(skipped) == list(range(skipped[0], skipped[0] + 3)) and 0 not in skipped
    assert len(block_influence(stats, 6, 4, {0, 5})) == 4
    assert str(early_exit(6, 4)) == "0-3"
    first, second = random_skips(6, 4, {0, 5}, seed=3, count=2), random_skips(6, 4, {0, 5}, seed=3, count=2)
    assert first == second and all({0, 5} <= set(p.layers) and len(p) == 4 for p in first)
    assert layers_for_budget(30, 0.6) == 18 and layers_for_budget(30, 0.8) == 24
    with pytest.raises(ValueError, match="protected"):
        angular_block(stats, 6, 1, {0, 3, 5})


@pytest.fixture
def steps_file(tmp_path):
    path = tmp_path / "dev.jsonl"
    lines = step_dicts("tool_call", 3) + step_dicts("planning", 2)
    for i, line in enumerate(lines):
        line["id"] = f"step-{i}"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    return path


def test_search_report_is_cached_and_reproducible(llama_model, steps_file, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    config = SearchConfig(steps=2, max_new_tokens=4, width=1, screen_steps=1, finalists=1)
    report = search(llama_model, steps_file, StepType.TOOL_CALL, [0.7, 0.5], seed=1, config=config)
    assert set(report["budgets"]) == {"0.7", "0.5"} and len(report["data"]["steps"]) == 2
    for entry in report["budgets"].values():
        assert entry["chosen"]["cost"] <= entry["budget"] + 1e-9
        assert set(entry["baselines"]) == {"angular_block", "block_influence", "early_exit", "random"}
    # At 0.7 (4 layers) loops repeat a layer of the best 3-layer program; at 0.5 that program keeps
    # only the protected layers, so there is nothing to repeat.
    loop, skip = report["budgets"]["0.7"]["best_loop"], report["budgets"]["0.7"]["best_skip"]
    assert loop["loops"] and loop["cost"] == skip["cost"] == 4 / 6
    assert report["budgets"]["0.5"]["best_loop"] is None

    def no_scoring(*args, **kwargs):
        raise AssertionError("a cached search must not score again")

    monkeypatch.setattr(search_run, "FidelityScorer", no_scoring)
    assert search(llama_model, steps_file, StepType.TOOL_CALL, [0.5, 0.7], seed=1, config=config) == report


def test_search_needs_steps_of_the_type(llama_model, steps_file, tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(EvalError, match="no reasoning steps"):
        search(llama_model, steps_file, StepType.REASONING, [0.5])
    with pytest.raises(EvalError, match="no steps file"):
        search(llama_model, tmp_path / "missing.jsonl", StepType.TOOL_CALL, [0.5])


def programs_file(model, entries):
    from agentroute.model.calibration import weights_fingerprint
    from agentroute.pack import model_fingerprint

    return ProgramsFile(format=PROGRAMS_FORMAT, model=model_fingerprint(model), weights=weights_fingerprint(model),
                        programs=entries)  # fmt: skip


def entry(budget, program):
    return ProgramEntry(budget=budget, program=program, cost=len(program.split(",")) / 6, loops=False)


def test_programs_file_merges_and_routes(llama_model, tmp_path):
    path = tmp_path / "programs.json"
    write_programs(path, programs_file(llama_model, {StepType.TOOL_CALL: [entry(0.5, "0,2,5"), entry(0.8, "0-3,5")]}))
    write_programs(path, programs_file(llama_model, {StepType.TOOL_CALL: [entry(0.8, "0-2,4-5")],
                                                     StepType.PLANNING: [entry(0.9, "0-4")]}))  # fmt: skip
    data = read_programs(path)
    assert [e.program for e in data.programs[StepType.TOOL_CALL]] == ["0,2,5", "0-2,4-5"]
    library = load_library(llama_model, path)
    assert str(library.choose(StepType.TOOL_CALL, 0.85)) == "0-2,4-5"
    assert str(library.choose(StepType.TOOL_CALL, 0.6)) == "0,2,5"
    assert library.choose(StepType.TOOL_CALL, 0.4) is None
    assert library.choose(StepType.REASONING, 0.9) is None

    llama_model.use_programs(path)
    try:
        result = llama_model.generate("look up ocean", step_type="tool_call", budget=0.8, max_new_tokens=3)
        assert result.record.program == "0-2,4-5"
        fallback = llama_model.generate("why?", step_type="reasoning", budget=0.5, max_new_tokens=3)
        assert fallback.record.program == str(llama_model.router.program_for(0.5))
    finally:
        llama_model.use_programs(None)


def test_programs_file_errors(llama_model, tmp_path):
    with pytest.raises(ProgramsError, match="no programs file"):
        read_programs(tmp_path / "none.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ProgramsError, match="not a valid programs file"):
        read_programs(bad)
    other = programs_file(llama_model, {})
    other.model["n_layers"] = 30
    path = tmp_path / "other.json"
    write_programs(path, other)
    with pytest.raises(ProgramsError, match="another model.*n_layers"):
        load_library(llama_model, path)
    with pytest.raises(ProgramsError, match="another model"):
        write_programs(path, programs_file(llama_model, {}))


def test_search_command_writes_a_programs_file(tmp_path, steps_file, monkeypatch, capsys):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny(tmp_path / "model", "qwen2", n_layers=5)
    out = tmp_path / "programs.json"
    args = ["search", "--model", str(model_dir), "--data", str(steps_file), "--step-type", "planning",
            "--budget", "0.6", "--steps", "2", "--width", "1", "--no-loops", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    data = read_programs(out)
    (chosen,) = data.programs[StepType.PLANNING]
    assert chosen.budget == 0.6 and len(LayerProgram.parse(chosen.program, 5)) == 3 and not chosen.loops
    assert "planning" in capsys.readouterr().out
    assert main([*args[:-1], str(tmp_path / "b.json"), "--budget", "1.5"]) == 2
    assert main([*args[:-1], str(tmp_path / "c.json"), "--step-type", "chatting"]) == 2


def test_benchmark_report_measures_every_method_on_test_steps(llama_model, tmp_path, monkeypatch):
    from agentroute.bench.programs import METHODS, markdown
    from agentroute.bench.programs import run as bench_run

    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    data = tmp_path / "data"
    data.mkdir()
    for split in ("dev", "test"):
        lines = [*step_dicts("tool_call", 3, 4), *step_dicts("planning", 3, 4)]
        for line in lines:
            line["id"] = f"{split}-{line['step_type']}-{line['id']}"
            if line["step_type"] == "tool_call":
                line["expected"] = {"tool_calls": [{"name": "lookup", "arguments": {"word": "ocean"}}]}
        (data / f"{split}.jsonl").write_text("\n".join(json.dumps(d) for d in lines) + "\n")
    config = SearchConfig(steps=2, max_new_tokens=4, width=1, screen_steps=1, finalists=1)
    report = bench_run(llama_model, data, per_type=2, config=config, correctness=0.5)
    table = markdown(json.loads(json.dumps(report)))  # what the script writes and reads back
    tool_row = report["step_types"]["tool_call"]["budgets"]["0.6"]
    assert "search (correctness)" in tool_row and all(0 <= r["correct_agreement"] <= 1 for r in tool_row.values())
    assert "search (correctness)" not in report["step_types"]["planning"]["budgets"]["0.6"]  # no answers to score
    assert "| tool_call | 0.6 | search (correctness 0.5) |" in table and "test correct" in table
    for step_type in ("tool_call", "planning"):
        entry = report["step_types"][step_type]
        assert set(entry["dev_steps"]).isdisjoint(entry["test_steps"])
        assert all(s.startswith("test-") for s in entry["test_steps"])
        row = entry["budgets"]["0.6"]
        assert set(row) <= {*METHODS, "search (correctness)"} and {"search", "early_exit", "random"} <= set(row)
        assert all(0 <= row[m]["forced_agreement"] <= 1 and "token_agreement" in row[m] for m in row)
        assert f"| {step_type} | 0.6 | search |" in table


def test_default_programs_ship_with_the_package(llama_model):
    data = read_programs("default")  # no model needed to read it
    assert data.format == PROGRAMS_FORMAT and data.model["n_layers"] == 30
    for entries in data.programs.values():
        assert all(e.cost <= e.budget + 1e-9 for e in entries)
    with pytest.raises(ProgramsError, match="another model"):
        load_library(llama_model, "default")  # searched for SmolLM2-135M, not a tiny model


def test_correctness_scores_programs_against_the_expected_calls(llama_model):
    """With a correctness weight, steps that carry ``expected`` calls are also scored against them
    (the same teacher-forced pass as fidelity), and the ranking weighs both."""
    from agentroute.training.examples import gold_reply

    dicts = step_dicts()
    for d, word in zip(dicts, ["ocean", "cat", "run", "tree"], strict=True):
        d["expected"] = {"tool_calls": [{"name": "lookup", "arguments": {"word": word}}]}
    steps = [parse_step(d) for d in dicts]
    plain = FidelityScorer(llama_model, steps, max_new_tokens=6)
    scored = FidelityScorer(llama_model, steps, max_new_tokens=6, correctness=0.5)
    scored.set_trail(llama_model.program("0-2,4-5"))  # the answer passes resume from their own trail
    for spec in ("0-5", "0-1,3-5", "0-2,4-5", "0-2,5", "0-2,2-5"):
        program = llama_model.program(spec)
        a, b = plain.score(program), scored.score(program)
        assert a.gold_agreement is None and a.key() == (round(a.agreement, 9), -a.nll)
        assert (b.agreement, b.nll) == pytest.approx((a.agreement, a.nll))  # fidelity itself is unchanged
        gold = [
            forced_agreement(llama_model, ref.prompt_ids, program, gold_reply(llama_model, step))
            for ref, step in zip(scored.references, steps, strict=True)
        ]
        assert b.gold_agreement == pytest.approx(sum(gold) / len(gold))
        assert b.key()[0] == pytest.approx(0.5 * b.agreement + 0.5 * b.gold_agreement)
        assert set(b.to_dict()) == {"agreement", "nll", "gold_agreement", "gold_nll"}
    with pytest.raises(ValueError, match="correctness weight"):
        FidelityScorer(llama_model, steps, correctness=1.5)


def test_correctness_is_part_of_the_cache_key_only_when_used(llama_model, steps_file):
    key = search_run._cache_key
    args = (llama_model, steps_file, StepType.TOOL_CALL, [0.6], 0)
    plain = key(*args, SearchConfig(), {0, 5})
    assert key(*args, SearchConfig(correctness=0.0), {0, 5}) == plain
    assert key(*args, SearchConfig(correctness=0.5), {0, 5}) != plain


def test_search_command_with_correctness(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    model_dir = save_tiny(tmp_path / "model", "llama", n_layers=5)
    steps = step_dicts("tool_call", 3, 4)
    for line in steps:
        line["expected"] = {"tool_calls": [{"name": "lookup", "arguments": {"word": "ocean"}}]}
    data = tmp_path / "dev.jsonl"
    data.write_text("\n".join(json.dumps(d) for d in steps) + "\n")
    out = tmp_path / "programs.json"
    args = ["search", "--model", str(model_dir), "--data", str(data), "--step-type", "tool_call", "--budget", "0.6",
            "--steps", "2", "--width", "1", "--no-loops", "--out", str(out)]  # fmt: skip
    assert main([*args, "--correctness", "0.5"]) == 0
    (chosen,) = read_programs(out).programs[StepType.TOOL_CALL]
    assert 0 <= chosen.dev["gold_agreement"] <= 1 and chosen.search["config"]["correctness"] == 0.5
    assert main([*args, "--correctness", "1.5"]) == 2
