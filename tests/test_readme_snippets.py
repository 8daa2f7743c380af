"""Every ```python block of the README and the docs pages runs as pasted.

Each snippet runs in a fresh interpreter (``sys.executable``) in its own temporary directory, so
it must bring its imports and create any file it reads. Snippets load the real embedded model
(and the integrations), hence ``slow``. Bash blocks are not run.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# The README, then every docs page: a python block on any of them is meant to run.
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def snippets() -> list:
    found = []
    for page in PAGES:
        text = page.read_text()
        for match in FENCE.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            name = f"{page.relative_to(ROOT)}:{line}"
            found.append(pytest.param(match.group(1), id=name, marks=pytest.mark.slow))
    return found


def test_readme_has_snippets() -> None:
    assert FENCE.search(PAGES[0].read_text()), "the README shows no python snippet"


@pytest.mark.parametrize("code", snippets())
def test_snippet_runs(code: str, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    output = f"--- stdout\n{done.stdout[-3000:]}\n--- stderr\n{done.stderr[-3000:]}"
    assert done.returncode == 0, f"exit {done.returncode}\n{output}"
