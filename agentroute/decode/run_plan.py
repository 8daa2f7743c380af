"""Run one checked plan: prefill, then decode routed or lossless, and build the step's record.

``RoutedModel`` checks a call into a ``Plan`` and holds its lock; this is what runs inside it.
The model is taken as it is (parts, prefix cache, draft cache, speculative settings) and its
state is only read and filled, never replaced.
"""

from __future__ import annotations

import time

import torch

from agentroute.decode import speculative
from agentroute.decode.plan_record import plan_record
from agentroute.decode.prompt_lookup import TextLookup
from agentroute.decode.reply import Plan, Reply
from agentroute.decode.routed_loop import routed_loop
from agentroute.decode.speculative import SpeculativeStats
from agentroute.model import executor
from agentroute.model.dtype_choice import dtype_name
from agentroute.steps.records import GenerationResult


def run_plan(model, plan: Plan) -> GenerationResult:
    """The reply and record of ``plan`` on ``model`` (a RoutedModel, its lock held by the caller)."""
    plan.check_cancelled()  # cancelled while it waited for the model: skip the prefill too
    parts, prefix, prompt_ids = model.parts, model.prefix_cache, plan.prompt_ids
    drafting = model.draft_cache.draft_parts(parts, model.speculative) if plan.mode == "lossless" else None
    program_drafts = lookup = False
    if drafting is not None:
        same, greedy = drafting is parts, plan.sampler.greedy
        program_drafts, lookup = speculative.draft_sources(plan.program, same, model.speculative, greedy)
    programs = None
    if program_drafts or lookup:
        programs = speculative.Programs(draft=plan.program, verifier=plan.prefill_program)
    costs = None
    if program_drafts or lookup:  # lookup alone times passes too: how many copies a round verifies
        costs = model.draft_cache.pass_costs(parts, drafting, programs, prompt_ids, model.speculative)
    started = time.perf_counter()
    start = prefix.prepare(prompt_ids, plan.prefill_program, reuse=plan.reuse_prefix)
    ids = torch.tensor([prompt_ids[start:]], dtype=torch.long, device=parts.device)
    capacity = len(prompt_ids) + plan.max_new_tokens
    choice = plan.decline
    capture = choice.capture() if choice is not None and choice.reads(plan.prefill_program) else None
    if programs is not None:
        logits = speculative.prefill(
            parts, prefix.kv, programs, ids, start=start, capacity=capacity, draft_parts=drafting, on_layer=capture
        )
    else:
        logits = executor.prefill(
            parts, prefix.kv, plan.prefill_program, ids, start=start, capacity=capacity, on_layer=capture
        )
    no_tool_fits = None
    if choice is not None:  # calls (the grammar the step started with) or words, before the first token
        if capture is not None and capture.hidden is not None:
            words, no_tool_fits = choice.decide(capture.hidden)
        else:
            words, no_tool_fits = choice.decide_apart(parts, prompt_ids)
        if words is not None:
            plan.sampler.constraint = words
    # Only samplers with top-k/top-p warpers look at the history; greedy skips building it.
    history = torch.tensor([prompt_ids], dtype=torch.long) if not plan.sampler.greedy else None
    reply = Reply(model.tokenizer, plan)
    stats = SpeculativeStats() if programs is not None else None  # also when the first token ends the reply
    token = plan.sampler(logits, history)
    if reply.push(token):
        if programs is not None:
            limit = plan.max_new_tokens - len(reply.tokens)
            text_lookup = TextLookup(model.tokenizer, prompt_ids) if lookup and model.speculative.lookup_text else None
            stats = speculative.decode(
                parts, prefix.kv, programs, plan.sampler, [*prompt_ids, token], limit, reply.push,
                settings=model.speculative, jump_forward=plan.jump_forward, draft_parts=drafting, costs=costs,
                text_lookup=text_lookup, replies=model.reply_store, reply_start=len(prompt_ids),
            )  # fmt: skip
        else:
            routed_loop(model.parts, model.prefix_cache.kv, plan, reply, history)
    finished = time.perf_counter()
    text = reply.text()
    reply.finish_stream(text)
    weights = None if programs is None else "same" if drafting is parts else "int8"
    record = plan_record(
        plan, reply, stats, reused=start, started=started, finished=finished, draft_weights=weights,
        model=model.name, quantization=model.quantization, n_layers=model.n_layers, dtype=dtype_name(model.dtype),
        no_tool_fits=no_tool_fits,
    )  # fmt: skip
    return GenerationResult(text=text, token_ids=reply.tokens, record=record)
