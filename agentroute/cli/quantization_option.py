"""``--quantization``, as ``generate``, ``eval`` and ``serve`` take it (the names ``agentroute.load`` takes)."""

from __future__ import annotations

import argparse

# agentroute.model.quantization's names, written out: the CLI parses arguments before importing torch.
CHOICES = ("auto", "none", "int4", "nf4", "int8")


def add_quantization_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quantization",
        type=_quantization,
        default="auto",
        metavar="{" + ",".join(CHOICES) + "}",
        help="auto (default): int4 decode passes for a Q4_1 GGUF such as the default model, where they run; "
        "none: the weights as loaded; int4; nf4 or int8 (bitsandbytes)",
    )


def _quantization(value: str) -> str | None:
    if value not in CHOICES:
        raise argparse.ArgumentTypeError(f"unknown quantization {value!r}; choose from {', '.join(CHOICES)}")
    return None if value == "none" else value
