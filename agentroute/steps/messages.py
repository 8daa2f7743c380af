"""Check chat messages and render them into prompt token ids with the model's chat template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from agentroute.errors import MessageError

ROLES = ("system", "user", "assistant", "tool")


def validate_messages(messages: Any) -> list[dict[str, Any]]:
    """Return the messages as plain dicts, or raise MessageError naming the bad one."""
    if isinstance(messages, (str, bytes)) or not isinstance(messages, Sequence):
        raise MessageError(
            f"messages must be a list of {{'role': ..., 'content': ...}} dicts, got {type(messages).__name__}"
        )
    if not messages:
        raise MessageError("the message list is empty; pass at least one user message")
    checked = []
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            raise MessageError(f"message {i} must be a dict with 'role' and 'content', got {type(message).__name__}")
        role = message.get("role")
        if role not in ROLES:
            raise MessageError(f"message {i} has unknown role {role!r}; use one of {', '.join(ROLES)}")
        content = message.get("content")
        if content is None and not message.get("tool_calls"):
            raise MessageError(f"message {i} ({role}) has no 'content'")
        if content is not None and not isinstance(content, str):
            raise MessageError(f"message {i} ({role}) content must be a string, got {type(content).__name__}")
        checked.append({**message, "content": content or ""})
    return checked


def render_prompt(tokenizer, messages_or_prompt: str | Sequence[Mapping[str, Any]]) -> list[int]:
    """Token ids of the prompt, ending where the assistant's reply starts.

    A plain string is sent as one user message. Without a chat template it is encoded as it is.
    """
    if isinstance(messages_or_prompt, str):
        if not messages_or_prompt:
            raise MessageError("the prompt is empty")
        messages = [{"role": "user", "content": messages_or_prompt}]
    else:
        messages = validate_messages(messages_or_prompt)
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    text = "\n".join(m["content"] for m in messages)
    return list(tokenizer(text)["input_ids"])
