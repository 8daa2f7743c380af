"""Checks of ``LayerRouteGenerator``'s init arguments and ``generation_kwargs``, before any model loads.

Haystack builds components long before it runs them (a pipeline YAML is loaded, then warmed up
later), so every argument is checked in ``__init__``: a wrong type or value, a misspelled
``generation_kwargs`` key, a missing checkpoint, pack, policy or programs file fails there with an
error naming the argument, not at ``warm_up`` or the first ``run``. The model arguments get
``agentroute.load``'s own checks (``agentroute.loading.check_load_arguments``: small files are read,
no weights).
"""

from __future__ import annotations

import difflib
from typing import Any

from agentroute import AgentRouteError
from agentroute.decode.options import framework_overrides, parse_options
from agentroute.loading import check_load_arguments
from agentroute.steps.policy import check_budget
from agentroute.steps.step_types import parse_step_type, tool_choice_of

from .structured import response_format_schema

# generation_kwargs keys passed to RoutedModel.generate as they are.
OPTIONS = ("max_new_tokens", "temperature", "top_p", "top_k", "seed", "prefill", "reuse_prefix", "constrain")
# max_new_tokens under the name OpenAI's and LangChain's generators use.
MAX_TOKENS = "max_tokens"
# Stop strings under the names Haystack's generators use (stop_words, HF's stop_sequences, OpenAI's stop).
STOP_KEYS = ("stop_words", "stop_sequences", "stop")
# Structured output as OpenAIChatGenerator takes it: a pydantic model or a JSON schema (json_schema= here).
RESPONSE_FORMAT = "response_format"
# Per-step routing overrides that may also come through generation_kwargs (e.g. from Agent.run), and
# OpenAI's tool_choice: "auto" (default: call, or say no offered tool fits), "none", "required" or
# {"type": "function", "function": {"name": ...}}.
STEP_KEYS = ("step_type", "budget", "tool_choice")
# Keys of HuggingFaceLocalChatGenerator's generation_kwargs (transformers' generate), read as
# transformers reads them so that a pipeline moved over keeps its decoding: do_sample=False is
# greedy whatever the temperature, do_sample=True samples at ``temperature`` (transformers' default
# 1.0); return_full_text=False is what every reply already is (only the new text). A dict's
# do_sample is read with that dict's temperature (init and call are each read, then merged).
DO_SAMPLE, RETURN_FULL_TEXT = "do_sample", "return_full_text"
MIGRATION_KEYS = (DO_SAMPLE, RETURN_FULL_TEXT)
KEYS = (*OPTIONS, MAX_TOKENS, *STOP_KEYS, RESPONSE_FORMAT, *STEP_KEYS, *MIGRATION_KEYS)


def check_init(
    *, mode: Any, generation_kwargs: Any, streaming_callback: Any, tools_strict: Any, **load_arguments: Any
) -> None:
    """Raise TypeError or ValueError, naming the argument, for anything ``warm_up`` or ``run`` would refuse.

    ``load_arguments`` are ``agentroute.load``'s (``model``, ``pack``, ...), checked as ``load`` checks them.
    """
    try:
        framework_overrides(mode)
        check_load_arguments(**load_arguments)
    except AgentRouteError as exc:
        raise ValueError(str(exc)) from None
    if not isinstance(tools_strict, bool):
        raise TypeError(f"tools_strict must be True or False, got {tools_strict!r}")
    if generation_kwargs is not None and not isinstance(generation_kwargs, dict):
        raise TypeError(f"generation_kwargs must be a dict or None, got {type(generation_kwargs).__name__}")
    split_generation_kwargs(generation_kwargs or {}, strict=tools_strict)
    if streaming_callback is not None and not callable(streaming_callback):
        raise TypeError(f"streaming_callback must be callable or None, got {type(streaming_callback).__name__}")


