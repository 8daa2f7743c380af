"""Served steps against real server processes: a tiny model with a depth policy is exported (two
entries: the full model, and the tool-call program 0,3), each entry is served by its own
``agentroute serve`` process on localhost, and ``ServedModel`` routes steps to them.

Replies are compared with the same checkpoint run in process (greedy, token for token); the
integrations run over the served model unchanged. The servers start with
``python -m agentroute serve`` (the ``agentroute serve`` command).
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # no network here

import httpx
import jsonschema
import pytest
from tiny_models import tiny_model

import agentroute
from agentroute import GenerationCancelled, GenerationError, RoutedModel, Trace, read_trace
from agentroute.cli.serve import add_serve_command
from agentroute.export.run import export
from agentroute.serve import ServedModel, ServeError

POLICY = {"budgets": {"tool_call": 0.5}, "hint_map": {"caller": "tool_call", "writer": "final_answer"}}
CITY = {"type": "string", "enum": ["Oslo", "Paris"]}
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city",
            "parameters": {"type": "object", "properties": {"city": CITY}, "required": ["city"]},
        },
    }
]
SCHEMA = {
    "type": "object",
    "properties": {"city": CITY, "rain": {"type": "boolean"}},
    "required": ["city", "rain"],
    "additionalProperties": False,
}
ASK = [{"role": "user", "content": "What is the weather in Oslo?"}]
# A random model declines as readily as it calls: tool-call tests demand the call, as OpenAI's tool_choice does.
CALL = {"tool_choice": "required"}
START_TIMEOUT = 180  # seconds for a server to load and print its URL (2 shared cores)


def _start(path: Path, log: Path) -> tuple[subprocess.Popen, str]:
    command = [sys.executable, "-m", "agentroute", "serve", "--model", str(path), "--port", "0", "--dtype", "float32"]
    with open(log, "w") as err:
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=err, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: lines.put(process.stdout.readline()), daemon=True).start()
    try:
        line = lines.get(timeout=START_TIMEOUT)
    except queue.Empty:
        _stop(process)
        pytest.fail(f"the server for {path.name} printed no URL in {START_TIMEOUT} s: {log.read_text()[-2000:]}")
    found = re.search(r"http://\S+", line)
    if not found:
        _stop(process)
        pytest.fail(f"the server for {path.name} did not start: {line!r} {log.read_text()[-2000:]}")
    return process, found.group(0)


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def exported(tmp_path_factory) -> tuple[RoutedModel, Path]:
    hf, tok = tiny_model("llama", n_layers=4)
    model = RoutedModel(hf, tok, name="tiny4", policy=POLICY)
    out = tmp_path_factory.mktemp("exported")
    export(model, out)
    return model, out


@pytest.fixture(scope="module")
def servers(exported):
    _, out = exported
    names = [e["name"] for e in json.loads((out / "export.json").read_text())["entries"] if e["role"] == "model"]
    assert names == ["full", "program-0_3"]
    started: dict[str, tuple[subprocess.Popen, str]] = {}
    try:
        for name in names:
            started[name] = _start(out / name, out / f"{name}.log")
        yield {name: url for name, (_, url) in started.items()}
    finally:
        for process, _ in started.values():
            _stop(process)


@pytest.fixture(scope="module")
def served(exported, servers):
    _, out = exported
    with ServedModel(out / "export.json", servers, policy=POLICY, timeout=120) as model:
        yield model


@pytest.fixture(scope="module")
def local(exported):
    """Each exported checkpoint loaded in process, as the servers load it."""
    _, out = exported
    return {name: agentroute.load(out / name, pack=None, dtype="float32") for name in ("full", "program-0_3")}


def _post(url: str, body: dict) -> httpx.Response:
    return httpx.post(f"{url}/chat/completions", json=body, timeout=120)


def _events(url: str, body: dict) -> list:
    with httpx.stream("POST", f"{url}/chat/completions", json={**body, "stream": True}, timeout=120) as response:
        assert response.status_code == 200
        data = [line[5:].strip() for line in response.iter_lines() if line.startswith("data:")]
    assert data[-1] == "[DONE]"
    return [json.loads(d) for d in data[:-1]]


# -- replies ---------------------------------------------------------------------------------------


def test_a_plain_reply_is_the_in_process_reply(served, local):
    ours = served.generate(ASK, max_new_tokens=12)
    theirs = local["full"].generate(ASK, max_new_tokens=12)
    assert ours.token_ids == theirs.token_ids and ours.text == theirs.text
    record = ours.record
    assert record.hints["served_entry"] == "full" and record.hints["served_endpoint"] == served.entries[0].url
    assert (record.program, record.mode, record.layers_per_token, record.layers_fraction) == ("0-3", "full", 4, 1.0)
    assert (record.prompt_tokens, record.completion_tokens) == (theirs.record.prompt_tokens, 12)
    assert record.model == "tiny4" and record.step_type == "other" and 0 < record.ttft_s <= record.latency_s


def test_stop_strings_cut_the_reply_as_in_process(served, local):
    whole = local["full"].generate(ASK, max_new_tokens=12).text
    stop = next(c for c in whole[3:] if c.isascii() and c.isprintable())  # a character the reply reaches
    theirs = local["full"].generate(ASK, max_new_tokens=12, stop=[stop])
    pieces: list[str] = []
    ours = served.generate(ASK, max_new_tokens=12, stop=[stop], on_text=pieces.append)
    assert (ours.text, ours.token_ids) == (theirs.text, theirs.token_ids) and stop not in ours.text
    assert "".join(pieces) == ours.text and ours.record.finish_reason == "stop"


def test_a_program_step_is_the_program_in_process_prefilling_with_itself(served, local, exported):
    model, _ = exported
    ours = served.generate(ASK, step_type="tool_call", max_new_tokens=12)
    assert ours.record.hints["served_entry"] == "program-0_3"
    assert (ours.record.program, ours.record.prefill_program, ours.record.mode) == ("0,3", "0,3", "routed")
    assert (ours.record.layers_per_token, ours.record.layers_fraction) == (2, 0.5)
    same_checkpoint = local["program-0_3"].generate(ASK, step_type="tool_call", max_new_tokens=12)
    in_process = model.generate(ASK, program="0,3", prefill="program", max_new_tokens=12)
    assert ours.token_ids == same_checkpoint.token_ids == in_process.token_ids


def test_tool_calls_round_trip_in_openai_format(served, local, servers):
    ours = served.generate(ASK, tools=TOOLS, max_new_tokens=120, hints=CALL)
    theirs = local["program-0_3"].generate(ASK, tools=TOOLS, max_new_tokens=120, hints=CALL)
    assert ours.record.step_type == "tool_call" and ours.record.hints["served_entry"] == "program-0_3"
    assert ours.tool_calls and ours.tool_calls == theirs.tool_calls  # ids too: the same reply text
    assert ours.tool_calls[0].name == "get_weather" and ours.tool_calls[0].arguments["city"] in CITY["enum"]
    assert ours.record.finish_reason == "tool_calls" and ours.record.constrained
    assert ours.record.error == theirs.record.error  # a random model goes on to a second call, cut off

    body = {"model": "program-0_3", "messages": ASK, "tools": TOOLS, "max_tokens": 120, "tool_choice": "required"}
    answer = _post(servers["program-0_3"], body).json()
    choice = answer["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    call = choice["message"]["tool_calls"][0]
    assert call["type"] == "function" and call["id"] == ours.tool_calls[0].id
    assert json.loads(call["function"]["arguments"]) == ours.tool_calls[0].arguments  # a JSON string
    assert answer["agentroute"]["record"]["tool_calls"][0]["name"] == "get_weather"

    # The call and its result go back in OpenAI's shape; the answer step goes to the full model and
    # reads exactly the prompt the core renders in process.
    history = [
        *ASK,
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "4 C and rain"},
    ]
    follow = served.generate(history, tools=TOOLS, max_new_tokens=10)
    assert follow.record.step_type == "final_answer" and follow.record.hints["served_entry"] == "full"
    assert follow.token_ids == local["full"].generate(history, tools=TOOLS, max_new_tokens=10).token_ids


def test_streamed_pieces_add_up_to_the_reply(served, servers):
    pieces: list[str] = []
    streamed = served.generate(ASK, max_new_tokens=12, on_text=pieces.append)
    plain = served.generate(ASK, max_new_tokens=12)
    assert len(pieces) > 1 and "".join(pieces) == streamed.text == plain.text
    assert streamed.token_ids == plain.token_ids and streamed.record.ttft_s < streamed.record.latency_s

    body = {"messages": ASK, "max_tokens": 12, "stream_options": {"include_usage": True}}
    events = _events(servers["full"], body)
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    content = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    assert content == _post(servers["full"], body).json()["choices"][0]["message"]["content"]
    assert events[-1]["usage"]["completion_tokens"] == 12 and events[-2]["choices"][0]["finish_reason"] == "length"


def test_a_streamed_tool_call_arrives_as_openai_deltas(served, servers):
    pieces: list[str] = []
    streamed = served.generate(ASK, tools=TOOLS, max_new_tokens=120, on_text=pieces.append, hints=CALL)
    assert "<tool_call>" in "".join(pieces)  # raw text, as RoutedModel streams it (the integrations read it)
    assert streamed.tool_calls == served.generate(ASK, tools=TOOLS, max_new_tokens=120, hints=CALL).tool_calls

    body = {"messages": ASK, "tools": TOOLS, "max_tokens": 120, "tool_choice": "required"}
    message = _post(servers["program-0_3"], body).json()["choices"][0]["message"]
    events = _events(servers["program-0_3"], body)
    content = "".join(c["delta"].get("content") or "" for e in events for c in e["choices"])
    calls = [call for e in events for c in e["choices"] for call in c["delta"].get("tool_calls") or []]
    assert content == (message["content"] or "") and "<tool_call>" not in content
    assert [{k: v for k, v in c.items() if k != "index"} for c in calls] == message["tool_calls"]


def test_json_schema_replies_are_valid(served, servers, local):
    result = served.generate(ASK, json_schema=SCHEMA, max_new_tokens=120)
    jsonschema.validate(json.loads(result.text), SCHEMA)
    assert result.record.error is None and result.record.constrained
    assert result.token_ids == local["full"].generate(ASK, json_schema=SCHEMA, max_new_tokens=120).token_ids

    body = {
        "messages": ASK,
        "max_tokens": 120,
        "response_format": {"type": "json_schema", "json_schema": {"name": "w", "schema": SCHEMA}},
    }  # noqa: E501
    jsonschema.validate(json.loads(_post(servers["full"], body).json()["choices"][0]["message"]["content"]), SCHEMA)


def test_the_openai_sdk_talks_to_the_server(servers):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=servers["program-0_3"], api_key="unused", timeout=120)
    reply = client.chat.completions.create(
        model="program-0_3", messages=ASK, tools=TOOLS, tool_choice="required", max_tokens=120
    )
    call = reply.choices[0].message.tool_calls[0]
    assert call.function.name == "get_weather" and json.loads(call.function.arguments)["city"] in CITY["enum"]
    assert reply.choices[0].finish_reason == "tool_calls" and reply.usage.completion_tokens > 0
    chunks = client.chat.completions.create(model="program-0_3", messages=ASK, max_tokens=5, stream=True)
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    plain = client.chat.completions.create(model="program-0_3", messages=ASK, max_tokens=5)
    assert streamed == plain.choices[0].message.content
    with pytest.raises(openai.NotFoundError, match="not served here"):
        client.chat.completions.create(model="gpt-4o", messages=ASK)


# -- routing and records ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "entry", "source"),
    [
        ({"hints": {"node": "caller"}}, "program-0_3", "hint"),
        ({"hints": {"node": "writer"}}, "full", "hint"),
        ({"step_type": "planning"}, "full", "caller"),
        ({"step_type": "tool_call"}, "program-0_3", "caller"),
        ({"budget": 0.5}, "program-0_3", "default"),
        ({"program": "0,3"}, "program-0_3", "default"),
        ({"program": [0, 1, 2, 3]}, "full", "default"),
    ],
)
def test_steps_go_to_the_endpoint_serving_them(served, servers, arguments, entry, source):
    record = served.generate(ASK, max_new_tokens=3, **arguments).record
    assert (record.hints["served_entry"], record.hints["served_endpoint"]) == (entry, servers[entry])
    assert record.step_type_source == source


def test_a_trace_records_served_steps(served, tmp_path):
    with Trace(tmp_path / "trace.jsonl") as trace:
        served.generate(ASK, max_new_tokens=3)
        served.generate(ASK, tools=TOOLS, max_new_tokens=120)
    assert [r.hints["served_entry"] for r in trace.records] == ["full", "program-0_3"]
    assert [r.step_type for r in read_trace(tmp_path / "trace.jsonl")] == ["other", "tool_call"]


def test_what_cannot_hold_over_http_is_a_named_error(served):
    with pytest.raises(GenerationError, match="lossless"):
        served.generate(ASK, mode="lossless")
    with pytest.raises(GenerationError, match="max_new_token"):
        served.generate(ASK, max_new_tokenz=3)
    with pytest.raises(GenerationError, match="prefill='full'"):
        served.generate(ASK, step_type="tool_call", prefill="full")
    with pytest.raises(GenerationError, match="not served; the served programs are full: 0-3"):
        served.generate(ASK, program="0-2")
    with pytest.raises(GenerationError, match="below every served program"):
        served.generate(ASK, budget=0.2)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"max_tokens": "many"}, "max_tokens"),
        ({"n": 2}, "n must be 1"),
        ({"temperature": -1}, "temperature"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"response_format": {"type": "xml"}}, "response_format"),
        ({"tools": [{"type": "function", "function": {"name": "bad name"}}]}, "tool 0"),
        ({"messages": [{"role": "robot", "content": "hi"}]}, "unknown role 'robot'"),
        ({"temprature": 0.5}, "did you mean 'temperature'"),
    ],
)
def test_a_bad_request_is_a_400_naming_what_is_wrong(servers, change, named):
    for stream in (False, True):
        answer = _post(servers["full"], {"messages": ASK, "max_tokens": 3, **change, "stream": stream})
        assert answer.status_code == 400, answer.text
        assert named in answer.json()["error"]["message"]


def test_steps_from_several_threads_get_their_own_replies(served):
    prompts = [[{"role": "user", "content": f"Question {i}?"}] for i in range(4)]
    alone = [served.generate(p, max_new_tokens=6).token_ids for p in prompts]
    together: dict[int, list[int]] = {}

    def step(i: int) -> None:
        together[i] = served.generate(prompts[i], max_new_tokens=6).token_ids

    threads = [threading.Thread(target=step, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert [together.get(i) for i in range(4)] == alone


def test_routes_errors_and_kept_alive_connections(servers):
    url = servers["full"]
    assert httpx.get(url.removesuffix("/v1") + "/health", timeout=30).json() == {"status": "ok"}
    with httpx.Client(base_url=url, timeout=60) as client:  # one connection, reused after each error
        assert client.get("/models").json()["data"][0]["agentroute"]["n_layers"] == 4
        assert client.post("/embeddings", json={}).status_code == 404
        broken = client.post("/chat/completions", content=b"{not json", headers={"Content-Type": "application/json"})
        assert broken.status_code == 400 and "not valid JSON" in broken.json()["error"]["message"]
        assert client.post("/chat/completions", json={"messages": ASK, "max_tokens": 2}).status_code == 200


def test_a_failed_stream_leaves_the_server_serving(served):
    def stop(piece: str) -> None:
        raise RuntimeError("caller went away")

    with pytest.raises(RuntimeError, match="went away"):
        served.generate(ASK, max_new_tokens=50, on_text=stop)
    assert served.generate(ASK, max_new_tokens=3).record.completion_tokens == 3


def test_a_cancelled_check_closes_the_stream_and_the_server_serves_on(served):
    asked: list[int] = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 3  # stop after a few streamed pieces

    with Trace() as trace, pytest.raises(GenerationCancelled):
        served.generate(ASK, max_new_tokens=50, ignore_eos=True, cancelled=cancelled)
    assert len(asked) == 4 and trace.records == []  # asked before sending, then at each piece until it stopped
    with pytest.raises(GenerationCancelled):  # already set: nothing is sent
        served.generate(ASK, max_new_tokens=50, cancelled=lambda: True)
    assert served.generate(ASK, max_new_tokens=3).record.completion_tokens == 3


def test_a_single_endpoint_lets_the_server_route(servers):
    model = ServedModel.single(servers["full"], timeout=60)
    assert model.name == "full" and model.n_layers == 4
    result = model.generate(ASK, tools=TOOLS, max_new_tokens=120, hints=CALL)
    assert result.record.step_type == "tool_call" and result.tool_calls  # typed by the server's rules
    assert result.record.hints["served_entry"] == "full" and result.record.program == "0-3"
    with pytest.raises(ServeError, match="does not serve 'other'"):
        ServedModel.single(servers["full"], name="other")
    with pytest.raises(ServeError, match="cannot reach"):
        ServedModel.single("http://127.0.0.1:9", timeout=5)


def test_endpoints_must_cover_every_served_entry(exported, servers):
    _, out = exported
    with pytest.raises(ServeError, match="'program-0_3' .*has no endpoint"):
        ServedModel(out, {"full": servers["full"]})
    with pytest.raises(ServeError, match="does not serve"):
        ServedModel(out, {**servers, "extra": servers["full"]})
    ServedModel(out, servers).warm_up().close()


# -- prompts the client renders (for engines whose chat template does not write tools as the core does) --


@pytest.fixture(scope="module")
def client_rendered(exported, servers):
    _, out = exported
    with ServedModel(out / "export.json", servers, policy=POLICY, timeout=120, prompts="client") as model:
        yield model


def test_the_client_renders_the_prompt_and_sends_its_ids_to_v1_completions(client_rendered, served, local):
    from agentroute.steps.call_formats import step_prompt_ids
    from agentroute.steps.tools import normalize_tools

    program = local["program-0_3"]
    ids = step_prompt_ids(program.tokenizer, ASK, normalize_tools(TOOLS))
    ours = client_rendered.generate(ASK, tools=TOOLS, max_new_tokens=40, hints=CALL)
    theirs = program.generate_ids(ids, max_new_tokens=40)  # the same prompt, decoded without a grammar
    assert ours.token_ids == theirs.token_ids and ours.record.prompt_tokens == len(ids)
    assert ours.record.step_type == "tool_call" and ours.record.hints["served_entry"] == "program-0_3"
    assert not ours.record.constrained  # a completions endpoint takes no AgentRoute grammar
    # "auto" renders for engines only: agentroute serve renders the chat as the core does.
    assert not any(served._client_renders(entry) for entry in served.entries)
    assert all(client_rendered._client_renders(entry) for entry in client_rendered.entries)


def test_a_client_rendered_stream_adds_up_to_the_reply(client_rendered, local):
    pieces: list[str] = []
    ours = client_rendered.generate(ASK, max_new_tokens=12, on_text=pieces.append)
    plain = client_rendered.generate(ASK, max_new_tokens=12)
    assert "".join(pieces) == ours.text == plain.text and ours.token_ids == plain.token_ids
    assert ours.token_ids == local["full"].generate(ASK, max_new_tokens=12).token_ids  # no tools: the same prompt
    assert ours.record.completion_tokens == 12 and 0 < ours.record.ttft_s <= ours.record.latency_s


def test_v1_completions_takes_text_or_ids_and_names_what_it_cannot_honour(servers, local):
    url = servers["full"]
    answer = httpx.post(f"{url}/completions", json={"prompt": "The sky is", "max_tokens": 6}, timeout=120).json()
    ids = local["full"].tokenizer.encode("The sky is", add_special_tokens=False)
    theirs = local["full"].generate_ids(ids, max_new_tokens=6)
    assert answer["object"] == "text_completion" and answer["choices"][0]["text"] == theirs.text
    assert answer["usage"]["completion_tokens"] == 6 and answer["agentroute"]["token_ids"] == theirs.token_ids
    bad = (({"prompt": []}, "prompt"), ({"prompt": [1], "echo": True}, "echo"), ({"prompt": "x", "n": 2}, "n"))
    for body, named in bad:
        reply = httpx.post(f"{url}/completions", json=body, timeout=120)
        assert reply.status_code == 400 and reply.json()["error"]["param"] == named, body


def test_client_rendering_needs_the_exports_tokenizer(exported, servers):
    _, out = exported
    manifest = json.loads((out / "export.json").read_text())
    with pytest.raises(ServeError, match="export's tokenizer"):
        ServedModel(manifest, servers, prompts="client")
    with pytest.raises(ServeError, match="prompts must be one of auto, server, client"):
        ServedModel(out / "export.json", servers, prompts="engine")


def test_the_cli_command_takes_the_server_arguments():
    parser = argparse.ArgumentParser()
    add_serve_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["serve", "--model", "exported/full", "--port", "0", "--name", "full"])
    assert (args.model, args.port, args.host, args.name, args.pack) == ("exported/full", 0, "127.0.0.1", "full", "auto")


# -- the integrations, unchanged -------------------------------------------------------------------


def test_chat_layerroute_runs_on_a_served_model(served, local):
    pytest.importorskip("langchain_layerroute")
    from langchain_layerroute import ChatLayerRoute

    chat = ChatLayerRoute(routed_model=served, max_new_tokens=12)
    reply = chat.invoke("What is the weather in Oslo?")
    assert reply.content == local["full"].generate(ASK, max_new_tokens=12).text
    assert reply.response_metadata["layerroute"]["hints"]["served_entry"] == "full"
    assert "".join(chunk.content for chunk in chat.stream("What is the weather in Oslo?")) == reply.content
    assert chat.get_token_ids("Oslo") == local["full"].tokenizer("Oslo", add_special_tokens=False)["input_ids"]
    calling = ChatLayerRoute(routed_model=served, max_new_tokens=120).bind_tools(TOOLS, tool_choice="any")
    called = calling.invoke("Weather in Oslo?")
    assert called.tool_calls and called.tool_calls[0]["name"] == "get_weather"
    assert called.response_metadata["layerroute"]["hints"]["served_entry"] == "program-0_3"


def test_layerroute_generator_runs_on_a_served_model(served):
    pytest.importorskip("haystack_integrations.components.generators.layerroute")
    from haystack.dataclasses import ChatMessage
    from haystack.tools import Tool
    from haystack_integrations.components.generators.layerroute import LayerRouteGenerator

    weather = Tool(
        name="get_weather",
        description="Current weather in a city",
        parameters=TOOLS[0]["function"]["parameters"],
        function=lambda city: "4 C",
    )
    chunks = []
    kwargs = {"max_new_tokens": 120, "tool_choice": "required"}  # random weights: demand the call
    generator = LayerRouteGenerator(generation_kwargs=kwargs, streaming_callback=chunks.append)
    generator._routed_model = served  # what warm_up would have loaded
    reply = generator.run([ChatMessage.from_user("What is the weather in Oslo?")], tools=[weather])["replies"][0]
    assert reply.tool_calls and reply.tool_calls[0].tool_name == "get_weather"
    assert reply.meta["finish_reason"] == "tool_calls" and chunks
