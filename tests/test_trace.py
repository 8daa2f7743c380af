"""Traces: JSONL per step, summaries, context isolation, crash tolerance, OpenTelemetry, CLI."""

import asyncio
import json
import logging
import signal
import subprocess
import sys
import textwrap
import threading

import pytest

from agentroute.cli.main import main
from agentroute.model.program import LayerProgram
from agentroute.steps.records import LayersExecuted, StepRecord, StepType
from agentroute.trace.otel import genai_attributes
from agentroute.trace.trace_file import Trace, TraceFileError, active_traces, read_trace, record_step, summarize


def make_record(
    index: int = 0,
    step_type: StepType = StepType.TOOL_CALL,
    program: str = "0-29",
    observed: StepType | None = None,
    **overrides,
) -> StepRecord:
    """A record as a 30-layer model would write it, without running a model."""
    layers = LayerProgram.parse(program, 30)
    fields = dict(
        model="tiny-30",
        step_type=step_type,
        step_type_source="router",
        step_type_observed=observed,
        program=str(layers),
        prefill_program="0-29",
        layers_per_token=len(layers),
        layers_fraction=round(layers.cost, 6),
        layers_executed=LayersExecuted(count=len(layers), fraction=layers.cost, which=list(layers.layers)),
        prompt_tokens=100 + 10 * index,
        reused_prompt_tokens=90 + 10 * index if index else 0,
        completion_tokens=5 + index,
        ttft_s=0.1,
        latency_s=1.0 + index,
        decode_tokens_per_s=20.0 + index,
        finish_reason="tool_calls" if step_type == StepType.TOOL_CALL else "stop",
        hints={"index": index},
    )
    fields.update(overrides)
    return StepRecord(**fields)


def sample_trace() -> list[StepRecord]:
    """Eight steps mixing step types and programs (skips, a loop, full depth) for plots and tables."""
    specs = [
        (StepType.PLANNING, "0-29", StepType.PLANNING),
        (StepType.TOOL_CALL, "0-9,20-29", StepType.TOOL_CALL),
        (StepType.TOOL_CALL, "0-9,20-29", StepType.TOOL_CALL),
        (StepType.REASONING, "0-15,15,16-29", StepType.REASONING),
        (StepType.TOOL_CALL, "0-11,18-29", StepType.PLANNING),
        (StepType.PLANNING, "0-23,26-29", None),
        (StepType.TOOL_CALL, "0-7,22-29", StepType.TOOL_CALL),
        (StepType.FINAL_ANSWER, "0-29", StepType.FINAL_ANSWER),
    ]
    records = [make_record(i, t, p, o) for i, (t, p, o) in enumerate(specs)]
    records[4] = records[4].model_copy(update={"error": "tool 'serach' is not in [search, fetch]"})
    return records


# -- file and scope ---------------------------------------------------------------------------------------


def test_jsonl_is_written_and_flushed_per_step(tmp_path):
    path = tmp_path / "run.jsonl"
    records = [make_record(i) for i in range(3)]
    with Trace(path) as trace:
        for i, record in enumerate(records):
            record_step(record)
            # Read back while the trace is open: each step is on disk when record_step returns.
            assert read_trace(path) == records[: i + 1]
            assert len(path.read_text().splitlines()) == i + 1
    assert trace.records == records
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [r.id for r in records]


def test_in_memory_trace_and_scope_end(tmp_path):
    with Trace() as trace:
        record_step(make_record(1))
        assert active_traces() == (trace,)
    record_step(make_record(2))  # outside every trace: goes nowhere
    assert [r.hints["index"] for r in trace.records] == [1]
    assert active_traces() == ()


def test_nested_traces_each_receive_the_record(tmp_path):
    with Trace(tmp_path / "outer.jsonl") as outer:
        record_step(make_record(0))
        with Trace() as inner:
            record_step(make_record(1))
        record_step(make_record(2))
    assert [r.hints["index"] for r in outer.records] == [0, 1, 2]
    assert [r.hints["index"] for r in inner.records] == [1]
    assert len(read_trace(tmp_path / "outer.jsonl")) == 3


def test_entering_twice_is_an_error_and_reentry_after_exit_appends(tmp_path):
    trace = Trace(tmp_path / "t.jsonl")
    with trace:
        with pytest.raises(RuntimeError, match="already active"):
            trace.__enter__()
        record_step(make_record(0))
    assert active_traces() == ()
    with trace:
        record_step(make_record(1))
    assert len(read_trace(tmp_path / "t.jsonl")) == 2


def test_file_trace_rejects_add_outside_its_block(tmp_path):
    with pytest.raises(RuntimeError, match="inside its 'with' block"):
        Trace(tmp_path / "t.jsonl").add(make_record())


def test_threads_do_not_mix():
    traces: dict[int, Trace] = {}
    start = threading.Barrier(8)

    def worker(n: int) -> None:
        with Trace() as trace:
            traces[n] = trace
            start.wait()  # every thread's trace is active at once
            for k in range(20):
                record_step(make_record(k, hints={"owner": n}))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, trace in traces.items():
        assert len(trace.records) == 20
        assert {r.hints["owner"] for r in trace.records} == {n}


