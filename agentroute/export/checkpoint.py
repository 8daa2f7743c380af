"""One layer program written as a standard Hugging Face checkpoint.

A program is an ordinary model: its config has the program's layer count, its decoder layers are
the program's layers in program order (a looped layer is written once per pass, each copy with its
own KV cache in the engine, as the executor gives each pass its own cache slot), and everything
else (embedding, final norm, LM head, tokenizer, chat template, generation config) is the model's.
A route pack's LoRA adapter is already merged into the weights when the pack loads, so the
checkpoint carries it. Stock transformers loads the result with no AgentRoute import.

What changes when a program runs as its own model: it prefills the prompt with its own layers,
where AgentRoute prefills at full depth by default; ``generate(..., prefill="program")`` is the
in-process equivalent, and the test checks the two are token-identical.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from agentroute.errors import AgentRouteError
from agentroute.model.hf_parts import no_progress_bars
from agentroute.model.program import LayerProgram


class ExportError(AgentRouteError, ValueError):
    """A model or program that cannot be written as a standard checkpoint."""


def write_program_checkpoint(model, program: LayerProgram, out_dir: str | Path) -> Path:
    """Write ``program`` of ``model`` (a RoutedModel) as a checkpoint directory; returns it."""
    if model.quantization is not None:
        raise ExportError(
            f"cannot export a {model.quantization}-quantized model: bitsandbytes layers do not save as plain "
            "weights; load it without quantization= and let the serving engine quantize"
        )
    if model.lean:
        raise ExportError("lean decode passes hold packed weights; load with kernels='plain' to export")
    program = model.program(program)
    hf = model.hf_model
    prefix = _layers_prefix(hf, model.parts.layers)
    source = hf.state_dict()
    state = {k: v for k, v in source.items() if not k.startswith(prefix)}
    for new_index, old_index in enumerate(program.layers):
        old = f"{prefix}{old_index}."
        for key, value in source.items():
            if key.startswith(old):
                # A looped layer appears more than once: each copy owns its tensors.
                state[f"{prefix}{new_index}.{key[len(old) :]}"] = value.clone()
    config = _program_config(hf.config, program)
    with torch.device("meta"):
        exported = type(hf)(config)
    exported.load_state_dict(state, strict=True, assign=True)
    exported.tie_weights()
    exported.generation_config = copy.deepcopy(hf.generation_config)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with no_progress_bars():
        exported.save_pretrained(out, safe_serialization=True)
    model.tokenizer.save_pretrained(out)
    return out


def _layers_prefix(hf, layers) -> str:
    """The state-dict prefix of the decoder layers (``model.layers.`` for the supported families)."""
    for name, module in hf.named_modules():
        if module is layers:
            return f"{name}."
    raise ExportError("cannot find the decoder layers in the model's modules")


def _program_config(config, program: LayerProgram):
    """The model's config for a model whose layers are the program's, in program order."""
    out = copy.deepcopy(config)
    out.num_hidden_layers = len(program)
    # Per-layer settings (sliding or full attention, ...) follow their layer into its new place.
    for key in ("layer_types",):
        values = getattr(config, key, None)
        if isinstance(values, list) and len(values) == program.n_layers:
            setattr(out, key, [values[i] for i in program.layers])
    if getattr(config, "max_window_layers", None) is not None and program.loops:
        raise ExportError("a looping program of a model with max_window_layers cannot keep each layer's window")
    return out
