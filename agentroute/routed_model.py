"""RoutedModel: a Hugging Face causal LM that runs a layer program per agent step."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from agentroute.decode import speculative
from agentroute.decode.call_stream import streamed_call_format
from agentroute.decode.decline_choice import DeclineChoice, decline_choice
from agentroute.decode.draft_cache import DraftCache
from agentroute.decode.forced_argmax import forced_argmax as teacher_forced_argmax
from agentroute.decode.options import GenerationOptions, parse_options
from agentroute.decode.prefix_cache import PrefixCache
from agentroute.decode.reply import Plan
from agentroute.decode.run_plan import run_plan
from agentroute.decode.sampling import Sampler
from agentroute.decode.tool_grammar import GrammarTokenizer, TokenConstraint
from agentroute.errors import GenerationError
from agentroute.model import lean_decode
from agentroute.model.decode_packing import pack_for_decode
from agentroute.model.hf_parts import ModelParts
from agentroute.model.program import LayerProgram
from agentroute.steps.call_formats import CallFormat, native_call_format, step_prompt_ids
from agentroute.steps.messages import validate_messages
from agentroute.steps.policy import DepthPolicy
from agentroute.steps.records import GenerationResult, StepType
from agentroute.steps.response_format import with_response_format
from agentroute.steps.routing import Router
from agentroute.steps.said_values import phrase_specs, worded_tool_names
from agentroute.steps.step_input import as_messages, step_context
from agentroute.steps.step_result import step_result
from agentroute.steps.step_types import StepContext, call_required
from agentroute.steps.tools import ToolSpec, normalize_tools
from agentroute.trace.trace_file import record_step

# Packs trained on data without no-tool-fits rows: under them a tool-call step must call.
PACK_DATA_BEFORE_DECLINING = ("agentsteps-v2", "agentsteps-v3")

ProgramSpec = LayerProgram | str | Iterable[int] | None


class RoutedModel:
    """A loaded model plus the machinery to run layer programs over an explicit KV cache.

    ``generate`` is safe to call from several threads: calls on one model run one at a time
    because they share the prefix cache (on a CPU they would compete for the same cores anyway).
    """

    def __init__(self, hf_model, tokenizer, name: str, quantization: str | None = None, policy=None) -> None:
        self.hf_model = hf_model.eval()
        self.tokenizer = tokenizer
        self.name = name
        self.quantization = quantization
        self.parts = ModelParts.resolve(hf_model)
        self.router = Router(self, DepthPolicy.coerce(policy))
        self.pack = None  # a RoutePack once one is applied (``agentroute.pack.load_pack``)
        # How tools are written into prompts (``steps.tools.TOOL_STYLES``): the pack's, or the
        # exported checkpoint's (``agentroute.json``); "json" otherwise.
        self.tool_style = "json"
        # Whether declared dates and times may be written as phrases (``steps.said_values``): the
        # pack's, or the exported checkpoint's.
        self.said_values = False
        self._reply_store = None  # ``reply_store``
        self.prefix_cache = PrefixCache()
        self._lock = threading.Lock()
        self._grammar_tokenizer: GrammarTokenizer | None = None  # built on the first constrained call
        self.speculative = speculative.SpeculativeSettings()  # lossless mode's draft length and weights
        self.draft_cache = DraftCache()  # int8 draft copies and timed passes, built on first use
        self.lean = False  # lean decode passes (``use_lean_decode``)

    def __repr__(self) -> str:
        quant = f", quantization={self.quantization!r}" if self.quantization else ""
        return f"RoutedModel({self.name!r}, n_layers={self.n_layers}{quant})"

    def attach_weights(self, hf_model) -> None:
        """Swap in new weights for the same architecture (e.g. with a LoRA adapter merged in).

        Cached prefixes were computed with the old weights, so they are dropped.
        """
        with self._lock:
            self.hf_model = hf_model.eval()
            self.parts = ModelParts.resolve(hf_model)
            self.prefix_cache = PrefixCache()
            self.draft_cache = DraftCache()  # int8 copies of the old weights
            if self.lean:
                self._pack_weights()

    def use_lean_decode(self, enabled: bool = True) -> bool:
        """Decode, draft and verify passes with packed bfloat16 linears and row-by-row attention
        (``agentroute.model.lean_decode``) where they are exact on this machine: bfloat16 weights on a CPU
        with oneDNN, no bitsandbytes layers. Returns whether they are on. ``False`` turns them off
        (plain modules everywhere, e.g. before training an adapter on these weights). int4 decode
        passes live in the lean passes: turning them off leaves the dense weights, and the model
        says so (``quantization`` becomes None)."""
        with self._lock:
            modules = [*self.parts.layers, self.parts.lm_head]
            if not enabled:
                lean_decode.unpack_linears(modules)
                self.parts.use_plain_attention()
                self.parts.fused = {}
                self.lean = False
                if self.quantization == "int4":
                    self.quantization = None
                    self.draft_cache = DraftCache()  # passes were timed under int4
                    self.prefix_cache = PrefixCache()  # its keys were written by int4 passes
                return False
            self.lean = self.quantization in (None, "int4") and lean_decode.packing_available(
                self.dtype, self.parts.device
            )
            if self.lean:
                self._pack_weights()
                self.draft_cache = DraftCache()  # timed passes of the plain kernels
            return self.lean

    def _pack_weights(self) -> None:
        pack_for_decode(self.parts, self.hf_model, int4=self.quantization == "int4")

    @property
    def reply_store(self):
        """Lossless mode's store of the model's own replies (``decode.reply_store.ReplyStore``): the
        pack's, or one built from your own transcripts; None drafts from the context alone."""
        return self._reply_store

    @reply_store.setter
    def reply_store(self, store) -> None:
        from agentroute.decode.reply_store import ReplyStore

        if store is not None and not isinstance(store, ReplyStore):
            raise GenerationError(
                f"reply_store must be a ReplyStore or None, got {type(store).__name__}; build one with "
                "agentroute.decode.reply_store.ReplyStore(list_of_reply_token_ids)"
            )
        self._reply_store = store

    @property
    def dtype(self) -> torch.dtype:
        """The compute dtype of the weights (the embedding's)."""
        return self.parts.embed.weight.dtype

    @property
    def n_layers(self) -> int:
        return self.parts.n_layers

    @property
    def context_length(self) -> int | None:
        """Tokens of prompt and reply together the model takes (its config's max_position_embeddings)."""
        return getattr(self.hf_model.config, "max_position_embeddings", None)

    @property
    def policy(self) -> DepthPolicy:
        return self.router.policy

    @property
    def may_decline(self) -> bool:
        """Whether a tool-call step may answer in words when no offered tool fits. Not under a pack
        trained before data v4 (agentsteps-v2/v3): it never learnt to decline, and left the choice
        it answers some requests it should call a tool for in words of its own."""
        data = self.pack.manifest.data if self.pack is not None else {}
        return data.get("version") not in PACK_DATA_BEFORE_DECLINING

    def may_decline_in(self, context: StepContext) -> bool:
        """Whether a tool-call step in ``context`` may answer in words: the pack learnt to decline
        (``may_decline``) and the caller's ``tool_choice`` does not demand a call."""
        return self.may_decline and not call_required(context)

    @property
    def streamed_call_format(self) -> CallFormat:
        """How this model's tool calls read in its streamed text (its template's format, else the
        hand-written one): the integrations stream calls as they form by it."""
        return streamed_call_format(self.tokenizer)

    def held_call_names(self, tools: Sequence[Any]) -> frozenset[str]:
        """Offered tools whose streamed calls carry their arguments whole at the end: a said-values
        model's dates and times change when parsed (``steps.said_values``)."""
        return worded_tool_names(tools) if self.said_values else frozenset()

    @property
    def stop_token_ids(self) -> set[int]:
        """End-of-turn ids: the generation config's, as stock ``generate()`` uses them."""
        eos = getattr(self.hf_model.generation_config, "eos_token_id", None)
        if eos is None:
            eos = getattr(self.tokenizer, "eos_token_id", None)
        if eos is None:
            return set()
        return {int(e) for e in (eos if isinstance(eos, (list, tuple)) else [eos])}

    def program(self, spec: ProgramSpec = None) -> LayerProgram:
        """A LayerProgram for this model from a program, its string form or a list of layers."""
        return LayerProgram.coerce(spec, self.n_layers)

    def warm_up(self) -> RoutedModel:
        """Build now what the first steps would otherwise build on their clock: the tokenizer's
        view for tool-call grammars (about a second) and, where the policy decodes losslessly,
        the int8 draft copies of the weights and the timed passes of every program those steps
        can draft with (about 0.7 s each on a 2-core CPU). Idempotent; returns the model."""
        with self._lock, torch.inference_mode():
            if self._grammar_tokenizer is None:
                self._grammar_tokenizer = GrammarTokenizer(self.tokenizer, self.stop_token_ids)
            drafts = self.router.lossless_drafts()
            if drafts:
                context = self.tokenizer("Warm-up context for timing draft and verify passes. " * 8)["input_ids"]
                self.draft_cache.prepare(self.parts, self.speculative, drafts, context)
        return self

    def use_programs(self, path) -> None:
        """Route with the searched programs in ``path`` (``agentroute search``); None stops using them."""
        if path is None:
            self.router.programs = None
            return
        from agentroute.program_library import load_library

        self.router.programs = load_library(self, path)

    def encode(self, messages_or_prompt: str | Sequence[Mapping[str, Any]], tools=None) -> list[int]:
        """Prompt token ids exactly as ``generate`` builds them: tools, tool calls and tool results
        written in as ``tools.py`` documents, then the chat template."""
        return self._prompt_ids(validate_messages(as_messages(messages_or_prompt)), normalize_tools(tools))

    def generate(
        self,
        messages_or_prompt: str | Sequence[Mapping[str, Any]],
        program: ProgramSpec = None,
        *,
        tools: Sequence[Any] | None = None,
        step_type: StepType | str | None = None,
        budget: float | None = None,
        hints: Mapping[str, Any] | None = None,
        **options: Any,
    ) -> GenerationResult:
        """Generate the reply of one agent step.

        The step type comes from ``step_type``, else ``hints`` (mapped by the policy's hint_map),
        else the conversation's structure (see ``step_types``). The program is ``program`` when
        given, else the one for ``budget`` (default: the policy's budget for the step type).
        With ``tools`` the tool list is written into the prompt and the reply parsed into
        ``result.tool_calls``; a reply that is not a valid call never raises: the record's
        ``error`` says what was wrong.

        ``options`` are the keywords of ``agentroute.decode.options.GenerationOptions``
        (max_new_tokens, temperature, top_p, top_k, seed, stop, prefill, reuse_prefix, ignore_eos,
        on_text, cancelled, mode, constrain, jump_forward), each documented there and checked before anything
        runs: a wrong type or a misspelled name is a GenerationError naming it.
        """
        settings = parse_options(options)
        context = step_context(messages_or_prompt, tools, step_type, budget, hints, settings.json_schema)
        messages, specs = context.messages, context.tools
        with self._lock:
            prompt_ids = self._prompt_ids(with_response_format(messages, settings.json_schema), specs)
            decision = self.router.decide(context, program, prompt_ids, settings.mode)
            mode = decision.mode
            # A tool-call step calls, or says in text that no offered tool fits (unless the
            # caller's tool_choice demands a call); any other step with tools may answer in text,
            # but a call it starts is held to the tools' schemas all the same.
            free_text = decision.step_type != StepType.TOOL_CALL
            decline = self.may_decline_in(context)
            schema = settings.json_schema
            wanted = settings.constrain and (specs or schema is not None)
            chooses = wanted and decline and not free_text and schema is None
            choice = decline_choice(self.pack, functools.partial(self._tool_constraint, specs)) if chooses else None
            # With a no-tool-fits head the step starts under calls only; the head may switch it to words.
            constraint = self._tool_constraint(specs, free_text, schema, decline and choice is None) if wanted else None
            result = self._execute(prompt_ids, decision.program, settings, mode, constraint, choice)
        result = step_result(result, context, decision, settings.json_schema, self.said_values)
        record_step(result.record, {"messages": messages, "tools": [t.model_dump() for t in specs]})
        return result

    def generate_ids(self, prompt_ids: Sequence[int], program: ProgramSpec = None, **options: Any) -> GenerationResult:
        """Generate from already-tokenised prompt ids with an explicit program (no step typing)."""
        settings = parse_options(options)
        with self._lock:
            mode = settings.mode if settings.mode is not None else "routed"
            result = self._execute(prompt_ids, self.program(program), settings, mode)
        record_step(result.record)
        return result

    def forced_argmax(
        self,
        prompt_ids: Sequence[int],
        tokens: Sequence[int],
        program: ProgramSpec,
        tools: Sequence[Any] | None = None,
        free_text: bool = False,
        decline: bool = False,
        words_only: bool = False,
    ) -> list[int]:
        """``program``'s greedy next token at every position of ``tokens`` given the true prefix.

        Teacher forcing: one parallel pass of ``program`` over ``tokens[:-1]`` after the prompt, so
        position i predicts ``tokens[i]``. The prompt is prefilled as ``generate`` does by default
        and reuses the prefix cache, so scoring a reply just generated costs no second prefill.
        With ``tools`` the reply was decoded under the call grammar (``free_text``: the grammar of
        steps that may also answer in text): each position's argmax is taken among the tokens it
        allows after the true prefix, as constrained decoding does.
        """
        return teacher_forced_argmax(self, prompt_ids, tokens, program, tools, free_text, decline, words_only)

    # -- internals --------------------------------------------------------------------------------

    def _tool_constraint(
        self,
        specs: list[ToolSpec],
        free_text: bool = False,
        json_schema: dict | None = None,
        decline: bool = False,
        words_only: bool = False,
    ) -> TokenConstraint:
        if self._grammar_tokenizer is None:
            self._grammar_tokenizer = GrammarTokenizer(self.tokenizer, self.stop_token_ids)
        # A step typed as a tool call with a schema but no tools can only answer. Calls take the
        # prompt's format: the template's own, else (None) the hand-written one.
        fmt = native_call_format(self.tokenizer)
        if self.said_values:
            specs = phrase_specs(specs)
        return self._grammar_tokenizer.constraint(specs, free_text or not specs, json_schema, fmt, decline, words_only)

    def _execute(
        self,
        prompt_ids: Sequence[int],
        program: LayerProgram,
        s: GenerationOptions,
        mode: str,
        constraint: TokenConstraint | None = None,
        decline: DeclineChoice | None = None,
    ) -> GenerationResult:
        """Prefill + decode under the lock; on any error drop the half-written cache."""
        lossless = mode == "lossless"
        reuse = self.quantization != "int8" if s.reuse_prefix is None else s.reuse_prefix
        plan = Plan(
            prompt_ids=self._check_prompt(prompt_ids, s.max_new_tokens),
            program=program,
            # Lossless verifies at full depth, which needs full-depth prompt keys whatever ``prefill`` says.
            prefill_program=LayerProgram.full(self.n_layers) if lossless else self._prefill_program(program, s.prefill),
            sampler=Sampler(s.temperature, s.top_p, s.top_k, s.seed, constraint=constraint),
            max_new_tokens=s.max_new_tokens,
            stop=list(s.stop) if s.stop else None,
            stop_ids=set() if s.ignore_eos else self.stop_token_ids,
            # A looping draft's own slots must hold the whole prompt, written by that draft.
            reuse_prefix=reuse and not (lossless and program.loops),
            on_text=s.on_text,
            mode=mode,
            jump_forward=s.jump_forward,
            decline=decline,
            cancelled=s.cancelled,
        )
        try:
            with torch.inference_mode():
                return run_plan(self, plan)
        except BaseException:
            self.prefix_cache.forget()
            raise

    def _prompt_ids(self, messages: list[dict[str, Any]], specs: list) -> list[int]:
        return step_prompt_ids(self.tokenizer, messages, specs, self.tool_style)

    def _prefill_program(self, program: LayerProgram, prefill: str) -> LayerProgram:
        if prefill == "program" or program.loops:
            return program
        return LayerProgram.full(self.n_layers)

    def _check_prompt(self, prompt_ids: Sequence[int], max_new_tokens: int) -> list[int]:
        ids = [int(i) for i in prompt_ids]
        if not ids:
            raise GenerationError("the prompt has no tokens")
        limit = self.context_length
        if limit and len(ids) + max_new_tokens > limit:
            raise GenerationError(
                f"prompt ({len(ids)} tokens) + max_new_tokens ({max_new_tokens}) exceeds the model's "
                f"context of {limit} tokens; shorten the conversation or lower max_new_tokens"
            )
        return ids
