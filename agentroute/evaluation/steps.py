"""Read and check an evaluation file: one agent step per JSON line.

A line is either a hand-written step::

    {"id": "weather-1", "step_type": "tool_call", "max_new_tokens": 64,
     "messages": [{"role": "user", "content": "Weather in Oslo?"}],
     "tools": [{"name": "get_weather", "description": "...", "parameters": {...}}],
     "expected": {"tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]}}

or a line of a trace written by ``Trace(path, include_messages=True)`` (a StepRecord plus the
step's ``messages`` and ``tools``; its recorded ``step_type`` is replayed). Other keys ("domain",
the record's own fields) are ignored. Every line is checked before any model runs; a bad line
becomes a ``Problem`` naming its line number and the rest of the file is still used.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agentroute.errors import AgentRouteError
from agentroute.steps.messages import validate_messages
from agentroute.steps.records import StepType
from agentroute.steps.step_types import parse_step_type
from agentroute.steps.tool_turns import render_tool_messages
from agentroute.steps.tools import ToolSpec, normalize_tools

DEFAULT_MAX_NEW_TOKENS = 128
NO_TRACE_MESSAGES = "trace record has no messages; record traces with Trace(..., include_messages=True)"
# Fields every StepRecord line has and a hand-written step would not.
_TRACE_KEYS = ("prefill_program", "layers_per_token", "completion_tokens")


class EvalError(AgentRouteError, ValueError):
    """An evaluation that cannot start: unreadable steps file, unknown mode, nothing to evaluate."""


class StepError(AgentRouteError, ValueError):
    """What is wrong with one step of an evaluation file."""


@dataclass(frozen=True)
class Problem:
    """A step that could not be evaluated: its line (None for steps given in memory), id and why."""

    line: int | None
    id: str | None
    error: str

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "id": self.id, "error": self.error}

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line is not None else "step"
        return f"{where}{f' ({self.id})' if self.id else ''}: {self.error}"


@dataclass(frozen=True)
class EvalStep:
    """One checked step, ready to run."""

    id: str
    messages: list[dict[str, Any]]
    tools: list[ToolSpec]
    step_type: StepType | None = None
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    expected: list[dict[str, Any]] | None = None  # expected tool calls: [{"name", "arguments"}]
    answer: str | None = None  # a gold text reply (final answers, declined tool calls), for training
    category: str | None = None  # the skill the step tests (generated data: simple, parallel, ...)
    # "required" or a tool's name: the caller demands a call (as OpenAI's tool_choice); None: the
    # model may also say in text that no offered tool fits.
    tool_choice: str | None = None
    line: int | None = None

    @property
    def hints(self) -> dict[str, Any] | None:
        """The hints ``generate`` gets for this step (its ``tool_choice``), or None."""
        return {"tool_choice": self.tool_choice} if self.tool_choice is not None else None


def parse_step(data: Any, line: int | None = None) -> EvalStep:
    """Check one step (a decoded JSON line); raise StepError saying what is wrong."""
    if not isinstance(data, Mapping):
        raise StepError(f"a step must be a JSON object, got {type(data).__name__}")
    step_id = data.get("id", f"line-{line}" if line is not None else None)
    if not isinstance(step_id, str) or not step_id:
        raise StepError(f"'id' must be a non-empty string, got {step_id!r}")
    is_trace = all(key in data for key in _TRACE_KEYS)
    if data.get("messages") is None:
        raise StepError(NO_TRACE_MESSAGES if is_trace else "the step has no 'messages'")
    try:
        messages = validate_messages(data["messages"])
        tools = normalize_tools(data.get("tools"))
        # Renders assistant tool calls: a malformed call fails here, before any model runs.
        render_tool_messages(messages)
        step_type = parse_step_type(data["step_type"]) if data.get("step_type") is not None else None
    except AgentRouteError as exc:
        raise StepError(str(exc)) from None
    offered = [t.name for t in tools]
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            for call in message.get("tool_calls") or []:
                _check_offered(_call_name(call), offered, f"message {i} (assistant) calls")
    return EvalStep(
        id=step_id,
        messages=messages,
        tools=tools,
        step_type=step_type,
        max_new_tokens=_max_new_tokens(data.get("max_new_tokens", DEFAULT_MAX_NEW_TOKENS)),
        expected=_expected(data["expected"], offered) if data.get("expected") is not None else None,
        answer=_answer(data.get("answer")),
        category=_category(data.get("category")),
        tool_choice=_tool_choice(data.get("tool_choice"), offered),
        line=line,
    )


def load_steps(path: str | os.PathLike[str], limit: int | None = None) -> tuple[list[EvalStep], list[Problem]]:
    """Read a steps file (or a trace); return the good steps and a Problem per bad line.

    ``limit`` stops reading once that many good steps were read. Raises EvalError when the file
    cannot be read at all. Blank lines are skipped; duplicate ids are problems (results are keyed by id).
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise EvalError(f"no steps file at {path}") from None
    except OSError as exc:
        raise EvalError(f"cannot read steps file {path}: {exc.strerror or exc}") from None
    steps: list[EvalStep] = []
    problems: list[Problem] = []
    seen: set[str] = set()
    for number, raw in enumerate(data.split(b"\n"), start=1):
        if limit is not None and len(steps) >= limit:
            break
        if not raw.strip():
            continue
        decoded, step_id = None, None
        try:
            decoded = json.loads(raw)
            step_id = _id_of(decoded)
            step = parse_step(decoded, number)
            if step.id in seen:
                raise StepError(f"another step already has id {step.id!r}; ids must be unique")
        except UnicodeDecodeError:
            problems.append(Problem(number, None, "is not valid UTF-8 text"))
            continue
        except json.JSONDecodeError as exc:
            problems.append(Problem(number, None, f"is not valid JSON: {exc.msg} (column {exc.colno})"))
            continue
        except RecursionError:
            problems.append(Problem(number, None, "is not valid JSON: it is nested too deeply"))
            continue
        except StepError as exc:
            problems.append(Problem(number, step_id, str(exc)))
            continue
        seen.add(step.id)
        steps.append(step)
    return steps, problems


