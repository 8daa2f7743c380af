"""An OpenAI chat-completions request body read into the arguments of ``RoutedModel.generate``.

Messages keep OpenAI's shape (``developer`` reads as ``system``, text parts are joined): assistant
``tool_calls`` with arguments as JSON strings and ``tool`` results are what the core's tool prompt
already reads. ``tool_choice`` "required" or a named function types the step as a tool call (the
core's settling rule), "none" leaves the tools out. Besides OpenAI's fields the server takes
``top_k`` and ``ignore_eos`` (as vLLM and SGLang do) and an ``"agentroute"`` object with
``generate``'s own keywords (step_type, hints, budget, program, mode, constrain, jump_forward,
prefill). Anything it cannot honour is a ``RequestError`` naming the field: a silently ignored
``n=2`` or ``logprobs`` would hand the caller something other than what it asked for.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentroute.errors import AgentRouteError
from agentroute.serve.openai_format import RequestError, json_schema_of
from agentroute.steps.step_types import tool_choice_of

# Fields read below, and fields accepted and left alone (they change nothing about the reply).
_READ = (
    "model", "messages", "tools", "tool_choice", "parallel_tool_calls", "max_tokens", "max_completion_tokens",
    "temperature", "top_p", "top_k", "seed", "stop", "response_format", "stream", "stream_options", "n",
    "logprobs", "top_logprobs", "frequency_penalty", "presence_penalty", "logit_bias", "ignore_eos", "agentroute",
)  # fmt: skip
_IGNORED = ("user", "metadata", "store", "service_tier")
_OURS = ("step_type", "hints", "budget", "program", "mode", "constrain", "jump_forward", "prefill")
_SAMPLING = ("temperature", "top_p", "top_k", "seed", "ignore_eos")
MAX_BODY = 32 * 1024 * 1024


@dataclass
class ChatRequest:
    """One request, read: ``generate(messages, **kwargs)`` serves it."""

    model: str | None
    messages: list[dict[str, Any]]
    kwargs: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False
    max_calls: int | None = None  # 1 with parallel_tool_calls=false

    @property
    def has_tools(self) -> bool:
        return bool(self.kwargs.get("tools"))


def read_body(raw: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or a RequestError saying why not."""
    try:
        body = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise RequestError(f"the request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object, got {type(body).__name__}")
    return body


def read_request(body: Mapping[str, Any]) -> ChatRequest:
    """Check every field of a chat-completions body; RequestError naming the first bad one."""
    check_fields(body, _READ, _IGNORED)
    refuse_unsupported(body)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"model must be a string, got {type(model).__name__}", "model")
    messages = _messages(body.get("messages"))
    kwargs = sampling_kwargs(body)
    hints: dict[str, Any] = {}
    tools = body.get("tools")
    if tools is not None and not isinstance(tools, list):
        raise RequestError(f"tools must be a list of tool definitions, got {type(tools).__name__}", "tools")
    choice = _tool_choice(body.get("tool_choice"), tools or [])
    if choice == "none":
        tools = None
    elif choice is not None:
        hints["tool_choice"] = choice
        if choice != "required":
            tools = [t for t in tools if _tool_name(t) == choice]
    if tools:
        kwargs["tools"] = tools
    schema = json_schema_of(body.get("response_format"))
    if schema is not None:
        kwargs["json_schema"] = schema
    kwargs.update(_ours(body.get("agentroute"), hints))
    stream, include_usage = streaming_of(body)
    parallel = body.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        raise RequestError(f"parallel_tool_calls must be true or false, got {parallel!r:.40}", "parallel_tool_calls")
    return ChatRequest(
        model=model,
        messages=messages,
        kwargs=kwargs,
        stream=stream,
        include_usage=include_usage,
        max_calls=1 if parallel is False else None,
    )


