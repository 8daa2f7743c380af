"""``agentroute generate "prompt" --program 0-11,14-29 [--json]``: one reply and its step record."""

from __future__ import annotations

import argparse
import json

from agentroute.cli.quantization_option import add_quantization_option


def add_generate_command(commands: argparse._SubParsersAction) -> None:
    """Register ``generate`` on the main parser's subcommands."""
    gen = commands.add_parser("generate", help="generate a reply with a layer program and print its record")
    gen.add_argument("prompt", help="user message (sent through the model's chat template)")
    gen.add_argument("--model", default="default", help="'default', a checkpoint directory or a .gguf file")
    add_quantization_option(gen)
    gen.add_argument("--dtype", default=None, help="bfloat16, float32 or float16 (default: detected)")
    gen.add_argument("--program", default=None, help="layers to run, e.g. '0-11,14-29' or '0-15,15,16-29' (loop)")
    gen.add_argument("--prefill", choices=["full", "program"], default="full", help="program that encodes the prompt")
    gen.add_argument("--max-new-tokens", type=int, default=128)
    gen.add_argument("--temperature", type=float, default=0.0, help="0 = greedy")
    gen.add_argument("--top-p", type=float, default=1.0)
    gen.add_argument("--top-k", type=int, default=0)
    gen.add_argument("--seed", type=int, default=None)
    gen.add_argument("--json", action="store_true", help="print one JSON object instead of text and a table")
    gen.set_defaults(run=_generate)


def _generate(args) -> int:
    from agentroute.loading import load

    model = load(args.model, quantization=args.quantization, dtype=args.dtype)
    result = model.generate(
        args.prompt,
        program=args.program,
        max_new_tokens=args.max_new_tokens,
        temperature=args.temperature,
        top_p=args.top_p,
        top_k=args.top_k,
        seed=args.seed,
        prefill=args.prefill,
    )
    if args.json:
        payload = {"text": result.text, "token_ids": result.token_ids, "record": result.record.model_dump(mode="json")}
        print(json.dumps(payload, indent=2))
        return 0
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(result.text)
    table = Table(title="step record", show_header=False)
    for key, value in result.record.model_dump().items():
        table.add_row(key, f"{value:.4g}" if isinstance(value, float) else str(value))
    console.print(table)
    return 0
