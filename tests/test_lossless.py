"""Lossless mode (issue #8): a routed program drafts, full depth verifies; the reply is full depth's."""

import math
from collections import Counter

import pytest
import torch
from tiny_models import FAMILIES, PROMPTS, tiny_model

from agentroute import DepthPolicy, GenerationError, PolicyError, RoutedModel
from agentroute.decode import speculative
from agentroute.decode.draft_cache import DraftCache
from agentroute.decode.sampling import Sampler
from agentroute.evaluation import evaluate
from agentroute.model import executor
from agentroute.model.kv_cache import ProgramKVCache
from agentroute.steps.records import StepType

DRAFTS = ["0,5", "0-2,5", "0-1,3-5", "0-2,2,3-5"]  # skip programs of three depths and one loop (6 layers)
NEW_TOKENS = 32
WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


REAL_BEST_K = speculative.SpeculativeSettings.best_k


@pytest.fixture(autouse=True)
def four_drafts_per_round(monkeypatch):
    """The mechanism tests need drafts in every round. On random weights the draft is rarely
    accepted, so the cost model would (rightly) stop drafting; pin k to 4 here instead."""
    monkeypatch.setattr(
        speculative.SpeculativeSettings, "best_k", lambda self, acceptance, costs, forced=0.0: min(4, self.k_max)
    )


@pytest.fixture(scope="module", params=sorted(FAMILIES))
def family6(request) -> RoutedModel:
    """Six layers (conftest's family_model has four) so that drafts of several depths exist."""
    hf, tok = tiny_model(request.param, n_layers=6)
    return RoutedModel(hf, tok, name=f"tiny6-{request.param}")


class ForwardSpy:
    """Records every executor.forward call with the cache's valid lengths before and after it."""

    def __init__(self, monkeypatch) -> None:
        self.calls = []
        real = executor.forward

        def spy(parts, cache, program, input_ids, start, all_logits=False, **kwargs):
            before = dict(cache.valid)
            out = real(parts, cache, program, input_ids, start, all_logits=all_logits, **kwargs)
            self.calls.append((program, start, input_ids.shape[1], all_logits, before, dict(cache.valid)))
            return out

        monkeypatch.setattr(executor, "forward", spy)


# -- greedy: token for token full depth ------------------------------------------------------------


def test_greedy_lossless_equals_full_depth(family6):
    for i, prompt in enumerate(PROMPTS[:3]):
        for ignore_eos in (True, False) if i == 0 else (i == 1,):
            full = family6.generate(prompt, max_new_tokens=NEW_TOKENS, ignore_eos=ignore_eos)
            assert len(full.token_ids) == NEW_TOKENS or not ignore_eos
            for draft in DRAFTS:
                fast = family6.generate(
                    prompt, program=draft, mode="lossless", max_new_tokens=NEW_TOKENS, ignore_eos=ignore_eos
                )
                assert fast.token_ids == full.token_ids, (prompt, draft, ignore_eos)
                assert fast.text == full.text and fast.record.finish_reason == full.record.finish_reason
                assert fast.record.drafted_tokens > 0


def test_every_length_limit_is_respected(llama_model):
    full = llama_model.generate("Plan a trip.", max_new_tokens=12, ignore_eos=True).token_ids
    for limit in range(1, 12):
        fast = llama_model.generate("Plan a trip.", program="0-2,5", mode="lossless", max_new_tokens=limit)
        assert fast.token_ids == full[:limit] and fast.record.finish_reason == "length"


def test_stop_token_ends_the_reply_where_full_depth_does(llama_model, monkeypatch):
    full = llama_model.generate("Call the weather tool for Paris.", max_new_tokens=24, ignore_eos=True).token_ids
    # Make a token from the middle of the reply the end-of-turn token: both modes must stop on it.
    eos = next(t for i, t in enumerate(full) if i >= 8 and t not in full[:i])
    monkeypatch.setattr(llama_model.hf_model.generation_config, "eos_token_id", eos)
    ref = llama_model.generate("Call the weather tool for Paris.", max_new_tokens=24)
    assert ref.record.finish_reason == "stop" and ref.token_ids[-1] == eos and len(ref.token_ids) < 24
    for draft in ("0,5", "0-2,2,3-5"):
        fast = llama_model.generate(
            "Call the weather tool for Paris.", program=draft, mode="lossless", max_new_tokens=24
        )
        assert fast.token_ids == ref.token_ids and fast.record.finish_reason == "stop"
        assert _cache_lengths(llama_model) == ref.record.prompt_tokens + len(ref.token_ids) - 1


