"""Tools written as signature lines (``steps.tool_signatures``): what a line keeps, how a pack's
tool style reaches every prompt (in process, exported checkpoints, a served client) and that it
costs fewer tokens than the JSON line."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tiny_models import byte_tokenizer, tiny_model

from agentroute.data import generate_split
from agentroute.routed_model import RoutedModel
from agentroute.steps.call_formats import step_prompt_ids
from agentroute.steps.tool_signatures import signature_line
from agentroute.steps.tool_turns import render_tool_messages
from agentroute.steps.tools import normalize_tools, tool_block

ASK = [{"role": "user", "content": "Weather in Oslo?"}]
CITY = {"type": "string", "description": "The city name"}
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "required": ["city"], "properties": {"city": CITY, "unit": {
        "type": "string", "enum": ["c", "f"], "default": "c"}}},
}  # fmt: skip


def test_a_signature_keeps_names_requirements_types_and_descriptions():
    spec = normalize_tools([WEATHER])[0]
    line = signature_line(spec.name, spec.description, spec.parameters)
    assert line == ('get_weather(city: string /* The city name */, unit?: "c" | "f" = "c") - Current weather in a city')
    assert signature_line("ping", "", {"type": "object", "properties": {}}) == "ping()"
    multiline = {"type": "object", "properties": {"q": {"type": "string", "description": "What to\n  find"}}}
    assert signature_line("find", "Search.\nFast.", multiline) == "find(q?: string /* What to find */) - Search. Fast."


def test_every_keyword_that_shapes_a_value_is_written():
    parameters = {
        "type": "object",
        "$defs": {"money": {"type": "object", "properties": {"amount": {"type": "number", "minimum": 0}}}},
        "properties": {
            "when": {"type": "string", "format": "date"},
            "code": {"type": "string", "pattern": "^ORD-\\d+$", "minLength": 5},
            "count": {"type": "integer", "minimum": 1, "maximum": 20},
            "ratio": {"type": "number", "exclusiveMaximum": 1},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 1, "maxItems": 3},
            "mode": {"const": "fast"},
            "either": {"anyOf": [{"type": "integer"}, {"type": "array", "items": {"type": "integer"}}]},
            "maybe": {"type": ["string", "null"]},
            "price": {"$ref": "#/$defs/money"},
            "lines": {"type": "array", "items": {"type": "object", "properties": {"sku": {"type": "string"}}}},
            "labels": {"type": "object", "additionalProperties": {"type": "string"}},
            "anything": {},
        },
        "required": ["when"],
    }
    line = signature_line("f", "", parameters)
    for written in (
        "when: string(date)",
        "code?: string(/^ORD-\\d+$/, length 5..)",
        "count?: integer(1..20)",
        "ratio?: number(<1)",
        "tags?: string[](items 1..3)",
        'mode?: "fast"',
        "either?: integer | integer[]",
        "maybe?: string | null",
        "price?: {amount?: number(>=0)}",
        "lines?: {sku?: string}[]",
        "labels?: {[key: string]: string}",
        "anything?: any",
    ):
        assert written in line, (written, line)


def test_a_reference_cycle_ends_in_its_name():
    parameters = {
        "type": "object",
        "$defs": {"node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/node"}}}},
        "properties": {"head": {"$ref": "#/$defs/node"}},
    }
    line = signature_line("walk", "", parameters)
    assert line.startswith("walk(head?: {next?: {next?:") and "node" in line


def _names_and_descriptions(schema: Any, found: set[str]) -> set[str]:
    if isinstance(schema, dict):
        for name, prop in (schema.get("properties") or {}).items():
            found.add(name)
            if isinstance(prop, dict) and prop.get("description"):
                found.add(" ".join(prop["description"].split()))
        for value in schema.values():
            _names_and_descriptions(value, found)
    elif isinstance(schema, list):
        for value in schema:
            _names_and_descriptions(value, found)
    return found


def test_every_generated_tool_keeps_its_names_and_descriptions_and_costs_fewer_tokens():
    """Over the tools of generated steps (all schema styles), a signature line names every
    parameter and holds every description, in fewer tokens than the JSON line."""
    tokenizer = byte_tokenizer()
    tools = {}
    for step in generate_split("train", 300, 3)[0]:
        for spec in normalize_tools(step.get("tools") or []):
            tools[spec.name + json.dumps(spec.parameters, sort_keys=True)] = spec
    assert len(tools) > 50
    shorter = 0
    for spec in tools.values():
        line = signature_line(spec.name, spec.description, spec.parameters)
        for text in _names_and_descriptions(spec.parameters, set()) | {spec.name, " ".join(spec.description.split())}:
            assert text in line, (text, line)
        as_json = json.dumps({"name": spec.name, "description": spec.description, "parameters": spec.parameters})
        shorter += len(tokenizer(line)["input_ids"]) < len(tokenizer(as_json)["input_ids"])
    assert shorter == len(tools)


def test_the_tool_style_picks_the_block():
    assert "one signature per line" in tool_block([WEATHER], "signature")
    assert "get_weather(city: string" in tool_block([WEATHER], "signature")
    assert '{"name": "get_weather"' in tool_block([WEATHER])
    assert render_tool_messages(ASK, [WEATHER], tool_style="signature")[0]["content"] == tool_block(
        [WEATHER], "signature"
    )
    with pytest.raises(ValueError, match="tool_style must be one of 'json', 'signature', got 'yaml'"):
        tool_block([WEATHER], "yaml")


def test_a_model_prompts_in_its_tool_style_and_an_export_keeps_it(tmp_path):
    from agentroute.export.run import export
    from agentroute.loading import load

    hf, tok = tiny_model("llama", n_layers=4)
    model = RoutedModel(hf, tok, name="tiny4")
    as_json = model.encode(ASK, [WEATHER])
    model.tool_style, model.said_values = "signature", True
    as_signature = model.encode(ASK, [WEATHER])
    assert as_signature == step_prompt_ids(tok, ASK, normalize_tools([WEATHER]), "signature")
    assert len(as_signature) < len(as_json)
    manifest = export(model, tmp_path / "exported")
    assert manifest["tool_style"] == "signature" and manifest["said_values"] is True
    full = tmp_path / "exported" / "full"
    assert json.loads((full / "agentroute.json").read_text()) == {"tool_style": "signature", "said_values": True}
    reloaded = load(full, dtype="float32", kernels="plain", pack=None)
    assert reloaded.tool_style == "signature" and reloaded.encode(ASK, [WEATHER]) == as_signature
    assert reloaded.said_values  # its grammar still admits dates and times in words


def test_a_bad_tool_style_file_is_named(tmp_path):
    from agentroute.errors import ModelLoadError
    from agentroute.steps.checkpoint_prompt import PROMPT_FILE, checkpoint_prompt

    assert checkpoint_prompt(tmp_path) == ("json", False)
    (tmp_path / PROMPT_FILE).write_text('{"tool_style": "signature", "said_values": true}')
    assert checkpoint_prompt(tmp_path) == ("signature", True)
    (tmp_path / PROMPT_FILE).write_text('{"tool_style": "yaml"}')
    with pytest.raises(ModelLoadError, match="names tool_style 'yaml'"):
        checkpoint_prompt(tmp_path)
    for bad in ("[1]", "not json"):
        (tmp_path / PROMPT_FILE).write_text(bad)
        with pytest.raises(ModelLoadError, match="is not a JSON object"):
            checkpoint_prompt(tmp_path)
    (tmp_path / PROMPT_FILE).write_text('{"tool_style": "json", "said_values": "yes"}')
    with pytest.raises(ModelLoadError, match="gives said_values 'yes'; it must be true or false"):
        checkpoint_prompt(tmp_path)


def test_a_served_manifest_with_an_unknown_tool_style_is_named():
    from agentroute.serve import ServedModel
    from agentroute.serve.endpoints import ServeError

    manifest = {"format": "agentroute-export/1", "n_layers": 4, "tool_style": "yaml", "entries": [{"name": "full"}]}
    with pytest.raises(ServeError, match="the manifest's tool_style is 'yaml'"):
        ServedModel(manifest, "http://127.0.0.1:1/v1")
