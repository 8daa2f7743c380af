"""``ChatLayerRoute``: a LangChain chat model backed by a local AgentRoute ``RoutedModel``.

Each call is one agent step: the step type comes from an explicit ``step_type``, the graph node
(``node_step_types``, then the policy's ``hint_map``) or the conversation's structure, and the
depth policy turns it into a layer program. Every call leaves a ``StepRecord`` in the active
``agentroute.Trace`` and in the reply's ``response_metadata["layerroute"]``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput, ModelProfile
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import BaseModel, Field, PrivateAttr, field_validator, model_validator

import agentroute
from agentroute import AgentRouteError, GenerationResult, RoutedModel
from agentroute.decode.cancellation import generate_async
from agentroute.decode.options import parse_options
from agentroute.loading import COMPONENT_ARGUMENTS, check_load_arguments, context_length
from agentroute.model.default_model import DEFAULT_NAME

from .arguments import chat_profile, check_arguments, known_mode, known_step_types
from .messages import PROVIDER, to_ai_message
from .request import (
    Step,
    build_step,
    check_strict,
    parse_max_calls,
    parse_tool_choice,
    tool_specs,
)
from .shared_models import SharedModels
from .streaming import ReplyChunks, astream_generation, stream_generation
from .structured import METHODS, json_schema_of, request_schema, structured_runnable


class ChatLayerRoute(BaseChatModel):
    """Chat model that runs each agent step through a layer program on a local model.

    Example::

        from langchain.agents import create_agent
        from langchain_layerroute import ChatLayerRoute

        llm = ChatLayerRoute(policy={"budgets": {"tool_call": 0.8}}, node_step_types={"planner": "planning"})
        agent = create_agent(llm, tools)

    The model loads on first use (``agentroute.load``; its arguments are checked here); pass
    ``routed_model=`` to use one already loaded (it is shared, never serialised). ``mode="full"``
    runs every step at full depth. ``with_structured_output(Model)`` and ``create_agent(...,
    response_format=Model)`` decode the answer under the schema's grammar (``structured``).
    Generation fields take the names other LangChain chat models use too (``max_tokens`` for
    ``max_new_tokens``, ``stop``) and are checked at construction: an unknown keyword or a value
    the model cannot use is an error here, not at the first call.
    """

    model: str = Field("default", description="'default', a checkpoint directory or a .gguf file")
    quantization: Literal["auto", "int4", "nf4", "int8"] | None = Field(
        "auto",
        description="'auto' (int4 decode passes for a Q4_1 GGUF such as the default model, where they run), or None",
    )
    dtype: str | None = Field(None, description="compute dtype, e.g. 'float32' or 'bfloat16' (default: detected)")
    device: str | None = Field(None, description="'cpu' or 'cuda'; default CUDA when present")
    pack: str | None = Field(
        "auto", description="'auto' (the default pack with the default model), 'default', a pack directory, or None"
    )
    policy: dict[str, Any] | str | None = Field(None, description="DepthPolicy as a dict or a YAML/TOML path")
    programs: str | None = Field(None, description="programs.json from `agentroute search` (searched layer programs)")
    mode: Literal["policy", "full", "lossless"] = Field(
        "policy",
        description="'policy': each step's program and decode mode as the depth policy says; 'full': every step at "
        "full depth, decoded plainly; 'lossless': every step drafts with its program and full depth verifies",
    )
    max_new_tokens: int = Field(256, description="the most tokens a reply may have (alias: max_tokens)")
    temperature: float = Field(0.0, description="0 is greedy; above 0 samples with this temperature")
    top_p: float = 1.0
    top_k: int = 0
    seed: int | None = None
    stop: list[str] | None = Field(None, description="strings that end every reply; a call's stop= replaces them")
    node_step_types: dict[str, str] = Field(
        default_factory=dict, description="graph node name -> step type, e.g. {'planner': 'planning'}"
    )

    shared_models: SharedModels | None = Field(
        None,
        exclude=True,
        repr=False,
        description="internal: the loaded or injected model, shared with the copies configurable_fields makes",
    )

    _routed: RoutedModel | None = PrivateAttr(default=None)

    def __init__(self, *, routed_model: RoutedModel | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if routed_model is not None or self.shared_models is None:
            self.shared_models = SharedModels(routed_model)
        # A copy made by configurable_fields gets the original's injected model through shared_models.
        self._routed = routed_model = self.shared_models.injected
        configured = self.policy is not None or self.programs is not None or self.pack not in (None, "auto")
        if routed_model is not None and configured:
            # The injected model carries its own policy; silently ignoring these would mislead.
            raise ValueError(
                "pass policy=/pack=/programs= to agentroute.load() for an injected routed_model, not to ChatLayerRoute"
            )
        if routed_model is None:
            try:  # what agentroute.load would refuse fails here, with its message, not at the first call
                check_load_arguments(**self._load_arguments())
            except AgentRouteError as exc:
                raise ValueError(str(exc)) from None
        elif "profile" not in kwargs:  # LangChain resolved it before the model was set
            self.profile = self._resolve_model_profile()

    @model_validator(mode="before")
    @classmethod
    def _check_arguments(cls, data: Any) -> Any:
        """Unknown keywords and unusable generation values fail here; ``max_tokens`` becomes ``max_new_tokens``."""
        return check_arguments(data, {*cls.model_fields, "max_tokens"})

    @field_validator("mode", mode="before")
    @classmethod
    def _known_mode(cls, mode: Any) -> Any:
        return known_mode(mode)

    @field_validator("node_step_types")
    @classmethod
    def _known_step_types(cls, mapping: dict[str, str]) -> dict[str, str]:
        return known_step_types(mapping)

    # -- LangChain plumbing -----------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "layerroute"

    @classmethod
    def is_lc_serializable(cls) -> bool:
        """``dumpd``/``load`` round-trip the settings (a model passed as ``routed_model`` is shared, not
        saved: the loaded copy loads its own from ``model``, ``pack``, ...)."""
        return True

    @classmethod
    def get_lc_namespace(cls) -> list[str]:
        return ["langchain_layerroute", "chat_model"]

    @property
    def model_name(self) -> str:
        """The model's name as ``agentroute.load`` gives it: the loaded model's, else derived from ``model``."""
        if self._routed is not None:
            return self._routed.name
        if self.model == "default":
            return DEFAULT_NAME
        path = Path(self.model).expanduser()
        return path.stem if path.suffix.lower() == ".gguf" else path.name

    @property
    def _identifying_params(self) -> dict[str, Any]:
        # Everything that can change a reply: LangChain's LLM cache keys on these.
        return {
            **{name: getattr(self, name) for name in COMPONENT_ARGUMENTS},
            "model_name": self.model_name,
            "model_provider": PROVIDER,
            "mode": self.mode,
            "node_step_types": self.node_step_types,
            "default_stop": self.stop,  # "stop" itself is the call's (LangChain sets it per call)
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "seed": self.seed,
        }

    def _get_ls_params(self, stop: list[str] | None = None, **kwargs: Any) -> LangSmithParams:
        """LangSmith's standard fields: provider "agentroute", the model's name, this call's settings."""
        params = super()._get_ls_params(stop=stop, **kwargs)
        params["ls_provider"] = PROVIDER
        params["ls_model_name"] = self.model_name
        params["ls_max_tokens"] = kwargs.get("max_new_tokens", kwargs.get("max_tokens", self.max_new_tokens))
        stop = stop if stop is not None else self.stop
        if stop:
            params["ls_stop"] = stop
        return params

    def _resolve_model_profile(self) -> ModelProfile | None:
        """Capabilities LangChain reads (``model.profile``): tools, native structured output, and
        ``max_input_tokens`` (the context less ``max_new_tokens``: the longest prompt a step takes),
        which ``SummarizationMiddleware``'s fraction triggers need. Read without loading the model."""
        if self._routed is not None:
            return chat_profile(getattr(self._routed, "context_length", None), self.max_new_tokens)
        return chat_profile(context_length(self.model), self.max_new_tokens)

    @property
    def routed_model(self) -> RoutedModel:
        """The loaded RoutedModel; loads it on first access (once, even from several threads)."""
        if self._routed is None:
            arguments = self._load_arguments()
            self._routed = self.shared_models.get(arguments, lambda: agentroute.load(**arguments).warm_up())
        return self._routed

    def _load_arguments(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in COMPONENT_ARGUMENTS}

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids from the local model's tokenizer (LangChain's default would fetch GPT-2's)."""
        return list(self.routed_model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | dict | bool | None = None,
        parallel_tool_calls: bool | None = None,
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Offer ``tools`` (LangChain tools, functions, pydantic models or schema dicts) to the model.

        ``tool_choice``: None or "auto" (the model decides), "none" (no tools in the prompt),
        "any"/"required"/True (a call is expected: the step is typed tool_call and decoded under the
        tools' grammar, so it writes valid calls), a tool name or
        ``{"type": "function", "function": {"name": ...}}`` (only that tool is offered). Other steps
        may answer in text.

        ``parallel_tool_calls``: None or True, a reply keeps every call the model wrote; False, it
        keeps at most the first (later ones are dropped from the reply and its stream, the step
        record still lists them). The prompt is the same either way.

        ``strict``: as ChatOpenAI takes it. Calls are always decoded under their tools' grammar,
        so their arguments are valid for the schemas; True makes that a requirement
        (``constrain=False`` is then an error), False or None change nothing.
        """
        specs = tool_specs(tools)  # checked now, not at the first step
        choice = parse_tool_choice(tool_choice, [s["name"] for s in specs])
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            parse_max_calls(parallel_tool_calls)  # checked now
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        if strict is not None:
            check_strict(strict, kwargs.get("constrain"))  # checked now
            kwargs["strict"] = strict
        if kwargs.get("response_format") is not None or kwargs.get("json_schema") is not None:
            parse_options({"json_schema": request_schema(kwargs.get("response_format"), kwargs.get("json_schema"))})
        return self.bind(tools=specs, **kwargs)

    def with_structured_output(
        self,
        schema: Mapping[str, Any] | type | None = None,
        *,
        include_raw: bool = False,
        method: Literal["json_schema", "function_calling", "json_mode"] = "json_schema",
        strict: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, dict[str, Any] | BaseModel]:
        """A runnable whose output follows ``schema`` (a pydantic model, TypedDict, dataclass or JSON Schema dict).

        ``method="json_schema"`` (the default): the reply is decoded under the schema's grammar, so
        it is one JSON value the schema accepts (unless ``max_new_tokens`` cuts it off), parsed into an
        instance of a pydantic model, else a dict. ``"json_mode"``: any JSON object (the schema is not
        told to the decoder), parsed as for ``json_schema``.
        ``"function_calling"``: LangChain's tool path (the schema becomes a tool the model must call).
        ``include_raw``: ``{"raw", "parsed", "parsing_error"}``, a parsing error caught. ``strict`` is
        accepted for compatibility: the grammar always holds the reply to the schema.
        """
        if method not in METHODS:
            raise ValueError(f"unknown structured output method {method!r}; use one of {', '.join(METHODS)}")
        if method == "function_calling":
            return super().with_structured_output(schema, include_raw=include_raw, strict=strict, **kwargs)
        if kwargs:
            raise ValueError(f"with_structured_output got unsupported arguments {sorted(kwargs)}")
        if schema is None and method == "json_schema":
            raise ValueError("method='json_schema' needs a schema (a pydantic model, TypedDict or JSON Schema dict)")
        response_format = json_schema_of(schema) if method == "json_schema" else {"type": "json_object"}
        parse_options({"json_schema": request_schema(response_format, None)})  # a bad schema fails now
        # Traced as the JSON Schema the grammar enforces (LangChain cannot convert every TypedDict for its trace).
        traced = {"ls_structured_output_format": {"kwargs": {"method": method}, "schema": response_format}}
        llm = self.bind(response_format=response_format, **traced)
        return structured_runnable(llm, schema, include_raw)

    # -- generation -------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._step(messages, stop, run_manager, kwargs)
        return _chat_result(self._run(step), step)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._step(messages, stop, run_manager, kwargs)
        # The worker gets a copy of the context, so Trace scopes entered by the caller receive the
        # record; cancelling this await stops the generation at its next token.
        return _chat_result(await generate_async(self._run, step), step)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        step = self._step(messages, stop, run_manager, kwargs)
        model = self.routed_model
        reply = ReplyChunks(step, model.streamed_call_format, model.held_call_names(step.tools))
        for item in stream_generation(functools.partial(self._run, step)):
            chunk = reply.chunk(item)
            if chunk is None:
                continue
            if run_manager is not None:
                run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        step = self._step(messages, stop, run_manager, kwargs)
        # The first use loads the model: in a worker thread, so the event loop keeps serving.
        model = self._routed or await asyncio.to_thread(lambda: self.routed_model)
        reply = ReplyChunks(step, model.streamed_call_format, model.held_call_names(step.tools))
        async for item in astream_generation(functools.partial(self._run, step)):
            chunk = reply.chunk(item)
            if chunk is None:
                continue
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _step(self, messages: list[BaseMessage], stop, run_manager, kwargs: dict[str, Any]) -> Step:
        return build_step(self, messages, stop, run_manager, kwargs)

    def _run(self, step: Step, **hooks: Callable | None) -> GenerationResult:
        """Generate ``step``; ``hooks`` are the ``on_text`` and ``cancelled`` callbacks of streaming and ainvoke."""
        options = {k: v for k, v in step.options.items() if v is not None}
        return self.routed_model.generate(step.messages, tools=step.tools or None, **options, **hooks)


def _chat_result(result: GenerationResult, step: Step) -> ChatResult:
    message = to_ai_message(result, step.max_calls, tools_offered=bool(step.tools))
    return ChatResult(generations=[ChatGeneration(message=message)])
