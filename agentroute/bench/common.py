"""Shared benchmark helpers: timing stock generate, weight bytes, results files, README and docs tables."""

from __future__ import annotations

import json
import platform
import re
import statistics
import time
from pathlib import Path

import torch
from transformers.generation.streamers import BaseStreamer

from agentroute.model.program import LayerProgram

# Defaults for a source checkout: results beside the benchmark scripts, the tables in README and docs.
REPO = Path.cwd()
RESULTS = REPO / "benchmarks" / "results"
README = REPO / "README.md"
# Where each ``<!-- bench:NAME -->`` block lives, relative to the checkout root (the README's folder):
# the README keeps the agent-steps table, every other table sits on the docs page that explains it.
BLOCK_FILES = {
    "steps": "README.md",
    "executor": "docs/benchmarks.md",
    "fidelity": "docs/benchmarks.md",
    "episodes": "docs/benchmarks.md",
    "engine": "docs/serving.md",
    "served-calls": "docs/serving.md",
    "lossless": "docs/benchmarks.md",
    "packs": "docs/route-packs.md",
    "programs": "docs/program-search.md",
}


class _FirstTokenClock(BaseStreamer):
    """generate() calls put() with the prompt, then with each batch of new tokens (one token per
    step in plain decoding, several per round in assisted decoding): time the first new batch."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_token_at: float | None = None
        self.first_tokens = 0

    def put(self, value) -> None:
        self.calls += 1
        if self.calls == 2:
            self.first_token_at = time.perf_counter()
            self.first_tokens = value.numel()

    def end(self) -> None:
        pass


def stock_generate(model, prompt_ids: list[int], **options) -> tuple[list[int], float | None]:
    """Stock ``hf_model.generate`` (greedy): the new token ids and the decode rate, prefill excluded.

    The rate counts the tokens after the first batch over the time after it, so that assisted
    decoding (whose first batch comes out of the prefill's verify pass) is timed like plain
    decoding, whose first token comes out of the prefill.
    """
    clock = _FirstTokenClock()
    with torch.inference_mode():
        out = model.hf_model.generate(
            torch.tensor([prompt_ids], device=model.parts.device), do_sample=False, streamer=clock, **options
        )
    done = time.perf_counter()
    new = out[0, len(prompt_ids) :].tolist()
    later = len(new) - clock.first_tokens
    rate = later / (done - clock.first_token_at) if later > 0 and clock.first_token_at is not None else None
    return new, rate


def stock_decode_tokens_per_s(model, prompt_ids: list[int], new_tokens: int) -> float:
    """Decode rate of stock ``hf_model.generate`` (greedy, fixed length), prefill excluded."""
    _, rate = stock_generate(model, prompt_ids, max_new_tokens=new_tokens, min_new_tokens=new_tokens)
    return rate


def ours_decode_tokens_per_s(model, prompt_ids: list[int], new_tokens: int, program=None) -> float:
    result = model.generate_ids(prompt_ids, program=program, max_new_tokens=new_tokens, ignore_eos=True)
    return result.record.decode_tokens_per_s


def ideal_speedup(model, program) -> float:
    """Full-program bytes per token / this program's bytes per token: the memory-bound ceiling."""
    parts = model.parts
    return parts.pass_bytes(LayerProgram.full(parts.n_layers)) / parts.pass_bytes(program)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def machine() -> dict:
    return {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "processor": cpu_name(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
    }


def cpu_name(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's model name and its bfloat16 features, e.g. "AMD EPYC (avx512_bf16)": the same
    code runs at very different speeds on an AMX Xeon and on a CPU without AMX, and results files
    from both must say which they are."""
    from agentroute.model.dtype_choice import cpu_flags

    name = platform.processor() or platform.machine()
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip() or name
                break
    except OSError:
        pass
    features = sorted(cpu_flags(cpuinfo) & {"amx_bf16", "avx512_bf16"})
    return f"{name} ({', '.join(features)})" if features else name


def run_header(model, **settings) -> dict:
    """What every per-step benchmark JSON starts with: the model, its pack, the run's settings
    (seed, repeats, token limit, ...) and the machine, so two results files compare at a glance."""
    pack = getattr(model, "pack", None)
    return {
        "model": model.name,
        "pack": str(pack.path) if pack is not None else None,
        **settings,
        "machine": machine(),
    }


def write_results(name: str, payload: dict, markdown: str, out_dir: Path = RESULTS) -> Path:
    """Write ``NAME.json`` and ``NAME.md`` under ``out_dir``; return the JSON path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2) + "\n")
    path.with_suffix(".md").write_text(markdown)
    return path


def update_readme_block(name: str, markdown: str, readme: Path = README) -> bool:
    """Replace the block between ``<!-- bench:NAME -->`` and ``<!-- /bench:NAME -->`` in the file
    that holds it: ``BLOCK_FILES[name]`` beside ``readme`` (the checkout's README), else ``readme``.

    Returns False when there is no such file or block (an installed package, not a checkout).
    """
    page = readme.parent / BLOCK_FILES.get(name, readme.name)
    if not page.is_file():
        return False
    text = page.read_text()
    pattern = re.compile(rf"(<!-- bench:{name} -->\n).*?(<!-- /bench:{name} -->)", re.S)
    if not pattern.search(text):
        return False
    page.write_text(pattern.sub(lambda m: m.group(1) + markdown.rstrip() + "\n" + m.group(2), text))
    return True
