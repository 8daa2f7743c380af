import json

import pytest
from tiny_models import save_tiny

from agentroute.cli.main import main


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("cli-model"), "qwen2", n_layers=6)


def test_generate_json(tiny_dir, capsys):
    code = main(
        ["generate", "hello there", "--model", str(tiny_dir), "--program", "0-1,4-5", "--max-new-tokens", "5", "--json"]
    )
    assert code == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["record"]["program"] == "0-1,4-5"
    assert payload["record"]["layers_per_token"] == 4
    assert payload["record"]["completion_tokens"] == len(payload["token_ids"]) <= 5


def test_generate_table(tiny_dir, capsys):
    assert main(["generate", "hello", "--model", str(tiny_dir), "--program", "0-2,2-5", "--max-new-tokens", "3"]) == 0
    out = capsys.readouterr().out
    assert "layers_per_token" in out and "0-2,2-5" in out


def test_bad_program_is_a_clear_error_not_a_traceback(tiny_dir, capsys):
    assert main(["generate", "hi", "--model", str(tiny_dir), "--program", "0-40"]) == 2
    err = capsys.readouterr().err
    assert "out of range" in err and "Traceback" not in err


def test_train_refuses_a_negative_reply_store_size(tmp_path, capsys):
    (tmp_path / "train.jsonl").write_text("")
    code = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "pack"), "--reply-steps", "-1"])
    assert code != 0
    assert "--reply-steps must be 0 (no reply store) or more, got -1" in capsys.readouterr().err


@pytest.fixture
def train_configs(tmp_path, monkeypatch):
    """(the `train` command's arguments for an empty data folder, the TrainConfigs it passes on):
    ``pipeline.train_pack`` only records its config, so no model loads."""
    from agentroute.training import pipeline

    seen = []
    monkeypatch.setattr(
        pipeline,
        "train_pack",
        lambda model, data, out, config, *rest: seen.append(config) or {"training": {}, "metrics": {}},
    )
    (tmp_path / "train.jsonl").write_text("")
    return ["train", "--data", str(tmp_path), "--out", str(tmp_path / "pack")], seen


def test_train_compiles_the_layers_unless_told_otherwise(train_configs):
    base, seen = train_configs
    for extra in ([], ["--no-compile"], ["--skip-below", "0.05"]):
        main(base + extra)
    assert [(c.adapter.compile, c.adapter.skip_below) for c in seen] == [(True, 0.0), (False, 0.0), (True, 0.05)]


def test_train_refuses_a_negative_skip_below(tmp_path, capsys):
    (tmp_path / "train.jsonl").write_text("")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "pack"), "--skip-below", "-1"]) != 0
    assert "--skip-below must be 0 (backpropagate every example) or a loss above 0, got -1.0" in capsys.readouterr().err


def test_train_backpropagates_through_the_prompt_unless_told_otherwise(train_configs):
    """The adapter trains with gradients through the prompt by default; --detach-prompt encodes it
    without, and the two flags together are refused by the parser."""
    base, seen = train_configs
    for extra in ([], ["--detach-prompt"], ["--prompt-grad"]):
        main(base + extra)
    assert [config.adapter.prompt_grad for config in seen] == [True, False, True]
    with pytest.raises(SystemExit):
        main([*base, "--detach-prompt", "--prompt-grad"])


def test_train_passes_lora_from_and_programs_per_example_to_the_adapter(train_configs):
    base, seen = train_configs
    main(base)
    main([*base, "--lora-from", "15", "--programs-per-example", "1", "--question-call-examples", "200"])
    assert [(c.adapter.first_layer, c.adapter.programs_per_example) for c in seen] == [(0, 2), (15, 1)]
    assert [c.question_call_examples for c in seen] == [0, 200]
    main([*base, "--tool-mix", "parallel=0.4, no_tool_fits=0.1"])
    assert [c.tool_mix for c in seen] == [None, None, {"parallel": 0.4, "no_tool_fits": 0.1}]


@pytest.mark.parametrize("mix", ["parallel", "parallel=many", ","])
def test_train_refuses_a_tool_mix_it_cannot_read(tmp_path, capsys, mix):
    (tmp_path / "train.jsonl").write_text("")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "pack"), "--tool-mix", mix]) != 0
    assert "--tool-mix" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--lora-from", "--programs-per-example", "--question-call-examples"])
def test_train_refuses_negative_adapter_counts(tmp_path, capsys, flag):
    (tmp_path / "train.jsonl").write_text("")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "pack"), flag, "-1"]) != 0
    assert f"{flag} must be 0" in capsys.readouterr().err


@pytest.mark.parametrize(
    "flag",
    [
        ["--reply-steps", "5"],
        ["--resume"],
        ["--said-values"],
        ["--no-said-values"],
        ["--seed", "3"],
        ["--prompt-grad"],
        ["--programs-per-example", "0"],
        ["--question-call-examples", "200"],
    ],
)
def test_store_only_takes_the_packs_settings_not_new_ones(tmp_path, capsys, flag):
    (tmp_path / "train.jsonl").write_text("")
    code = main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "pack"), "--store-only", *flag])
    assert code != 0
    err = capsys.readouterr().err
    assert f"--store-only uses the settings {tmp_path / 'pack'}/pack.json records; drop {flag[0]}" in err


def test_store_only_needs_a_pack_already_written(tmp_path, capsys):
    (tmp_path / "train.jsonl").write_text("")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "pack"), "--store-only"]) != 0
    assert "holds no pack.json: --store-only adds a reply store to a pack already written" in capsys.readouterr().err
