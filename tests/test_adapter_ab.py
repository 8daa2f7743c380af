"""The adapter A/B bench (``agentroute.bench.adapter_ab``) runs end to end on a tiny model, in each
tool style, and its training prompts are shorter with signatures."""

from __future__ import annotations

import pytest
from tiny_models import tiny_model

from agentroute.bench.adapter_ab import run_arm
from agentroute.data import BuildConfig, build_dataset
from agentroute.routed_model import RoutedModel


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("agentsteps")
    build_dataset(out, BuildConfig(train=40, dev=12, test=10, length_matched=0, train_length_matched=0))
    return out


def test_each_arm_trains_and_scores_the_dev_split(data_dir):
    results = {}
    for style in ("json", "signature"):
        hf, tok = tiny_model("llama", n_layers=4)
        results[style] = run_arm(RoutedModel(hf, tok, name="tiny4"), data_dir, 2, style, log=print, dev_limit=2)
    for style, result in results.items():
        assert result["tool_style"] == style and result["examples"] == 2 and result["dev_steps"] > 0
        assert result["dev_cross_entropy"] > 0 and 0 <= result["dev_token_accuracy"] <= 1
    assert results["signature"]["train_prompt_tokens_median"] < results["json"]["train_prompt_tokens_median"]
