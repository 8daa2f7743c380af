"""How a pack types an agent's first step: ``python benchmarks/first_steps.py --pack PACK [--pack ...]``.

For the ReAct demo's five first prompts (its system prompt, its four tools as LangChain offers them,
the question) and for test-split steps that offer tools and end with the user's message: the
router's step type, its P(tool call), and the no-tool-fits head's P(no tool fits) against the
pack's threshold. A pack whose router types the data right can still send the demo's questions to
words (docs/route-packs.md, "Why it is not the default"). Run from the checkout root. Writes
benchmarks/results/first-steps.json.
"""

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, "demos")  # the demo's own tools, tasks and system prompt

from agent_tools import TASKS, TOOLS  # noqa: E402
from langchain_layerroute.request import tool_specs  # noqa: E402
from react_agent import SYSTEM  # noqa: E402

import agentroute  # noqa: E402
from agentroute.bench.common import RESULTS  # noqa: E402
from agentroute.steps.prompt_states import prompt_hidden  # noqa: E402


def kind(step: dict) -> str:
    if step["step_type"] != "tool_call":
        return step["step_type"]
    return "no_tool_fits" if step.get("category") == "no_tool_fits" else "tool_call"


def probe(model, messages: list[dict], tools: list[dict]) -> tuple[str, float, float | None]:
    """(router's type, its P(tool call), P(no tool fits) or None without a head)."""
    pack = model.pack
    ids = model.encode(messages, tools)
    types = [t.value for t in pack.manifest.router.step_types]
    with torch.inference_mode():
        logits, _ = pack.router(pack.features(model, ids)[None], None)
    p_types = torch.softmax(logits.float(), -1)[0]
    no_fit = None
    if pack.decline_head is not None:
        no_fit = pack.decline_head.probability(prompt_hidden(model.parts, ids, pack.manifest.decline.layer)[-1])
    return types[int(p_types.argmax())], float(p_types[types.index("tool_call")]), no_fit


def run(pack: str, steps: list[dict]) -> dict:
    model = agentroute.load(pack=pack)
    threshold = model.pack.manifest.decline.threshold if model.pack.manifest.decline else None
    demo_tools = tool_specs(TOOLS)  # the tools as ChatLayerRoute hands them to the model in the demo
    demo = []
    for task in TASKS:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": task["question"]}]
        typed, p_call, no_fit = probe(model, messages, demo_tools)
        demo.append({"question": task["question"], "type": typed, "p_tool_call": round(p_call, 3),
                     "p_no_tool_fits": None if no_fit is None else round(no_fit, 3)})  # fmt: skip
    test: dict[str, Counter] = {}
    for step in steps:
        typed, _, no_fit = probe(model, step["messages"], step["tools"])
        counts = test.setdefault(kind(step), Counter())
        counts["steps"] += 1
        counts["typed_tool_call"] += typed == "tool_call"
        counts["head_no_tool_fits"] += no_fit is not None and no_fit >= threshold
    return {"pack": pack, "threshold": threshold, "demo": demo, "test": {k: dict(v) for k, v in test.items()}}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", action="append", required=True, help="'default' or a pack folder (repeatable)")
    parser.add_argument("--data", default="data/agentsteps", help="a data directory with test.jsonl")
    parser.add_argument("--per-kind", type=int, default=40, help="test steps per kind (default %(default)s)")
    args = parser.parse_args()
    steps, taken = [], Counter()
    for line in (Path(args.data) / "test.jsonl").read_text().splitlines():
        step = json.loads(line)
        if step.get("tools") and step["messages"][-1]["role"] == "user" and taken[kind(step)] < args.per_kind:
            taken[kind(step)] += 1
            steps.append(step)
    results = [run(pack, steps) for pack in args.pack]
    (RESULTS / "first-steps.json").write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(results, indent=1))