def _id_of(decoded: Any) -> str | None:
    step_id = decoded.get("id") if isinstance(decoded, Mapping) else None
    return step_id if isinstance(step_id, str) else None


def _call_name(call: Any) -> Any:
    """Name of a call in the flat ``{"name", "arguments"}`` or the OpenAI ``{"function": ...}`` shape."""
    if not isinstance(call, Mapping):
        return getattr(call, "name", None)
    function = call.get("function")
    return function.get("name") if isinstance(function, Mapping) else call.get("name")


def _check_offered(name: Any, offered: list[str], what: str) -> None:
    if name not in offered:
        tools = f"offered tools: {', '.join(offered)}" if offered else "no tools are offered"
        raise StepError(f"{what} tool {name!r}, which is not offered ({tools})")


def _max_new_tokens(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise StepError(f"'max_new_tokens' must be a positive integer, got {value!r}")
    return value


def _answer(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise StepError(f"'answer' must be a non-empty string (the gold reply), got {value!r}")
    return value


def _category(value: Any) -> str | None:
    if value is not None and (not isinstance(value, str) or not value):
        raise StepError(f"'category' must be a non-empty string (e.g. 'parallel'), got {value!r}")
    return value


def _tool_choice(value: Any, offered: list[str]) -> str | None:
    if value is None or value in ("auto", "none", "required"):
        return value
    if isinstance(value, str) and value in offered:
        return value
    raise StepError(f"'tool_choice' must be 'auto', 'none', 'required' or an offered tool's name, got {value!r}")


def _expected(expected: Any, offered: list[str]) -> list[dict[str, Any]]:
    """The expected tool calls as ``[{"name", "arguments"}]``, checked against the offered tools."""
    calls = expected.get("tool_calls") if isinstance(expected, Mapping) else None
    if not isinstance(calls, list):
        raise StepError('\'expected\' must be {"tool_calls": [{"name": ..., "arguments": {...}}, ...]}')
    out = []
    for i, call in enumerate(calls):
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            raise StepError(f"expected tool call {i} must be an object with a string 'name', got {call!r}")
        _check_offered(call["name"], offered, f"expected tool call {i} calls")
        arguments = call.get("arguments", {})
        if not isinstance(arguments, Mapping):
            raise StepError(f"expected tool call {i} ({call['name']}): 'arguments' must be an object")
        out.append({"name": call["name"], "arguments": dict(arguments)})
    return out
