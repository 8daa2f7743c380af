"""Run every step in every mode on one loaded model and compare each mode with full depth."""

from __future__ import annotations

import os
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from agentroute.errors import AgentRouteError
from agentroute.evaluation.call_errors import call_error
from agentroute.evaluation.metrics import (
    calls_as_dicts,
    calls_correct,
    forced_agreement,
    token_agreement,
    tool_calls_match,
)
from agentroute.evaluation.steps import EvalError, EvalStep, Problem, StepError, load_steps, parse_step
from agentroute.evaluation.summary import summarize
from agentroute.model.program import LayerProgram
from agentroute.steps.records import GenerationResult, StepType
from agentroute.steps.step_types import StepContext

MODES = ("full", "routed")  # the default selection
KNOWN_MODES = ("full", "routed", "lossless")

Progress = Callable[[int, int, str], None]
"""``progress(done, total, label)``: called after each generation; ``total`` counts all of them."""


def parse_modes(modes: str | Sequence[str]) -> list[str]:
    """Mode names from ``"full,routed"`` or a list, with ``full`` (the reference) first and added if absent."""
    if isinstance(modes, str):
        modes = modes.split(",")
    names = [str(m).strip().lower() for m in modes if str(m).strip()]
    for name in names:
        if name not in KNOWN_MODES:
            raise EvalError(f"unknown mode {name!r}; use {', '.join(KNOWN_MODES)} (comma-separated)")
    return ["full", *(m for m in dict.fromkeys(names) if m != "full")]


