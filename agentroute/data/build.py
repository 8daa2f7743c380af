"""Generate the splits, the length-matched pairs and the manifest, and write them to a directory."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agentroute.data import phrasing as ph
from agentroute.data import schema_styles as styles
from agentroute.data import splits as sp
from agentroute.data.catalogue import catalogue, domains
from agentroute.data.question_calls import question_call_pairs
from agentroute.data.text_steps import PLANNING_TOKENS, REASONING_TOKENS, planning, reasoning
from agentroute.data.tool_steps import (
    DECLINE_TOKENS,
    FINAL_ANSWER_TOKENS,
    Pool,
    final_answer,
    multi_turn_call,
    no_tool_fits,
    parallel_calls,
    single_call,
    tool_call_tokens,
)
from agentroute.errors import AgentRouteError
from agentroute.steps.tool_turns import render_tool_messages
from agentroute.steps.tools import tool_block

DATA_VERSION = "agentsteps-v4"
# v4 teaches the skills v3 lacked: no tool fits (a text reply; ~11% of all rows), several calls in
# one reply (same tool or different tools; ~15%), 4-12 tools with near misses from the same domain,
# one offered tool alone ("simple"), real-world schemas (API-style names, long descriptions, unused
# optional parameters), masked names (train only), dates relative to a date the system prompt
# gives, numbers written "329,000" or "12k". Its steps differ from v3's: results do not compare.
SEED_NAMESPACE = "agentsteps-v4"
STEP_MIX = {"tool_call": 0.55, "planning": 0.15, "reasoning": 0.15, "final_answer": 0.15}
TOOL_CALL_SHAPES = {"single": 0.37, "parallel": 0.27, "multi_turn": 0.16, "no_tool_fits": 0.20}
TODAY_SHARE = 0.4  # steps whose system prompt states today's date (dates may then be relative)
REAL_WORLD_SHARE = 0.3  # tool-call steps rewritten with real-API-style schemas (every split)
MASKED_SHARE = 0.15  # further tool-call steps with masked names (train only: a training recipe)
LENGTH_TOLERANCE = 0.10
_BUILDERS: dict[str, Callable[[random.Random, Pool], dict[str, Any]]] = {
    "single": single_call,
    "parallel": parallel_calls,
    "multi_turn": multi_turn_call,
    "no_tool_fits": no_tool_fits,
    "planning": planning,
    "reasoning": reasoning,
    "final_answer": final_answer,
}


class DataBuildError(AgentRouteError, ValueError):
    """The data cannot be built as asked (bad sizes, unwritable directory)."""


@dataclass(frozen=True)
class BuildConfig:
    """What to generate; the files depend on these fields only."""

    seed: int = 0
    train: int = 6000  # v4: ~3300 tool-call steps, enough for the default pack's adapter and router
    dev: int = 200
    test: int = 600  # 30+ steps per tool-call category
    length_matched: int = 100  # tool-call/planning pairs in test_length_matched.jsonl; 0 writes no file
    # The same pairing from the train pool, for the router's step-type head: with the tools and the
    # prompt length equal, only the request tells the two types apart. 0 writes no file.
    train_length_matched: int = 200
    # Pairs of a question an offered tool answers (a tool call) and one none answers (reasoning), for
    # the step-type head (``question_calls``). 0 writes no file.
    train_question_calls: int = 200

    def command(self) -> str:
        return (
            f"agentroute data build --seed {self.seed} --train {self.train} --dev {self.dev} --test {self.test} "
            f"--length-matched {self.length_matched} --train-length-matched {self.train_length_matched} "
            f"--train-question-calls {self.train_question_calls} --out DIR"
        )


def allocate(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Split ``total`` by ``weights`` into whole counts (largest remainder; ties go to the earlier key)."""
    exact = {k: total * w / sum(weights.values()) for k, w in weights.items()}
    counts = {k: int(x) for k, x in exact.items()}
    order = sorted(exact, key=lambda k: (-(exact[k] - counts[k]), list(weights).index(k)))
    for k in order[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def generate_split(split: str, size: int, seed: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """The steps of one split (ids ``<split>-00000`` ...) and how many of each shape it has.

    Each split has its own generator, so changing one split's size leaves the others unchanged.
    """
    rng = random.Random(f"{SEED_NAMESPACE}:{seed}:{split}")
    pool = sp.pools()[split]
    types = allocate(size, STEP_MIX)
    shapes = {**allocate(types.pop("tool_call"), TOOL_CALL_SHAPES), **types}
    order = [shape for shape, count in shapes.items() for _ in range(count)]
    rng.shuffle(order)
    known = {t.name: (t.domain, t.action.verbs) for t in catalogue()}
    steps = []
    for i, shape in enumerate(order):
        today = ph.random_date(rng) if rng.random() < TODAY_SHARE else None
        with ph.today_is(today) if today else nullcontext():
            built = _BUILDERS[shape](rng, pool)
        if today:
            _state_date(built, today)
        steps.append({"id": f"{split}-{i:05d}", **_styled(rng, built, split, known)})
    return steps, shapes


def _state_date(step: dict[str, Any], today) -> None:
    """Append today's date to the step's system message (one is added when the step has none)."""
    messages = step["messages"]
    if messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": ""})
    messages[0]["content"] = f"{messages[0]['content']} {ph.say_today(today)}".strip()


def _styled(rng: random.Random, step: dict[str, Any], split: str, known) -> dict[str, Any]:
    """A tool-call step rewritten with real-world-style schemas (``REAL_WORLD_SHARE``) or, in train,
    masked names (``MASKED_SHARE``); ``schema_style`` records which. A restyled single call is
    the ``real_world`` category."""
    draw = rng.random()
    if step["step_type"] != "tool_call" or not step.get("tools"):
        return {**step, "schema_style": "catalogue"}
    if draw < REAL_WORLD_SHARE:
        out = styles.real_world(rng, step, known)
        if out["category"] in ("simple", "multiple"):
            out["category"] = "real_world"
        return _budgeted({**out, "schema_style": "real_world"})
    if split == "train" and draw < REAL_WORLD_SHARE + MASKED_SHARE:
        return _budgeted({**styles.masked(rng, step), "schema_style": "masked"})
    return {**step, "schema_style": "catalogue"}


def _budgeted(step: dict[str, Any]) -> dict[str, Any]:
    """``max_new_tokens`` recomputed for the renamed calls (API-style names are longer)."""
    calls = step["expected"]["tool_calls"]
    return {**step, "max_new_tokens": tool_call_tokens(calls)} if calls else step


def prompt_chars(step: Mapping[str, Any], blocks: dict[tuple[str, ...], int] | None = None) -> int:
    """Characters of the prompt text the model reads: rendered messages and the tool block.

    Equal to the rendered messages' total length when the step has a system message (the tool
    block is appended to it after a blank line). ``blocks`` caches tool-block lengths by tool names.
    """
    rendered = render_tool_messages(step["messages"])
    total = sum(len(m["content"]) for m in rendered)
    tools = step.get("tools") or []
    if tools:
        key = tuple(t["name"] for t in tools)
        if blocks is None or key not in blocks:
            length = len(tool_block(tools))
            if blocks is None:
                return total + 2 + length
            blocks[key] = length
        total += 2 + blocks[key]
    return total


def length_matched_pairs(pairs: int, seed: int, split: str = "test") -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Pairs of a tool-call step and a planning step of ``split``'s pool offering the same tools,
    prompt lengths within 10%.

    Ids are ``lm-00000-tool_call`` and ``lm-00000-planning`` (``lm-train-00000-...`` for another
    split): a pair shares its id prefix.
    """
    rng = random.Random(f"{SEED_NAMESPACE}:{seed}:{split}_length_matched")
    pool = sp.pools()[split]
    prefix = "lm" if split == "test" else f"lm-{split}"
    out: list[dict[str, Any]] = []
    gaps: list[float] = []
    lengths: dict[str, list[int]] = {"tool_call": [], "planning": []}
    blocks: dict[tuple[str, ...], int] = {}
    by_name = {t.name: t for t in pool.offered}
    for _ in range(100 * pairs):
        if len(gaps) == pairs:
            break
        call = single_call(rng, pool)
        tools = [by_name[spec["name"]] for spec in call["tools"]]
        a = prompt_chars(call, blocks)
        # Alternate which side is longer, so that neither type is longer on average.
        longer = 1 if len(gaps) % 2 else -1
        fits = []
        for subtasks in (0, 2, 3):  # an open goal is short, listed sub-tasks make it longer
            plan = planning(rng, pool, call["domain"], tools, subtasks)
            b = prompt_chars(plan, blocks)
            if abs(a - b) / max(a, b) <= LENGTH_TOLERANCE and (b - a) * longer >= 0:
                fits.append((abs(a - b) / max(a, b), b, plan))
        if not fits:
            continue
        gap, b, plan = min(fits, key=lambda fit: fit[0])
        number = len(gaps)
        out += [
            {"id": f"{prefix}-{number:05d}-tool_call", **call, "schema_style": "catalogue"},
            {"id": f"{prefix}-{number:05d}-planning", **plan, "schema_style": "catalogue"},
        ]
        gaps.append(gap)
        lengths["tool_call"].append(a)
        lengths["planning"].append(b)
    if len(gaps) < pairs:
        raise DataBuildError(f"found only {len(gaps)} of {pairs} length-matched pairs; ask for fewer")
    stats = {
        "pairs": pairs,
        "tolerance": LENGTH_TOLERANCE,
        "max_relative_gap": round(max(gaps, default=0.0), 4),
        "mean_prompt_chars": {k: round(sum(v) / len(v), 1) if v else None for k, v in lengths.items()},
        "length": "characters of the rendered prompt (messages after agentroute.steps.tools.render_tool_messages, "
        "tool block included, chat template excluded); relative gap = |a - b| / max(a, b)",
        "pairing": "each pair offers the same tools in the same order; ids lm-NNNNN-tool_call and lm-NNNNN-planning; "
        "the longer prompt alternates between the two types from pair to pair",
        "source": f"{split} domains and tools only",
    }
    return out, stats


def _jsonl(steps: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(s, ensure_ascii=False) + "\n" for s in steps).encode("utf-8")


def _split_stats(steps: list[dict[str, Any]], shapes: dict[str, int]) -> dict[str, Any]:
    offered = sorted({t["name"] for s in steps for t in s.get("tools", [])})
    expected = sorted({c["name"] for s in steps for c in s.get("expected", {}).get("tool_calls", [])})
    types = Counter(s["step_type"] for s in steps)
    return {
        "count": len(steps),
        "step_types": {k: types.get(k, 0) for k in STEP_MIX},
        "shapes": dict(shapes),
        "categories": dict(sorted(Counter(s["category"] for s in steps).items())),
        "schema_styles": dict(sorted(Counter(s["schema_style"] for s in steps).items())),
        "domains": sorted({s["domain"] for s in steps}),
        "tools_offered": offered,
        "tools_expected": expected,
    }


def build_dataset(out_dir: str | Path, config: BuildConfig = BuildConfig()) -> dict[str, Any]:
    """Write train/dev/test JSONL files, optionally test_length_matched.jsonl, train_length_matched.jsonl and
    train_question_calls.jsonl, and manifest.json; return the manifest.

    The output depends only on ``config`` (not on the directory, the clock or the process), so the
    same config writes byte-identical files.
    """
    for name in ("train", "dev", "test", "length_matched", "train_length_matched", "train_question_calls"):
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise DataBuildError(f"{name} must be a whole number >= 0, got {value!r}")
    files: dict[str, bytes] = {}
    split_stats: dict[str, Any] = {}
    for split in sp.SPLITS:
        steps, shapes = generate_split(split, getattr(config, split), config.seed)
        files[f"{split}.jsonl"] = _jsonl(steps)
        split_stats[split] = {"file": f"{split}.jsonl", **_split_stats(steps, shapes)}
    manifest: dict[str, Any] = {
        "version": DATA_VERSION,
        "seed": config.seed,
        "config": asdict(config),
        "command": config.command(),
        "command_note": "the files do not depend on --out: any DIR gets the same bytes",
        "random": f"random.Random seeded with the string '{SEED_NAMESPACE}:<seed>:<split>' per split",
        "step_mix": STEP_MIX,
        "tool_call_shapes": TOOL_CALL_SHAPES,
        "shares": {"today_stated": TODAY_SHARE, "real_world": REAL_WORLD_SHARE, "masked_train": MASKED_SHARE},
        "max_new_tokens": {
            "tool_call": "max(64, a multiple of 32 >= characters of the expected calls / 2 + 8); "
            f"{DECLINE_TOKENS} where no tool fits",
            "planning": PLANNING_TOKENS,
            "reasoning": REASONING_TOKENS,
            "final_answer": f"{FINAL_ANSWER_TOKENS} per tool result answered",
        },
        "catalogue": {"domains": len(domains()), "tools": len(catalogue())},
        "holdout": sp.holdout_description(),
        "splits": split_stats,
    }
    if config.length_matched:
        steps, stats = length_matched_pairs(config.length_matched, config.seed)
        files["test_length_matched.jsonl"] = _jsonl(steps)
        manifest["length_matched"] = {"file": "test_length_matched.jsonl", **stats}
    if config.train_length_matched:
        steps, stats = length_matched_pairs(config.train_length_matched, config.seed, "train")
        files["train_length_matched.jsonl"] = _jsonl(steps)
        manifest["train_length_matched"] = {"file": "train_length_matched.jsonl", **stats}
    if config.train_question_calls:
        steps, stats = question_call_pairs(config.train_question_calls, config.seed, SEED_NAMESPACE)
        files["train_question_calls.jsonl"] = _jsonl(steps)
        manifest["train_question_calls"] = {"file": "train_question_calls.jsonl", **stats}
    manifest["files"] = {
        name: {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)} for name, data in files.items()
    }
    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
        (out / "manifest.json").write_text(
            json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    except OSError as exc:
        raise DataBuildError(f"cannot write the data to {out}: {exc.strerror or exc}") from exc
    return manifest