def test_asyncio_tasks_do_not_mix():
    async def agent(n: int) -> Trace:
        async with Trace() as trace:
            for k in range(20):
                record_step(make_record(k, hints={"owner": n}))
                await asyncio.sleep(0)  # let the other tasks interleave
        return trace

    async def run_all() -> list[Trace]:
        return await asyncio.gather(*(agent(n) for n in range(8)))

    for n, trace in enumerate(asyncio.run(run_all())):
        assert len(trace.records) == 20
        assert {r.hints["owner"] for r in trace.records} == {n}


# -- summary ----------------------------------------------------------------------------------------------


def test_summary_numbers():
    records = [
        make_record(0, StepType.TOOL_CALL, "0-9,20-29", observed=StepType.TOOL_CALL),
        make_record(1, StepType.TOOL_CALL, "0-29", observed=StepType.PLANNING, error="bad tool call"),
        make_record(2, StepType.TOOL_CALL, "0-29", decode_tokens_per_s=None),
        make_record(3, StepType.PLANNING, "0-15,15,16-29"),
    ]
    with Trace() as trace:
        for r in records:
            record_step(r)
    summary = trace.summary()
    assert set(summary) == {"tool_call", "planning", "all"}
    tool = summary["tool_call"]
    assert tool["count"] == 3
    assert tool["prompt_tokens"] == 100 + 110 + 120
    assert tool["completion_tokens"] == 5 + 6 + 7
    assert tool["latency_s"] == pytest.approx(1 + 2 + 3)
    assert tool["mean_latency_s"] == pytest.approx(2.0)
    assert tool["mean_layers_fraction"] == pytest.approx((20 / 30 + 1 + 1) / 3, abs=1e-5)
    assert tool["mean_decode_tokens_per_s"] == pytest.approx((20 + 21) / 2)  # the None one is left out
    assert tool["errors"] == 1
    assert tool["observed"] == 2 and tool["step_type_accuracy"] == pytest.approx(0.5)
    planning = summary["planning"]
    assert planning["mean_layers_fraction"] == pytest.approx(31 / 30, abs=1e-5)
    assert planning["step_type_accuracy"] is None
    assert summary["all"]["count"] == 4 and summary["all"]["latency_s"] == pytest.approx(10.0)
    assert summarize([])["all"]["mean_latency_s"] is None


# -- crash tolerance --------------------------------------------------------------------------------------

_KILLED_WRITER = textwrap.dedent(
    """
    import os, signal, sys
    from agentroute.steps.records import StepRecord
    from agentroute.trace.trace_file import Trace, record_step

    def record(i):
        return StepRecord(model="m", program="0-3", prefill_program="0-3", layers_per_token=4,
                          layers_fraction=1.0, prompt_tokens=10, completion_tokens=i, ttft_s=0.1,
                          latency_s=0.5, finish_reason="stop")

    with Trace(sys.argv[1]) as trace:
        for i in range(3):
            record_step(record(i))
        # step 4 is under way: maybe half its line reached the file when the process dies.
        if sys.argv[2] == "partial":
            trace._file.write(record(3).model_dump_json()[:40])
            trace._file.flush()
        os.kill(os.getpid(), signal.SIGKILL)
    """
)


@pytest.mark.parametrize("cut", ["before-write", "partial"])
def test_sigkill_loses_only_the_step_in_progress(tmp_path, cut):
    path = tmp_path / "killed.jsonl"
    proc = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(path), cut], capture_output=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.decode()
    lines = path.read_bytes().split(b"\n")
    complete = [json.loads(line) for line in lines[:-1]]
    assert [r["completion_tokens"] for r in complete] == [0, 1, 2]
    assert (lines[-1] != b"") == (cut == "partial")
    assert [r.completion_tokens for r in read_trace(path)] == [0, 1, 2]


def test_truncated_last_line_is_skipped_with_a_warning(tmp_path, caplog):
    path = tmp_path / "t.jsonl"
    lines = [make_record(i).model_dump_json() for i in range(3)]
    path.write_text(lines[0] + "\n" + lines[1] + "\n" + lines[2][:50])
    with caplog.at_level(logging.WARNING, logger="agentroute.trace"):
        assert [r.hints["index"] for r in read_trace(path)] == [0, 1]
    assert "line 3" in caplog.text


def test_appending_after_a_crash_drops_the_unfinished_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(make_record(0).model_dump_json() + "\n" + make_record(1).model_dump_json()[:30])
    with Trace(path):
        record_step(make_record(2))
    assert [r.hints["index"] for r in read_trace(path)] == [0, 2]


def test_corrupt_middle_line_names_the_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text(make_record(0).model_dump_json() + "\n{not json\n\n" + make_record(1).model_dump_json() + "\n")
    with pytest.raises(TraceFileError, match="line 2"):
        read_trace(path)
    with pytest.raises(TraceFileError, match="no trace file"):
        read_trace(tmp_path / "missing.jsonl")


