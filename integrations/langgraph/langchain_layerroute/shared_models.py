"""The models a ``ChatLayerRoute`` loaded or was given, shared with the copies LangChain makes of it.

``configurable_fields`` and ``configurable_alternatives`` build a fresh chat model from the
fields of the configured one on every call. Without a shared holder each copy would load the
model again (seconds per step) and a model passed as ``routed_model=`` would be lost, the copy
loading the default one instead. The holder travels as an excluded field, so copies receive it
and serialisation leaves it out.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any


class SharedModels:
    """The injected model, or the models loaded so far by load arguments (one per configuration)."""

    def __init__(self, injected: Any = None) -> None:
        self.injected = injected
        self._loaded: dict[str, Any] = {}
        self._lock = threading.Lock()

    def get(self, arguments: dict[str, Any], load: Callable[[], Any]) -> Any:
        """The injected model, else the one loaded with ``arguments`` (``load()`` runs once per them,
        even from several threads)."""
        if self.injected is not None:
            return self.injected
        key = json.dumps(arguments, sort_keys=True, default=str)
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load()
            return self._loaded[key]

    def __repr__(self) -> str:  # kept short: LangChain prints its runnables' fields
        return f"SharedModels({'injected' if self.injected is not None else f'{len(self._loaded)} loaded'})"
