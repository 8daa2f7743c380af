"""The glibc malloc settings ``load`` applies on a CPU: applied once, and left alone when asked."""

from __future__ import annotations

import ctypes
import sys

import pytest

from agentroute.model import cpu_malloc


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(cpu_malloc, "_applied", None)


def _glibc() -> bool:
    try:
        ctypes.CDLL("libc.so.6").mallopt  # noqa: B018
    except (OSError, AttributeError):
        return False
    return sys.platform.startswith("linux")


def test_applied_once_on_glibc(fresh, monkeypatch):
    if not _glibc():
        pytest.skip("glibc only")
    monkeypatch.delenv(cpu_malloc.ENV, raising=False)
    assert cpu_malloc.keep_freed_memory() is True
    monkeypatch.setattr(cpu_malloc.ctypes, "CDLL", lambda *a: pytest.fail("applied twice"))
    assert cpu_malloc.keep_freed_memory() is True


def test_system_keeps_glibc_defaults(fresh, monkeypatch):
    monkeypatch.setenv(cpu_malloc.ENV, "system")
    monkeypatch.setattr(cpu_malloc.ctypes, "CDLL", lambda *a: pytest.fail("mallopt was called"))
    assert cpu_malloc.keep_freed_memory() is False


def test_other_c_libraries_are_left_alone(fresh, monkeypatch):
    monkeypatch.delenv(cpu_malloc.ENV, raising=False)

    def no_glibc(*args):
        raise OSError("libc.so.6: cannot open shared object file")

    monkeypatch.setattr(cpu_malloc.ctypes, "CDLL", no_glibc)
    assert cpu_malloc.keep_freed_memory() is False
