"""``export``: every program a deployment needs as a checkpoint, and ``export.json`` listing them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from agentroute.export.checkpoint import write_program_checkpoint
from agentroute.export.gguf_file import write_gguf
from agentroute.export.plan import ExportEntry, export_plan
from agentroute.model.dtype_choice import dtype_name
from agentroute.steps.checkpoint_prompt import write_checkpoint_prompt

EXPORT_FORMAT = "agentroute-export/1"
ENGINES = ("vllm", "sglang", "llama.cpp")


def export(model, out_dir: str | Path, gguf: str | None = None) -> dict[str, Any]:
    """Write the checkpoints of ``export_plan(model)`` under ``out_dir`` and ``out_dir/export.json``;
    returns the manifest. Each entry: the step types it serves (or drafts for), the program, its
    layer count, its path relative to ``out_dir``, and for a draft the model it drafts for. With
    ``gguf`` ("f16", "f32" or "q8_0") each checkpoint is also written as ``NAME.gguf`` for llama.cpp."""
    out = Path(out_dir)
    entries = export_plan(model)
    listed = []
    for entry in entries:
        checkpoint = write_program_checkpoint(model, entry.program, out / entry.name)
        write_checkpoint_prompt(checkpoint, model.tool_style, model.said_values)
        listed.append(_listing(entry))
        if gguf is not None:
            listed[-1]["gguf"] = write_gguf(checkpoint, out / f"{entry.name}.{gguf}.gguf", gguf).name
    manifest = {
        "format": EXPORT_FORMAT,
        "model": model.name,
        "pack": str(model.pack.path) if getattr(model, "pack", None) is not None else None,
        # Whether a served tool-call step may decline in words (a pack trained on data v4 or later).
        "may_decline": bool(getattr(model, "may_decline", True)),
        # How prompts write tools: the pack was trained on one (a client rendering for an engine uses it).
        "tool_style": model.tool_style,
        # Whether tool-call steps write declared dates and times as phrases (``steps.said_values``).
        "said_values": bool(getattr(model, "said_values", False)),
        "dtype": dtype_name(model.dtype),
        "n_layers": model.n_layers,
        "note": "each program prefills the prompt with its own layers (in-process: prefill='program')",
        "entries": listed,
    }
    (out / "export.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _listing(entry: ExportEntry) -> dict[str, Any]:
    listing = {
        "name": entry.name,
        "path": entry.name,
        "role": entry.role,
        "program": str(entry.program),
        "layers": len(entry.program),
        "step_types": entry.step_types,
    }
    if entry.role == "draft":
        listing["drafts_for"] = "full"
    return listing


def launch_commands(manifest: dict[str, Any], out_dir: str | Path, engine: str, port: int = 8000) -> list[str]:
    """One server per served model for ``engine``, each draft as the full model's speculative draft."""
    out = Path(out_dir)
    drafts = [e for e in manifest["entries"] if e["role"] == "draft"]
    commands = []
    for offset, entry in enumerate(e for e in manifest["entries"] if e["role"] == "model"):
        path, name, at = out / entry["path"], entry["name"], port + offset
        if engine == "vllm":
            command = f"vllm serve {path} --served-model-name {name} --port {at}"
            if entry["name"] == "full" and drafts:
                spec = json.dumps({"model": str(out / drafts[0]["path"]), "num_speculative_tokens": 4})
                command += f" --speculative-config '{spec}'"
        elif engine == "sglang":
            command = f"python -m sglang.launch_server --model-path {path} --served-model-name {name} --port {at}"
            if entry["name"] == "full" and drafts:
                command += (
                    f" --speculative-algorithm STANDALONE --speculative-draft-model-path {out / drafts[0]['path']}"
                )
        elif engine == "llama.cpp":
            if "gguf" not in entry:
                raise ValueError("llama.cpp serves GGUF files: export with gguf='f16' (--gguf f16)")
            command = f"llama-server -m {out / entry['gguf']} --alias {name} --port {at}"
            if entry["name"] == "full" and drafts and "gguf" in drafts[0]:
                # Recent llama-server builds draft with a --model-draft only when told the type.
                command += f" --model-draft {out / drafts[0]['gguf']} --spec-type draft-simple"
        else:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        commands.append(command)
    return commands
