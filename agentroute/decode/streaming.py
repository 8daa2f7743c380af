"""Incremental text for streaming callbacks: emit decoded text as tokens arrive.

Decoding token by token breaks multi-byte characters and cannot know whether a stop string is
starting, so the streamer re-decodes the reply so far and emits only text that can no longer
change: it holds back a trailing replacement character (an incomplete UTF-8 sequence) and any
suffix that could be the beginning of a stop string.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class TextStreamer:
    def __init__(self, tokenizer, callback: Callable[[str], None], stop: Sequence[str] | None = None) -> None:
        self.tokenizer = tokenizer
        self.callback = callback
        self.stop = list(stop or [])
        self.emitted = 0

    def push(self, generated: list[int]) -> None:
        """Emit whatever became final after the latest token."""
        text = self.tokenizer.decode(generated, skip_special_tokens=True)
        end = len(text)
        if text.endswith("\ufffd"):
            end -= 1
        end -= self._stop_prefix_length(text[:end])
        self._emit(text, end)

    def finish(self, final_text: str) -> None:
        """Emit the rest of the reply (already cut at any stop string)."""
        self._emit(final_text, len(final_text))

    def _emit(self, text: str, end: int) -> None:
        if end > self.emitted:
            self.callback(text[self.emitted : end])
            self.emitted = end

    def _stop_prefix_length(self, text: str) -> int:
        """Length of the longest suffix of ``text`` that is a proper prefix of a stop string."""
        best = 0
        for stop in self.stop:
            for k in range(min(len(stop) - 1, len(text)), best, -1):
                if text.endswith(stop[:k]):
                    best = k
                    break
        return best
