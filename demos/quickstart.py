"""Quickstart: load the embedded model and run one prompt with full, skipped and looped layer programs.

    python demos/quickstart.py [--prompt "..."] [--quantization nf4]

Shows what AgentRoute changes: which decoder layers run for each token, and what that does to
speed and to the reply. (Untrained, skipping layers degrades open text; route packs train the
model to stay faithful when layers are skipped.)
"""

from __future__ import annotations

import argparse
import time

from rich.console import Console
from rich.table import Table

import agentroute

PROGRAMS = {
    "full depth": None,
    "skip 5 middle layers": "0-11,17-29",
    "skip 10 middle layers": "0-9,20-29",
    "loop layer 15": "0-15,15,16-29",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--prompt", default="Give three tips for writing clear Python code.")
    parser.add_argument("--quantization", choices=["nf4", "int8"], default=None)
    parser.add_argument("--max-new-tokens", type=int, default=48)
    args = parser.parse_args()

    console = Console()
    started = time.perf_counter()
    with console.status("loading SmolLM2-135M-Instruct (first run converts the GGUF file once)"):
        model = agentroute.load("default", quantization=args.quantization)
    console.print(f"loaded {model} in {time.perf_counter() - started:.1f}s\n[bold]prompt:[/bold] {args.prompt}\n")

    table = Table(title="one prompt, four layer programs")
    for column in ("program", "layers", "layers/token", "decode tok/s", "ttft s", "tokens in/out"):
        table.add_column(column)
    replies = []
    for label, program in PROGRAMS.items():
        result = model.generate(args.prompt, program=program, max_new_tokens=args.max_new_tokens)
        rec = result.record
        table.add_row(
            label,
            rec.program,
            f"{rec.layers_per_token} ({rec.layers_fraction:.0%})",
            f"{rec.decode_tokens_per_s or 0:.1f}",
            f"{rec.ttft_s:.2f}",
            f"{rec.prompt_tokens} / {rec.completion_tokens}",
        )
        replies.append((label, " ".join(result.text.split())))
    console.print(table)
    for label, text in replies:
        console.print(f"[bold]{label}:[/bold] {text}\n")
    console.print(
        'Try your own: [bold]agentroute generate "your prompt" --program 0-11,14-29[/bold] '
        "(add --json for the full record)."
    )


if __name__ == "__main__":
    main()