def test_stop_strings_and_streaming_behave_as_in_routed_mode(family6):
    prompt = "Tell me a story."
    full = family6.generate(prompt, max_new_tokens=NEW_TOKENS, ignore_eos=True)
    cut = next(i for i in range(6, len(full.text)) if full.text[i].strip() and full.text[i] not in full.text[:i])
    marker = full.text[cut : cut + 2]
    chunks_full: list[str] = []
    ref = family6.generate(prompt, max_new_tokens=NEW_TOKENS, stop=[marker], on_text=chunks_full.append)
    assert ref.record.finish_reason == "stop" and marker not in ref.text
    for draft in ("0-1,3-5", "0-2,2,3-5"):
        chunks: list[str] = []
        fast = family6.generate(
            prompt, program=draft, mode="lossless", max_new_tokens=NEW_TOKENS, stop=[marker], on_text=chunks.append
        )
        assert fast.token_ids == ref.token_ids and fast.text == ref.text and fast.record.finish_reason == "stop"
        assert "".join(chunks) == fast.text and chunks == chunks_full


# -- the KV cache: one cache, no unverified positions -------------------------------------------------


def _cache_lengths(model) -> int:
    """The common valid length of the full-depth slots (asserting they agree)."""
    lengths = {model.prefix_cache.kv.valid[(layer, 0)] for layer in range(model.n_layers)}
    assert len(lengths) == 1, model.prefix_cache.kv.valid
    return lengths.pop()


@pytest.mark.parametrize("draft", ["0,5", "0-2,2,3-5"])
def test_cache_follows_the_hole_policy_round_by_round(llama_model, monkeypatch, draft):
    spy = ForwardSpy(monkeypatch)
    result = llama_model.generate("Plan a three-step trip to Rome.", program=draft, mode="lossless", max_new_tokens=24)
    program = llama_model.program(draft)
    full_slots = [(layer, 0) for layer in range(llama_model.n_layers)]
    draft_only = [s for s in program.slots if s[1] > 0]
    skipped = [(layer, 0) for layer in program.skipped]
    verifies = 0
    previous = None
    for prog, start, length, all_logits, before, after in spy.calls:
        if prog.is_full and all_logits:  # a verify pass over last + drafts
            verifies += 1
            # It starts at a position every slot holds; the layers the draft skipped stop exactly there.
            assert all(before[s] >= start for s in full_slots)
            assert all(before[s] == start for s in skipped)
            # A looping draft's own slots already hold every position the verifier may accept.
            assert all(before[s] == start + length for s in draft_only)
            # It rewrites every full-depth slot over the whole chunk, replacing the draft's entries.
            assert all(after[s] == start + length for s in full_slots)
        elif prog == program and previous is not None and previous[0].is_full:
            # First draft step of a round: the crop left nothing unverified anywhere.
            assert max(before.values()) == start
        previous = (prog, all_logits)
    assert verifies > 0
    end = result.record.prompt_tokens + result.record.completion_tokens - 1
    assert _cache_lengths(llama_model) == end
    assert max(llama_model.prefix_cache.kv.valid.values()) == end


@pytest.mark.parametrize("draft", ["0-2,5", "0-2,2,3-5"])
@torch.inference_mode()
def test_a_stop_inside_an_accepted_run_leaves_only_the_reply_in_the_cache(llama_model, draft):
    """speculative.decode on its own: whichever token ends the reply, the cache holds exactly its inputs."""
    parts = llama_model.parts
    programs = speculative.Programs(draft=llama_model.program(draft), verifier=llama_model.program(None))
    prompt = llama_model.encode("Call the weather tool for Paris.")

    def run(stop_after: int):
        cache = ProgramKVCache()
        first = int(speculative.prefill(parts, cache, programs, torch.tensor([prompt])).argmax())
        emitted: list[int] = []

        def emit(token: int) -> bool:
            emitted.append(token)
            return len(emitted) < stop_after

        stats = speculative.decode(parts, cache, programs, Sampler(), [*prompt, first], 16, emit)
        assert stats.tokens == emitted
        return stats, cache

    whole, _ = run(16)
    assert len(whole.tokens) == 16 and whole.accepted > 0  # some round accepted drafts: stops can land inside it
    for stop_after in range(1, 16):
        stats, cache = run(stop_after)
        assert stats.tokens == whole.tokens[:stop_after]
        # prompt + first token + the emitted ones, minus the last (never fed back)
        assert max(cache.valid.values()) == len(prompt) + stop_after
        assert all(cache.valid[(layer, 0)] == len(prompt) + stop_after for layer in range(llama_model.n_layers))


