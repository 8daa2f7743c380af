"""Whether a trained pack beats the shipped one: ``python benchmarks/pack_gate.py --pack DIR [--test]``.

Runs the checks a pack must pass before it replaces the default, one after the other (one CPU-heavy
job at a time), each once: a stage whose JSON is already in ``--out`` is skipped, so an interrupted
gate resumes where it stopped. The stages:

* ``dev``: tool calls of the dev split at full depth, per category (``agentroute eval``, ~3 min);
* ``types``: step typing on the dev split (``agentroute eval --step-types``);
* ``demo``: the ReAct demo's five tasks (``demos/react_agent.py --no-compare-full``);
* ``declining``: hand-written requests over generic tools (``benchmarks/declining.py``'s run);
* ``test`` (with ``--test``, ~10 min): the test split's tool calls, reported only after the pack
  has been chosen on dev, so that the choice never looks at test.

Then one table: the candidate beside the shipped pack's stored results. Nothing under
benchmarks/results is overwritten (the stages write to ``--out``).
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

from agentroute.bench.common import RESULTS

CLI = [sys.executable, "-m", "agentroute"]
# The shipped pack's stored results, produced by the same commands (see docs/route-packs.md).
SHIPPED = {
    "dev": RESULTS / "eval_default_dev_tools.json",
    "test": RESULTS / "eval_default_test_tools_all.json",
    "declining": RESULTS / "declining.json",
    "demo": RESULTS / "episodes.json",  # `agentroute bench --suite episodes`: the demo as shipped
}
CATEGORIES = ("simple", "multiple", "parallel", "real_world", "multi_turn", "no_tool_fits", "all")


def stage_commands(pack: str, data: Path, out: Path) -> dict[str, list[str]]:
    def evaluate(split: str, *options: str) -> list[str]:
        return [*CLI, "eval", str(data / f"{split}.jsonl"), "--pack", pack, *options]

    tools = ("--modes", "full", "--per-type", "tool_call=400")
    return {
        "dev": evaluate("dev", *tools, "--json", str(out / "dev.json")),
        "types": evaluate("dev", "--step-types", "--json", str(out / "types.json")),
        "demo": [sys.executable, "demos/react_agent.py", "--pack", pack, "--no-compare-full"]
        + ["--json", str(out / "demo.json")],
        "test": evaluate("test", *tools, "--json", str(out / "test.json")),
    }


def run_declining(pack: str, out: Path) -> None:
    from agentroute.bench.declining import run

    results, _ = run(pack=pack)
    (out / "declining.json").write_text(json.dumps(results, indent=2) + "\n")


def accuracies(path: Path) -> dict[str, str]:
    if not path.is_file():
        return {}
    categories = json.loads(path.read_text())["modes"]["full"]["categories"]
    return {c: f"{v['accuracy']:.0%} of {v['n']}" for c, v in categories.items() if "accuracy" in v}


def declines(path: Path) -> str:
    if not path.is_file():
        return "-"
    s = json.loads(path.read_text())["summary"]
    right = f"{s['declined_when_no_tool_fits']}/{s['no_tool_fits']}"
    return f"{right} right, {s['declined_when_a_tool_fits']}/{s['a_tool_fits']} wrong"


def demo_score(episodes: list[dict]) -> str:
    episode = episodes[0]  # the run under the pack's own policy comes first
    return f"{episode['correct']}/{episode['tasks']}"


def report(out: Path) -> str:
    rows = ["| check | shipped | candidate |", "|---|---|---|"]
    for split in ("dev", "test"):
        shipped, candidate = accuracies(SHIPPED[split]), accuracies(out / f"{split}.json")
        if candidate:
            rows += [f"| {split} {c} | {shipped.get(c, '-')} | {candidate.get(c, '-')} |" for c in CATEGORIES]
    if (out / "types.json").is_file():
        rows.append(f"| dev step typing | - | {json.loads((out / 'types.json').read_text())['accuracy']:.1%} |")
    if (out / "demo.json").is_file():
        shipped = demo_score(json.loads(SHIPPED["demo"].read_text())["runs"]) if SHIPPED["demo"].is_file() else "-"
        rows.append(f"| demo tasks right | {shipped} | {demo_score(json.loads((out / 'demo.json').read_text()))} |")
    rows.append(f"| declining (hand-written) | {declines(SHIPPED['declining'])} | {declines(out / 'declining.json')} |")
    return "\n".join(rows)


def gate(pack: str, data: Path, out: Path, with_test: bool = False) -> str:
    """Run the stages not yet in ``out`` (in order), then write and return the table."""
    out.mkdir(parents=True, exist_ok=True)
    commands = stage_commands(pack, data, out)
    for name in ("dev", "types", "demo", "declining", *(("test",) if with_test else ())):
        if (out / f"{name}.json").is_file():
            print(f"{name}: done before ({out / name}.json)", file=sys.stderr)
            continue
        print(f"{name}: running", file=sys.stderr)
        if name == "declining":
            run_declining(pack, out)
        else:
            subprocess.run(commands[name], check=True)
    table = report(out)
    (out / "gate.md").write_text(table + "\n")
    return table


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pack", required=True, help="the candidate: a folder from `agentroute train`")
    parser.add_argument("--data", type=Path, default=Path("data/agentsteps"), help="from `agentroute data build`")
    parser.add_argument("--out", type=Path, default=None, help="where the stages write (default: PACK/gate)")
    parser.add_argument("--test", action="store_true", help="also the test split (after choosing on dev)")
    args = parser.parse_args()
    print(gate(args.pack, args.data, args.out or Path(args.pack) / "gate", args.test))
