"""The request bodies a ``ServedModel`` sends: chat completions (OpenAI's fields, vLLM's ``top_k``
and ``ignore_eos``, AgentRoute's ``"agentroute"`` object for its own server) and completions for
a prompt the client rendered itself."""

from __future__ import annotations

from typing import Any

from agentroute.decode.options import GenerationOptions
from agentroute.serve.openai_format import response_format
from agentroute.steps.tools import ToolSpec

_FORCING = ("required", "any")


def chat_body(
    model: str,
    wire: list[dict[str, Any]],
    specs: list[ToolSpec],
    s: GenerationOptions,
    hints: dict[str, Any],
    ours: dict[str, Any],
) -> dict[str, Any]:
    """The chat-completions body: OpenAI's fields, vLLM's ``top_k``/``ignore_eos``, AgentRoute's own."""
    body = {"model": model, "messages": wire, **sampling_fields(s)}
    if (answer_format := response_format(s.json_schema)) is not None:
        body["response_format"] = answer_format
    if specs:
        body["tools"] = [{"type": "function", "function": spec.model_dump()} for spec in specs]
        choice = hints.get("tool_choice")
        if choice in _FORCING:
            body["tool_choice"] = "required"
        elif choice in {spec.name for spec in specs}:
            body["tool_choice"] = {"type": "function", "function": {"name": choice}}
    body["agentroute"] = ours
    return body


def completion_body(model: str, prompt: list[int] | str, s: GenerationOptions) -> dict[str, Any]:
    """A completions body for a prompt this client wrote (token ids or text) with the same sampling fields."""
    return {"model": model, "prompt": prompt, **sampling_fields(s)}


def sampling_fields(s: GenerationOptions) -> dict[str, Any]:
    """The length and sampling fields both bodies send: OpenAI's, and vLLM's ``top_k``/``ignore_eos``."""
    body: dict[str, Any] = {"max_tokens": s.max_new_tokens, "temperature": s.temperature, "top_p": s.top_p}
    optional = {
        "top_k": s.top_k or None,
        "seed": s.seed,
        "stop": list(s.stop) if s.stop else None,
        "ignore_eos": s.ignore_eos or None,
    }
    body.update({k: v for k, v in optional.items() if v is not None})
    return body