def evaluate(
    model,
    steps: str | os.PathLike[str] | Sequence[EvalStep | Mapping[str, Any]],
    modes: str | Sequence[str] = MODES,
    repeats: int = 1,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Run ``steps`` on ``model`` (a RoutedModel) in each mode and compare every mode with full depth.

    ``steps`` is a steps file, or a list of ``EvalStep``s or step dicts (bad ones become problems).
    Decoding is greedy. For each step the modes alternate (full, routed, full, routed, ... for
    ``repeats`` rounds) so machine noise hits them alike; outputs come from the first round and
    decode speed is the median over rounds. A step whose generation fails in any mode is left
    out of every mode and reported under ``"problems"``. Returns the dict described in the
    ``agentroute.evaluation`` docstring.
    """
    modes = parse_modes(modes)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        raise EvalError(f"repeats must be a positive integer, got {repeats!r}")
    checked, problems = _as_steps(steps)
    results: dict[str, list[dict[str, Any]]] = {mode: [] for mode in modes}
    per_step = repeats * len(modes)
    total = len(checked) * per_step
    done = 0

    def tick(label: str) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, label)

    for index, step in enumerate(checked):
        try:
            rows = _run_step(model, step, modes, repeats, seed, tick)
        except AgentRouteError as exc:
            problems.append(Problem(step.line, step.id, f"could not be evaluated: {exc}"))
            done = (index + 1) * per_step - 1
            tick(f"{step.id} (failed)")
            continue
        for mode in modes:
            results[mode].append(rows[mode])
    pack = getattr(model, "pack", None)
    return {
        "model": model.name,
        "pack": str(pack) if pack is not None else None,
        "seed": seed,
        "repeats": repeats,
        "modes": {
            mode: {
                "steps": rows,
                "summary": summarize(rows, results["full"]),
                "categories": summarize(rows, results["full"], by="category"),
            }
            for mode, rows in results.items()
        },
        "problems": [p.to_dict() for p in problems],
    }


def _as_steps(steps) -> tuple[list[EvalStep], list[Problem]]:
    if isinstance(steps, (str, os.PathLike)):
        return load_steps(steps)
    checked: list[EvalStep] = []
    problems: list[Problem] = []
    for position, step in enumerate(steps, start=1):
        if not isinstance(step, EvalStep):
            if isinstance(step, Mapping) and "id" not in step:
                step = {**step, "id": f"step-{position}"}
            try:
                step = parse_step(step, line=position)
            except StepError as exc:
                step_id = step.get("id") if isinstance(step, Mapping) else None
                problems.append(Problem(position, step_id if isinstance(step_id, str) else None, str(exc)))
                continue
        if any(s.id == step.id for s in checked):
            problems.append(Problem(step.line, step.id, f"another step already has id {step.id!r}"))
            continue
        checked.append(step)
    return checked, problems


def _generate(model, step: EvalStep, mode: str, seed: int) -> GenerationResult:
    options: dict[str, Any] = {"max_new_tokens": step.max_new_tokens, "temperature": 0.0, "seed": seed}
    # routed takes the program from the policy's budget for the step type, lossless its draft from
    # the policy's draft budget; the full-depth reference is plain routed decoding whatever the mode.
    options["mode"] = "routed" if mode == "full" else mode
    if mode == "full":
        options["budget"] = 1.0
    return model.generate(
        step.messages, tools=step.tools or None, step_type=step.step_type, hints=step.hints, **options
    )


def _run_step(model, step: EvalStep, modes: list[str], repeats: int, seed: int, tick) -> dict[str, dict[str, Any]]:
    runs: dict[str, list[GenerationResult]] = {mode: [] for mode in modes}
    for _ in range(repeats):
        for mode in modes:
            runs[mode].append(_generate(model, step, mode, seed))
            tick(f"{step.id} ({mode})")
    full = runs["full"][0]
    prompt_ids: list[int] | None = None
    rows = {}
    for mode in modes:
        result = runs[mode][0]
        rates = [r.record.decode_tokens_per_s for r in runs[mode] if r.record.decode_tokens_per_s is not None]
        row = _row(step, result, full, statistics.median(rates) if rates else None)
        program = model.program(result.record.program)
        if mode == "full" or (program == LayerProgram.full(model.n_layers) and row["matches_full"]):
            # Full depth's greedy tokens are its own argmaxes: agreement 1 by definition.
            row["forced_agreement"] = 1.0
        else:
            if prompt_ids is None:
                prompt_ids = _prompt_ids(model, step, result)
            tools = step.tools if full.record.constrained else None
            free_text = full.record.step_type != StepType.TOOL_CALL  # the grammar generate chose
            # (a tool-call step may decline as generate decided it: by the pack and the step's tool_choice)
            context = StepContext(messages=step.messages, tools=step.tools, hints=step.hints or {})
            decline = not free_text and model.may_decline_in(context)
            # Where the pack's no-tool-fits head chose, the grammar was calls only or words only.
            decided = full.record.no_tool_fits_probability is not None
            words_only = decided and full.record.declined_tools
            row["forced_agreement"] = forced_agreement(
                model, prompt_ids, program, full.token_ids, tools, free_text, decline and (words_only or not decided),
                words_only,
            )  # fmt: skip
        rows[mode] = row
    return rows


def _row(step: EvalStep, result: GenerationResult, full: GenerationResult, rate: float | None) -> dict[str, Any]:
    record = result.record
    # Where no call is expected, a call that failed its schema (dropped, in record.error) is
    # still an attempt to call: not the reply in words the step asks for.
    called_anyway = step.expected == [] and bool(record.error)
    correct = calls_correct(result.tool_calls, step.expected) and not called_anyway  # None: no expectation
    return {
        "id": step.id,
        "line": step.line,
        "step_type": record.step_type.value,
        "category": step.category or record.step_type.value,
        "text": result.text,
        "tool_calls": calls_as_dicts(result.tool_calls),
        "completion_tokens": record.completion_tokens,
        "layers_fraction": record.layers_fraction,
        "decode_tokens_per_s": rate,
        "matches_full": result.token_ids == full.token_ids,
        "token_agreement": token_agreement(result.token_ids, full.token_ids),
        "tool_calls_match_full": tool_calls_match(result.tool_calls, full.tool_calls),
        "correct": correct,
        # What a wrong reply got wrong (``call_errors``): calls, tools, or which arguments.
        "call_error": _call_error(step, result, correct),
        "program": record.program,
        "draft_program": record.draft_program,
        "acceptance_rate": record.acceptance_rate,
        "budget": record.budget,
        "finish_reason": record.finish_reason,
        "error": record.error,
        # A tool-call step that answered in words, and the pack's no-tool-fits head's probability
        # where it chose (the rows behind the threshold's trade of declines against calls).
        "declined_tools": record.declined_tools,
        "no_tool_fits_probability": record.no_tool_fits_probability,
    }


def _call_error(step: EvalStep, result: GenerationResult, correct: bool | None):
    if correct is not False:
        return None
    if result.record.error:
        # A call that broke its schema or ran out of tokens was dropped by the parser: counting
        # the calls left would blame the count or the tools for it (where none fits, any call is wrong).
        return {"kind": "called" if step.expected == [] else "invalid call"}
    return call_error(result.tool_calls, step.expected)


def _prompt_ids(model, step: EvalStep, result: GenerationResult) -> list[int]:
    """The prompt as ``generate`` rendered it (checked against the record: a mismatch would skew the metric)."""
    ids = model.encode(step.messages, tools=step.tools)
    if len(ids) != result.record.prompt_tokens:
        raise EvalError(
            f"step {step.id!r}: re-encoded prompt has {len(ids)} tokens but generate used "
            f"{result.record.prompt_tokens}; cannot compute forced_agreement"
        )
    return ids
