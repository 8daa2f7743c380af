"""``agentroute export --model default --pack default --out DIR [--gguf f16] [--launch vllm|sglang|llama.cpp]``."""

from __future__ import annotations

import argparse
import json


def add_export_command(commands: argparse._SubParsersAction) -> None:
    """Register ``export`` on the main parser's subcommands."""
    export = commands.add_parser(
        "export", help="write the full model and every program its policy runs as standard checkpoints"
    )
    export.add_argument("--model", default="default", help="'default', a checkpoint directory or a .gguf file")
    export.add_argument("--pack", default="auto", help="'auto' (default pack for the default model), a pack or 'none'")
    export.add_argument("--policy", default=None, help="a policy YAML/TOML file (default: the pack's)")
    export.add_argument("--dtype", default=None, help="weights dtype of the checkpoints (default: detected)")
    export.add_argument("--out", required=True, help="directory for the checkpoints and export.json")
    export.add_argument(
        "--gguf", choices=["f16", "f32", "q8_0"], default=None, help="also write each as a GGUF for llama.cpp"
    )
    export.add_argument(
        "--launch", choices=["vllm", "sglang", "llama.cpp"], default=None, help="print one server command per model"
    )
    export.set_defaults(run=_export)


def _export(args) -> int:
    from agentroute.export.run import export, launch_commands
    from agentroute.loading import load

    pack = None if args.pack == "none" else args.pack
    model = load(args.model, pack=pack, policy=args.policy, dtype=args.dtype, kernels="plain")
    manifest = export(model, args.out, gguf=args.gguf)
    print(json.dumps({e["name"]: e["step_types"] for e in manifest["entries"]}, indent=2))
    if args.launch:
        print("\n".join(launch_commands(manifest, args.out, args.launch)))
    return 0