def canonical_generation_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``generation_kwargs`` with one name per setting: ``max_tokens`` as ``max_new_tokens``, every stop key
    as ``stop`` (a list). The init and per-call dicts are each made canonical before a call merges them,
    so a call's ``max_tokens`` or ``stop`` replaces the init ``max_new_tokens`` or ``stop_words``."""
    for key in kwargs:
        if key not in KEYS:
            close = difflib.get_close_matches(key, KEYS, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(
                f"unknown generation_kwargs key {key!r}; {hint}LayerRouteGenerator accepts "
                f"{', '.join(OPTIONS + (MAX_TOKENS,) + STOP_KEYS + (RESPONSE_FORMAT, *MIGRATION_KEYS))} and the step "
                f"overrides {', '.join(STEP_KEYS)}"
            )
    kwargs = _transformers_sampling(kwargs)
    out = {key: value for key, value in kwargs.items() if key != MAX_TOKENS and key not in STOP_KEYS}
    if MAX_TOKENS in kwargs and out.setdefault("max_new_tokens", kwargs[MAX_TOKENS]) != kwargs[MAX_TOKENS]:
        raise ValueError(
            f"generation_kwargs max_tokens={kwargs[MAX_TOKENS]!r} and max_new_tokens={out['max_new_tokens']!r} "
            "disagree; they are one setting"
        )
    stops = [(key, kwargs[key]) for key in STOP_KEYS if kwargs.get(key) is not None]
    for key, value in stops:
        if not isinstance(value, (str, list, tuple)):
            raise ValueError(f"generation_kwargs {key!r} must be a string or a list of strings, got {value!r}")
    if stops:
        out["stop"] = list(
            dict.fromkeys(s for _, value in stops for s in ([value] if isinstance(value, str) else value))
        )
    return out


def _transformers_sampling(kwargs: dict[str, Any]) -> dict[str, Any]:
    """``do_sample`` and ``return_full_text`` (transformers' keys) as this generator's settings."""
    full_text = kwargs.get(RETURN_FULL_TEXT)
    if full_text not in (None, False):
        raise ValueError(
            f"generation_kwargs return_full_text={full_text!r}: a reply is always only the new text; "
            "drop the key or set it to False"
        )
    out = {key: value for key, value in kwargs.items() if key not in MIGRATION_KEYS}
    if DO_SAMPLE not in kwargs:
        return out
    sample = kwargs[DO_SAMPLE]
    if not isinstance(sample, bool):
        raise ValueError(f"generation_kwargs do_sample must be True or False, got {sample!r}")
    if not sample:
        out["temperature"] = 0.0  # greedy, as transformers decodes with do_sample=False
    elif out.setdefault("temperature", 1.0) == 0:
        raise ValueError(
            "generation_kwargs do_sample=True with temperature=0 cannot sample; give a temperature above 0 "
            "(or do_sample=False for greedy decoding)"
        )
    return out


def split_generation_kwargs(kwargs: dict[str, Any], strict: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generation options for ``generate`` and the per-step overrides, all checked; ValueError otherwise.

    ``strict`` (``tools_strict``): tool calls are decoded under the tools' grammar (``constrain``),
    so ``constrain=False`` contradicts it.
    """
    kwargs = canonical_generation_kwargs(kwargs)
    options = {key: kwargs[key] for key in (*OPTIONS, "stop") if key in kwargs}
    if kwargs.get(RESPONSE_FORMAT) is not None:
        options["json_schema"] = response_format_schema(kwargs[RESPONSE_FORMAT])
    if strict:
        if options.get("constrain") is False:
            raise ValueError(
                "tools_strict=True holds tool calls to their schemas with the tools' grammar, which "
                "generation_kwargs constrain=False turns off; drop one of them"
            )
        options["constrain"] = True
    step = {key: kwargs[key] for key in STEP_KEYS if kwargs.get(key) is not None}
    try:
        parse_options(options)
        if "step_type" in step:
            parse_step_type(step["step_type"])
        if "budget" in step:
            check_budget(step["budget"], "'budget'")
        if "tool_choice" in step:
            step["tool_choice"] = tool_choice_of(step["tool_choice"])
    except AgentRouteError as exc:
        raise ValueError(f"invalid generation_kwargs: {exc}") from None
    return options, step
