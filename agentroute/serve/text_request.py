"""An OpenAI (legacy) completions request: a prompt already written, as token ids or text.

``POST /v1/completions`` is what engines (vLLM, SGLang, llama-server) serve beside chat
completions. A ``ServedModel`` that renders a step's prompt itself (tools written as the core
writes them, which an engine's own chat template does not do) sends it here as token ids. The
reply is the model's text, full depth, with no tool grammar: calls are read out of it by the
client. Fields it cannot honour are a ``RequestError`` naming them, as for chat requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from agentroute.serve.openai_format import RequestError
from agentroute.serve.request import check_fields, refuse_unsupported, sampling_kwargs, streaming_of

_READ = (
    "model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "stream", "stream_options",
    "n", "echo", "suffix", "logprobs", "best_of", "frequency_penalty", "presence_penalty", "logit_bias", "ignore_eos",
)  # fmt: skip
_IGNORED = ("user",)


@dataclass
class TextRequest:
    """One completions request, read: ``generate_ids(prompt_ids, **kwargs)`` (or the text's ids) serves it."""

    model: str | None
    prompt_ids: list[int] | None
    prompt_text: str | None
    kwargs: dict[str, Any] = field(default_factory=dict)
    stream: bool = False
    include_usage: bool = False


def read_text_request(body: Mapping[str, Any]) -> TextRequest:
    """Check every field of a completions body; RequestError naming the first bad one."""
    check_fields(body, _READ, _IGNORED)
    refuse_unsupported(body)
    if body.get("best_of") not in (None, 1):
        raise RequestError(f"best_of must be 1 (one reply per request), got {body['best_of']!r:.40}", "best_of")
    for name in ("echo", "suffix"):
        if body.get(name):
            raise RequestError(f"{name} is not supported by this server; leave it out", name)
    model = body.get("model")
    if model is not None and not isinstance(model, str):
        raise RequestError(f"model must be a string, got {type(model).__name__}", "model")
    prompt = body.get("prompt")
    ids = text = None
    if isinstance(prompt, str) and prompt:
        text = prompt
    elif isinstance(prompt, list) and prompt and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt):
        ids = list(prompt)
    else:
        raise RequestError("prompt must be a non-empty string or a non-empty list of token ids", "prompt")
    stream, include_usage = streaming_of(body)
    return TextRequest(model, ids, text, sampling_kwargs(body), stream, include_usage)


def text_choice_body(completion_id: str, created: int, model: str, text: str, finish_reason: str | None) -> dict:
    """A completion, or one streamed piece of it, in OpenAI's text-completion shape."""
    return {
        "id": completion_id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}],
    }
