"""``ChatLayerRoute``: a LangChain chat model backed by a local AgentRoute ``RoutedModel``.

Each call is one agent step: the step type comes from an explicit ``step_type``, the graph node
(``node_step_types``, then the policy's ``hint_map``) or the conversation's structure, and the
depth policy turns it into a layer program. Every call leaves a ``StepRecord`` in the active
``agentroute.Trace`` and in the reply's ``response_metadata["layerroute"]``.
"""

from __future__ import annotations

import asyncio
import difflib
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LangSmithParams, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.runnables.config import var_child_runnable_config
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import Field, PrivateAttr, field_validator, model_validator

import agentroute
from agentroute import AgentRouteError, GenerationError, GenerationResult, RoutedModel
from agentroute.decode.options import framework_overrides, parse_options
from agentroute.model.default_model import DEFAULT_NAME
from agentroute.steps.step_types import parse_step_type
from agentroute.steps.tools import normalize_tools

from .messages import PROVIDER, final_chunk, kept_calls, to_agentroute_messages, to_ai_message
from .streaming import ToolSafeText, astream_generation, stream_generation
from .tool_stream import CallScanner

_FORCING = ("any", "required")
_CHOICE_WORDS = ("auto", "none", *_FORCING)
# Per-call options that go straight to RoutedModel.generate (besides tools, tool_choice, hints).
_GENERATE_OPTIONS = (
    "step_type",
    "budget",
    "program",
    "max_new_tokens",
    "temperature",
    "top_p",
    "top_k",
    "seed",
    "constrain",
)
# Fields that are generation options: agentroute's GenerationOptions checks them at construction.
_OPTION_FIELDS = ("max_new_tokens", "temperature", "top_p", "top_k", "seed", "stop")


@dataclass
class _Step:
    """One call, resolved from the model's fields, bound kwargs and the graph context."""

    messages: list[dict[str, Any]]
    options: dict[str, Any]
    tools: list[dict[str, Any]] = field(default_factory=list)
    max_calls: int | None = None  # 1 with parallel_tool_calls=False


