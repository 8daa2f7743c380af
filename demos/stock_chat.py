"""The demo's baseline: the same agent with each model step run by stock transformers ``generate()``.

``StockChat`` is ``ChatLayerRoute`` with its decode swapped for ``hf_model.generate()`` (greedy,
through the benchmark's ``stock_generate`` helper) on a float32 copy of the same weights (pack
merged, the model's own modules, no AgentRoute kernels): what a user of plain transformers runs.
The prompt is built and the reply's tool calls are read exactly as for AgentRoute, so only the
decoding differs; stock ``generate()`` cannot take the tool-call grammar, so its replies are its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from langchain_layerroute import ChatLayerRoute

import agentroute
from agentroute import GenerationResult, StepRecord, StepType, parse_tool_calls
from agentroute.bench.common import stock_generate
from agentroute.trace.trace_file import record_step

STOCK_DTYPE = "float32"


def load_stock(pack: str | None) -> agentroute.RoutedModel:
    """The same weights in float32 through the model's own modules, warmed up by one short generate()."""
    model = agentroute.load(pack=pack, dtype=STOCK_DTYPE, kernels="plain")
    stock_generate(model, model.encode("Hello"), max_new_tokens=2)
    return model


class StockChat(ChatLayerRoute):
    """``ChatLayerRoute`` whose steps run stock ``generate()`` on ``routed_model`` (use ``load_stock``)."""

    def _run(self, step, on_text: Callable[[str], None] | None = None) -> GenerationResult:
        model = self.routed_model
        prompt = model.encode(step.messages, step.tools or None)
        max_new_tokens = step.options.get("max_new_tokens") or self.max_new_tokens
        began = time.perf_counter()
        ids, _ = stock_generate(model, prompt, max_new_tokens=max_new_tokens)
        seconds = time.perf_counter() - began
        stopped = bool(ids) and ids[-1] in model.stop_token_ids
        text = model.tokenizer.decode(ids[:-1] if stopped else ids, skip_special_tokens=True)
        parsed = parse_tool_calls(text, step.tools) if step.tools else None
        calls = parsed.tool_calls if parsed else []
        layers = f"0-{model.n_layers - 1}"
        record = StepRecord(
            model=model.name,
            dtype=STOCK_DTYPE,
            step_type=StepType.TOOL_CALL if calls else StepType.FINAL_ANSWER,
            program=layers,
            prefill_program=layers,
            layers_per_token=model.n_layers,
            layers_fraction=1.0,
            prompt_tokens=len(prompt),
            completion_tokens=len(ids),
            ttft_s=seconds,  # generate() reports no first-token time; the step's time stands in
            latency_s=seconds,
            finish_reason="tool_calls" if calls else "stop" if stopped else "length",
            tool_calls=calls,
            error=parsed.error if parsed else None,
            hints=step.options.get("hints") or {},
        )
        record_step(record)
        content = parsed.content if calls else text  # no text streamed: the reply comes whole at the end
        return GenerationResult(text=content, token_ids=ids, record=record, tool_calls=calls)
