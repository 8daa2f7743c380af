"""Cross-step prefix reuse: an agent conversation grows by appending, so keep the prompt's KV.

Stock generators re-encode the whole conversation every step. ``PrefixCache`` remembers the
token ids it prefilled and the program that prefilled them; the next call reuses the longest
common prefix (computed by the same prefill program) and encodes only the rest. Positions
decoded by the previous call are never reused: they were computed by the decode program and the
next prompt re-renders the reply anyway (hole policy rule 3 in ``kv_cache``).
"""

from __future__ import annotations

from agentroute.model.kv_cache import ProgramKVCache
from agentroute.model.program import LayerProgram


class PrefixCache:
    def __init__(self) -> None:
        self.kv = ProgramKVCache()
        self._ids: list[int] = []
        self._program: LayerProgram | None = None

    def prepare(self, prompt_ids: list[int], prefill_program: LayerProgram, reuse: bool = True) -> int:
        """Crop the cache for a new prompt; return how many leading prompt tokens are already cached."""
        start = 0
        if reuse and prefill_program == self._program:
            start = common_prefix(prompt_ids, self._ids)
            # Keep at least one token to run so the prefill yields next-token logits.
            start = min(start, len(prompt_ids) - 1, self.kv.usable_length(prefill_program.slots))
        if start > 0:
            self.kv.crop(start)
        else:
            self.kv.reset()
        self._ids = list(prompt_ids)
        self._program = prefill_program
        return start

    def forget(self) -> None:
        """Drop everything (e.g. after an error left the cache half-written)."""
        self.kv.reset()
        self._ids = []
        self._program = None


def common_prefix(a, b) -> int:
    """Length of the longest common prefix of two sequences."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n