def test_next_call_reuses_the_prefix_and_equals_a_cold_call(llama_model):
    """After a lossless step the conversation grows; full, routed and lossless steps reuse its prefix."""
    first_turn = [{"role": "user", "content": "Call the weather tool for Paris."}]
    for options in ({}, {"program": "0-2,5"}, {"program": "0-1,3-5", "mode": "lossless"}):
        first = llama_model.generate(first_turn, program="0,5", mode="lossless", max_new_tokens=16)
        assert _cache_lengths(llama_model) == first.record.prompt_tokens + first.record.completion_tokens - 1
        history = [*first_turn, {"role": "assistant", "content": first.text}, {"role": "user", "content": "Rome?"}]
        warm = llama_model.generate(history, max_new_tokens=16, **options)
        cold = llama_model.generate(history, max_new_tokens=16, reuse_prefix=False, **options)
        assert warm.record.reused_prompt_tokens > 0 and warm.token_ids == cold.token_ids, options


def test_a_looping_draft_prefills_without_prefix_reuse(llama_model):
    llama_model.generate("Plan a trip to Rome.", max_new_tokens=4)
    looped = llama_model.generate("Plan a trip to Rome.", program="0-2,2,3-5", mode="lossless", max_new_tokens=8)
    assert looped.record.reused_prompt_tokens == 0 and looped.record.prefill_program == "0-5"
    again = llama_model.generate("Plan a trip to Rome.", max_new_tokens=4)
    assert again.record.reused_prompt_tokens > 0  # full-depth slots were left as a full prefill writes them


# -- the record ---------------------------------------------------------------------------------------


def test_record_counts_drafts_and_honest_layer_cost(llama_model, monkeypatch):
    spy = ForwardSpy(monkeypatch)
    result = llama_model.generate("Why is the sky blue?", program="0-2,5", mode="lossless", max_new_tokens=20)
    rec = result.record
    assert rec.mode == "lossless" and rec.program == "0-5" and rec.draft_program == "0-2,5"
    assert rec.prefill_program == "0-5" and rec.layers_executed.which == [0, 1, 2, 5]
    assert 0 <= rec.accepted_tokens <= rec.drafted_tokens
    assert rec.acceptance_rate == pytest.approx(rec.accepted_tokens / rec.drafted_tokens, abs=1e-6)  # 6 digits
    # Every token after the first needs a verify pass or an accepted draft (each pass yields one bonus token).
    verify_passes = sum(1 for c in spy.calls if c[0].is_full and c[3])
    assert verify_passes + rec.accepted_tokens >= rec.completion_tokens - 1
    evaluations = sum(len(c[0]) for c in spy.calls[1:])  # the first call is the prompt's prefill
    assert rec.layers_per_token == pytest.approx(evaluations / (rec.completion_tokens - 1), abs=1e-3)
    assert rec.layers_fraction == pytest.approx(rec.layers_per_token / 6, abs=1e-5)
    assert rec.model_dump_json()
    routed = llama_model.generate("Why is the sky blue?", program="0-2,5", max_new_tokens=4).record
    assert routed.mode == "routed" and routed.draft_program is None and routed.acceptance_rate is None


def test_full_program_in_lossless_mode_is_plain_full_decoding_on_the_same_weights(llama_model, monkeypatch):
    settings = speculative.SpeculativeSettings(draft_weights="same", lookup=False)
    monkeypatch.setattr(llama_model, "speculative", settings)
    rec = llama_model.generate("hello", mode="lossless", max_new_tokens=6).record
    assert rec.mode == "lossless" and rec.program == "0-5" and rec.draft_program is None
    assert rec.drafted_tokens is None and rec.layers_per_token == 6 and rec.draft_weights is None


