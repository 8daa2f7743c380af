"""Checks of ``LayerRouteGenerator``'s init arguments and ``generation_kwargs``, before any model loads.

Haystack builds components long before it runs them (a pipeline YAML is loaded, then warmed up
later), so every argument is checked in ``__init__``: a wrong type or value, a misspelled
``generation_kwargs`` key, a missing checkpoint, pack, policy or programs file fails there with an
error naming the argument, not at ``warm_up`` or the first ``run``. The checks are the cheap ones
``agentroute.load`` makes before it reads any weights (a pack's and a programs file's JSON are read,
nothing more), with ``pack="auto"`` resolved the way ``load`` resolves it.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from pathlib import Path
from typing import Any

import torch

from agentroute import AgentRouteError, DepthPolicy
from agentroute.decode.options import FRAMEWORK_MODES, parse_options
from agentroute.model.default_model import default_gguf_path
from agentroute.model.dtype_choice import resolve_dtype
from agentroute.model.quantization import QUANTIZATIONS
from agentroute.pack import read_manifest, resolve_pack_dir
from agentroute.program_library import read_programs
from agentroute.steps.policy import check_budget
from agentroute.steps.step_types import parse_step_type

# generation_kwargs keys passed to RoutedModel.generate as they are.
OPTIONS = ("max_new_tokens", "temperature", "top_p", "top_k", "seed", "prefill", "reuse_prefix", "constrain")
# max_new_tokens under the name OpenAI's and LangChain's generators use.
MAX_TOKENS = "max_tokens"
# Stop strings under the names Haystack's generators use (stop_words, HF's stop_sequences, OpenAI's stop).
STOP_KEYS = ("stop_words", "stop_sequences", "stop")
# Per-step routing overrides that may also come through generation_kwargs (e.g. from Agent.run).
STEP_KEYS = ("step_type", "budget")
KEYS = (*OPTIONS, MAX_TOKENS, *STOP_KEYS, *STEP_KEYS)


def check_init(
    *,
    model: Any,
    quantization: Any,
    pack: Any,
    policy: Any,
    programs: Any,
    mode: Any,
    generation_kwargs: Any,
    streaming_callback: Any,
    tools_strict: Any,
    device: Any,
    dtype: Any,
) -> None:
    """Raise TypeError or ValueError, naming the argument, for anything ``warm_up`` or ``run`` would refuse."""
    if mode not in FRAMEWORK_MODES:
        raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(FRAMEWORK_MODES)}")
    if not isinstance(tools_strict, bool):
        raise TypeError(f"tools_strict must be True or False, got {tools_strict!r}")
    if generation_kwargs is not None and not isinstance(generation_kwargs, dict):
        raise TypeError(f"generation_kwargs must be a dict or None, got {type(generation_kwargs).__name__}")
    split_generation_kwargs(generation_kwargs or {}, strict=tools_strict)
    if streaming_callback is not None and not callable(streaming_callback):
        raise TypeError(f"streaming_callback must be callable or None, got {type(streaming_callback).__name__}")
    _check_model(model)
    device = _check_device(device)
    for name, value in (("quantization", quantization), ("dtype", dtype)):
        if value is not None and not isinstance(value, str):
            raise TypeError(f"{name} must be a string or None, got {type(value).__name__}")
    for name, value in (("pack", pack), ("programs", programs)):
        if value is not None and not isinstance(value, (str, os.PathLike)):
            raise TypeError(f"{name} must be a name, a path or None, got {type(value).__name__}")
    _check_quantization(quantization)
    try:
        if dtype is not None:
            resolve_dtype(dtype, device)
        searched = read_programs(programs) if programs is not None else None
        if pack == "auto":  # as load() resolves it: the programs' pack, else the default model's
            pack = searched.pack if searched is not None else ("default" if str(model) == "default" else None)
        if pack is not None:
            read_manifest(resolve_pack_dir(pack))
        DepthPolicy.coerce(policy)
    except AgentRouteError as exc:
        raise ValueError(str(exc)) from None


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
                f"{', '.join(OPTIONS + (MAX_TOKENS,) + STOP_KEYS)} and the step overrides {', '.join(STEP_KEYS)}"
            )
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


def split_generation_kwargs(kwargs: dict[str, Any], strict: bool = False) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generation options for ``generate`` and the per-step overrides, all checked; ValueError otherwise.

    ``strict`` (``tools_strict``): tool calls are decoded under the tools' grammar (``constrain``),
    so ``constrain=False`` contradicts it.
    """
    kwargs = canonical_generation_kwargs(kwargs)
    options = {key: kwargs[key] for key in (*OPTIONS, "stop") if key in kwargs}
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
    except AgentRouteError as exc:
        raise ValueError(f"invalid generation_kwargs: {exc}") from None
    return options, step


def _check_model(model: Any) -> None:
    if not isinstance(model, (str, os.PathLike)):
        raise TypeError(f"model must be 'default' or a path, got {type(model).__name__}")
    if str(model) == "default":
        try:
            default_gguf_path()
        except AgentRouteError as exc:
            raise ValueError(str(exc)) from None
        return
    path = Path(model).expanduser()
    if not path.exists():
        raise ValueError(
            f"model path {path} does not exist; pass 'default', a local checkpoint directory or a .gguf file "
            "(models are never downloaded)"
        )
    if path.is_file() and path.suffix.lower() != ".gguf":
        raise ValueError(f"model {path} is a file but not a .gguf file; pass a checkpoint directory or a .gguf file")
    if path.is_dir() and not (path / "config.json").is_file():
        raise ValueError(f"model {path} has no config.json; pass a Hugging Face checkpoint directory or a .gguf file")


def _check_quantization(quantization: str | None) -> None:
    """A known scheme whose library is installed (found, not imported: bitsandbytes is slow to import)."""
    if quantization is None:
        return
    if quantization not in QUANTIZATIONS:
        raise ValueError(f"unknown quantization {quantization!r}; use one of {', '.join(QUANTIZATIONS)} or None")
    if importlib.util.find_spec("bitsandbytes") is None:
        raise ValueError(f"quantization {quantization!r} needs bitsandbytes, which is not installed")


def _check_device(device: Any) -> str:
    """The device ``load`` would use; ValueError for one it could not."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str):
        raise TypeError(f"device must be 'cpu', 'cuda' (or 'cuda:N') or None, got {type(device).__name__}")
    try:
        kind = torch.device(device).type
    except RuntimeError:
        kind = None
    if kind not in ("cpu", "cuda"):
        raise ValueError(f"unknown device {device!r}; use 'cpu', 'cuda' (or 'cuda:N') or None")
    if kind == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asks for CUDA, which this machine does not have; use 'cpu' or None")
    return device
