"""llama.cpp on the same model and prompt, for the executor benchmark (optional, benchmark only).

llama-cpp-python builds llama.cpp from source (about 7-10 minutes on 2 cores), so it is an extra
(``pip install 'agentroute[bench]'``), never part of ``make test``. A GGUF of the embedded model's
converted weights comes from llama.cpp's own converter (docs/speed.md gives the command). Decode
rate: the prompt is evaluated, then ``new_tokens`` one-token evaluations with greedy sampling are
timed, as the executor's decode is.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch


def decode_rates(gguf_paths: list[Path], prompt_ids: list[int], repeats: int, new_tokens: int) -> dict:
    """GGUF name -> median decode tokens/s, or {"error": why} when llama.cpp is not available.

    Each GGUF runs in a fresh process: a llama.cpp build that crashes on a file (this project's
    build segfaulted on a q8_0 GGUF) then costs that row, not the benchmark."""
    try:
        import llama_cpp
    except ImportError as exc:
        return {"error": f"llama-cpp-python is not installed ({exc}); pip install 'agentroute[bench]'"}
    rates: dict = {"version": llama_cpp.__version__}
    for path in gguf_paths:
        name = Path(path).name
        if not Path(path).is_file():
            rates[name] = {"error": f"{path} does not exist"}
            continue
        cmd = [sys.executable, "-m", "agentroute.bench", "llama-cpp", str(path), str(repeats), str(new_tokens)]
        out = subprocess.run(cmd, input=json.dumps(prompt_ids), capture_output=True, text=True)
        if out.returncode != 0:
            rates[name] = {"error": f"llama.cpp exited with {out.returncode}"}
            continue
        rates[name] = json.loads(out.stdout.strip().splitlines()[-1])
    return rates


def measure(path: str, prompt_ids: list[int], repeats: int, new_tokens: int) -> dict:
    """Median decode rate of one GGUF (run by ``python -m agentroute.bench llama-cpp``)."""
    import llama_cpp

    threads = torch.get_num_threads()
    llm = llama_cpp.Llama(model_path=path, n_threads=threads, n_threads_batch=threads, n_ctx=512, verbose=False)
    runs = []
    for _ in range(repeats + 1):  # the first run warms up
        llm.reset()
        llm.eval(prompt_ids)
        token = llm.sample(top_k=1, temp=0.0)
        began = time.perf_counter()
        for _ in range(new_tokens):
            llm.eval([token])
            token = llm.sample(top_k=1, temp=0.0)
        runs.append(new_tokens / (time.perf_counter() - began))
    return {"decode_tokens_per_s": statistics.median(runs[1:]), "runs": runs[1:], "threads": threads}
