"""The ``agentroute`` command: one parser, a module per subcommand (``agentroute.cli.*``), named errors as exit 2."""

from __future__ import annotations

import argparse
import logging
import sys

from agentroute.cli.bench import add_bench_commands
from agentroute.cli.data import add_data_commands
from agentroute.cli.eval import add_eval_commands
from agentroute.cli.export import add_export_command
from agentroute.cli.generate import add_generate_command
from agentroute.cli.search import add_search_commands
from agentroute.cli.serve import add_serve_command
from agentroute.cli.trace import add_trace_commands
from agentroute.cli.train import add_train_commands
from agentroute.errors import AgentRouteError


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="agentroute", description="Layer-routed local LLM steps for agents.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress (model conversion, loading)")
    commands = parser.add_subparsers(dest="command", required=True)

    add_generate_command(commands)
    add_trace_commands(commands)
    add_data_commands(commands)
    add_eval_commands(commands)
    add_bench_commands(commands)
    add_train_commands(commands)
    add_search_commands(commands)
    add_export_command(commands)
    add_serve_command(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return args.run(args)
    except AgentRouteError as exc:
        print(f"agentroute: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
