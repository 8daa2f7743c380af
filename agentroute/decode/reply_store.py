"""Drafts retrieved from the model's own earlier replies, for lossless mode.

Why
    Prompt lookup drafts only what the context already holds. Plans and reasoning steps are mostly
    new text, but formulaic: the default model opens and links its steps with the same phrases
    from one task to the next ("I will use the ... tool to", "Step 2:"). A store of the model's own
    full-depth replies on training steps predicts those phrases with no draft pass: the reply's
    last few tokens are looked up among the stored replies, and the continuation most of the
    matching replies agree on is the draft (retrieval-based drafting, as in REST, He et al. 2023).
    A draft never changes the output: full depth verifies every token, so a store only changes
    speed. On 60 dev-split steps (replies of the default pack, a store of 180 train-split replies),
    drafts of up to 3 tokens from the prompt or, where it has none, the store were estimated to
    decode planning 1.26x, reasoning 1.47x and final answers 1.14x faster than full depth, against
    1.13x / 1.24x / 1.10x from the prompt alone (simulated from measured pass costs; the
    benchmarks measure the real thing).

Format
    ``replies.safetensors`` in a route pack: ``tokens`` (int32, the replies end to end) and
    ``offsets`` (int64, where each reply starts, then the total length).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path

import torch

MAX_NGRAM = 4  # the longest reply tail looked up; shorter tails are tried when it is not found
MIN_NGRAM = 2  # one shared token predicts little
# Stands for "the reply starts here" in the index: the reply's first tokens are looked up after it,
# so a reply that opens as stored ones do ("All set. Your ...") drafts from its second token on.
START = -1


class ReplyStore:
    """An n-gram index over stored replies (token ids) that drafts continuations by majority."""

    def __init__(self, replies: Sequence[Sequence[int]], max_ngram: int = MAX_NGRAM, min_ngram: int = MIN_NGRAM):
        if not 1 <= min_ngram <= max_ngram:
            raise ValueError(f"need 1 <= min_ngram <= max_ngram, got {min_ngram} and {max_ngram}")
        try:
            self.replies = [[int(t) for t in r] for r in replies if len(r) > 0]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"a reply store takes lists of token ids (one list per reply): {exc}") from None
        self.max_ngram, self.min_ngram = max_ngram, min_ngram
        # n-gram -> (reply, position after the n-gram) for every n-gram that something follows.
        self._index: dict[tuple[int, ...], list[tuple[int, int]]] = defaultdict(list)
        for r, reply in enumerate(self.replies):
            for n in range(min_ngram, max_ngram + 1):
                for end in range(n, len(reply)):
                    self._index[tuple(reply[end - n : end])].append((r, end))
                if 1 <= n - 1 < len(reply):  # the start and the reply's first n - 1 tokens
                    self._index[(START, *reply[: n - 1])].append((r, n - 1))

    def __len__(self) -> int:
        return len(self.replies)

    def draft(self, sequence: Sequence[int], limit: int, reply_start: int | None = None) -> list[int]:
        """Up to ``limit`` tokens continuing ``sequence``: from the stored replies that share its
        longest tail (``max_ngram`` tokens down to ``min_ngram``), token by token the one most of
        them continue with, while at least half of those still matching agree; empty when no tail
        occurs in the store. ``reply_start``: where the reply begins in ``sequence``; a tail that
        would reach into the prompt is the reply's start and its tokens so far instead."""
        written = len(sequence) - reply_start if reply_start is not None else len(sequence)
        for n in range(min(self.max_ngram, len(sequence)), self.min_ngram - 1, -1):
            if written >= n:
                tail = tuple(sequence[len(sequence) - n :])
            elif written == n - 1 and written >= 1:
                tail = (START, *sequence[len(sequence) - written :])
            else:
                continue
            matches = self._index.get(tail)
            if matches:
                return self._vote(matches, limit)
        return []

    def _vote(self, matches: list[tuple[int, int]], limit: int) -> list[int]:
        draft: list[int] = []
        for offset in range(limit):
            following = Counter(
                self.replies[r][end + offset] for r, end in matches if end + offset < len(self.replies[r])
            )
            if not following:
                break
            token, count = following.most_common(1)[0]
            if offset > 0 and 2 * count < sum(following.values()):
                break  # the stored replies part ways here: a guess would likely be rejected
            draft.append(token)
            replies = self.replies
            matches = [
                (r, end) for r, end in matches if end + offset < len(replies[r]) and replies[r][end + offset] == token
            ]
        return draft

    def save(self, path: Path) -> None:
        from safetensors.torch import save_file

        lengths = torch.tensor([0] + [len(r) for r in self.replies], dtype=torch.int64)
        tokens = torch.tensor([t for r in self.replies for t in r], dtype=torch.int32)
        save_file({"tokens": tokens, "offsets": torch.cumsum(lengths, 0)}, str(path))

    @classmethod
    def load(cls, path: Path, vocab_size: int) -> ReplyStore:
        """A store saved by ``save``; ValueError names what is wrong with a damaged file."""
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        tokens, offsets = tensors.get("tokens"), tensors.get("offsets")
        if tokens is None or offsets is None or tokens.dim() != 1 or offsets.dim() != 1 or len(offsets) < 1:
            raise ValueError("expected 1-d tensors 'tokens' and 'offsets'")
        ends = offsets.tolist()
        if ends[0] != 0 or ends[-1] != len(tokens) or any(b < a for a, b in zip(ends, ends[1:], strict=False)):
            raise ValueError("'offsets' must rise from 0 to the number of tokens")
        if len(tokens) and (int(tokens.min()) < 0 or int(tokens.max()) >= vocab_size):
            raise ValueError(f"token ids outside the model's vocabulary of {vocab_size}")
        flat = tokens.tolist()
        return cls([flat[a:b] for a, b in zip(ends, ends[1:], strict=False)])
