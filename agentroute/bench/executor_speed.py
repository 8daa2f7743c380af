"""Executor benchmark: decode speed of stock generate vs layer programs, and memory per quantization.

Every speed in one table is measured in the same process, modes interleaved round-robin so that
machine noise hits all of them alike; each number is the median of ``repeats`` runs. Memory is
measured in a fresh process per quantization.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys

import psutil
import torch

import agentroute
from agentroute.bench.common import (
    ideal_speedup,
    machine,
    median,
    ours_decode_tokens_per_s,
    stock_decode_tokens_per_s,
)
from agentroute.model.dtype_choice import default_dtype, dtype_name

PROMPT = "Write a long, detailed story about a lighthouse keeper who finds a message in a bottle."
# Programs for the 30-layer default model: 25 and 20 of 30 layers (the middle ones go first: the
# first and last layers matter most), and a loop that runs layer 15 twice.
PROGRAMS = {
    "full": "0-29",
    "skip 25/30": "0-11,17-29",
    "skip 20/30": "0-9,20-29",
    "loop 31/30": "0-15,15,16-29",
}
SPEED_TARGET = 0.9  # each skip program must reach 0.9 of its ideal (bytes-read) speed-up


def speed_table(model, prompt_ids, repeats: int, new_tokens: int, programs: dict[str, str], others=None) -> dict:
    """Decode rates of stock generate and each program on ``model``, and of the full program on each
    model in ``others`` (name -> model: the same weights with other kernels), interleaved."""
    others = others or {}
    runs: dict[str, list[float]] = {"stock generate": [], **{name: [] for name in programs}, **{n: [] for n in others}}
    # Warm-up: first calls pay for allocator growth and lazy initialisation.
    stock_decode_tokens_per_s(model, prompt_ids, 8)
    for warm in (model, *others.values()):
        ours_decode_tokens_per_s(warm, prompt_ids, 8)
    for _ in range(repeats):
        runs["stock generate"].append(stock_decode_tokens_per_s(model, prompt_ids, new_tokens))
        for name, spec in programs.items():
            runs[name].append(ours_decode_tokens_per_s(model, prompt_ids, new_tokens, program=spec))
        for name, other in others.items():
            runs[name].append(ours_decode_tokens_per_s(other, prompt_ids, new_tokens, program=PROGRAMS["full"]))
    programs = {**programs, **{name: PROGRAMS["full"] for name in others}}
    full = median(runs["full"])
    table = {}
    for name, values in runs.items():
        row = {"decode_tokens_per_s": median(values), "runs": values}
        if name != "stock generate":
            program = model.program(programs[name])
            row |= {
                "program": str(program),
                "layers": len(program),
                "speedup_vs_full": median(values) / full,
                "ideal_speedup": ideal_speedup(model, program),
            }
            row["fraction_of_ideal"] = row["speedup_vs_full"] / row["ideal_speedup"]
        row["speedup_vs_stock"] = median(values) / median(runs["stock generate"])
        table[name] = row
    return table


def memory_probe(weights: str) -> dict:
    """Run in a fresh process: load, generate, report resident memory and decode speed.

    ``weights``: "default" (``load()``'s defaults: the detected dtype, lean decode and int4 decode
    passes where they apply; packed copies of the linears cost memory), "bf16" (the detected dtype,
    dense products), "fp32", or a bitsandbytes quantization ("nf4", "int8")."""
    baseline = psutil.Process().memory_info().rss
    quantization = weights if weights in ("nf4", "int8") else "auto" if weights == "default" else None
    dtype = "float32" if weights == "fp32" else None
    model = agentroute.load("default", quantization=quantization, dtype=dtype)
    ids = model.encode(PROMPT)
    model.generate_ids(ids, max_new_tokens=16, ignore_eos=True)
    stock, ours = [], []
    for _ in range(5):  # interleaved, so machine noise hits both alike
        stock.append(stock_decode_tokens_per_s(model, ids, 32))
        ours.append(ours_decode_tokens_per_s(model, ids, 32))
    rss = psutil.Process().memory_info().rss
    return {
        "quantization": weights if weights != "default" else f"{setting_name(model)} (default)",
        "rss_mb": rss / 2**20,
        "model_rss_mb": (rss - baseline) / 2**20,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "weights_mb": model.hf_model.get_memory_footprint() / 2**20,
        "stock_decode_tokens_per_s": median(stock),
        "ours_decode_tokens_per_s": median(ours),
    }


def setting_name(model) -> str:
    """A model's dtype, and its int4 decode passes where it runs them: a row's label."""
    return dtype_name(model.dtype) + (" + int4" if model.quantization == "int4" else "")


def run_probe(weights: str) -> dict:
    cmd = [sys.executable, "-m", "agentroute.bench", "memory-probe", weights]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])


def markdown(results: dict) -> str:
    lines = [
        f"Executor decode speed, SmolLM2-135M on {results['machine']['processor']} "
        f"({results['machine']['threads']} threads), {results['new_tokens']} new tokens, median of "
        f"{results['repeats']} interleaved runs, seed {results['seed']}; default dtype on this machine: "
        f"{results.get('default_dtype', 'float32')}:",
        "",
        "| weights | mode | layers | decode tok/s | vs stock | vs full | ideal (bytes) | of ideal |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for dtype, table in results["speed"].items():
        for name, row in table.items():
            layers = row.get("layers", 30)
            vs_full = f"{row['speedup_vs_full']:.2f}x" if "speedup_vs_full" in row else "-"
            ideal = f"{row['ideal_speedup']:.2f}x" if "ideal_speedup" in row else "-"
            of_ideal = f"{row['fraction_of_ideal']:.2f}" if "fraction_of_ideal" in row else "-"
            lines.append(
                f"| {dtype} | {name} | {layers} | {row['decode_tokens_per_s']:.1f} | {row['speedup_vs_stock']:.2f}x "
                f"| {vs_full} | {ideal} | {of_ideal} |"
            )
    lines += _llama_cpp_lines(results)
    lines += [
        "",
        "| weights | resident MB (process) | model MB (RSS delta) | stock tok/s | ours tok/s |",
        "|---|---|---|---|---|",
    ]
    for row in results["memory"]:
        lines.append(
            f"| {row['quantization']} | {row['rss_mb']:.0f} | {row['model_rss_mb']:.0f} | "
            f"{row['stock_decode_tokens_per_s']:.1f} | {row['ours_decode_tokens_per_s']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def _llama_cpp_lines(results: dict) -> list[str]:
    llama = results.get("llama_cpp")
    if not llama:
        return []
    if "error" in llama:
        return ["", f"llama.cpp: not measured ({llama['error']})."]
    default = results.get("default_setting", "bfloat16")
    ours = results["speed"][default]["full"]["decode_tokens_per_s"]
    lines = ["", f"llama.cpp (llama-cpp-python {llama['version']}), same prompt and threads, same run:", ""]
    lines += [f"| GGUF | decode tok/s | our full depth ({default}) / this |", "|---|---|---|"]
    for name, row in llama.items():
        if name == "version":
            continue
        if "error" in row:
            lines.append(f"| {name} | {row['error']} | - |")
        else:
            rate = row["decode_tokens_per_s"]
            lines.append(f"| {name} | {rate:.1f} | {ours / rate:.2f}x |")
    return lines


def run(
    repeats: int = 5, new_tokens: int = 64, seed: int = 0, progress=lambda message: None, gguf: list | None = None
) -> tuple[dict, str]:
    """Measure everything; return the results and their Markdown table. ``gguf``: GGUF files of the
    same model that llama.cpp decodes on the same prompt in the same run (``llama_cpp_speed``)."""
    torch.manual_seed(seed)
    results = {
        "machine": machine(),
        "repeats": repeats,
        "new_tokens": new_tokens,
        "seed": seed,
        "prompt": PROMPT,
        "speed": {},
    }
    results["default_dtype"] = dtype_name(default_dtype("cpu"))
    for dtype, quantization in (("float32", None), ("bfloat16", None), ("bfloat16", "auto")):
        model = agentroute.load("default", dtype=dtype, quantization=quantization)
        setting = setting_name(model)
        if setting in results["speed"]:
            continue  # "auto" picked nothing here: the dense row stands for it
        ids = model.encode(PROMPT)
        programs = PROGRAMS if dtype == "float32" else {"full": PROGRAMS["full"], "skip 20/30": PROGRAMS["skip 20/30"]}
        # bfloat16 runs lean decode passes where they are exact; the plain kernels beside them show the gain.
        plain = model.lean and model.quantization is None
        others = {"full, plain kernels": agentroute.load("default", dtype=dtype, kernels="plain")} if plain else {}
        progress(f"executor [{setting}]: {len(programs) + len(others) + 1} modes x {repeats} runs")
        results["speed"][setting] = speed_table(model, ids, repeats, new_tokens, programs, others)
        results.setdefault("lean", {})[setting] = model.lean
        results["default_setting"] = setting  # the last loaded is load()'s default (dtype and "auto")
        del model, others
    if gguf:
        from agentroute.bench.llama_cpp_speed import decode_rates

        progress(f"executor: llama.cpp on {len(gguf)} GGUF file(s)")
        results["llama_cpp"] = decode_rates(gguf, ids, repeats, new_tokens)
    progress("executor: resident memory per quantization (fresh processes)")
    results["memory"] = [run_probe(w) for w in ("default", "bf16", "fp32", "nf4", "int8")]
    fp32 = results["speed"]["float32"]
    results["targets"] = {
        "full_at_least_stock": fp32["full"]["speedup_vs_stock"] >= 1.0,
        "skip_programs_at_least_0.9_of_ideal": all(
            fp32[name]["fraction_of_ideal"] >= SPEED_TARGET for name in fp32 if name.startswith("skip")
        ),
        "stretch_full_1.5x_stock_fp32": fp32["full"]["speedup_vs_stock"] >= 1.5,
        "stretch_bf16_full_1.5x_stock_fp32": results["speed"]["bfloat16"]["full"]["decode_tokens_per_s"]
        >= 1.5 * fp32["stock generate"]["decode_tokens_per_s"],
    }
    return results, markdown(results)