def test_full_program_in_lossless_mode_drafts_only_by_prompt_lookup(llama_model, monkeypatch):
    monkeypatch.setattr(llama_model, "speculative", speculative.SpeculativeSettings(draft_weights="same"))
    prompt = "red green blue red green blue red green blue red green"
    result = llama_model.generate(prompt, mode="lossless", max_new_tokens=24, ignore_eos=True)
    plain = llama_model.generate(prompt, mode="routed", max_new_tokens=24, ignore_eos=True)
    assert result.token_ids == plain.token_ids
    rec = result.record
    assert rec.drafted_tokens == 0  # a full-depth draft on the same weights never runs a draft pass
    assert rec.looked_up_tokens is not None and rec.looked_up_tokens > 0


def test_int8_draft_weights_keep_the_reply_full_depths(family6, monkeypatch):
    """Int8 copies draft (full depth too: cheaper weights are a draft of their own); the verifier
    keeps float32 weights, so the greedy reply is still token for token full depth's."""
    from agentroute.decode.draft_weights import draft_parts

    monkeypatch.setattr(family6, "speculative", speculative.SpeculativeSettings(draft_weights="int8"))
    prompt = PROMPTS[0]
    full = family6.generate(prompt, max_new_tokens=NEW_TOKENS, ignore_eos=True)
    for program in ("0-5", "0-2,5", "0-2,2,3-5"):
        fast = family6.generate(prompt, program=program, mode="lossless", max_new_tokens=NEW_TOKENS, ignore_eos=True)
        rec = fast.record
        assert fast.token_ids == full.token_ids, program
        assert (
            rec.draft_weights == "int8"
            and rec.draft_program == str(family6.program(program))
            and rec.drafted_tokens > 0
        )
    int8 = draft_parts(family6.parts, "int8")
    assert int8.embed is family6.parts.embed and int8.layers is not family6.parts.layers
    assert "quantized" in type(int8.layers[0].self_attn.q_proj).__module__
    assert "quantized" in type(int8.lm_head).__module__ and int8.vocab_size == family6.parts.vocab_size
    drafts = family6.draft_cache
    assert drafts.parts["int8"] is drafts.draft_parts(family6.parts, family6.speculative)  # made once


def test_draft_weights_are_checked():
    from agentroute.decode.draft_weights import draft_parts

    hf, tok = tiny_model("llama", n_layers=4)
    bf16 = RoutedModel(hf.to(torch.bfloat16), tok, name="tiny-bf16")
    assert draft_parts(bf16.parts, "auto") is bf16.parts  # no int8 copies of bfloat16 weights: the same
    with pytest.raises(GenerationError, match="int8 draft weights need float32 weights on a CPU"):
        draft_parts(bf16.parts, "int8")
    with pytest.raises(GenerationError, match="draft_weights must be one of auto, int8, same"):
        speculative.SpeculativeSettings(draft_weights="fp8")


def test_policy_draft_budget_sets_the_lossless_draft(llama_model, monkeypatch):
    policy = {"budgets": {"planning": 0.5}, "draft_budgets": {"planning": 1.0}, "modes": {"planning": "lossless"}}
    monkeypatch.setattr(llama_model.router, "policy", DepthPolicy.coerce(policy))
    ask = "Plan a three-step trip to Rome."
    lossless = llama_model.generate(ask, step_type="planning", max_new_tokens=8).record
    assert lossless.mode == "lossless" and lossless.draft_program == "0-5" and lossless.budget == 1.0
    routed = llama_model.generate(ask, step_type="planning", mode="routed", max_new_tokens=8).record
    assert routed.budget == 0.5 and routed.program == str(llama_model.router.program_for(0.5))
    given = llama_model.generate(ask, step_type="planning", budget=0.5, max_new_tokens=8).record
    assert given.draft_program == str(llama_model.router.program_for(0.5))  # the caller's budget wins
    with pytest.raises(PolicyError, match="budget for planning must be in"):
        DepthPolicy.coerce({"draft_budgets": {"planning": 1.5}})


# -- sampling: the distribution is full depth's -------------------------------------------------------


