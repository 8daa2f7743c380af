"""LoRA training of the adapter (peft) with accelerate: progress bar, JSONL loss log, resumable.

One example per forward (no padding: prompts differ a lot in length), gradients accumulated over
``accumulate`` examples. On several processes (``accelerate launch``) each takes every n-th example
and gradients are averaged by hand before each step: the forward runs layer by layer on the base
modules, not through a DDP wrapper, so DDP's own hooks would not fire.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch

from agentroute.errors import AgentRouteError
from agentroute.model.program import LayerProgram
from agentroute.quiet import quiet_checkpoint, quiet_peft
from agentroute.steps.records import StepType
from agentroute.training.examples import TrainExample
from agentroute.training.objective import example_loss

LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class AdapterSettingError(AgentRouteError, ValueError):
    """Adapter settings that do not fit the model being trained."""


@dataclass
class AdapterConfig:
    # Rank 16 and 1e-3: one pass over a few hundred examples on a CPU is a short schedule; rank 8
    # at 5e-4 still miscopied argument values after 120 optimizer steps.
    rank: int = 16
    alpha: int = 32
    lr: float = 1e-3
    warmup: int = 10
    accumulate: int = 4
    # Cheaper library programs each example also trains under (self-distillation beside full depth).
    # 0 trains full depth alone: a whole pack so trained (data v4, 1214 examples, seed 0) called 45%
    # of the 110 dev tool calls right, as one trained with 2 did, at about 3.1 s an example, but its
    # skip programs answer in words where a call is asked (tests/test_llama_server.py serves one),
    # so 2 stays the default (docs/route-packs.md).
    programs_per_example: int = 2
    save_every: int = 10  # optimizer steps between checkpoints
    # accelerate's autocast: bf16 matmuls, fp32 LoRA weights and optimizer; "no" = fp32. On this CPU
    # (AVX512-BF16) six tool-call examples trained 1.4x faster than in fp32 with the same loss to 3
    # digits; over the shipped pack's whole run the gain was within the shared machine's noise
    # (4.28 s per example against 4.22 s for the previous fp32 pack's shorter mix).
    mixed_precision: str = "bf16"
    targets: list[str] = field(default_factory=lambda: list(LORA_TARGETS))
    # True (default): gradients through the prompt too (the packed forward, ``stream_logits``).
    # False: each prompt is encoded without gradients and the adapter learns from the reply's
    # positions only (``streams._detached_stream_logits``), 1.68x faster per example. It looked
    # better at equal time after a few hundred examples (teacher-forced dev cross-entropy 0.465 for
    # 270 detached examples against 0.485 for 160 with gradients), but it stalls: a pack trained
    # detached on 3364 examples reached 0.41 and called 16% of the dev split's tool calls right,
    # the shipped pack (gradients, 1214 examples) 0.18 and 35% (docs/route-packs.md).
    prompt_grad: bool = True
    # 0 (default): LoRA in every decoder layer. N > 0: only in layers N and up; the layers below
    # then hold nothing to train, so autograd records no graph there and the backward pass stops
    # at layer N (with prompts of 300-1500 tokens the backward is most of a step's time).
    first_layer: int = 0
    # 0.0 (default): every example's loss is backpropagated. > 0: an example whose whole loss (full
    # depth + programs) is already below this skips its backward pass (selective backprop): its
    # gradient would be about as small as its loss, and the backward is ~60% of an example's time
    # here. Skipped examples are logged (``"backward": false``) and count toward the schedule.
    skip_below: float = 0.0
    # True: each decoder layer runs through torch.compile (dynamic shapes: prompts differ in
    # length) while the adapter trains, undone afterwards so inference runs eager. Costs a compile
    # of about 40 s at the start on a 2-core CPU; fuses the elementwise work around the products.
    compile: bool = False


def check_adapter_config(config: AdapterConfig, n_layers: int) -> None:
    """Refuse settings that cannot train a model of ``n_layers`` decoder layers: a negative
    ``skip_below`` (``--skip-below``), a ``first_layer`` (``--lora-from``) outside the layers."""
    if config.skip_below < 0:
        raise AdapterSettingError(
            f"skip_below (--skip-below) is {config.skip_below}; give 0 (backpropagate every example) or a loss above 0"
        )
    if not 0 <= config.first_layer < n_layers:
        raise AdapterSettingError(
            f"LoRA from layer {config.first_layer} (--lora-from) is outside the model's {n_layers} decoder layers; "
            f"give 0 (LoRA everywhere) up to {n_layers - 1}"
        )


def lora_config(config: AdapterConfig, n_layers: int):
    """peft's LoraConfig for ``config`` on a model of ``n_layers`` decoder layers (checked first)."""
    from peft import LoraConfig

    check_adapter_config(config, n_layers)
    layers = list(range(config.first_layer, n_layers)) if config.first_layer else None
    return LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=0.0,
        target_modules=config.targets,
        layers_to_transform=layers,
    )


