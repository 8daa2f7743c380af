"""``LayerRouteGenerator``: a Haystack chat generator that runs a local model with a layer program per step."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from haystack import component, default_from_dict, default_to_dict, tracing
from haystack.dataclasses import ChatMessage, ComponentInfo, StreamingCallbackT, select_streaming_callback
from haystack.tools import (
    ToolsType,
    _check_duplicate_tool_names,
    deserialize_tools_or_toolset_inplace,
    flatten_tools_or_toolsets,
    serialize_tools_or_toolset,
    warm_up_tools,
    warm_up_tools_async,
)
from haystack.utils import deserialize_callable, serialize_callable

import agentroute
from agentroute import DepthPolicy, StepRecord
from agentroute.decode.cancellation import generate_async
from agentroute.loading import COMPONENT_ARGUMENTS
from agentroute.trace.otel import genai_attributes

from .convert import reply_message
from .request import build_request
from .settings import check_init
from .streaming import ChunkStream, generate_streaming
from .structured import serializable_response_format


@component
class LayerRouteGenerator:
    """
    A chat generator for a local Hugging Face model that runs a layer program per agent step.

    Each call is one agent step: AgentRoute types it (tool call, final answer, ...), turns the type
    into a depth budget and a layer program, generates, parses tool calls and records the step.
    The reply's ``meta`` holds ``model``, ``index``, ``finish_reason``, exact ``usage`` and
    ``layerroute`` (the step record); the current tracing span gets the record as tags, and any
    active ``agentroute.Trace`` receives it.

    ```python
    from haystack.components.agents import Agent
    from haystack.dataclasses import ChatMessage
    from haystack_integrations.components.generators.layerroute import LayerRouteGenerator

    llm = LayerRouteGenerator(policy={"budgets": {"tool_call": 0.8}}, generation_kwargs={"max_new_tokens": 128})
    agent = Agent(chat_generator=llm, tools=[...])
    reply = agent.run([ChatMessage.from_user("What is 17.5 * 48?")])["last_message"]
    program = reply.meta["layerroute"]["program"]  # the layers this step ran
    ```
    """

    def __init__(
        self,
        model: str = "default",
        quantization: str | None = "auto",
        pack: str | None = "auto",
        policy: dict[str, Any] | str | None = None,
        programs: str | None = None,
        mode: str = "policy",
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: ToolsType | None = None,
        device: str | None = None,
        dtype: str | None = None,
        tools_strict: bool = False,
    ) -> None:
        """
        Configure the generator; the model is loaded by ``warm_up`` (or the first ``run``), not here.

        :param model: ``"default"`` (the embedded SmolLM2-135M-Instruct), a local checkpoint directory or a
            ``.gguf`` file. Models are never downloaded.
        :param quantization: ``"auto"`` (4-bit decode passes for a Q4_1 GGUF such as the default model,
            where the CPU runs them; else none), None, ``"int4"``, ``"nf4"`` or ``"int8"`` (bitsandbytes).
        :param pack: ``"auto"`` (the trained default pack with the default model, none otherwise),
            ``"default"``, a route pack directory (LoRA adapter + router + policy), or None.
        :param policy: a depth policy as a dict or a YAML/TOML file path, e.g.
            ``{"budgets": {"tool_call": 0.6}, "hint_map": {"planner": "planning"}}``. The hint map sees this
            component's pipeline name as the ``component`` hint.
        :param programs: a ``programs.json`` from ``agentroute search``: searched layer programs per step type
            and budget, used where no route pack program applies.
        :param mode: ``"policy"`` (each step's depth and decode mode as the depth policy says), ``"full"`` (every
            step at full depth, decoded plainly, e.g. to compare) or ``"lossless"`` (the policy's draft program
            drafts, full depth verifies: the output is exactly full depth's). The old ``"routed"`` (now ``"policy"``)
            is refused with an error naming the new word.
        :param generation_kwargs: ``max_new_tokens`` (default 256; also ``max_tokens``), ``temperature``
            (0 = greedy), ``top_p``, ``top_k``, ``seed``, ``stop_words`` (also ``stop_sequences``/``stop``),
            ``prefill``, ``reuse_prefix``, ``constrain`` (default True: tool-call steps can only write valid calls
            of the tools), ``response_format`` (structured output as ``OpenAIChatGenerator`` takes it: a pydantic
            model class or a JSON schema dict; a reply that calls no tool is one JSON value valid for it, decoded
            under its grammar), and per-step routing overrides ``step_type`` and ``budget`` (a fraction of the layer
            cost). Keys and values are checked here; a misspelled key gets a "did you mean".
        :param streaming_callback: called with each ``StreamingChunk``; works together with tools.
        :param tools: Tools and/or Toolsets the model may call.
        :param device: ``"cpu"`` or ``"cuda"`` (default: CUDA when present).
        :param dtype: compute dtype name, e.g. ``"bfloat16"``
            (default: bfloat16 where the hardware computes it natively, else float32).
        :param tools_strict: hold every tool call to its tool's schema. Tool calls are decoded under a grammar
            that admits only calls of the offered tools with arguments valid for their schemas (undeclared
            arguments refused); that is the default (``constrain``), and ``tools_strict=True`` makes it a
            requirement: ``constrain=False`` in ``generation_kwargs`` is then an error. It does not make a step call
            a tool: a step not typed as a tool call may still answer in text (see ``step_type``), but a call it
            writes is held to the schemas all the same.
        :raises ValueError: for any argument ``warm_up`` or ``run`` would refuse (an unknown mode; a model, pack,
            policy, programs, device, dtype or quantization ``agentroute.load`` would refuse, with its message; a
            ``generation_kwargs`` key or value the model cannot use) or duplicate tool names; TypeError for a
            ``generation_kwargs``, ``streaming_callback`` or ``tools_strict`` of the wrong type. The model itself
            is not loaded here.
        """
        check_init(
            model=model,
            quantization=quantization,
            pack=pack,
            policy=policy,
            programs=programs,
            mode=mode,
            generation_kwargs=generation_kwargs,
            streaming_callback=streaming_callback,
            tools_strict=tools_strict,
            device=device,
            dtype=dtype,
        )
        _check_duplicate_tool_names(flatten_tools_or_toolsets(tools))
        self.model = model
        self.quantization = quantization
        self.pack = pack
        # Kept as plain data so the component serializes; a DepthPolicy object is turned into its dict.
        self.policy = policy.model_dump(mode="json") if isinstance(policy, DepthPolicy) else policy
        self.programs = programs
        self.mode = mode
        self.generation_kwargs = dict(generation_kwargs or {})
        self.streaming_callback = streaming_callback
        self.tools = tools
        self.device = device
        self.dtype = dtype
        self.tools_strict = tools_strict
        self._routed_model: agentroute.RoutedModel | None = None
        self._tools_warm = False
        self._warm_up_lock = threading.Lock()

    @property
    def routed_model(self) -> agentroute.RoutedModel | None:
        """The loaded model (None before ``warm_up``)."""
        return self._routed_model

    def warm_up(self) -> None:
        """Load the model and warm up the tools, once; safe to call from several threads."""
        self._load()
        if not self._tools_warm:
            with self._warm_up_lock:
                if not self._tools_warm:
                    warm_up_tools(self.tools)
                    self._tools_warm = True

    async def warm_up_async(self) -> None:
        """
        ``warm_up`` for async pipelines: the model loads in a worker thread, so the event loop stays free.

        Tools warm up on the event loop (``warm_up_async`` where they have it), as Haystack's own
        ``Agent.warm_up_async`` does, so clients they open bind to the loop that will run them.
        """
        if self._routed_model is None:
            await asyncio.to_thread(self._load)
        if not self._tools_warm:
            await warm_up_tools_async(self.tools)
            self._tools_warm = True

    def close(self) -> None:
        """
        Release the model: this component drops it, so its memory is freed once nothing else holds it.

        A later ``warm_up`` or ``run`` loads it again. Tools are left alone: whoever runs them (an ``Agent``,
        a ``ToolInvoker``) closes them, as with Haystack's own chat generators.
        """
        with self._warm_up_lock:
            self._routed_model = None
            self._tools_warm = False

    async def close_async(self) -> None:
        """``close`` for async pipelines (releasing the model does not wait on anything)."""
        self.close()

    def _load(self) -> agentroute.RoutedModel:
        """The loaded model, loading it first if needed (once, even from several threads)."""
        model = self._routed_model
        if model is not None:
            return model
        with self._warm_up_lock:
            if self._routed_model is None:
                arguments = {name: getattr(self, name) for name in COMPONENT_ARGUMENTS}
                self._routed_model = agentroute.load(**arguments).warm_up()
            return self._routed_model

    def _get_telemetry_data(self) -> dict[str, Any]:
        """Data Haystack's usage telemetry may send: the model name only."""
        return {"model": self.model}

    def to_dict(self) -> dict[str, Any]:
        """Serialize the component (tools and the streaming callback by import path)."""
        return default_to_dict(
            self,
            model=self.model,
            quantization=self.quantization,
            pack=self.pack,
            policy=self.policy,
            programs=self.programs,
            mode=self.mode,
            generation_kwargs=serializable_response_format(self.generation_kwargs),
            streaming_callback=serialize_callable(self.streaming_callback) if self.streaming_callback else None,
            tools=serialize_tools_or_toolset(self.tools),
            device=self.device,
            dtype=self.dtype,
            tools_strict=self.tools_strict,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LayerRouteGenerator:
        """Deserialize a component written by ``to_dict``."""
        init_params = data.get("init_parameters", {})
        deserialize_tools_or_toolset_inplace(init_params, key="tools")
        if init_params.get("streaming_callback"):
            init_params["streaming_callback"] = deserialize_callable(init_params["streaming_callback"])
        return default_from_dict(cls, data)

    @component.output_types(replies=list[ChatMessage])
    def run(
        self,
        messages: list[ChatMessage] | str,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: ToolsType | None = None,
        *,
        step_type: str | None = None,
        tools_strict: bool | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """
        Generate the reply to ``messages`` as one agent step.

        :param messages: the conversation (system, user, assistant with tool calls, tool results; text only);
            a string is one user message, as with Haystack's own chat generators. A tool result must follow the
            assistant message whose call it answers.
        :param generation_kwargs: per-call settings, merged over the init ones (see ``__init__``).
        :param streaming_callback: overrides the init callback for this call.
        :param tools: overrides the init tools for this call.
        :param step_type: the step's type (``"tool_call"``, ``"planning"``, ``"reasoning"``, ``"final_answer"``,
            ``"other"``); default: ``generation_kwargs["step_type"]``, else inferred from the conversation.
        :param tools_strict: overrides the init ``tools_strict`` for this call.
        :returns: ``{"replies": [ChatMessage]}``, one assistant message.
        :raises ValueError: for messages or settings the model cannot use.
        """
        prompt, request = build_request(self, messages, generation_kwargs, tools, step_type, tools_strict)
        callback = select_streaming_callback(self.streaming_callback, streaming_callback, requires_async=False)
        self.warm_up()
        model = self._load()  # the warm model (loaded again if closed meanwhile)
        stream = self._chunk_stream(model, request) if callback else None

        def on_text(delta: str) -> None:
            for chunk in stream.text(delta):
                callback(chunk)

        result = model.generate(prompt, **request, on_text=on_text if stream else None)
        reply = reply_message(result, tools_offered=bool(request["tools"]))
        if stream:
            for chunk in stream.final(reply):
                callback(chunk)
        _tag_current_span(result.record, reply)
        return {"replies": [reply]}

    @component.output_types(replies=list[ChatMessage])
    async def run_async(
        self,
        messages: list[ChatMessage] | str,
        generation_kwargs: dict[str, Any] | None = None,
        streaming_callback: StreamingCallbackT | None = None,
        tools: ToolsType | None = None,
        *,
        step_type: str | None = None,
        tools_strict: bool | None = None,
    ) -> dict[str, list[ChatMessage]]:
        """
        ``run`` for async pipelines: generation runs in a worker thread, the event loop stays free.

        The streaming callback may be a coroutine function (or a plain function, which then runs on the loop).
        The worker thread gets a copy of the caller's context, so traces and tracing spans stay the caller's.
        Cancelling the await (a pipeline's timeout, a closed request) stops the generation at its next token.
        """
        prompt, request = build_request(self, messages, generation_kwargs, tools, step_type, tools_strict)
        callback = select_streaming_callback(self.streaming_callback, streaming_callback, requires_async=True)
        await self.warm_up_async()
        model = self._routed_model or await asyncio.to_thread(self._load)  # closed meanwhile: load again
        if callback is None:
            result = await generate_async(model.generate, prompt, **request)
            reply = reply_message(result, tools_offered=bool(request["tools"]))
        else:
            stream = self._chunk_stream(model, request)
            result, reply = await generate_streaming(model, prompt, request, stream, callback)
        _tag_current_span(result.record, reply)
        return {"replies": [reply]}

    def _chunk_stream(self, model: agentroute.RoutedModel, request: dict[str, Any]) -> ChunkStream:
        specs = request["tools"] or []
        names, held = [spec["name"] for spec in specs], model.held_call_names(specs)
        return ChunkStream(model.name, ComponentInfo.from_component(self), names, model.streamed_call_format, held)


def _tag_current_span(record: StepRecord, reply: ChatMessage) -> None:
    """Put the step record on the current Haystack span (the component's, or the Agent's LLM step span).

    Numbers and names go in as plain tags under the OpenTelemetry GenAI keys AgentRoute exports
    (``gen_ai.usage.*``, ``agentroute.*``); the full record and the output carry message content,
    so they are content tags, which Haystack records only when content tracing is on.
    """
    span = tracing.tracer.current_span()
    if span is None:
        return
    span.set_tags(genai_attributes(record))
    span.set_content_tag("layerroute.record", record.model_dump(mode="json"))
    span.set_content_tag("haystack.component.output", {"replies": [reply]})