def _chi2_critical(df: int, z: float = 3.72) -> float:
    """Chi-square quantile (Wilson-Hilferty); z=3.72 is a one-sided 1e-4 level."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


def _chi2(samples: list[int], probs: torch.Tensor) -> tuple[float, int]:
    """Pearson's statistic of ``samples`` against ``probs``; bins expecting < 5 are pooled."""
    n = len(samples)
    counts = Counter(samples)
    big = [t for t in range(len(probs)) if n * float(probs[t]) >= 5]
    rest_p = 1 - sum(float(probs[t]) for t in big)
    observed = [counts[t] for t in big] + [n - sum(counts[t] for t in big)]
    expected = [n * float(probs[t]) for t in big] + [n * rest_p]
    stat = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True) if e > 0)
    return stat, len(big)


@torch.inference_mode()
def _exact_marginals(model, prompt, sampler, steps):
    """Exact distributions of reply tokens 2..steps+1 under full-depth sampling (by enumeration)."""
    full = model.program(None)
    cache = ProgramKVCache()
    first = executor.prefill(model.parts, cache, full, torch.tensor([prompt]))
    first_probs = sampler.probs(first)[0]
    frontier = {(t,): float(first_probs[t]) for t in first_probs.nonzero().flatten().tolist()}
    marginals = []
    for _ in range(steps):
        nxt: dict[tuple[int, ...], float] = {}
        marginal = torch.zeros_like(first_probs)
        for context, weight in frontier.items():
            cache.crop(len(prompt))
            logits = executor.forward(model.parts, cache, full, torch.tensor([list(context)]), len(prompt), True)
            probs = sampler.probs(logits[0, -1:])[0]
            marginal += weight * probs
            for t in probs.nonzero().flatten().tolist():
                nxt[(*context, t)] = weight * float(probs[t])
        marginals.append(marginal)
        frontier = nxt
    return marginals


def test_sampling_matches_the_full_depth_distribution(llama_model):
    """Tokens 2 and 3 (the first speculative ones) follow full depth's distribution, not the draft's.

    The reference is exact (enumerated with the full program), so only the lossless samples are
    random. Token 2 exercises acceptance and the residual draw, token 3 the bonus draw.
    """
    # top_k=5 keeps the bins well filled at this n; with this draft, replacing the residual draw by a
    # draw from p (a classic mistake) shifts token 2 by a chi-square noncentrality of about 0.15 n.
    options = {"temperature": 1.0, "top_k": 5, "max_new_tokens": 3, "ignore_eos": True}
    prompt = llama_model.encode("Call the weather tool for Paris.")
    exact = _exact_marginals(llama_model, prompt, Sampler(temperature=1.0, top_k=5, seed=0), steps=2)
    n, draft = 600, "0-2,5"
    lossless = [llama_model.generate_ids(prompt, draft, mode="lossless", seed=s, **options).token_ids for s in range(n)]
    routed = [llama_model.generate_ids(prompt, draft, seed=s, **options).token_ids for s in range(n)]
    for position, probs in zip((1, 2), exact, strict=True):
        stat, df = _chi2([ids[position] for ids in lossless], probs)
        assert df >= 10 and stat < _chi2_critical(df), (position, stat, df)
        # Negative control: plain routed sampling with the same draft is clearly another distribution,
        # so the test has the power to catch a wrong acceptance rule.
        control, df = _chi2([ids[position] for ids in routed], probs)
        assert control > 1.5 * _chi2_critical(df), (position, control, df)


def test_sampling_is_reproducible_with_a_seed(llama_model):
    options = {"program": "0-2,5", "mode": "lossless", "temperature": 0.9, "top_p": 0.9, "max_new_tokens": 24}
    a = llama_model.generate("Tell me a story.", seed=3, **options)
    b = llama_model.generate("Tell me a story.", seed=3, **options)
    c = llama_model.generate("Tell me a story.", seed=4, **options)
    assert a.token_ids == b.token_ids != c.token_ids and a.record.seed == 3
    assert a.record.drafted_tokens > 0


# -- choosing the mode -------------------------------------------------------------------------------


@pytest.fixture
def policy_model(tmp_path, monkeypatch) -> RoutedModel:
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path))
    hf, tok = tiny_model("llama", n_layers=6)
    policy = {"budgets": {"tool_call": 0.5, "planning": 0.7}, "modes": {"tool_call": "lossless"}}
    return RoutedModel(hf, tok, "tiny6-policy", policy=policy)


