"""Which domains and tools each split may use, so that evaluation data is never trained on.

* test: whole held-out domains (a quarter of them, fixed for the data version). Every tool,
  planning goal and reasoning question of a test step comes from these domains only.
* dev: the remaining (train) domains, but every expected call names a held-out tool: the last
  action listed for each train domain. Distractors and history calls may be any tool of the
  train domains; planning and reasoning steps use the train domains.
* train: the train domains without the dev tools.

So no test domain or test tool, and no dev tool, appears anywhere in train.
"""

from __future__ import annotations

from agentroute.data.catalogue import catalogue, domains
from agentroute.data.tool_steps import Pool

TEST_DOMAINS = (
    "healthcare", "sports", "translation", "shipping", "real_estate", "pets", "insurance", "car_services",
)  # fmt: skip
SPLITS = ("train", "dev", "test")


def dev_tools() -> tuple[str, ...]:
    """The held-out tools of dev: the last action of each train domain."""
    return tuple(d.actions[-1].name for d in domains() if d.name not in TEST_DOMAINS)


def pools() -> dict[str, Pool]:
    """The tools each split may expect and offer."""
    held = set(dev_tools())
    test = tuple(t for t in catalogue() if t.domain in TEST_DOMAINS)
    train_domains = tuple(t for t in catalogue() if t.domain not in TEST_DOMAINS)
    train = tuple(t for t in train_domains if t.name not in held)
    dev = tuple(t for t in train_domains if t.name in held)
    return {"train": Pool(train, train), "dev": Pool(dev, train_domains), "test": Pool(test, test, held_out=True)}


def holdout_description() -> dict[str, object]:
    """The held-out scheme as written into the manifest."""
    names = [d.name for d in domains()]
    return {
        "test": "whole domains held out: every test step (tool calls, distractors, histories, planning, reasoning) "
        "uses only these domains and their tools",
        "test_domains": list(TEST_DOMAINS),
        "dev": "held-out tools of the train domains (the last action listed for each): every expected call in dev "
        "names one of them; distractors, histories, planning and reasoning use the train domains",
        "dev_tools": list(dev_tools()),
        "train_domains": [n for n in names if n not in TEST_DOMAINS],
    }