def check_fields(body: Mapping[str, Any], read: tuple[str, ...], ignored: tuple[str, ...]) -> None:
    """RequestError for the first field neither read nor ignored, with the closest known name."""
    for name in body:
        if name not in read and name not in ignored:
            close = difflib.get_close_matches(name, read, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise RequestError(f"unsupported request field {name!r}{hint}", name)


def streaming_of(body: Mapping[str, Any]) -> tuple[bool, bool]:
    """(stream, include_usage) of a body, checked."""
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise RequestError(f"stream must be true or false, got {stream!r:.40}", "stream")
    options = body.get("stream_options") or {}
    if not isinstance(options, Mapping):
        raise RequestError('stream_options must be an object such as {"include_usage": true}', "stream_options")
    return stream, bool(options.get("include_usage"))


def sampling_kwargs(body: Mapping[str, Any]) -> dict[str, Any]:
    """``generate``'s sampling, length and stop keywords from a chat or text completions body."""
    kwargs: dict[str, Any] = {k: body[k] for k in _SAMPLING if body.get(k) is not None}
    max_new = max_tokens_of(body)
    if max_new is not None:
        kwargs["max_new_tokens"] = max_new
    if body.get("stop") is not None:
        kwargs["stop"] = body["stop"]
    return kwargs


def refuse_unsupported(body: Mapping[str, Any]) -> None:
    """RequestError for what neither completions route honours: several replies, logprobs, penalties, biases."""
    if body.get("n") not in (None, 1):
        raise RequestError(f"n must be 1 (one reply per request), got {body['n']!r:.40}", "n")
    if body.get("logprobs") or body.get("top_logprobs") is not None:
        raise RequestError("logprobs are not returned by this server; leave logprobs out", "logprobs")
    for name in ("frequency_penalty", "presence_penalty"):
        if body.get(name) not in (None, 0, 0.0):
            raise RequestError(f"{name} is not supported (only 0); leave it out", name)
    if body.get("logit_bias"):
        raise RequestError("logit_bias is not supported; leave it out", "logit_bias")


def _messages(value: Any) -> list[dict[str, Any]]:
    if not isinstance(value, list) or not value:
        raise RequestError('messages must be a non-empty list of {"role", "content"} objects', "messages")
    out = []
    for i, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise RequestError(f"messages[{i}] must be an object, got {type(message).__name__}", "messages")
        message = dict(message)
        if message.get("role") == "developer":
            message["role"] = "system"
        content = message.get("content")
        if isinstance(content, list):
            message["content"] = _text_parts(i, content)
        out.append(message)
    return out


def _text_parts(i: int, parts: list[Any]) -> str:
    texts = []
    for j, part in enumerate(parts):
        if not isinstance(part, Mapping) or part.get("type") != "text" or not isinstance(part.get("text"), str):
            kind = part.get("type") if isinstance(part, Mapping) else type(part).__name__
            raise RequestError(
                f"messages[{i}].content[{j}] is a {kind!r} part; only text parts reach the model", "messages"
            )
        texts.append(part["text"])
    return "".join(texts)


def _tool_name(tool: Any) -> Any:
    if not isinstance(tool, Mapping):
        return None
    function = tool.get("function")
    return function.get("name") if isinstance(function, Mapping) else tool.get("name")


def _tool_choice(choice: Any, tools: list[Any]) -> str | None:
    """None (the model decides), "none", "required" or the name of the one tool to call."""
    try:
        return tool_choice_of(choice, [_tool_name(t) for t in tools])
    except AgentRouteError as exc:
        raise RequestError(str(exc), "tool_choice") from None


def max_tokens_of(body: Mapping[str, Any]) -> int | None:
    values = {k: body[k] for k in ("max_completion_tokens", "max_tokens") if body.get(k) is not None}
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise RequestError(f"{name} must be a positive integer, got {value!r:.40}", name)
    if len(set(values.values())) > 1:
        raise RequestError("max_tokens and max_completion_tokens disagree; send one of them", "max_tokens")
    return next(iter(values.values()), None)


def _ours(value: Any, hints: dict[str, Any]) -> dict[str, Any]:
    """The ``"agentroute"`` object's keywords, its hints merged with those the request implies."""
    if value is None:
        return {"hints": hints} if hints else {}
    if not isinstance(value, Mapping):
        kind = type(value).__name__
        raise RequestError(f"agentroute must be an object of generate keywords, got {kind}", "agentroute")
    for name in value:
        if name not in _OURS:
            raise RequestError(f"unknown agentroute field {name!r}; the fields are {', '.join(_OURS)}", "agentroute")
    out = {k: v for k, v in value.items() if v is not None}
    given = out.get("hints", {})
    if not isinstance(given, Mapping):
        raise RequestError(f"agentroute.hints must be an object, got {type(given).__name__}", "agentroute")
    merged = {**given, **hints}
    if merged:
        out["hints"] = merged
    return out
