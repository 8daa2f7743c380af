"""One arm of an adapter-training A/B: train a LoRA adapter on the first N train-split tool-call
steps (one fixed order, the pipeline's example builder and training loop), then score the gold
replies of every dev-split tool-call step, teacher-forced at full depth.

Two arms run one after the other on an idle machine compare a training setting at equal examples
or, with N chosen per arm, at about equal time: the tool style prompts are written in (JSON lines
or signatures), the detached prompt against gradients through it. Teacher-forced cross-entropy
and token accuracy on the dev split's gold calls are the measure: cheaper than decoding each step
(the detached-prompt A/B in docs/route-packs.md was measured so); a setting that wins here is
then checked by training a pack with it and decoding the test split.
"""

from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from agentroute.evaluation.steps import load_steps
from agentroute.model.calibration import layer_importance
from agentroute.model.program import LayerProgram
from agentroute.steps.records import StepType
from agentroute.training.adapter import AdapterConfig, train_adapter
from agentroute.training.examples import full_prompt_example, has_gold, tool_call_example
from agentroute.training.library import build_library
from agentroute.training.pipeline import TrainConfig
from agentroute.training.streams import stream_logits


def run_arm(
    model,
    data_dir: Path,
    examples: int,
    tool_style: str = TrainConfig.tool_style,
    adapter: AdapterConfig | None = None,
    seed: int = 0,
    max_distractors: int = 3,
    log: Callable[[str], None] = print,
    dev_limit: int | None = None,
    keep_log: Path | None = None,
) -> dict[str, Any]:
    """Train on ``examples`` train tool calls in ``tool_style`` with ``adapter``'s settings (default
    the pipeline's) and score dev (its first ``dev_limit`` tool calls, default all); ``model`` is a
    bare float32 model with plain kernels (as the pipeline loads it) and gains the adapter.
    ``keep_log``: where to copy the training loss log (one JSON row per example)."""
    adapter = adapter or AdapterConfig()
    torch.manual_seed(seed)
    model.tool_style = tool_style
    train, _ = load_steps(data_dir / "train.jsonl")
    tool_steps = [s for s in train if s.step_type == StepType.TOOL_CALL and has_gold(s)]
    random.Random(seed).shuffle(tool_steps)
    rng = random.Random(seed)
    chosen = [tool_call_example(model, s, rng, max_distractors) for s in tool_steps[:examples]]
    library = build_library(layer_importance(model), {0, model.n_layers - 1})
    log(f"{tool_style}: training on {len(chosen)} tool calls")
    with tempfile.TemporaryDirectory() as work:
        began = time.perf_counter()
        train_adapter(model, chosen, library, adapter, Path(work), seed)
        seconds = time.perf_counter() - began
        log_text = (Path(work) / "train_log.jsonl").read_text()
        rows = [json.loads(line) for line in log_text.splitlines() if line]
        if keep_log is not None:
            keep_log.write_text(log_text)
    return {
        "tool_style": tool_style,
        "prompt_grad": adapter.prompt_grad,
        "lora_first_layer": adapter.first_layer,
        "programs_per_example": adapter.programs_per_example,
        "skip_below": adapter.skip_below,
        "compiled": adapter.compile,
        "examples": len(chosen),
        "backward_skipped": sum(1 for row in rows if not row["backward"]),
        "seed": seed,
        "adapter_seconds": round(seconds, 1),
        "seconds_per_example": round(seconds / max(1, len(chosen)), 3),
        "train_prompt_tokens_median": statistics.median(len(e.prompt_ids) for e in chosen),
        **score_dev(model, data_dir, dev_limit),
    }


def score_dev(model, data_dir: Path, dev_limit: int | None = None) -> dict[str, Any]:
    """The dev split's gold tool calls (the first ``dev_limit``), teacher-forced at full depth in
    ``model``'s tool style: mean cross-entropy, mean token accuracy, share of replies all right."""
    dev, _ = load_steps(data_dir / "dev.jsonl")
    dev = [s for s in dev if s.step_type == StepType.TOOL_CALL and has_gold(s)][:dev_limit]
    full = LayerProgram.full(model.n_layers)
    losses, accuracies, exact = [], [], []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16):
        for step in dev:
            example = full_prompt_example(model, step, {})
            logits = stream_logits(model.parts, example.prompt_ids, example.reply_ids, [full])[0].float()
            target = torch.tensor(example.reply_ids)
            losses.append(float(F.cross_entropy(logits, target)))
            right = logits.argmax(-1) == target
            accuracies.append(float(right.float().mean()))
            exact.append(bool(right.all()))
    return {
        "dev_steps": len(dev),
        "dev_cross_entropy": round(statistics.mean(losses), 4),
        "dev_token_accuracy": round(statistics.mean(accuracies), 4),
        "dev_replies_all_right": round(sum(exact) / max(1, len(exact)), 4),
    }