def train_adapter(
    model,
    examples: Sequence[TrainExample],
    library: dict[StepType, list[LayerProgram]],
    config: AdapterConfig,
    work: Path,
    seed: int,
    progress=None,
):
    """Wrap ``model.hf_model`` in a peft LoRA model, train it in place and return the peft model."""
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=not torch.cuda.is_available(), mixed_precision=config.mixed_precision)
    with quiet_peft():  # around peft's import and wrapping, and accelerate's preparing of the wrapped model
        from peft import get_peft_model

        peft_model = get_peft_model(model.hf_model, lora_config(config, model.n_layers))
        params = [p for p in peft_model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=0.0)
        total_steps = max(1, math.ceil(len(examples) / config.accumulate))
        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _warmup_cosine(config.warmup, total_steps))
        peft_model, optimizer, scheduler = accelerator.prepare(peft_model, optimizer, scheduler)
    parts = model.parts
    ckpt, state_file, log_file = work / "checkpoint", work / "checkpoint.json", work / "train_log.jsonl"
    start, seconds_before = 0, 0.0
    if state_file.is_file():
        accelerator.load_state(str(ckpt))
        state = json.loads(state_file.read_text())
        start, seconds_before = state["examples_done"], state.get("seconds", 0.0)
    if accelerator.is_main_process and log_file.is_file():
        # Rows written after the last checkpoint are redone on resume: drop them so none is doubled.
        rows = [line for line in log_file.read_text().splitlines() if line.strip()]
        log_file.write_text("".join(line + "\n" for line in rows if json.loads(line)["example"] <= start))
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    pick = random.Random(seed + 1)
    for done in range(start):  # replay the program draws so a resumed run continues the same sequence
        _draw(pick, library, examples[order[done]], config)
    full = LayerProgram.full(model.n_layers)
    peft_model.train()
    began = time.perf_counter()
    with _compiled_layers(parts, config.compile), log_file.open("a", encoding="utf-8") as log:
        for done in range(start, len(examples)):
            example = examples[order[done]]
            programs = [full, *_draw(pick, library, example, config)]
            if done % accelerator.num_processes == accelerator.process_index:
                # The forward runs layer by layer on the base modules, so accelerate's wrapped
                # forward never applies the mixed precision: autocast is entered here.
                with accelerator.autocast():
                    loss, parts_of_loss = example_loss(parts, example, programs, config.prompt_grad)
                backward = not float(loss.detach()) < config.skip_below
                if backward:
                    accelerator.backward(loss / config.accumulate)
                parts_of_loss["backward"] = backward
                del loss  # a skipped example's graph is freed here, not at the next forward
            else:
                parts_of_loss = None
            stepped = (done + 1) % config.accumulate == 0 or done + 1 == len(examples)
            if stepped:
                if accelerator.num_processes > 1:
                    # Each process ran its share of the window's examples, each loss already divided
                    # by ``accumulate``: summing gives the one-process gradient. Every process takes
                    # part in every reduce (zeros where it ran none), or the collective would hang.
                    for p in params:
                        grad = p.grad if p.grad is not None else torch.zeros_like(p)
                        p.grad = accelerator.reduce(grad, reduction="sum")
                torch.nn.utils.clip_grad_norm_(params, 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad()
            if parts_of_loss is not None and accelerator.is_main_process:
                row = {"example": done + 1, "id": example.id, "type": example.step_type.value, **parts_of_loss}
                row["lr"] = scheduler.get_last_lr()[0]
                row["elapsed_s"] = round(time.perf_counter() - began, 2)
                log.write(json.dumps(row) + "\n")
                log.flush()
            optimizer_step = (done + 1) // config.accumulate
            if stepped and (optimizer_step % config.save_every == 0 or done + 1 == len(examples)):
                with quiet_checkpoint():
                    accelerator.save_state(str(ckpt))
                if accelerator.is_main_process:
                    seconds = round(seconds_before + time.perf_counter() - began, 2)
                    state_file.write_text(json.dumps({"examples_done": done + 1, "seconds": seconds}))
            if progress is not None:
                progress(done + 1, len(examples), parts_of_loss)
    peft_model.eval()
    return accelerator.unwrap_model(peft_model)


@contextlib.contextmanager
def _compiled_layers(parts, compile: bool):
    """With ``compile``, every decoder layer runs through torch.compile inside the block and eagerly
    again after it, however it ends (inference runs KV caches and one-token passes eagerly)."""
    if not compile:
        yield
        return
    import torch._dynamo

    # Set for the block only, so the process's other compiled code keeps its own settings. Room for
    # a graph per layer module, should dynamo guard on the module; where compiling fails (no C++
    # compiler, an op inductor lacks), that frame runs eagerly instead.
    limit = max(torch._dynamo.config.recompile_limit, 2 * len(parts.layers))
    with torch._dynamo.config.patch(recompile_limit=limit, suppress_errors=True):
        for layer in parts.layers:
            layer.compile(dynamic=True)
        try:
            yield
        finally:
            for layer in parts.layers:
                layer._compiled_call_impl = None


def adapter_seconds(work: Path) -> float:
    """The adapter's training time over every run up to its last checkpoint (``train_adapter``
    keeps it in ``checkpoint.json``); time a stopped run spent past its last checkpoint is redone on
    resume and not counted. 0.0 before the first checkpoint."""
    state = work / "checkpoint.json"
    return round(json.loads(state.read_text()).get("seconds", 0.0), 1) if state.is_file() else 0.0


def _draw(rng: random.Random, library, example: TrainExample, config: AdapterConfig) -> list[LayerProgram]:
    candidates = library.get(example.step_type, [])
    return rng.sample(candidates, min(config.programs_per_example, len(candidates)))


def _warmup_cosine(warmup: int, total: int):
    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor
