"""Prompt-lookup drafts for lossless mode: the next tokens copied from earlier in the context.

Agent steps quote their context: a tool call copies the user's values, a final answer the tool's
numbers and names, a plan the tool names. When the last few tokens of the reply occurred before
(in the prompt or the reply), the tokens that followed them there are a free draft: no draft
pass computes them, and the verify pass that checks them costs about one decode pass in
bfloat16 (DESIGN.md). A wrong guess costs only the extra rows of that pass.

Token ids alone miss the copies that matter most in a tool call: a value quoted from the user
is tokenized differently inside JSON (``"San`` after the quote, `` San`` in the user's text), so
no token n-gram of the reply occurs in the prompt. ``TextLookup`` matches text instead: the
longest end of the reply's text found earlier in the context, and the text after it there,
tokenized afresh, is the draft. It drafts only in a reply that is a call or a JSON object (its text
starts with ``<``, ``{`` or ``[``; a reply in words may not, under the call grammar): free text
quotes with the context's own tokens, and on dev-split final answers text matches drafted 3-4x
more tokens than token matches and lost time (decode 1.19x -> 0.93x of full depth).
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


STRUCTURED = ("<", "{", "[")  # first characters of a reply that is a call or a JSON object


class TextLookup:
    """Copy drafts matched on text, for one reply after ``prompt_ids`` (see the module docstring).

    ``min_chars``: the shortest end of the reply matched, which must hold a letter or digit (an
    end like ``": "`` occurs all over a tool schema and predicts nothing); ``max_chars``: the
    longest; ``span``: characters of context copied per draft, of which the last token is
    dropped (it may be cut mid-word and tokenize differently in full).
    """

    def __init__(self, tokenizer, prompt_ids: Sequence[int], min_chars: int = 3, max_chars: int = 48, span: int = 64):
        self.tokenizer = tokenizer
        self.prompt_length = len(prompt_ids)
        self.prompt_text = tokenizer.decode(list(prompt_ids), skip_special_tokens=False)
        self.min_chars, self.max_chars, self.span = min_chars, max_chars, span
        self.in_words = False  # set once the reply's first characters say it is not a call

    def __call__(self, sequence: Sequence[int], limit: int) -> list[int]:
        """Up to ``limit`` tokens continuing ``sequence`` (the prompt and the reply so far); none
        for a reply in words."""
        if self.in_words:  # a reply in words stays one: no decoding it again every round
            return []
        reply = self.tokenizer.decode(list(sequence[self.prompt_length :]), skip_special_tokens=False)
        if not reply.lstrip().startswith(STRUCTURED):
            self.in_words = bool(reply.strip())
            return []
        text = self.prompt_text + reply
        end = len(text)
        found = -1
        n = self.min_chars
        # A suffix occurs earlier only if every shorter suffix does: grow the key while it is found.
        while n <= min(self.max_chars, len(reply)):
            at = text.rfind(text[end - n :], 0, end - 1)
            if at < 0:
                break
            found, n = at + n, n + 1
        key = text[end - (n - 1) :]
        if found < 0 or not any(c.isalnum() for c in key):
            return []
        follows = text[found : found + self.span]
        if not follows:
            return []
        tokens = self.tokenizer.encode(follows, add_special_tokens=False)
        return tokens[: min(limit, max(len(tokens) - 1, 1))]
