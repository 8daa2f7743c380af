"""The ``serve`` command's arguments and its run, shared by ``agentroute serve`` (``agentroute.cli.serve``)
and ``python -m agentroute.serve``. Heavy imports wait until the command runs."""

from __future__ import annotations

import argparse
import logging
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="default", help="'default', a checkpoint directory (an exported entry) or a .gguf"
    )
    parser.add_argument("--pack", default="auto", help="'auto' (default pack for the default model), a pack or 'none'")
    parser.add_argument("--policy", default=None, help="a policy YAML/TOML file (default: the pack's)")
    parser.add_argument("--programs", default=None, help="searched programs (agentroute search) to route with")
    parser.add_argument("--dtype", default=None, help="bfloat16, float32 or float16 (default: detected)")
    parser.add_argument("--device", default=None, help="'cpu' or 'cuda' (default: CUDA when present)")
    parser.add_argument("--quantization", choices=["nf4", "int8"], default=None)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one")
    parser.add_argument("--name", default=None, help="the model id clients send (default: the loaded model's name)")


def run(args: argparse.Namespace) -> int:
    """Load the model (warm), then serve it until interrupted; prints the bound URL first."""
    from agentroute.loading import load
    from agentroute.serve.server import serve

    model = load(
        args.model,
        quantization=args.quantization,
        dtype=args.dtype,
        pack=None if args.pack == "none" else args.pack,
        device=args.device,
        policy=args.policy,
        programs=args.programs,
    ).warm_up()
    serve(model, args.name or model.name, args.host, args.port)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m agentroute.serve``: the ``serve`` command on its own, errors as ``agentroute`` reports them."""
    from agentroute.errors import AgentRouteError

    parser = argparse.ArgumentParser(prog="python -m agentroute.serve", description="Serve one model over HTTP.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log each request")
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    try:
        return run(args)
    except AgentRouteError as exc:
        print(f"agentroute: error: {exc}", file=sys.stderr)
        return 2
