"""Agent steps -> training examples: prompt ids and the reply the model should produce.

Tool-call steps carry their answer (``expected`` calls), written as the model writes calls, and
final-answer steps of generated data a gold ``answer`` text. Planning and reasoning steps have no
gold reply; their target is the full-depth model's own reply (see ``teacher``), used for
self-distillation only. (The base model answers a tool result by echoing its ``<tool_response>``
wrapper, so final answers are not distilled from it when a gold one exists.)

Tool-call prompts list every tool of the step's domain. Training keeps the expected tools and at
most ``max_distractors`` others (shuffled): the prompt dominates training cost on a CPU, and the
skill learnt - pick the tool that fits, copy the arguments out of the request - does not need all
of them. Evaluation always uses the full list.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from agentroute.evaluation.steps import EvalStep
from agentroute.steps.records import StepType
from agentroute.steps.tools import format_tool_call
from agentroute.training.said_spans import said_calls


@dataclass(frozen=True)
class TrainExample:
    id: str
    step_type: StepType
    prompt_ids: list[int]
    reply_ids: list[int]
    gold: bool  # True: a reference answer (cross-entropy); False: the teacher's reply (distillation)


def end_of_turn_id(model) -> int:
    """The token that ends an assistant turn (the tokenizer's eos, as ``generate`` stops on)."""
    ids = sorted(model.stop_token_ids)
    if not ids:
        raise ValueError(f"{model.name} has no end-of-turn token; cannot build training replies")
    return ids[0]


def tool_call_text(step: EvalStep, said_values: bool = False) -> str:
    """The step's expected calls as the model writes them; with ``said_values`` declared dates and
    times as the user said them (``said_spans``)."""
    calls = said_calls(step.expected or [], step.tools, step.messages) if said_values else step.expected or []
    return "\n".join(format_tool_call(call) for call in calls)


def has_gold(step: EvalStep) -> bool:
    """Whether the step carries the reply to train on: expected calls, the text of a tool-call step
    where no tool fits (no expected call, an ``answer``), or a final answer's text."""
    if step.step_type == StepType.TOOL_CALL:
        return bool(step.expected) or (step.expected == [] and step.answer is not None)
    return step.step_type == StepType.FINAL_ANSWER and step.answer is not None


def gold_reply(model, step: EvalStep) -> list[int]:
    """The step's gold reply (see ``has_gold``) as the model should write it (as the pack writes
    dates and times: ``model.said_values``), ending with end-of-turn."""
    text = tool_call_text(step, getattr(model, "said_values", False)) if step.expected else step.answer
    if not text:
        raise ValueError(f"step {step.id} has neither expected calls nor an answer to train on")
    reply = model.tokenizer(text, add_special_tokens=False)["input_ids"]
    return [*reply, end_of_turn_id(model)]


def tool_call_example(model, step: EvalStep, rng: random.Random, max_distractors: int) -> TrainExample:
    """The step with its expected tools and at most ``max_distractors`` others. A step where no tool
    fits keeps every tool it offers, in order: that none fits is a fact about all of them, and its
    reply may name what they are for or ask for an argument of one of them."""
    wanted = {call["name"] for call in step.expected or []}
    if not wanted:
        return TrainExample(
            step.id, StepType.TOOL_CALL, model.encode(step.messages, step.tools), gold_reply(model, step), gold=True
        )
    chosen = [t for t in step.tools if t.name in wanted]
    others = [t for t in step.tools if t.name not in wanted]
    chosen += rng.sample(others, min(max_distractors, len(others)))
    rng.shuffle(chosen)
    prompt = model.encode(step.messages, chosen)
    return TrainExample(step.id, StepType.TOOL_CALL, prompt, gold_reply(model, step), gold=True)


def full_prompt_example(model, step: EvalStep, teacher: Mapping[str, list[int]]) -> TrainExample:
    """The step with every offered tool in its prompt: its gold reply where it has one (``has_gold``),
    else its teacher reply (``teacher[step.id]``)."""
    if not has_gold(step):
        return teacher_example(model, step, teacher[step.id])
    prompt = model.encode(step.messages, step.tools)
    return TrainExample(step.id, step.step_type, prompt, gold_reply(model, step), gold=True)


def teacher_example(model, step: EvalStep, reply_ids: list[int]) -> TrainExample:
    prompt = model.encode(step.messages, step.tools)
    return TrainExample(step.id, step.step_type or StepType.OTHER, prompt, list(reply_ids), gold=False)
