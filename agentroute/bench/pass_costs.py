"""The lossless cost model's inputs per setting: what one pass costs over a context, by chunk
length and by depth, in each dtype and kernel setting, side by side in one run.

A verify pass over ``k + 1`` tokens and a draft pass of the first ``n`` layers are what the cost
model (``agentroute.decode.draft_length``) trades against each other; this measures them on the
machine at hand, in units of a one-token full-depth pass of the same setting.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch

from agentroute.bench.common import machine
from agentroute.model import executor
from agentroute.model.kv_cache import ProgramKVCache

CHUNKS = (1, 2, 4, 5, 9, 17)
DEPTHS = (20, 15, 12, 10)
# (label, load() keywords): the settings the cost model has met on a CPU.
SETTINGS = (
    ("float32", {"dtype": "float32", "quantization": None}),
    ("bfloat16, plain kernels", {"dtype": "bfloat16", "quantization": None, "kernels": "plain"}),
    ("bfloat16, lean", {"dtype": "bfloat16", "quantization": None}),
    ("bfloat16, lean, int4 (default)", {"dtype": "bfloat16", "quantization": "auto"}),
)


def run(
    context_tokens: int = 400, repeats: int = 7, seed: int = 0, progress: Callable[[str], None] = lambda m: None
) -> tuple[dict, str]:
    import agentroute

    torch.manual_seed(seed)
    results = {"machine": machine(), "context_tokens": context_tokens, "repeats": repeats, "seed": seed, "settings": {}}
    for label, kwargs in SETTINGS:
        progress(f"pass costs: {label}")
        model = agentroute.load("default", pack="default", **kwargs)
        results["settings"][label] = {"quantization": model.quantization, **_measure(model, context_tokens, repeats)}
        del model
    return results, markdown(results)


def _measure(model, context_tokens: int, repeats: int) -> dict:
    parts, full = model.parts, model.program(None)
    generator = torch.Generator().manual_seed(0)
    context = torch.randint(100, parts.vocab_size - 100, (1, context_tokens), generator=generator)
    cache = ProgramKVCache()

    def median_seconds(call) -> float:
        call()  # warm
        times = []
        for _ in range(repeats):
            began = time.perf_counter()
            call()
            times.append(time.perf_counter() - began)
        return statistics.median(times)

    with torch.inference_mode():
        prefill_s = median_seconds(lambda: (cache.crop(0), executor.prefill(parts, cache, full, context)))
        cache.crop(0)
        executor.prefill(parts, cache, full, context)

        def chunk(program, n: int):
            ids = context[:, :n]
            executor.forward(parts, cache, program, ids, context_tokens, all_logits=True)
            cache.crop(context_tokens)

        one = median_seconds(lambda: chunk(full, 1))
        # String keys, as the JSON file has them.
        chunks = {str(n): median_seconds(lambda n=n: chunk(full, n)) / one for n in CHUNKS[1:]}
        depths = {str(d): median_seconds(lambda d=d: chunk(model.program(f"0-{d - 1}"), 1)) / one for d in DEPTHS}
    return {
        "one_token_ms": one * 1e3,
        "chunk_relative": chunks,
        "first_layers_relative": depths,
        "prefill_s": prefill_s,
    }


def markdown(results: dict) -> str:
    chunks = " | ".join(f"{n}" for n in CHUNKS[1:])
    depths = " / ".join(str(d) for d in DEPTHS)
    lines = [
        f"One pass over a {results['context_tokens']}-token context, in units of a one-token full-depth pass of "
        f"the same setting (all logits, median of {results['repeats']}; default pack; "
        f"{results['machine']['processor']}, {results['machine']['threads']} threads):",
        "",
        f"| setting | 1 token | {chunks} tokens | first {depths} layers | prefill of {results['context_tokens']} |",
        "|---|---|" + "---|" * (len(CHUNKS) - 1) + "---|---|",
    ]
    for label, row in results["settings"].items():
        chunk_cells = " | ".join(f"{row['chunk_relative'][str(n)]:.2f}" for n in CHUNKS[1:])
        depth_cell = " / ".join(f"{row['first_layers_relative'][str(d)]:.2f}" for d in DEPTHS)
        lines.append(
            f"| {label} | {row['one_token_ms']:.1f} ms | {chunk_cells} | {depth_cell} | {row['prefill_s']:.2f} s |"
        )
    return "\n".join(lines) + "\n"
