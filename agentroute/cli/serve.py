"""``agentroute serve --model DIR_OR_default [--pack ...] --port P [--host 127.0.0.1] [--name NAME]``:
one loaded model behind an OpenAI-compatible HTTP API (``agentroute.serve.server``)."""

from __future__ import annotations

import argparse

from agentroute.serve.command import add_arguments, run


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    """Register ``serve`` on the main parser's subcommands."""
    serve = commands.add_parser("serve", help="serve one model over an OpenAI-compatible HTTP API")
    add_arguments(serve)
    serve.set_defaults(run=run)