def test_policy_picks_lossless_per_step_type_and_explicit_mode_wins(policy_model):
    ask = [{"role": "user", "content": "Weather in Paris?"}]
    tool = policy_model.generate(ask, tools=[WEATHER], max_new_tokens=16)
    full = policy_model.generate(ask, tools=[WEATHER], budget=1.0, max_new_tokens=16)
    assert tool.record.step_type == "tool_call" and tool.record.mode == "lossless"
    assert tool.record.draft_program == str(policy_model.router.program_for(0.5)) and tool.record.budget == 0.5
    assert tool.token_ids == full.token_ids
    routed = policy_model.generate(ask, tools=[WEATHER], mode="routed", max_new_tokens=16)
    assert routed.record.mode == "routed" and routed.record.program == tool.record.draft_program
    plan = policy_model.generate("Plan a trip", step_type="planning", max_new_tokens=4)
    assert plan.record.mode == "routed"
    forced = policy_model.generate("Plan a trip", step_type="planning", mode="lossless", max_new_tokens=4)
    assert forced.record.mode == "lossless" and forced.record.draft_program == plan.record.program


def test_bad_modes_are_clear_errors(llama_model):
    with pytest.raises(GenerationError, match="'mode': input should be 'routed' or 'lossless', got 'fast'"):
        llama_model.generate("hi", mode="fast")
    with pytest.raises(GenerationError, match="'mode': input should be 'routed' or 'lossless'"):
        llama_model.generate_ids([5, 6, 7], mode="")
    with pytest.raises(PolicyError, match="modes"):
        DepthPolicy.from_dict({"modes": {"tool_call": "fast"}})
    assert DepthPolicy().mode_for("tool_call") == "routed"


def test_eval_runs_lossless_and_it_matches_full_depth(policy_model):
    steps = [
        # 64 tokens: the byte-level tiny tokenizer spends ~60 forced tokens on the call's opening.
        {"id": "weather", "step_type": "tool_call", "max_new_tokens": 64, "tools": [WEATHER],
         "messages": [{"role": "user", "content": "Weather in Oslo?"}]},
        {"id": "plan", "step_type": "planning", "max_new_tokens": 12,
         "messages": [{"role": "user", "content": "Plan a trip to Rome in three steps."}]},
    ]  # fmt: skip
    report = evaluate(policy_model, steps, modes=("full", "lossless"))
    assert list(report["modes"]) == ["full", "lossless"] and not report["problems"]
    rows = report["modes"]["lossless"]["steps"]
    assert [r["id"] for r in rows] == ["weather", "plan"]
    assert all(r["matches_full"] and r["forced_agreement"] == 1.0 for r in rows)
    assert all(r["draft_program"] and r["acceptance_rate"] is not None for r in rows)
    assert report["modes"]["lossless"]["summary"]["all"]["matches_full"] == 1.0


def test_benchmark_measures_lossless_and_early_exit_on_the_same_steps(policy_model, tmp_path):
    import json

    from agentroute.bench.lossless import markdown
    from agentroute.bench.lossless import run as bench_run

    steps = [
        {"id": f"{kind}-{i}", "step_type": kind, "max_new_tokens": 10, "tools": [WEATHER] * (kind == "tool_call"),
         **({"tool_choice": "required"} if kind == "tool_call" else {}),
         "messages": [{"role": "user", "content": f"{PROMPTS[i]} ({kind})"}]}
        for kind in ("planning", "tool_call", "reasoning") for i in range(3)
    ]  # fmt: skip
    path = tmp_path / "test.jsonl"
    path.write_text("\n".join(json.dumps(s) for s in steps) + "\n")
    report = json.loads(json.dumps(bench_run(policy_model, path, per_type=2, repeats=2, max_new_tokens=8)))
    rows = report["steps"]
    # First two of each measured type, in file order; reasoning is not measured.
    assert [r["id"] for r in rows] == ["tool_call-0", "tool_call-1", "planning-0", "planning-1"]
    for row in rows:
        assert row["lossless identical"] and row["full identical"], row  # exact by construction, whatever the speed
        assert row["draft_layers"] < policy_model.n_layers and row["draft_program"]
        assert all(0 < n <= 8 for n in row["tokens"].values())
        assert row["early exit speedup"] is None or row["early exit speedup"] > 0
    assert rows[0]["draft_layers"] == len(policy_model.router.program_for(0.5))  # the tool-call budget's draft
    assert rows[0]["early_exit_layers"] == round(
        policy_model.policy.budget_for(StepType.TOOL_CALL) * policy_model.n_layers
    )
    assert rows[0]["draft_weights"] == "int8"  # float32 tiny weights on a CPU: int8 draft copies
    summary = report["summary"]
    assert set(summary) == {"tool_call", "planning"} and summary["tool_call"]["lossless identical"] == 1.0
    table = markdown(report)
    # A call opens with forced tokens; the first reply token comes from the prefill's logits either way.
    assert rows[0]["forced_tokens"] == 7 and rows[2]["forced_tokens"] == 0
    assert summary["tool_call"]["forced_fraction"] == 7 / 8 and summary["planning"]["forced_fraction"] == 0.0
    assert "| tool_call | 2 | 88% |" in table and "| planning | 2 | 0% |" in table and "early exit vs stock" in table
    with pytest.raises(ValueError, match="repeats must be at least 1"):
        bench_run(policy_model, path, repeats=0)


