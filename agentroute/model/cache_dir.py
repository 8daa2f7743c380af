"""Where AgentRoute keeps converted weights: ``$AGENTROUTE_CACHE`` or the user's cache directory."""

from __future__ import annotations

import os
from pathlib import Path

from platformdirs import user_cache_dir


def cache_root() -> Path:
    root = os.environ.get("AGENTROUTE_CACHE")
    return Path(root).expanduser() if root else Path(user_cache_dir("agentroute"))