# -- OpenTelemetry ----------------------------------------------------------------------------------------


@pytest.fixture
def span_exporter(monkeypatch):
    """An SDK provider with an in-memory exporter, seen as the global one only during the test."""
    from opentelemetry import trace as otel_trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    # Patching the getter (undone after the test) avoids set_tracer_provider, which works once per process.
    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: provider)
    yield exporter
    provider.shutdown()


def test_record_step_exports_a_genai_span(span_exporter):
    record = make_record(2, StepType.TOOL_CALL, "0-9,20-29", observed=StepType.TOOL_CALL, seed=7)
    record_step(record)
    (span,) = span_exporter.get_finished_spans()
    assert span.name == "chat tiny-30"
    attrs = span.attributes
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.provider.name"] == "agentroute"
    assert attrs["gen_ai.usage.input_tokens"] == 120
    assert attrs["gen_ai.usage.output_tokens"] == 7
    assert tuple(attrs["gen_ai.response.finish_reasons"]) == ("tool_calls",)
    assert attrs["gen_ai.request.seed"] == 7
    assert attrs["gen_ai.response.id"] == record.id
    assert attrs["agentroute.program"] == "0-9,20-29"
    assert attrs["agentroute.step_type"] == "tool_call"
    assert span.end_time - span.start_time == pytest.approx(3.0e9, rel=1e-6)  # latency_s
    assert span.status.is_ok


def test_a_declined_step_says_so_on_its_span(span_exporter):
    record = make_record(2, StepType.TOOL_CALL).model_copy(
        update={"declined_tools": True, "no_tool_fits_probability": 0.93, "finish_reason": "stop"}
    )
    record_step(record)
    (span,) = span_exporter.get_finished_spans()
    assert span.attributes["agentroute.declined_tools"] is True
    assert span.attributes["agentroute.no_tool_fits_probability"] == pytest.approx(0.93)
    record_step(make_record(2, StepType.PLANNING))  # no head decided: the attribute is left out
    assert "agentroute.no_tool_fits_probability" not in span_exporter.get_finished_spans()[-1].attributes


def test_step_error_marks_the_span(span_exporter):
    record_step(make_record(error="no such tool"))
    (span,) = span_exporter.get_finished_spans()
    assert not span.status.is_ok and span.attributes["agentroute.error"] == "no such tool"


def test_no_span_without_an_sdk_provider(span_exporter, monkeypatch):
    from opentelemetry import trace as otel_trace

    monkeypatch.setattr(otel_trace, "get_tracer_provider", lambda: otel_trace.ProxyTracerProvider())
    record_step(make_record())
    assert span_exporter.get_finished_spans() == ()


def test_genai_attributes_omit_none():
    attrs = genai_attributes(make_record(seed=None, budget=None, decode_tokens_per_s=None))
    assert None not in attrs.values()
    for key in ("gen_ai.request.seed", "agentroute.budget", "agentroute.decode_tokens_per_s", "agentroute.error"):
        assert key not in attrs
    assert attrs["gen_ai.request.temperature"] == 0.0
    assert all(isinstance(v, str | int | float | bool | list) for v in attrs.values())


# -- CLI --------------------------------------------------------------------------------------------------


@pytest.fixture
def trace_file(tmp_path):
    path = tmp_path / "run.jsonl"
    with Trace(path):
        for record in sample_trace():
            record_step(record)
    return path


def test_cli_show(trace_file, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # rich wraps to the terminal width; give the table room
    assert main(["trace", "show", str(trace_file)]) == 0
    out = capsys.readouterr().out
    assert "8 steps" in out and "summary per step type" in out
    assert "0-15,15-29" in out and "0-9,20-29" in out  # the loop program, in its compact form
    assert "tool_call/planning (router)" in out  # predicted/observed, source
    assert "[search, fetch]" in out  # error text is printed, not read as rich markup
    assert "final_answer" in out and "all" in out


def test_cli_plot(trace_file, tmp_path, capsys):
    out_png = tmp_path / "plots" / "run.png"
    assert main(["trace", "plot", str(trace_file), "-o", str(out_png)]) == 0
    assert str(out_png) in capsys.readouterr().out.replace("\n", "")
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out_png.stat().st_size > 30_000


@pytest.mark.parametrize("command", ["show", "plot"])
def test_cli_missing_and_corrupt_files_exit_2(tmp_path, capsys, command):
    extra = ["-o", str(tmp_path / "x.png")] if command == "plot" else []
    assert main(["trace", command, str(tmp_path / "missing.jsonl"), *extra]) == 2
    err = capsys.readouterr().err
    assert "no trace file" in err and "Traceback" not in err
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text("garbage\n" + make_record().model_dump_json() + "\n")
    assert main(["trace", command, str(corrupt), *extra]) == 2
    assert "line 1" in capsys.readouterr().err
