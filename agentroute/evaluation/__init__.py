"""Evaluate routed decoding against full depth on a file of agent steps: ``agentroute eval``.

```python
from agentroute import load
from agentroute.evaluation import evaluate, load_steps

model = load("default", policy={"budgets": {"tool_call": 0.6}})
steps, problems = load_steps("steps.jsonl")          # problems: [Problem(line, id, error)]
report = evaluate(model, steps, modes=("full", "routed"), repeats=3)
report["modes"]["routed"]["summary"]["tool_call"]["decode_speedup"]
```

Command line: ``agentroute eval STEPS.jsonl --modes full,routed [--model M] [--pack P]
[--policy F] [--quantization Q] [--repeats N] [--seed S] [--limit N] --json OUT.json``
(``--json -`` writes the JSON to stdout; progress and problems go to stderr).

Input
    One JSON object per line (see ``agentroute.evaluation.steps``): ``id``, ``messages``
    (roles system/user/assistant/tool; assistant ``tool_calls`` and tool results allowed),
    optional ``tools``, ``step_type``, ``max_new_tokens`` (default 128) and
    ``expected: {"tool_calls": [{"name", "arguments"}]}``. Lines of a trace written with
    ``Trace(path, include_messages=True)`` are accepted too. A bad line (not JSON, unknown role,
    a call to a tool not offered, an invalid schema, no messages, ...) is reported and skipped.

Modes
    ``full``: every layer (budget 1.0); the reference, always run first and added if absent.
    ``routed``: the model's depth policy picks the program from the step type.
    ``lossless``: the policy's draft program drafts and full depth verifies (self-speculative decoding,
    ``agentroute.decode.speculative``): ``matches_full`` must hold; the gain shows in ``decode_speedup``.
    Decoding is greedy.

Output
    ::

        {"model": "SmolLM2-135M-Instruct", "pack": null, "seed": 0, "repeats": 1,
         "modes": {
           "full":   {"steps": [...], "summary": {...}, "categories": {...}},
           "routed": {
             "steps": [{"id": "weather-1", "step_type": "tool_call", "text": "",
                        "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}],
                        "completion_tokens": 21, "layers_fraction": 0.6,
                        "decode_tokens_per_s": 41.2, "matches_full": true, "token_agreement": 1.0,
                        "tool_calls_match_full": true, "correct": true,
                        "forced_agreement": 1.0, "program": "0-8,12-14,18-29", "budget": 0.6,
                        "finish_reason": "tool_calls", "error": null, "call_error": null,
                        "line": 1}, ...],
             "summary": {"tool_call": {"n": 20, "layers_fraction": 0.6, "decode_speedup": 1.52,
                                       "matches_full": 0.55, "token_agreement": 0.66,
                                       "tool_calls_match_full": 0.6, "accuracy": 0.5,
                                       "forced_agreement": 0.9,
                                       "call_errors": {"kinds": {"arguments": 7, "count": 3},
                                                       "arguments": {"wrong date": 5, ...}}},
                         ..., "all": {...}}}},
         "problems": [{"line": 7, "id": "bad-1", "error": "message 1 has unknown role 'robot'; ..."}]}

    Per step:

    - ``step_type``: the type the step ran as (given, else predicted by the model's rules).
    - ``category``: the skill the step tests, from the step's ``category`` field (generated data:
      ``simple``, ``multiple``, ``parallel``, ``multi_turn``, ``no_tool_fits``, ``real_world``,
      and the free-text step types), else its step type.
    - ``text``, ``tool_calls`` (``[{"name", "arguments"}]``), ``completion_tokens``, ``program``,
      ``budget``, ``finish_reason``, ``error`` (why the reply is not a valid call): from the first repeat.
      Lossless rows also give ``draft_program`` and ``acceptance_rate`` (null in other modes);
      their ``program`` is the verifier's (full depth).
    - ``layers_fraction``: layer evaluations per generated token / the model's layer count
      (lossless: draft plus verify passes, so it can exceed 1 when few drafts are accepted).
    - ``decode_tokens_per_s``: median over repeats (tokens after the first / decode time); null
      for a one-token reply.
    - ``matches_full``: the greedy token ids equal full depth's.
    - ``token_agreement``: common prefix with full depth's token ids / full depth's length.
    - ``tool_calls_match_full``: same tool names and arguments, in order, as full depth; null
      when full depth made no call.
    - ``correct``: the calls equal ``expected`` (same count, each expected call matched by one
      reply call in any order, equal names; arguments equal with numbers compared numerically,
      strings case-insensitively after trimming, objects and arrays recursively; an empty
      ``expected`` list is correct when the reply makes no call); null without ``expected``.
    - ``forced_agreement``: teacher-forced top-1 agreement: the fraction of positions where the
      mode's program picks full depth's token given full depth's prefix (1.0 for full depth).
    - ``call_error``: what a wrong reply got wrong (``call_errors.call_error``), null when right
      or without ``expected``: ``{"kind": "called" | "invalid call" | "no call" | "count" | "tools" |
      "arguments"}`` (``invalid call``: a call the parser dropped, see ``error``),
      and for ``"arguments"`` a list such as ``["wrong date", "missing string", "extra bool"]``.

    Per mode, ``summary`` has one entry per step type present and ``"all"``: ``n``; the means of
    ``layers_fraction``, ``matches_full``, ``token_agreement``, ``forced_agreement``;
    ``tool_calls_match_full`` averaged over steps where it is not null; ``accuracy``, the fraction
    of ``correct`` over steps that have an expectation; ``decode_speedup``, the median over steps
    of this mode's decode tokens/s divided by full depth's in the same run; ``call_errors``, the
    wrong replies' ``call_error`` counted per kind and per argument problem (``{}`` when none). A
    value that cannot be computed is null. ``categories`` has the same fields per category (and ``"all"``).

    ``problems``: every step that was not evaluated, with its line (1-based; the position for
    steps given as a list), its id when known and what is wrong.
"""

from agentroute.evaluation.metrics import calls_correct, forced_agreement, token_agreement, values_equal
from agentroute.evaluation.runner import MODES, evaluate, parse_modes
from agentroute.evaluation.steps import EvalError, EvalStep, Problem, load_steps, parse_step
from agentroute.evaluation.summary import summarize

__all__ = [
    "MODES",
    "EvalError",
    "EvalStep",
    "Problem",
    "calls_correct",
    "evaluate",
    "forced_agreement",
    "load_steps",
    "parse_modes",
    "parse_step",
    "summarize",
    "token_agreement",
    "values_equal",
]
