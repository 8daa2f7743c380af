"""Served steps on an engine that is not AgentRoute's: ``transformers serve`` (transformers' own
OpenAI-compatible server, a real process on localhost) serving exported checkpoints.

Its chat template would write tools its own way, so the client renders each step's prompt as the
core does and sends it, as text (the only prompt ``transformers serve`` takes), to
``/v1/completions``; replies are compared with the same checkpoint decoding the same prompt in
process (a random tiny model writes no call; reading calls out of a client-rendered reply is
tested against ``agentroute serve`` in ``test_served.py``).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from tiny_models import tiny_model

import agentroute
from agentroute import RoutedModel
from agentroute.export.run import export
from agentroute.serve import ServedModel
from agentroute.steps.call_formats import step_prompt_ids
from agentroute.steps.tools import normalize_tools

pytest.importorskip("fastapi", reason="transformers serve needs fastapi and uvicorn (the dev extra)")
POLICY = {"budgets": {"tool_call": 0.5}}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]
WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
START_TIMEOUT = 180


def _serve(path: Path, log: Path) -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cli = shutil.which("transformers", path=str(Path(sys.executable).parent)) or "transformers"
    command = [cli, "serve", str(path), "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as err:
        process = subprocess.Popen(command, stdout=err, stderr=subprocess.STDOUT, env=env)
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"transformers serve exited with {process.returncode}: {log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return process, f"http://127.0.0.1:{port}/v1"
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    process.kill()
    pytest.fail(f"transformers serve did not answer in {START_TIMEOUT} s: {log.read_text()[-2000:]}")


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    hf, tok = tiny_model("llama", n_layers=4)
    out = tmp_path_factory.mktemp("exported")
    export(RoutedModel(hf, tok, name="tiny4", policy=POLICY), out)
    started = {}
    try:
        for name in ("full", "program-0_3"):
            started[name] = _serve(out / name, out / f"{name}.log")
        served = ServedModel(
            out / "export.json",
            {name: url for name, (_, url) in started.items()},
            prompt_as="text",
            served_names={name: str(out / name) for name in started},
            timeout=120,
        )
        yield out, served
    finally:
        for process, _ in started.values():
            process.terminate()
            process.wait(timeout=30)


def _in_process(out: Path, name: str, messages, tools, max_new_tokens: int):
    model = agentroute.load(out / name, pack=None, dtype="float32")
    ids = step_prompt_ids(model.tokenizer, messages, normalize_tools(tools or []))
    return model.generate_ids(ids, max_new_tokens=max_new_tokens)


def test_an_engine_gets_the_prompt_the_core_writes_and_replies_as_in_process(engine):
    out, served = engine
    assert all(served._client_renders(entry) for entry in served.entries)  # not an AgentRoute server
    ours = served.generate(ASK, tools=[WEATHER], max_new_tokens=24, hints={"tool_choice": "required"})
    theirs = _in_process(out, "program-0_3", ASK, [WEATHER], 24)
    assert ours.record.hints["served_entry"] == "program-0_3" and ours.record.step_type == "tool_call"
    assert ours.record.completion_tokens == len(theirs.token_ids)
    assert ours.text == theirs.text and ours.text  # token for token: the same prompt, the same greedy reply


def test_an_engine_streams_a_reply_that_adds_up(engine):
    out, served = engine
    pieces: list[str] = []
    ours = served.generate(ASK, max_new_tokens=12, on_text=pieces.append)
    assert ours.record.hints["served_entry"] == "full"
    assert "".join(pieces) == ours.text == _in_process(out, "full", ASK, None, 12).text
