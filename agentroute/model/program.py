"""LayerProgram: which decoder layers run, in which order.

A program is an immutable tuple of layer indices. ``(0, 1, 2, 4, 5)`` skips layer 3;
``(0, 1, 2, 2, 3)`` runs layer 2 twice (a loop). Programs are values: they hash, compare and
print compactly (``"0-2,4-5"``), so they can key caches and appear in traces.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property

from agentroute.errors import ProgramError

_TOKEN = re.compile(r"^\s*(\d{1,9})\s*(?:-\s*(\d{1,9}))?\s*$")  # bounded: int() of a huge string is slow
# A program may loop layers, but not without end: beyond this many passes per layer it is a mistake.
MAX_PASSES_PER_LAYER = 4


def _short(value: object, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters, so an error message stays readable."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True)
class LayerProgram:
    """An ordered sequence of decoder-layer indices for a model with ``n_layers`` layers."""

    layers: tuple[int, ...]
    n_layers: int

    def __post_init__(self) -> None:
        if not isinstance(self.n_layers, int) or self.n_layers <= 0:
            raise ProgramError(f"n_layers must be a positive integer, got {self.n_layers!r}")
        if not self.layers:
            raise ProgramError("a layer program must run at least one layer; use LayerProgram.full(n) for all of them")
        bad = [i for i in self.layers if not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < self.n_layers]
        if bad:
            shown = ", ".join(_short(i) for i in bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
            raise ProgramError(
                f"layer indices [{shown}] are out of range for a model with {self.n_layers} layers "
                f"(valid: 0-{self.n_layers - 1})"
            )
        if len(self.layers) > MAX_PASSES_PER_LAYER * self.n_layers:
            raise ProgramError(
                f"a program of {len(self.layers)} layer passes for a {self.n_layers}-layer model; "
                f"at most {MAX_PASSES_PER_LAYER * self.n_layers} ({MAX_PASSES_PER_LAYER} per layer) are allowed"
            )

    # -- constructors -------------------------------------------------------------------------

    @classmethod
    def full(cls, n_layers: int) -> LayerProgram:
        """Every layer once, in order: the model as it was trained."""
        return cls(tuple(range(n_layers)), n_layers)

    @classmethod
    def skip(cls, n_layers: int, layers: Iterable[int]) -> LayerProgram:
        """The full program without the given layers."""
        skipped = set(layers)
        out_of_range = sorted(i for i in skipped if not 0 <= i < n_layers)
        if out_of_range:
            raise ProgramError(f"cannot skip layers {out_of_range}: the model has {n_layers} layers (0-{n_layers - 1})")
        return cls(tuple(i for i in range(n_layers) if i not in skipped), n_layers)

    @classmethod
    def parse(cls, text: str, n_layers: int) -> LayerProgram:
        """Parse the compact form, e.g. ``"0-11,14-29"`` or ``"0-15,15,16-29"`` (repeats loop).

        ``"full"`` (or ``"all"``) is the full program.
        """
        if not isinstance(text, str) or not text.strip():
            raise ProgramError("an empty program string; write ranges such as '0-11,14-29'")
        if text.strip().lower() in {"full", "all"}:
            return cls.full(n_layers)
        layers: list[int] = []
        limit = MAX_PASSES_PER_LAYER * n_layers if isinstance(n_layers, int) else 0
        for part in text.split(","):
            match = _TOKEN.match(part)
            if not match:
                raise ProgramError(
                    f"cannot parse {_short(part.strip())} in program {_short(text)}; "
                    "use comma-separated indices and ranges such as '0-11,14-29'"
                )
            start = int(match.group(1))
            end = int(match.group(2)) if match.group(2) is not None else start
            if end < start:
                raise ProgramError(f"range {_short(part.strip())} runs backwards; write it as '{end}-{start}'")
            # Checked before the range is expanded: "0-5000000" must not build five million entries.
            if isinstance(n_layers, int) and end >= n_layers:
                raise ProgramError(
                    f"{_short(part.strip())} in program {_short(text)} is out of range for a model with "
                    f"{n_layers} layers (valid: 0-{n_layers - 1})"
                )
            layers.extend(range(start, end + 1))
            if len(layers) > limit:
                break  # __post_init__ names the length limit
        return cls(tuple(layers), n_layers)

    @classmethod
    def coerce(cls, value: LayerProgram | str | Iterable[int] | None, n_layers: int) -> LayerProgram:
        """Accept a program, its string form, a list of indices, or None (the full program)."""
        if value is None:
            return cls.full(n_layers)
        if isinstance(value, LayerProgram):
            if value.n_layers != n_layers:
                raise ProgramError(
                    f"program {value} was built for {value.n_layers} layers but this model has {n_layers}"
                )
            return value
        if isinstance(value, str):
            return cls.parse(value, n_layers)
        try:
            items = list(value)
        except TypeError:
            raise ProgramError(
                f"cannot read a layer program from {_short(value)}; pass a LayerProgram, a string such as "
                "'0-11,14-29' or a list of layer indices"
            ) from None
        # Integers only (numpy's too, through __index__): 0.9 is refused, not truncated to layer 0.
        for i in items:
            if isinstance(i, bool) or not hasattr(type(i), "__index__"):
                raise ProgramError(f"layer indices must be integers, got {_short(i)} in {_short(items)}")
        return cls(tuple(operator.index(i) for i in items), n_layers)

    # -- properties ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.layers)

    def __iter__(self):
        return iter(self.layers)

    def __str__(self) -> str:
        runs: list[str] = []
        start = prev = self.layers[0]
        for layer in self.layers[1:]:
            if layer == prev + 1:
                prev = layer
                continue
            runs.append(str(start) if start == prev else f"{start}-{prev}")
            start = prev = layer
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        return ",".join(runs)

    @property
    def cost(self) -> float:
        """Layer evaluations per token as a fraction of the full program (a loop counts twice)."""
        return len(self.layers) / self.n_layers

    @property
    def is_full(self) -> bool:
        return self.layers == tuple(range(self.n_layers))

    @property
    def loops(self) -> bool:
        """True when some layer runs more than once."""
        return len(set(self.layers)) != len(self.layers)

    @property
    def skipped(self) -> tuple[int, ...]:
        """Layers the program never runs."""
        present = set(self.layers)
        return tuple(i for i in range(self.n_layers) if i not in present)

    @cached_property
    def slots(self) -> tuple[tuple[int, int], ...]:
        """KV-cache slot of each program position: ``(layer, occurrence)``.

        The first run of a layer uses the layer's own slot ``(layer, 0)``, so skip-only programs share
        the full-depth cache; each repetition of a looped layer gets a slot of its own.
        """
        seen: dict[int, int] = {}
        out = []
        for layer in self.layers:
            k = seen.get(layer, 0)
            seen[layer] = k + 1
            out.append((layer, k))
        return tuple(out)
