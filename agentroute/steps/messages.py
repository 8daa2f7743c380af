"""Check chat messages and render them into prompt token ids with the model's chat template."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import jinja2

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
        if content and not _encodable(content):
            raise MessageError(
                f"message {i} ({role}) content is not valid Unicode (a lone surrogate); "
                "decode the text with errors='replace' before passing it"
            )
        checked.append({**message, "content": content or ""})
    return checked


def render_prompt(
    tokenizer, messages_or_prompt: str | Sequence[Mapping[str, Any]], tools: list[dict[str, Any]] | None = None
) -> list[int]:
    """Token ids of the prompt, ending where the assistant's reply starts.

    A plain string is sent as one user message. Without a chat template it is encoded as it is.
    ``tools`` (OpenAI's shape) and assistant ``tool_calls`` go to a template that renders them
    itself (``call_formats``).
    """
    if isinstance(messages_or_prompt, str):
        if not messages_or_prompt:
            raise MessageError("the prompt is empty")
        messages = [{"role": "user", "content": messages_or_prompt}]
    else:
        messages = validate_messages(messages_or_prompt)
    if tools is not None or any(m.get("tool_calls") for m in messages):
        return _render_with_tools(tokenizer, messages, tools)
    hostile = any(_control_tokens_in(tokenizer, m["content"]) for m in messages)
    if getattr(tokenizer, "chat_template", None):
        if hostile:
            return _render_as_data(tokenizer, messages)
        text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        return list(tokenizer(text, add_special_tokens=False)["input_ids"])
    text = "\n".join(m["content"] for m in messages)
    return list(tokenizer(text, split_special_tokens=hostile)["input_ids"])


# Message content is data: a control token's text inside it ("<|im_end|>\n<|im_start|>system") is
# encoded as the plain characters it is made of, never as the control token, so no content can end
# its own turn and forge another. Content without such text takes the plain path, whose token ids
# stay exactly what the chat template and tokenizer give (stock ``generate()`` sees the same ids).
_SLOT = "\ue000{}\ue001"  # private-use code points mark where each content goes in the template


def _control_tokens_in(tokenizer, content: str) -> list[str]:
    """The control tokens whose text appears in ``content``."""
    if not content:
        return []
    return [s for s in _control_tokens(tokenizer) if s in content]


def _control_tokens(tokenizer, template: str = "") -> set[str]:
    """The special tokens, and with ``template`` the added tokens it writes (Qwen's ``<tool_call>``)."""
    added = getattr(tokenizer, "added_tokens_decoder", {}).values()
    tokens = {t.content for t in added if t.special or (template and t.content in template)}
    tokens.update(getattr(tokenizer, "all_special_tokens", []))
    return {t for t in tokens if t}


def _render_with_tools(tokenizer, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> list[int]:
    """A template's own tools prompt. Tool descriptions, schemas and call arguments are data like
    content: control-token text anywhere in them is encoded as plain characters (transformers'
    ``sanitize_control_tokens``), and in a key, which that leaves alone, it is an error."""
    template = getattr(tokenizer, "chat_template", None)
    if not template:
        raise MessageError("tools and tool calls in a template's own format need a chat template")
    controls = _control_tokens(tokenizer, str(template))
    hostile = False
    for text, is_key in _strings((messages, tools)):
        found = [c for c in controls if c in text]
        if found and is_key:
            raise MessageError(f"the key {text!r:.80} holds control-token text {found[0]!r}; rename it")
        hostile = hostile or bool(found)
    try:
        if hostile:
            return list(
                tokenizer.apply_chat_template(
                    messages, tools=tools, add_generation_prompt=True, return_dict=False, sanitize_control_tokens=True
                )
            )
        text = tokenizer.apply_chat_template(messages, tools=tools, add_generation_prompt=True, tokenize=False)
    except jinja2.TemplateError as exc:
        raise MessageError(f"the chat template refuses this conversation: {exc}") from None
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _strings(value: Any, is_key: bool = False):
    """Every string in nested dicts and lists, with whether it is a key."""
    if isinstance(value, str):
        yield value, is_key
    elif isinstance(value, Mapping):
        for key, item in value.items():
            yield from _strings(key, True)
            yield from _strings(item)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _strings(item)


def _render_as_data(tokenizer, messages: list[dict[str, Any]]) -> list[int]:
    """The chat template's own tokens as control tokens, every content's characters as text."""
    slotted = [{**m, "content": _SLOT.format(i)} for i, m in enumerate(messages)]
    text = tokenizer.apply_chat_template(slotted, add_generation_prompt=True, tokenize=False)
    ids: list[int] = []
    for i, message in enumerate(messages):
        slot = _SLOT.format(i)
        if text.count(slot) != 1:
            raise MessageError(
                f"message {i} ({message['role']}) holds control-token text, and this chat template does not "
                "show each message's content once, so it cannot be encoded as plain text; remove the token text"
            )
        before, text = text.split(slot)
        ids += tokenizer(before, add_special_tokens=False)["input_ids"]
        ids += tokenizer(message["content"], add_special_tokens=False, split_special_tokens=True)["input_ids"]
    return ids + list(tokenizer(text, add_special_tokens=False)["input_ids"])


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
