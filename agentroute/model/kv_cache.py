"""An explicit KV cache keyed by program slot.

Slots
    A slot is ``(layer, occurrence)`` (see ``LayerProgram.slots``). The first run of every layer
    writes the layer's own slot, so all skip-only programs share one full-depth cache; the second
    run of a looped layer writes ``(layer, 1)`` and so on.

Hole policy (what the cache holds at layers a program skipped)
    Each slot records ``valid[slot]``: positions ``[0, valid)`` hold keys and values. A program
    that skips a layer leaves that slot short (a hole at the positions it decoded). The rules:

    1. A program stays fixed for the whole decode of a step, so within a step every executed slot
       was also executed at every earlier position of that step: no executed layer reads a hole.
    2. ``update`` refuses to write a slot past its valid length, so a hole can never be read
       silently - it is an error, not wrong numbers.
    3. Before a later forward starts at position ``p``, the caller crops the cache to ``p`` and
       must only start at ``p <= usable_length(slots)`` for the slots it will run; everything after
       that is recomputed. ``usable_length`` is the minimum valid length over those slots.

Buffers are preallocated and grown by doubling, so decoding writes in place instead of
concatenating a new tensor every token as ``DynamicCache`` does.
"""

from __future__ import annotations

import torch

Slot = tuple[int, int]


class ProgramKVCache:
    """Keys and values per slot, for one sequence (batch size 1)."""

    def __init__(self, initial_capacity: int = 256) -> None:
        self._keys: dict[Slot, torch.Tensor] = {}
        self._values: dict[Slot, torch.Tensor] = {}
        self.valid: dict[Slot, int] = {}
        self._capacity = max(int(initial_capacity), 1)
        self._active: Slot | None = None
        self._write_at = 0

    # -- used by the executor -------------------------------------------------------------------

    def begin(self, position: int, capacity: int | None = None) -> None:
        """Start a forward chunk whose first token sits at ``position``."""
        self._write_at = position
        if capacity is not None and capacity > self._capacity:
            self._capacity = capacity

    def activate(self, slot: Slot) -> None:
        """Select the slot the next ``update`` call writes (set before running each layer)."""
        self._active = slot

    def usable_length(self, slots) -> int:
        """Longest prefix whose keys and values exist in every one of ``slots``."""
        return min((self.valid.get(s, 0) for s in slots), default=0)

    def crop(self, length: int) -> None:
        """Forget every position at or after ``length`` (keeps buffers for reuse)."""
        for slot, valid in self.valid.items():
            self.valid[slot] = min(valid, length)

    def reset(self) -> None:
        self.valid.clear()

    # -- called by Hugging Face attention modules -----------------------------------------------

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, layer_idx: int, *args, **kwargs):
        """Store the new keys and values of the active slot; return all of its keys and values.

        ``layer_idx`` is ignored on purpose: a looped layer has one module (one ``layer_idx``) but
        a slot per repetition, which the executor selected with ``activate``.
        """
        keys, values, start = self.reserve(key_states.shape[2], key_states)
        end = start + key_states.shape[2]
        keys[:, :, start:end] = key_states
        values[:, :, start:end] = value_states
        return keys[:, :, :end], values[:, :, :end]

    def reserve(self, rows: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, int]:
        """Claim ``rows`` positions of the active slot from the chunk's start, for a caller that
        writes them itself (``scripted_layer``): returns the slot's key and value buffers (shaped
        and typed like ``like``, [batch, heads, capacity, head_dim]) and the start. The same checks
        as ``update``: a write past the slot's valid length is refused."""
        slot = self._active
        if slot is None:
            raise RuntimeError(
                "ProgramKVCache written (update or reserve) before activate(); the executor selects a slot"
            )
        start = self._write_at
        valid = self.valid.get(slot, 0)
        if start > valid:
            raise RuntimeError(
                f"KV hole: slot {slot} holds {valid} positions but the forward starts at {start}; "
                "crop the cache to usable_length() before running a program that reads this slot"
            )
        end = start + rows
        keys, values = self._buffers(slot, like, like, end)
        self.valid[slot] = end
        return keys, values, start

    def held(self, slot: Slot) -> tuple[torch.Tensor, torch.Tensor]:
        """The keys and values ``slot`` holds ([batch, heads, valid, head_dim] views)."""
        end = self.valid.get(slot, 0)
        return self._keys[slot][:, :, :end], self._values[slot][:, :, :end]

    def _buffers(self, slot: Slot, key_states, value_states, needed: int):
        keys = self._keys.get(slot)
        if keys is None or keys.shape[2] < needed or keys.dtype != key_states.dtype:
            capacity = max(self._capacity, needed)
            while capacity < needed:
                capacity *= 2
            self._capacity = capacity
            keys = _grow(keys, key_states, capacity, self.valid.get(slot, 0))
            values = _grow(self._values.get(slot), value_states, capacity, self.valid.get(slot, 0))
            self._keys[slot], self._values[slot] = keys, values
        return keys, self._values[slot]


def _grow(old: torch.Tensor | None, like: torch.Tensor, capacity: int, keep: int) -> torch.Tensor:
    batch, heads, _, dim = like.shape
    new = torch.zeros(batch, heads, capacity, dim, dtype=like.dtype, device=like.device)
    if old is not None and keep:
        new[:, :, :keep] = old[:, :, :keep].to(like.dtype)
    return new
