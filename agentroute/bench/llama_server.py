"""Exported programs on llama.cpp's own server: the draft as the engine's speculative draft, side by side.

What a team that serves with llama-server gets from ``agentroute export --gguf``: the full model
served alone; the same model with the exported draft program as its ``--model-draft``
(llama.cpp's own speculative decoding, as ``agentroute export --launch llama.cpp`` prints it); the
same model with llama.cpp's n-gram lookup drafts instead; and the draft program served as a model
of its own (lossy: it decodes with its layers only). Each runs as its own ``llama-server``
process on localhost, one at a time, with the same threads; each takes the same held-out
test-split prompts (the first ``per_type`` of each step type, file order, encoded by AgentRoute's
chat template with the step's tools, sent as token ids), greedy; repeats of a prompt reuse its
cache, since only decoding is timed. Decode time and token counts are the server's own
(``timings``); a step's reply is compared token for token with the full model's.

llama-server is not a Python dependency: build it from the llama.cpp sources of the bench extra's
sdist (docs/serving.md gives the commands) and pass its path.
"""

from __future__ import annotations

import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agentroute.errors import AgentRouteError


def launch_configs(export_dir: Path) -> list[tuple[str, list[str], int]]:
    """(label, llama-server model arguments, layers) per server: full, full + the exported draft, full
    + llama.cpp's own n-gram lookup (its prompt-lookup drafts, no draft model), the draft alone."""
    import json

    manifest = json.loads((export_dir / "export.json").read_text())
    entries = manifest["entries"]
    full = next((e for e in entries if e["name"] == "full" and "gguf" in e), None)
    drafts = [e for e in entries if e["role"] == "draft" and "gguf" in e]
    if full is None or not drafts:
        raise AgentRouteError(
            f"{export_dir / 'export.json'} lists no full-model GGUF or no draft GGUF; export with "
            "`agentroute export --out DIR --gguf f16` (or q8_0) from a pack whose policy drafts"
        )
    draft = drafts[0]
    full_path, draft_path = str(export_dir / full["gguf"]), str(export_dir / draft["gguf"])
    spec = ["--model-draft", draft_path, "--spec-type", "draft-simple"]  # as `export --launch llama.cpp` prints
    return [
        ("full", ["-m", full_path], full["layers"]),
        (f"full + exported draft ({draft['layers']} layers)", ["-m", full_path, *spec], full["layers"]),
        ("full + n-gram lookup (ngram-simple)", ["-m", full_path, "--spec-type", "ngram-simple"], full["layers"]),
        (f"draft program alone ({draft['layers']} layers, lossy)", ["-m", draft_path], draft["layers"]),
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """One llama-server process on localhost, stopped on exit. Its log goes to a temporary file,
    not a pipe: llama-server logs every request, and a pipe nobody reads fills up after a hundred
    or so and then blocks the server mid-request."""

    def __init__(self, binary: Path, model_args: list[str], threads: int, context: int = 4096) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        command = [str(binary), *model_args, "--port", str(self.port), "--host", "127.0.0.1"]
        command += ["-t", str(threads), "-tb", str(threads), "-c", str(context), "--parallel", "1"]
        self.command = command
        self.log = tempfile.TemporaryFile(mode="w+")
        self.process = subprocess.Popen(command, stdout=self.log, stderr=subprocess.STDOUT, text=True)

    def log_tail(self, chars: int = 800) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-chars:]

    def __enter__(self) -> Server:
        import httpx

        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AgentRouteError(
                    f"llama-server exited with {self.process.returncode} at start ({' '.join(self.command)}): "
                    + self.log_tail()
                )
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.__exit__()
        raise AgentRouteError(f"llama-server did not answer {self.url}/health within 120 s")

    def __exit__(self, *exc: Any) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()

    def complete(self, prompt_ids: list[int], max_new_tokens: int) -> dict[str, Any]:
        import httpx

        body = {
            "prompt": prompt_ids,
            "n_predict": max_new_tokens,
            "temperature": 0.0,
            "top_k": 1,
            "cache_prompt": True,  # decode is what is timed; repeats of a prompt skip its prefill
            "return_tokens": True,
            "seed": 0,
        }
        reply = httpx.post(f"{self.url}/completion", json=body, timeout=300)
        if reply.status_code != 200:
            raise AgentRouteError(f"llama-server at {self.url} answered {reply.status_code}: {reply.text[:300]}")
        data = reply.json()
        timings = data.get("timings", {})
        return {
            "tokens": data.get("tokens") or [],
            "text": data.get("content", ""),
            "decode_s": timings.get("predicted_ms", 0.0) / 1000,
            "decoded": timings.get("predicted_n", 0),
            "prompt_s": timings.get("prompt_ms", 0.0) / 1000,
            "drafted": timings.get("draft_n"),
            "draft_accepted": timings.get("draft_n_accepted"),
        }