def test_draft_length_follows_acceptance_and_pass_costs():
    settings = speculative.SpeculativeSettings()
    gpu = lambda draft: speculative.PassCosts(draft, 0.0, 1.0, 0.0)  # noqa: E731  (a parallel pass costs one step)
    best = lambda acceptance, costs, forced=0.0: REAL_BEST_K(settings, acceptance, costs, forced)  # noqa: E731
    assert best(0.6, gpu(0.68)) == 0  # a poor draft does not pay: plain full-depth passes
    assert best(0.75, gpu(0.68)) == 1 and best(0.9, gpu(0.68)) == 2
    assert best(0.95, gpu(0.3)) > best(0.95, gpu(0.68)) and best(0.999, gpu(0.05)) == settings.k_max
    assert best(0.99, gpu(1.1)) == 0  # a looping draft that costs more than full depth never drafts
    # Where every verified token costs time (a CPU), shorter rounds pay; forced tokens cost more still.
    cpu = speculative.PassCosts(0.3, 0.0, 1.0, 0.15)
    assert 0 < best(0.9, cpu) < best(0.9, gpu(0.3)) and best(0.9, cpu, forced=3.0) < best(0.9, cpu)
    assert cpu.round_seconds(2, 1.0) == pytest.approx(2 * 0.3 + 1.0 + 0.15 * 3 * 2)
    assert REAL_BEST_K(speculative.SpeculativeSettings(k_max=2), 0.999, gpu(0.05)) == 2
    with pytest.raises(GenerationError, match="fixed_k must be at least 1"):
        speculative.SpeculativeSettings(fixed_k=0)
    with pytest.raises(GenerationError, match="prior_acceptance"):
        speculative.SpeculativeSettings(prior_acceptance=1.0)


def test_pass_costs_are_timed_on_a_scratch_cache(family6):
    programs = speculative.Programs(draft=family6.program("0-2,2,3-5"), verifier=family6.program(None))
    prompt = family6.encode(PROMPTS[0])
    with torch.inference_mode():
        costs = speculative.measure_costs(family6.parts, family6.parts, programs, prompt, k_max=4, repeats=1)
    assert costs.draft_fixed > 0 and costs.verify_fixed > 0
    assert costs.draft_per_token >= 0 and costs.verify_per_token >= 0


def test_lossless_with_a_draft_that_does_not_pay_is_plain_full_depth(llama_model, monkeypatch):
    monkeypatch.setattr(speculative.SpeculativeSettings, "best_k", REAL_BEST_K)
    # Timings of a tiny model are noise; give the cost model a draft dearer than full depth.
    monkeypatch.setattr(speculative, "measure_costs", lambda *args, **kw: speculative.PassCosts(1.1, 0.0, 1.0, 0.0))
    monkeypatch.setattr(llama_model, "draft_cache", DraftCache())
    ask = "Plan a three-step trip to Rome."
    full = llama_model.generate(ask, max_new_tokens=40)
    costly = llama_model.generate(ask, program="0-2,2,3-5", mode="lossless", max_new_tokens=40)
    assert costly.token_ids == full.token_ids
    # 7 layer runs per draft token against 6 for full depth: never worth drafting, except the
    # one-token probe after probe_every rounds.
    probes = (costly.record.completion_tokens - 1) // (llama_model.speculative.probe_every + 1)
    assert costly.record.drafted_tokens <= probes


