"""The pass-costs benchmark (benchmarks/pass_costs.py) measures and writes what the docs table shows."""

import json

from tiny_models import tiny_model

from agentroute import RoutedModel
from agentroute.bench import pass_costs


def test_measure_and_table_on_a_tiny_model(monkeypatch):
    monkeypatch.setattr(pass_costs, "DEPTHS", (3, 2))  # the tiny model has 4 layers
    model = RoutedModel(*tiny_model("llama", n_layers=4), name="tiny")
    row = pass_costs._measure(model, context_tokens=24, repeats=1)
    assert row["one_token_ms"] > 0 and row["prefill_s"] > 0
    assert set(row["chunk_relative"]) == {str(n) for n in pass_costs.CHUNKS[1:]}
    assert set(row["first_layers_relative"]) == {"3", "2"}
    results = {
        "machine": {"processor": "x86_64", "threads": 2},
        "context_tokens": 24,
        "repeats": 1,
        "settings": {"tiny": {"quantization": None, **row}},
    }
    table = pass_costs.markdown(json.loads(json.dumps(results)))  # as read back from the JSON file
    assert "| tiny | " in table and "first 3 / 2 layers" in table