class ChatLayerRoute(BaseChatModel):
    """Chat model that runs each agent step through a layer program on a local model.

    Example::

        from langchain.agents import create_agent
        from langchain_layerroute import ChatLayerRoute

        llm = ChatLayerRoute(policy={"budgets": {"tool_call": 0.8}}, node_step_types={"planner": "planning"})
        agent = create_agent(llm, tools)

    The model loads on first use (``agentroute.load``); pass ``routed_model=`` to use one already
    loaded (it is shared, never serialised). ``mode="full"`` runs every step at full depth.
    Generation fields take the names other LangChain chat models use too (``max_tokens`` for
    ``max_new_tokens``, ``stop``) and are checked at construction: an unknown keyword or a value
    the model cannot use is an error here, not at the first call.
    """

    model: str = Field("default", description="'default', a checkpoint directory or a .gguf file")
    quantization: Literal["nf4", "int8"] | None = None
    dtype: str | None = Field(None, description="compute dtype, e.g. 'float32' or 'bfloat16' (default: detected)")
    device: str | None = Field(None, description="'cpu' or 'cuda'; default CUDA when present")
    pack: str | None = Field(
        "auto", description="'auto' (the default pack with the default model), 'default', a pack directory, or None"
    )
    policy: dict[str, Any] | str | None = Field(None, description="DepthPolicy as a dict or a YAML/TOML path")
    programs: str | None = Field(None, description="programs.json from `agentroute search` (searched layer programs)")
    mode: Literal["routed", "full", "lossless"] = Field(
        "routed",
        description="'routed': the policy picks each step's program and decode mode; 'full': every step at full "
        "depth, decoded plainly; 'lossless': every step drafts with its program and full depth verifies",
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

    _routed: RoutedModel | None = PrivateAttr(default=None)
    _load_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, *, routed_model: RoutedModel | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        configured = self.policy is not None or self.programs is not None or self.pack not in (None, "auto")
        if routed_model is not None and configured:
            # The injected model carries its own policy; silently ignoring these would mislead.
            raise ValueError(
                "pass policy=/pack=/programs= to agentroute.load() for an injected routed_model, not to ChatLayerRoute"
            )
        self._routed = routed_model

    @model_validator(mode="before")
    @classmethod
    def _check_arguments(cls, data: Any) -> Any:
        """Unknown keywords and unusable generation values fail here; ``max_tokens`` becomes ``max_new_tokens``."""
        if not isinstance(data, dict):
            return data
        known = {*cls.model_fields, "max_tokens"}
        for name in data:
            if name not in known:
                close = difflib.get_close_matches(name, sorted(known), n=1)
                hint = f"did you mean {close[0]!r}? " if close else ""
                raise ValueError(f"ChatLayerRoute got an unknown argument {name!r}; {hint}see help(ChatLayerRoute)")
        data = _merge_max_tokens(data)
        try:
            parse_options({k: data[k] for k in _OPTION_FIELDS if k in data})
        except GenerationError as exc:  # not a ValueError to pydantic's eyes unless raised as one
            raise ValueError(str(exc)) from None
        return data

    @field_validator("node_step_types")
    @classmethod
    def _known_step_types(cls, mapping: dict[str, str]) -> dict[str, str]:
        try:
            return {node: parse_step_type(step).value for node, step in mapping.items()}
        except AgentRouteError as exc:  # not a ValueError: pydantic would not report it as a field error
            raise ValueError(str(exc)) from None

    # -- LangChain plumbing -----------------------------------------------------------------------

    @property
    def _llm_type(self) -> str:
        return "layerroute"

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
        return {
            "model": self.model,
            "model_name": self.model_name,
            "model_provider": PROVIDER,
            "quantization": self.quantization,
            "mode": self.mode,
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

    @property
    def routed_model(self) -> RoutedModel:
        """The loaded RoutedModel; loads it on first access (once, even from several threads)."""
        if self._routed is None:
            with self._load_lock:
                if self._routed is None:
                    self._routed = agentroute.load(
                        self.model,
                        quantization=self.quantization,
                        dtype=self.dtype,
                        pack=self.pack,
                        device=self.device,
                        policy=self.policy,
                        programs=self.programs,
                    ).warm_up()
        return self._routed

    def get_token_ids(self, text: str) -> list[int]:
        """Token ids from the local model's tokenizer (LangChain's default would fetch GPT-2's)."""
        return list(self.routed_model.tokenizer(text, add_special_tokens=False)["input_ids"])

    def bind_tools(
        self,
        tools: Sequence[Mapping[str, Any] | type | Callable[..., Any] | Any],
        *,
        tool_choice: str | dict | bool | None = None,
        parallel_tool_calls: bool | None = None,
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
        """
        specs = _tool_specs(tools)  # checked now, not at the first step
        choice = _tool_choice(tool_choice, [s["name"] for s in specs])
        if choice is not None:
            kwargs["tool_choice"] = choice
        if parallel_tool_calls is not None:
            _max_calls(parallel_tool_calls)  # checked now
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(tools=specs, **kwargs)

    # -- generation -------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._step(messages, stop, run_manager, kwargs)
        return _chat_result(self._run(step), step.max_calls)

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        step = self._step(messages, stop, run_manager, kwargs)
        # to_thread copies the context, so Trace scopes entered by the caller receive the record.
        return _chat_result(await asyncio.to_thread(self._run, step), step.max_calls)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        step = self._step(messages, stop, run_manager, kwargs)
        reply = _ReplyChunks(step)
        for item in stream_generation(lambda on_text: self._run(step, on_text)):
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
        reply = _ReplyChunks(step)
        async for item in astream_generation(lambda on_text: self._run(step, on_text)):
            chunk = reply.chunk(item)
            if chunk is None:
                continue
            if run_manager is not None:
                await run_manager.on_llm_new_token(chunk.text, chunk=chunk)
            yield chunk

    def _step(self, messages: list[BaseMessage], stop, run_manager, kwargs: dict[str, Any]) -> _Step:
        """Resolve one call: messages, tools, step type, depth, sampling and graph hints."""
        kwargs = {k: v for k, v in kwargs.items() if not k.startswith("ls_") and k != "stream"}
        # bind_tools already converted these; tools bound with plain .bind() are converted here.
        tools = _tool_specs(kwargs.pop("tools", None) or [])
        tool_choice = _tool_choice(kwargs.pop("tool_choice", None), [t["name"] for t in tools])
        max_calls = _max_calls(kwargs.pop("parallel_tool_calls", None))
        extra_hints = dict(kwargs.pop("hints", None) or {})
        kwargs = _merge_max_tokens(kwargs)
        unknown = sorted(set(kwargs) - set(_GENERATE_OPTIONS))
        if unknown:
            raise ValueError(
                f"ChatLayerRoute got unknown call option(s) {unknown}; use tools, tool_choice, parallel_tool_calls, "
                f"hints, {', '.join(_GENERATE_OPTIONS)}"
            )
        if tool_choice == "none":
            tools = []  # a text answer is wanted: leave the tool list out of the prompt
        elif tool_choice is not None and tool_choice not in _CHOICE_WORDS:
            tools = [t for t in tools if t["name"] == tool_choice]

        metadata = _graph_metadata(run_manager)
        node = metadata.get("langgraph_node")
        hints = {"node": node, "langgraph_node": node, "agent_step": metadata.get("langgraph_step")}
        hints = {k: v for k, v in {**hints, "tool_choice": tool_choice, **extra_hints}.items() if v is not None}

        options: dict[str, Any] = {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "top_p": self.top_p,
            "top_k": self.top_k,
            "seed": self.seed,
            "stop": stop if stop is not None else self.stop,
            **kwargs,
            "hints": hints,
        }
        if options.get("step_type") is None and node in self.node_step_types:
            options["step_type"] = self.node_step_types[node]
        options.update(framework_overrides(self.mode, budget=options.get("budget"), program=options.get("program")))
        return _Step(messages=to_agentroute_messages(messages), options=options, tools=tools, max_calls=max_calls)

    def _run(self, step: _Step, on_text: Callable[[str], None] | None = None) -> GenerationResult:
        options = {k: v for k, v in step.options.items() if v is not None}
        return self.routed_model.generate(step.messages, tools=step.tools or None, on_text=on_text, **options)


def _tool_specs(tools: Sequence[Any]) -> list[dict[str, Any]]:
    """Any LangChain tool shape -> AgentRoute ``{"name", "description", "parameters"}`` dicts, validated."""
    specs = []
    for tool in tools:
        function = convert_to_openai_tool(tool)["function"]
        specs.append({key: function[key] for key in ("name", "description", "parameters") if key in function})
    normalize_tools(specs)  # raises ToolSchemaError (a ValueError) naming a bad or duplicate tool
    return specs


def _tool_choice(choice: Any, names: list[str]) -> str | None:
    """Normalise a LangChain/OpenAI/Anthropic tool_choice to None, a keyword or a tool name."""
    if choice is None or choice is False:
        return None
    if choice is True:
        return "required"
    if isinstance(choice, Mapping):
        function = choice.get("function")
        name = choice.get("name") or (function.get("name") if isinstance(function, Mapping) else None)
        choice = name or choice.get("type")
    if isinstance(choice, str) and (choice in _CHOICE_WORDS or choice in names):
        return choice
    raise ValueError(
        f"tool_choice {choice!r} is not 'auto', 'none', 'any', 'required' or the name of a bound tool "
        f"({', '.join(names) or 'none bound'})"
    )


def _max_calls(parallel_tool_calls: Any) -> int | None:
    """``parallel_tool_calls`` as the number of calls a reply keeps (None: all)."""
    if parallel_tool_calls is None or parallel_tool_calls is True:
        return None
    if parallel_tool_calls is False:
        return 1
    raise ValueError(f"parallel_tool_calls must be True, False or None, got {parallel_tool_calls!r}")


def _merge_max_tokens(options: dict[str, Any]) -> dict[str, Any]:
    """``max_tokens`` (the name other LangChain chat models use) as ``max_new_tokens``; both must agree."""
    if "max_tokens" not in options:
        return options
    options = dict(options)
    value = options.pop("max_tokens")
    if options.setdefault("max_new_tokens", value) != value:
        raise ValueError(
            f"max_tokens={value!r} and max_new_tokens={options['max_new_tokens']!r} disagree; they are one setting"
        )
    return options


def _graph_metadata(run_manager) -> Mapping[str, Any]:
    """The run's metadata, where LangGraph puts ``langgraph_node`` and ``langgraph_step``.

    ``stream()`` in langchain-core 1.7 calls ``_stream`` without a run manager; the node's config
    is then still in LangChain's context variable.
    """
    metadata = getattr(run_manager, "metadata", None) or {}
    if "langgraph_node" not in metadata:
        config = var_child_runnable_config.get() or {}
        metadata = {**(config.get("metadata") or {}), **metadata}
    return metadata


def _chat_result(result: GenerationResult, max_calls: int | None) -> ChatResult:
    return ChatResult(generations=[ChatGeneration(message=to_ai_message(result, max_calls))])


class _ReplyChunks:
    """One streamed reply: text deltas and the final result as chunks that add up to ``invoke``'s message.

    With tools, text that may be call markup waits (``ToolSafeText``) while the calls themselves
    stream as ``tool_call_chunks`` (``CallScanner``).
    """

    def __init__(self, step: _Step) -> None:
        self.max_calls = step.max_calls
        self.safe = ToolSafeText() if step.tools else None
        self.calls = CallScanner([t["name"] for t in step.tools], step.max_calls) if step.tools else None
        self.sent = ""

    def chunk(self, item: str | GenerationResult) -> ChatGenerationChunk | None:
        """A text delta as a chunk (None when nothing of it can go out yet), or the final chunk."""
        if isinstance(item, str):
            text = self.safe.push(item) if self.safe is not None else item
            calls = self.calls.push(item) if self.calls is not None else []
            if not text and not calls:
                return None
            self.sent += text
            return ChatGenerationChunk(message=AIMessageChunk(content=text, tool_call_chunks=calls))
        # By construction the streamed text is a prefix of the final content (see ToolSafeText).
        rest = item.text[len(self.sent) :] if item.text.startswith(self.sent) else item.text
        calls = self.calls.final_chunks(kept_calls(item, self.max_calls)) if self.calls is not None else []
        return ChatGenerationChunk(message=final_chunk(item, rest, calls))