def test_warm_up_builds_the_grammar_view_draft_copies_and_pass_times_once(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path))  # calibration cache of the budget's program
    policy = {"budgets": {"tool_call": 0.5}, "modes": {"tool_call": "lossless"}}
    model = RoutedModel(*tiny_model("llama", 4), name="tiny", policy=policy)
    assert model.warm_up() is model
    grammar, drafts, costs = model._grammar_tokenizer, dict(model.draft_cache.parts), dict(model.draft_cache.costs)
    draft = model.router.program_for(0.5, StepType.TOOL_CALL)
    assert grammar is not None and list(drafts) == [model.speculative.draft_weights]
    assert list(costs) == [(model.speculative.draft_weights, str(draft))]
    model.warm_up()  # idempotent: nothing is rebuilt or timed again
    assert model._grammar_tokenizer is grammar
    assert model.draft_cache.parts == drafts and model.draft_cache.costs == costs
    # A lossless step drafting with that program reuses the timed passes instead of timing on its clock.
    step = model.generate("hi", step_type="tool_call", max_new_tokens=4)
    assert step.record.draft_program == str(draft) and model.draft_cache.costs == costs
    plain = RoutedModel(*tiny_model("llama", 4), name="tiny")  # no lossless step type: no drafts
    assert not plain.warm_up().draft_cache.parts and not plain.draft_cache.costs


def test_lookup_copies_only_what_its_verify_rows_pay_for():
    settings = speculative.SpeculativeSettings()
    cheap_rows = speculative.PassCosts(1.0, 0.0, 1.0, 0.01)  # a GPU-like verify: rows nearly free
    dear_rows = speculative.PassCosts(1.0, 0.0, 1.0, 0.5)  # each row half a pass (int4 blocks, big chunks)
    assert settings.best_copy(0.9, 10, cheap_rows) == 10
    assert settings.best_copy(0.2, 10, dear_rows) == 0  # a plain pass yields more per second
    assert 0 < settings.best_copy(0.8, 10, dear_rows) < 10
    # n = 0 is a plain pass: one token for one verify of one row.
    assert settings.lookup_rate(0.5, 0, dear_rows) == pytest.approx(1 / 1.5)


def test_timed_chunk_rows_replace_the_straight_line():
    settings = speculative.SpeculativeSettings()
    # int4-like: rows cost in blocks of 4 (2-4 rows nearly free, a fifth row starts a new block).
    blocks = (1.0, 1.05, 1.1, 1.15, 1.75, 1.8, 1.85, 1.9, 2.5)
    fixed, per_token = 0.8125, 0.1875  # the line through 1 and 9 rows
    line = speculative.PassCosts(fixed, 0.0, fixed, per_token)
    table = speculative.PassCosts(fixed, 0.0, fixed, per_token, draft_rows=blocks, verify_rows=blocks)
    assert table.verify_seconds(4) == pytest.approx(1.15) and line.verify_seconds(4) == pytest.approx(1.5625)
    assert table.verify_seconds(2.5) == pytest.approx(1.075)  # between two timed chunks
    assert table.verify_seconds(11) == pytest.approx(2.5 + 2 * per_token)  # past the longest: the line's slope
    assert table.verify_seconds(0.5) == 1.0
    # A copy that fills the block pays under the table; the line trims it, or runs past the block.
    for acceptance in (0.5, 0.6, 0.7, 0.8):
        assert settings.best_copy(acceptance, 10, table) == 3
    assert settings.best_copy(0.5, 10, line) == 2 and settings.best_copy(0.8, 10, line) == 4


def test_verify_passes_are_timed_once_and_shared_by_draft_programs(family6):
    cache = DraftCache()
    settings = speculative.SpeculativeSettings()
    prompt = family6.encode(PROMPTS[0])
    full = family6.program(None)
    with torch.inference_mode():
        first = cache.pass_costs(
            family6.parts, family6.parts, speculative.Programs(family6.program("0-2"), full), prompt, settings
        )
        second = cache.pass_costs(family6.parts, family6.parts, speculative.Programs(full, full), prompt, settings)
    assert len(first.verify_rows) == settings.k_max + 1 and len(first.draft_rows) == settings.k_max + 1
    assert second.verify_rows is first.verify_rows  # not timed again
    assert second.draft_rows is second.verify_rows  # a full-depth draft on the same weights is never run: no timing