def run(
    binary: Path,
    export_dirs: list[Path],
    per_type: int = 5,
    repeats: int = 3,
    max_new_tokens: int = 96,
    seed: int = 0,
    progress: Callable[[str], None] = lambda message: None,
) -> tuple[dict[str, Any], str]:
    import torch

    import agentroute
    from agentroute.bench.agent_steps import pick_steps
    from agentroute.bench.common import run_header

    binary = Path(binary)
    if not binary.is_file():
        raise AgentRouteError(f"llama-server binary {binary} not found; docs/serving.md shows how to build it")
    steps = pick_steps(per_type, seed, max_new_tokens)
    model = agentroute.load(pack="default")
    prompts = [model.encode(s.messages, s.tools or None) for s in steps]
    threads = torch.get_num_threads()
    results: dict[str, Any] = {
        **run_header(model, seed=seed, repeats=repeats, max_new_tokens=max_new_tokens, threads=threads),
        "server": str(binary),
        "exports": {},
    }
    for export_dir in export_dirs:
        configs = launch_configs(Path(export_dir))
        runs: dict[str, list[dict]] = {}
        for label, args, layers in configs:
            progress(f"llama-server: {Path(export_dir).name}: {label}")
            with Server(binary, args, threads) as server:
                server.complete(prompts[0], 8)  # warm-up
                rows = []
                for step, prompt in zip(steps, prompts, strict=True):
                    tries = [server.complete(prompt, step.max_new_tokens) for _ in range(repeats)]
                    rows.append(
                        {
                            "id": step.id,
                            "step_type": step.step_type.value,
                            "tokens": tries[0]["tokens"],
                            "decoded": tries[0]["decoded"],
                            "decode_s": statistics.median(t["decode_s"] for t in tries),
                            "drafted": tries[0]["drafted"],
                            "draft_accepted": tries[0]["draft_accepted"],
                        }
                    )
            runs[label] = {"layers": layers, "command": " ".join(server.command), "steps": rows}
        results["exports"][Path(export_dir).name] = {"runs": runs, "summary": summarise(runs)}
    return results, markdown(results)


def summarise(runs: dict[str, dict]) -> dict[str, Any]:
    """Per config and step type: median decode tokens/s, median speed-up over full per step, replies
    identical to full's, and the draft's acceptance where the engine drafted."""
    full = {row["id"]: row for row in runs["full"]["steps"]}
    summary: dict[str, Any] = {}
    for label, run_ in runs.items():
        per_type: dict[str, Any] = {}
        types = sorted({r["step_type"] for r in run_["steps"]}) + ["all"]
        for step_type in types:
            rows = [r for r in run_["steps"] if step_type in ("all", r["step_type"])]
            rate = [r["decoded"] / r["decode_s"] for r in rows if r["decode_s"] > 0]
            speedup = [
                (full[r["id"]]["decode_s"] / full[r["id"]]["decoded"]) / (r["decode_s"] / r["decoded"])
                for r in rows
                if r["decode_s"] > 0 and r["decoded"] and full[r["id"]]["decoded"]
            ]
            drafted = sum(r["drafted"] or 0 for r in rows)
            accepted = sum(r["draft_accepted"] or 0 for r in rows)
            per_type[step_type] = {
                "steps": len(rows),
                "decode_tok_s": statistics.median(rate) if rate else None,
                "speedup_vs_full": statistics.median(speedup) if speedup else None,
                "identical_to_full": sum(r["tokens"] == full[r["id"]]["tokens"] for r in rows),
                "acceptance": accepted / drafted if drafted else None,
            }
        summary[label] = per_type
    return summary


def markdown(results: dict) -> str:
    machine = results["machine"]
    lines = [
        f"Exported programs on llama.cpp's server (`llama-server`), {machine['processor']} CPU "
        f"({results['threads']} threads): the first held-out test-split steps of each type, prompts as "
        f"AgentRoute encodes them (tools included), greedy, at most {results['max_new_tokens']} new tokens, "
        f"decode timed (a repeat reuses the prompt's cache), median of {results['repeats']} runs per step, "
        f"seed {results['seed']}. Decode "
        "rates are the server's own timings (tokens after the prompt per second); *faster* is the median "
        "of per-step ratios to the full model on the same server build and weights.",
        "",
        "| GGUF | served | step type | steps | decode tok/s | faster than full | same reply as full | "
        "draft acceptance |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for export, data in results["exports"].items():
        for label, per_type in data["summary"].items():
            for step_type, row in per_type.items():
                rate = "-" if row["decode_tok_s"] is None else f"{row['decode_tok_s']:.1f}"
                faster = "-" if row["speedup_vs_full"] is None else f"{row['speedup_vs_full']:.2f}x"
                accept = "-" if row["acceptance"] is None else f"{row['acceptance']:.2f}"
                lines.append(
                    f"| {export} | {label} | {step_type.replace('_', ' ')} | {row['steps']} | {rate} | {faster} | "
                    f"{row['identical_to_full']} of {row['steps']} | {accept} |"
                )
    return "\n".join(lines) + "\n"
