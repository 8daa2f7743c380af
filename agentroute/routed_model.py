"""RoutedModel: a Hugging Face causal LM that runs any layer program."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch

from agentroute import executor
from agentroute.errors import GenerationError
from agentroute.hf_parts import ModelParts
from agentroute.messages import render_prompt
from agentroute.prefix_cache import PrefixCache
from agentroute.program import LayerProgram
from agentroute.records import GenerationResult, LayersExecuted, StepRecord
from agentroute.sampling import Sampler

PrefillMode = Literal["full", "program"]


class RoutedModel:
    """A loaded model plus the machinery to run layer programs over an explicit KV cache.

    ``generate`` is safe to call from several threads: calls on one model run one at a time
    because they share the prefix cache (on a CPU they would compete for the same cores anyway).
    """

    def __init__(self, hf_model, tokenizer, name: str, quantization: str | None = None) -> None:
        self.hf_model = hf_model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.quantization = quantization
        self.parts = ModelParts.resolve(hf_model)
        self._prefix = PrefixCache()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        quant = f", quantization={self.quantization!r}" if self.quantization else ""
        return f"RoutedModel({self.name!r}, n_layers={self.n_layers}{quant})"

    @property
    def n_layers(self) -> int:
        return self.parts.n_layers

    @property
    def stop_token_ids(self) -> set[int]:
        """End-of-turn ids: the generation config's, as stock ``generate()`` uses them."""
        eos = getattr(self.hf_model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = getattr(self.tokenizer, "eos_token_id", None)
        if eos is None:
            return set()
        return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}

    def program(self, spec: LayerProgram | str | Iterable[int] | None = None) -> LayerProgram:
        """A LayerProgram for this model from a program, its string form or a list of layers."""
        return LayerProgram.coerce(spec, self.n_layers)

    def encode(self, messages_or_prompt: str | Sequence[Mapping[str, Any]]) -> list[int]:
        """Prompt token ids as the chat template renders them."""
        return render_prompt(self.tokenizer, messages_or_prompt)

    def generate(
        self,
        messages_or_prompt: str | Sequence[Mapping[str, Any]],
        program: LayerProgram | str | Iterable[int] | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        prefill: PrefillMode = "full",
        reuse_prefix: bool | None = None,
        ignore_eos: bool = False,
    ) -> GenerationResult:
        """Generate a reply with ``program`` (default: every layer).

        ``prefill="full"`` encodes the prompt at full depth and decodes with the program (the
        prompt's hidden states stay exact); ``"program"`` runs the program for both. A program
        that loops a layer always prefills with itself, since each repetition needs its own keys
        and values for the prompt.

        ``reuse_prefix`` (default: on, except for int8) keeps the KV of the longest prompt prefix
        shared with the previous call. It is off by default for int8 because LLM.int8 picks its
        outlier columns over all rows of a chunk, so a prefix encoded in an earlier chunk differs
        numerically from a cold prefill and greedy output could drift from stock ``generate()``.
        """
        return self.generate_ids(
            self.encode(messages_or_prompt),
            program=program,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed,
            stop=stop,
            prefill=prefill,
            reuse_prefix=reuse_prefix,
            ignore_eos=ignore_eos,
        )

    def generate_ids(
        self,
        prompt_ids: Sequence[int],
        program: LayerProgram | str | Iterable[int] | None = None,
        max_new_tokens: int = 256,
        temperature: float = 0.0,
        top_p: float = 1.0,
        top_k: int = 0,
        seed: int | None = None,
        stop: Sequence[str] | None = None,
        prefill: PrefillMode = "full",
        reuse_prefix: bool | None = None,
        ignore_eos: bool = False,
    ) -> GenerationResult:
        """``generate`` on already-tokenised prompt ids."""
        program = self.program(program)
        plan = _Plan(
            prompt_ids=self._check_prompt(prompt_ids, max_new_tokens),
            program=program,
            prefill_program=self._prefill_program(program, prefill),
            sampler=Sampler(temperature=temperature, top_p=top_p, top_k=top_k, seed=seed),
            max_new_tokens=max_new_tokens,
            stop=_check_stop(stop),
            stop_ids=set() if ignore_eos else self.stop_token_ids,
            reuse_prefix=self.quantization != "int8" if reuse_prefix is None else reuse_prefix,
        )
        with self._lock, torch.inference_mode():
            try:
                return self._run(plan)
            except BaseException:
                # A half-written cache must not leak into the next call.
                self._prefix.forget()
                raise

    # -- internals --------------------------------------------------------------------------------

    def _run(self, plan: _Plan) -> GenerationResult:
        parts, prefix, sampler, prompt_ids = self.parts, self._prefix, plan.sampler, plan.prompt_ids
        device = parts.device
        started = time.perf_counter()
        start = prefix.prepare(prompt_ids, plan.prefill_program, reuse=plan.reuse_prefix)
        capacity = len(prompt_ids) + plan.max_new_tokens
        ids = torch.tensor([prompt_ids[start:]], dtype=torch.long, device=device)
        logits = executor.prefill(parts, prefix.kv, plan.prefill_program, ids, start=start, capacity=capacity)
        # Only samplers with top-k/top-p warpers look at the history; greedy skips building it.
        history = torch.tensor([prompt_ids], dtype=torch.long) if not sampler.greedy else None
        generated: list[int] = []
        finish = "length"
        first_token_at = None
        position = len(prompt_ids)
        while True:
            token = sampler(logits, history)
            generated.append(token)
            if first_token_at is None:
                first_token_at = time.perf_counter()
            if token in plan.stop_ids or (plan.stop and self._hits_stop(generated, plan.stop)):
                finish = "stop"
                break
            if len(generated) >= plan.max_new_tokens:
                break
            if history is not None:
                history = torch.cat([history, torch.tensor([[token]])], dim=1)
            step = torch.tensor([[token]], dtype=torch.long, device=device)
            logits = executor.decode_step(parts, prefix.kv, plan.program, step, position)
            position += 1
        finished = time.perf_counter()
        decode_time = finished - first_token_at
        record = StepRecord(
            model=self.name,
            quantization=self.quantization,
            program=str(plan.program),
            prefill_program=str(plan.prefill_program),
            layers_per_token=len(plan.program),
            layers_fraction=round(plan.program.cost, 6),
            layers_executed=LayersExecuted(
                count=len(plan.program), fraction=round(plan.program.cost, 6), which=list(plan.program.layers)
            ),
            prompt_tokens=len(prompt_ids),
            reused_prompt_tokens=start,
            completion_tokens=len(generated),
            ttft_s=first_token_at - started,
            latency_s=finished - started,
            decode_tokens_per_s=(len(generated) - 1) / decode_time if len(generated) > 1 and decode_time > 0 else None,
            finish_reason=finish,
            temperature=sampler.temperature,
            seed=sampler.seed,
        )
        return GenerationResult(text=self._reply_text(generated, plan.stop), token_ids=generated, record=record)

    def _prefill_program(self, program: LayerProgram, prefill: str) -> LayerProgram:
        if prefill not in ("full", "program"):
            raise GenerationError(f"prefill must be 'full' or 'program', got {prefill!r}")
        if prefill == "program" or program.loops:
            return program
        return LayerProgram.full(self.n_layers)

    def _check_prompt(self, prompt_ids: Sequence[int], max_new_tokens: int) -> list[int]:
        if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
            raise GenerationError(f"max_new_tokens must be a positive integer, got {max_new_tokens!r}")
        ids = [int(i) for i in prompt_ids]
        if not ids:
            raise GenerationError("the prompt has no tokens")
        limit = getattr(self.hf_model.config, "max_position_embeddings", None)
        if limit and len(ids) + max_new_tokens > limit:
            raise GenerationError(
                f"prompt ({len(ids)} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's "
                f"context of {limit} tokens; shorten the conversation or lower max_new_tokens"
            )
        return ids

    def _hits_stop(self, generated: list[int], stop: list[str]) -> bool:
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        return any(s in text for s in stop)

    def _reply_text(self, generated: list[int], stop: list[str] | None) -> str:
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        for s in stop or []:
            cut = text.find(s)
            if cut != -1:
                text = text[:cut]
        return text


@dataclass(frozen=True)
class _Plan:
    """Everything one generation needs, checked before the lock is taken."""

    prompt_ids: list[int]
    program: LayerProgram
    prefill_program: LayerProgram
    sampler: Sampler
    max_new_tokens: int
    stop: list[str] | None
    stop_ids: set[int]
    reuse_prefix: bool


def _check_stop(stop) -> list[str] | None:
    if stop is None:
        return None
    if isinstance(stop, str):
        stop = [stop]
    stop = list(stop)
    if not all(isinstance(s, str) and s for s in stop):
        raise GenerationError(f"stop must be a list of non-empty strings, got {stop!r}")
    return stop
