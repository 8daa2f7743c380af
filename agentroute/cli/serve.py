"""``agentroute serve --model DIR_OR_default [--pack ...] --port P [--host 127.0.0.1] [--name NAME]``:
one loaded model behind an OpenAI-compatible HTTP API (``agentroute.serve.server``). Heavy imports
wait until the command runs."""

from __future__ import annotations

import argparse

from agentroute.cli.quantization_option import add_quantization_option


def add_serve_command(commands: argparse._SubParsersAction) -> None:
    """Register ``serve`` on the main parser's subcommands."""
    serve = commands.add_parser("serve", help="serve one model over an OpenAI-compatible HTTP API")
    add_arguments(serve)
    serve.set_defaults(run=run)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default="default", help="'default', a checkpoint directory (an exported entry) or a .gguf"
    )
    parser.add_argument("--pack", default="auto", help="'auto' (default pack for the default model), a pack or 'none'")
    parser.add_argument("--policy", default=None, help="a policy YAML/TOML file (default: the pack's)")
    parser.add_argument("--programs", default=None, help="searched programs (agentroute search) to route with")
    parser.add_argument("--dtype", default=None, help="bfloat16, float32 or float16 (default: detected)")
    parser.add_argument("--device", default=None, help="'cpu' or 'cuda' (default: CUDA when present)")
    add_quantization_option(parser)
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: localhost only)")
    parser.add_argument("--port", type=int, default=8000, help="port to bind; 0 picks a free one")
    parser.add_argument("--name", default=None, help="the model id clients send (default: the loaded model's name)")


def run(args: argparse.Namespace) -> int:
    """Load the model (warm), print the bound URL, then serve until interrupted."""
    from agentroute.loading import load
    from agentroute.serve.server import ModelServer

    model = load(
        args.model,
        quantization=args.quantization,
        dtype=args.dtype,
        pack=None if args.pack == "none" else args.pack,
        device=args.device,
        policy=args.policy,
        programs=args.programs,
    ).warm_up()
    name = args.name or model.name
    server = ModelServer(model, name, args.host, args.port)  # port 0: a free one
    print(f"agentroute serve: {name!r} at {server.url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
