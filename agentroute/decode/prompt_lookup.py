"""Prompt-lookup drafts for lossless mode: the next tokens copied from earlier in the context.

Agent steps quote their context: a tool call copies the user's values, a final answer the tool's
numbers and names, a plan the tool names. When the last few tokens of the reply occurred before
(in the prompt or the reply), the tokens that followed them there are a free draft: no draft
pass computes them, and the verify pass that checks them costs about one decode pass in
bfloat16 (DESIGN.md). A wrong guess costs only the extra rows of that pass.
"""

from __future__ import annotations

from collections.abc import Sequence


def lookup_continuation(sequence: Sequence[int], ngram: int = 3, limit: int = 10, min_ngram: int = 2) -> list[int]:
    """Up to ``limit`` tokens that followed the latest earlier occurrence of the sequence's last
    ``n`` tokens, trying ``n = ngram`` down to ``min_ngram``; empty when none occurred before."""
    length = len(sequence)
    for n in range(min(ngram, length - 1), min_ngram - 1, -1):
        tail = list(sequence[length - n :])
        first = tail[0]
        # Latest occurrence first: a reply that repeats itself continues as it did last time.
        for start in range(length - n - 1, -1, -1):
            if sequence[start] == first and list(sequence[start : start + n]) == tail:
                return list(sequence[start + n : start + n + limit])
    return []
