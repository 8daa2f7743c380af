"""``ServedModel``: ``RoutedModel.generate`` over served endpoints, one per exported program.

::

    served = ServedModel("exported/export.json", {"full": "http://gpu:8000/v1", "program-0-2_8-11": "http://gpu:8001/v1"})
    result = served.generate(messages, tools=tools)   # a GenerationResult, as in process

Each call types the step as the core does (``step_type``, else ``hints`` through the policy's
hint_map, else the conversation's structure: ``predict_step_type``), sends it to the entry serving
that type (``program=`` or ``budget=`` pick an entry instead), and reads the reply back as the core
does: calls parsed and checked against the tools' schemas (``step_result``), the record's
type, budget and observed type filled, ``record_step`` called so ``agentroute.Trace`` sees it.
The record's hints name the endpoint and entry (``served_endpoint``, ``served_entry``, and
``served_draft`` where the engine may draft for the step). The prompt: ``agentroute serve``
renders the chat exactly as the core would; for another engine, whose chat template writes tools
its own way (the default model's template has no tool support, and llama-server's reply to a
weather request with a weather tool was "Weather in Oslo!", no call), the client renders the
prompt as the core does with the export's tokenizer and sends it as token ids to the engine's
``/v1/completions`` (``prompts="client"``; the default ``"auto"`` does so for every endpoint that
is not an AgentRoute server, when the manifest's folder holds the tokenizer).

What cannot hold over HTTP is an error, not a silent change: ``mode="lossless"`` (an endpoint
decodes what it serves; lossless comes from serving the full model with the exported draft as the
engine's speculative draft), ``prefill="full"`` for a program entry (an exported program prefills
with its own layers), a ``program=`` or ``budget=`` no entry serves. ``reuse_prefix`` is the
engine's business and is not sent; ``jump_forward`` reaches ``agentroute serve`` only.

Grammar: a client-rendered step that offers tools (or asks for a ``json_schema``) is held to them
on the engine as in process: the call grammar goes as GBNF in the field the engine reads
(``engine_grammar``: llama.cpp's ``grammar``, vLLM's ``structured_outputs.grammar``, SGLang's
``ebnf``); ``grammar="auto"`` picks the field by the endpoint's model listing, ``"llama.cpp"``,
``"vllm"`` or ``"sglang"`` name it, ``"none"`` sends none, and ``constrain=False`` sends none for
one step. The record's hints say ``served_grammar`` (the field).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from agentroute.decode.options import GenerationOptions, parse_options
from agentroute.errors import GenerationCancelled, GenerationError
from agentroute.model.program import LayerProgram
from agentroute.serve.endpoints import ServedEntry, ServeError, base_url, choose_entry, read_manifest, served_entries
from agentroute.serve.engine_grammar import check_grammar, engine_dialect, grammar_fields
from agentroute.serve.openai_format import openai_messages
from agentroute.serve.request_bodies import chat_body, completion_body
from agentroute.serve.served_record import served_record
from agentroute.serve.transport import TEXT, Reply, Transport
from agentroute.steps.call_formats import HAND_WRITTEN, step_prompt_ids
from agentroute.steps.policy import DepthPolicy
from agentroute.steps.records import GenerationResult, StepType
from agentroute.steps.response_format import with_response_format
from agentroute.steps.routing import RouteDecision
from agentroute.steps.said_values import phrase_specs, worded_tool_names
from agentroute.steps.step_input import step_context
from agentroute.steps.step_result import step_result
from agentroute.steps.step_types import StepContext, predict_step_type
from agentroute.trace.trace_file import record_step

PROMPTS = ("auto", "server", "client")


class ServedModel:
    """The RoutedModel API over served endpoints (module docstring).

    ``manifest``: ``export.json``'s path (or its folder, or its dict); ``endpoints``: one base URL
    for every served entry, or ``{entry name: base URL}``. ``policy``: the depth policy the export
    was made with, for its ``hint_map`` (framework hints -> step types); default none. ``timeout``:
    seconds an endpoint may take to answer each read. ``prompts``: who renders the prompt, the
    server from the chat (``"server"``) or this client with the export's tokenizer, sent to
    ``/v1/completions`` (``"client"``); ``"auto"``: the client for every endpoint that is not an
    AgentRoute server. ``prompt_as``: a client-rendered prompt goes as token ids (``"ids"``: vLLM,
    SGLang, llama-server, ``agentroute serve``) or as its text (``"text"``: ``transformers serve``
    takes only text). ``served_names``: entry name -> the model name its engine serves it under,
    where that differs (``transformers serve PATH`` serves the checkpoint's path). ``grammar``: how a
    client-rendered step is held to its tools and schema on the engine (module docstring). Safe to
    call from several threads.
    """

    quantization = None
    # Streamed text carries calls in the hand-written format (what the exported packs' models write,
    # and what an agentroute server's prompt asks for); an engine that parses calls itself sends
    # them as tool_calls, not as text.
    streamed_call_format = HAND_WRITTEN

    def held_call_names(self, tools: Sequence[Any]) -> frozenset[str]:
        """As ``RoutedModel.held_call_names``: the served pack's said-values tools stream whole."""
        return worded_tool_names(tools) if self._said_values else frozenset()

    def __init__(
        self,
        manifest: str | Path | Mapping[str, Any],
        endpoints: str | Mapping[str, str],
        *,
        policy: DepthPolicy | dict | str | Path | None = None,
        timeout: float = 600.0,
        prompts: str = "auto",
        prompt_as: str = "ids",
        served_names: Mapping[str, str] | None = None,
        grammar: str = "auto",
    ) -> None:
        check_grammar(grammar)
        if prompts not in PROMPTS:
            raise ServeError(f"prompts must be one of {', '.join(PROMPTS)}, got {prompts!r}")
        if prompt_as not in ("ids", "text"):
            raise ServeError(f"prompt_as must be 'ids' or 'text', got {prompt_as!r}")
        data, folder = read_manifest(manifest)
        self.name: str = str(data.get("model") or "served")
        self.n_layers: int | None = data["n_layers"]
        self.dtype_name: str | None = data.get("dtype")
        self.entries: list[ServedEntry] = served_entries(data, endpoints)
        first = next(e for e in data["entries"] if e.get("role") == "model")
        self._tokenizer_path = folder / first["path"] if folder is not None and "path" in first else None
        if prompts == "client" and self._tokenizer_path is None:
            raise ServeError("prompts='client' renders with the export's tokenizer: give export.json's path")
        self._setup(policy, timeout, server_types=False)
        self._grammar = grammar
        self._may_decline = bool(data.get("may_decline", True))  # exports before it was written: data v4 packs
        self._tool_style = data.get("tool_style", "json")  # the pack's, as it was trained (checked)
        self._said_values = bool(data.get("said_values", False))
        self._prompts = prompts if self._tokenizer_path is not None else "server"
        self._prompt_as = prompt_as
        unknown = sorted(set(served_names or {}) - {e.name for e in self.entries})
        if unknown:
            raise ServeError(f"served_names names no served entry: {', '.join(unknown)}")
        self._served_names = dict(served_names or {})

    @classmethod
    def single(
        cls,
        url: str,
        name: str | None = None,
        *,
        policy: DepthPolicy | dict | str | Path | None = None,
        timeout: float = 600.0,
    ) -> ServedModel:
        """One endpoint for every step, e.g. ``agentroute serve --model default`` (which routes by its own
        policy: its record says what ran) or an engine serving one checkpoint. Asks the endpoint for
        its models now, so a server that is not up fails here; ``name`` picks one (default: the first).
        """
        url = base_url(url)
        transport = Transport(timeout)
        listed = transport.models(url)
        ids = [m.get("id") for m in listed]
        if name is None and not ids:
            raise ServeError(f"{url}/models lists no model")
        if name is not None and name not in ids:
            raise ServeError(f"{url} does not serve {name!r}; it serves {', '.join(map(str, ids))}")
        name = name if name is not None else str(ids[0])
        ours = next(m for m in listed if m.get("id") == name).get("agentroute") or {}
        self = cls.__new__(cls)
        self.name = str(ours.get("model") or name)
        self.n_layers = ours.get("n_layers") if isinstance(ours.get("n_layers"), int) else None
        self.dtype_name = None
        self.entries = [ServedEntry(name, url, None, tuple(StepType))]
        self._tokenizer_path = None
        self._prompts, self._prompt_as, self._served_names = "server", "ids", {}
        # An agentroute server types steps itself (with its pack's router, where it has one).
        self._setup(policy if policy is not None else ours.get("policy"), timeout, bool(ours), transport)
        return self

    def _setup(self, policy: Any, timeout: float, server_types: bool, transport: Transport | None = None) -> None:
        self.policy = DepthPolicy.coerce(policy)
        self._server_types = server_types
        self._transport = transport or Transport(timeout)
        self._tokenizer = None
        self._lock = threading.Lock()
        self._listings: dict[str, list[dict[str, Any]]] = {}  # endpoint -> its model listing
        self._grammar, self._may_decline, self._tool_style, self._said_values = "auto", True, "json", False

    def __repr__(self) -> str:
        served = ", ".join(f"{e.name}@{e.url}" for e in self.entries)
        return f"ServedModel({self.name!r}, {served})"

    def __enter__(self) -> ServedModel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._transport.close()

    def warm_up(self) -> ServedModel:
        """Ask every endpoint for its models now: a server that is down, or that serves another
        name than its entry's, fails here rather than at the first step. Returns the model."""
        for entry in self.entries:
            ids = [m.get("id") for m in self._transport.models(entry.url)]
            if entry.name not in ids:
                raise ServeError(f"{entry.url} serves {', '.join(map(str, ids))}, not the entry {entry.name!r}")
        return self

    @property
    def tokenizer(self):
        """The exported checkpoint's tokenizer (loaded on first use; needs the manifest's folder)."""
        if self._tokenizer is None:
            if self._tokenizer_path is None:
                raise ServeError("the tokenizer needs the manifest's folder: build the ServedModel from export.json")
            from transformers import AutoTokenizer

            with self._lock:
                self._tokenizer = self._tokenizer or AutoTokenizer.from_pretrained(self._tokenizer_path)
        return self._tokenizer

    def generate(
        self,
        messages_or_prompt: str | Sequence[Mapping[str, Any]],
        program: Any = None,
        *,
        tools: Sequence[Any] | None = None,
        step_type: StepType | str | None = None,
        budget: float | None = None,
        hints: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> GenerationResult:
        """One agent step on the endpoint serving its type; ``RoutedModel.generate``'s arguments."""
        settings = parse_options(options)
        if settings.mode == "lossless":
            raise GenerationError(
                "mode='lossless' cannot run on a served model: an endpoint decodes with what it serves. Serve the "
                "full model with the exported draft as the engine's speculative draft (docs/serving.md)"
            )
        context = step_context(messages_or_prompt, tools, step_type, budget, hints, settings.json_schema)
        messages, specs = context.messages, context.tools
        wire = openai_messages(messages)  # the core's checks of calls and results, before anything is sent
        typed, source = predict_step_type(context, self.policy.hint_map)
        ours: dict[str, Any] = {"hints": context.hints}
        if self._server_types:  # agentroute serve routes itself: hand it what the caller chose
            entry = self.entries[0]
            ours.update(_routing(program, context.budget, settings, options, self.n_layers))
        else:
            entry = choose_entry(self.entries, typed, self.n_layers, program, context.budget)
            _check_prefill(entry, settings, options)
        if source in ("caller", "hint") or not self._server_types:
            ours["step_type"] = typed.value
        ours.update({k: False for k in ("constrain", "jump_forward") if not getattr(settings, k)})
        served_name = self._served_names.get(entry.name, entry.name)
        grammar = None  # the field that held the reply on the engine, if any
        if self._client_renders(entry):
            ids = step_prompt_ids(
                self.tokenizer, with_response_format(messages, settings.json_schema), specs, self._tool_style
            )
            prompt = self.tokenizer.decode(ids, skip_special_tokens=False) if self._prompt_as == "text" else ids
            body = completion_body(served_name, prompt, settings)
            dialect = engine_dialect(self._grammar, self._listing(entry.url)) if settings.constrain else None
            if dialect is not None:
                grammar_specs = phrase_specs(specs) if self._said_values else specs
                fields, grammar = grammar_fields(
                    self.tokenizer, grammar_specs, context, typed, settings.json_schema, self._may_decline, dialect
                )
                body.update(fields)
            reply = self._transport.complete(entry.url, body, _watched(settings), TEXT)
        else:
            body = chat_body(served_name, wire, specs, settings, context.hints, ours)
            reply = self._transport.complete(entry.url, body, _watched(settings))
        return self._result(entry, reply, context, settings, typed, source, "step_type" in ours, grammar)

    def _client_renders(self, entry: ServedEntry) -> bool:
        """Whether this client writes ``entry``'s prompts: always, never, or (auto) unless its endpoint
        is an AgentRoute server, which renders as the core does (asked once per endpoint)."""
        if self._prompts != "auto":
            return self._prompts == "client"
        return not any(m.get("agentroute") for m in self._listing(entry.url))

    def _listing(self, url: str) -> list[dict[str, Any]]:
        """The endpoint's model listing, asked once (empty where it gives none: some engines fail
        it, and every AgentRoute server lists its model)."""
        if url not in self._listings:
            try:
                self._listings[url] = self._transport.models(url)
            except ServeError:
                self._listings[url] = []
        return self._listings[url]

    def _result(
        self,
        entry: ServedEntry,
        reply: Reply,
        context: StepContext,
        settings: GenerationOptions,
        typed: StepType,
        source: str,
        sent_type: bool,
        grammar: str | None = None,
    ) -> GenerationResult:
        record = served_record(entry, reply, settings, self.name, self.n_layers, self.dtype_name)
        if grammar is not None:  # the engine decoded under the call grammar (or the JSON schema)
            record = record.model_copy(update={"constrained": True})
        budget = context.budget
        if not sent_type and isinstance(reply.ours.get("record"), dict):  # the server typed the step
            typed, source, budget = record.step_type, record.step_type_source, record.budget
        served = {"served_endpoint": entry.url, "served_entry": entry.name}
        draft = entry.draft_for(typed)
        if draft is not None:
            served["served_draft"] = draft
        if grammar is not None:
            served["served_grammar"] = grammar
        context = context.model_copy(update={"hints": {**context.hints, **served}})
        program = entry.program or LayerProgram.full(self.n_layers or 1)
        decision = RouteDecision(typed, source, budget, program, record.mode)
        token_ids = [int(t) for t in reply.ours.get("token_ids") or []]
        raw = GenerationResult(text=reply.raw_text, token_ids=token_ids, record=record)
        result = step_result(raw, context, decision, settings.json_schema, self._said_values)
        record_step(result.record, {"messages": context.messages, "tools": [t.model_dump() for t in context.tools]})
        return result


def _watched(settings: GenerationOptions) -> Callable[[str], Any] | None:
    """The ``on_text`` the transport gets: the caller's, or with a ``cancelled`` check one that asks
    it at each streamed piece. A check makes the request streamed so that it can be closed at the
    next piece: the server's write then fails, which stops its decode."""
    check, on_text = settings.cancelled, settings.on_text
    if check is None:
        return on_text
    if check():
        raise GenerationCancelled

    def watch(piece: str) -> None:
        if check():
            raise GenerationCancelled
        if on_text is not None:
            on_text(piece)

    return watch


def _routing(
    program: Any, budget: float | None, settings: GenerationOptions, options: dict[str, Any], n_layers: int | None
) -> dict[str, Any]:
    """What a caller chose about depth, for a server that routes itself."""
    out: dict[str, Any] = {}
    if program is not None:
        out["program"] = str(LayerProgram.coerce(program, n_layers)) if n_layers else str(program)
    if budget is not None:
        out["budget"] = budget
    if settings.mode is not None:
        out["mode"] = settings.mode
    if "prefill" in options:
        out["prefill"] = settings.prefill
    return out


def _check_prefill(entry: ServedEntry, settings: GenerationOptions, options: dict[str, Any]) -> None:
    program = entry.program
    if "prefill" in options and settings.prefill == "full" and program is not None and not program.is_full:
        raise GenerationError(
            f"prefill='full' cannot hold on the served program {entry.name} ({program}): an exported program "
            "prefills the prompt with its own layers; use prefill='program' or leave it out"
        )
