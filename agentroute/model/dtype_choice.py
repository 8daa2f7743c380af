"""Which compute dtype a model runs in when the caller does not say: detected, not guessed.

bfloat16 where the hardware multiplies it natively: CUDA devices that support it, and x86 CPUs
with AMX (``amx_bf16``) or AVX512-BF16 (``avx512_bf16``). On this project's AMX Xeon a bf16 decode
pass costs about two thirds of a float32 one and a verify pass over 8 tokens about one pass, which
is what makes lossless drafting pay (DESIGN.md). Elsewhere float32: a CPU without those
instructions emulates bf16 and runs it slower than float32.
"""

from __future__ import annotations

import platform
from collections.abc import Iterable
from pathlib import Path

import torch

from agentroute.errors import AgentRouteError

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "fp32": torch.float32,
    "bfloat16": torch.bfloat16,
    "bf16": torch.bfloat16,
    "float16": torch.float16,
    "fp16": torch.float16,
}
NATIVE_BF16_FLAGS = frozenset({"amx_bf16", "avx512_bf16"})


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> set[str]:
    """The CPU's feature flags as Linux reports them (empty where there is no /proc/cpuinfo)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return set()


def cpu_has_native_bf16(flags: Iterable[str] | None = None) -> bool:
    """True on x86 CPUs with AMX-BF16 or AVX512-BF16 (``flags`` defaults to this machine's)."""
    if flags is None:
        if platform.machine().lower() not in ("x86_64", "amd64"):
            return False
        flags = cpu_flags()
    return bool(NATIVE_BF16_FLAGS & set(flags))


def default_dtype(device: str, flags: Iterable[str] | None = None) -> torch.dtype:
    """bfloat16 on CUDA with bf16 support and on CPUs with native bf16, float32 elsewhere."""
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if kind == "cpu" and cpu_has_native_bf16(flags) else torch.float32


def resolve_dtype(dtype: str | torch.dtype | None, device: str) -> torch.dtype:
    """The caller's dtype checked against the device, or the detected default."""
    if dtype is None:
        return default_dtype(device)
    if isinstance(dtype, torch.dtype):
        chosen = dtype
        if chosen not in DTYPES.values():
            raise AgentRouteError(f"unsupported dtype {dtype}; use one of {', '.join(DTYPES)}")
    elif isinstance(dtype, str) and dtype in DTYPES:
        chosen = DTYPES[dtype]
    else:
        raise AgentRouteError(f"unknown dtype {dtype!r}; use one of {', '.join(DTYPES)} (or None to detect)")
    if torch.device(device).type == "cuda" and chosen == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise AgentRouteError(
            f"this CUDA device cannot compute bfloat16; use dtype='float16' or 'float32' (choices: {', '.join(DTYPES)})"
        )
    return chosen


def dtype_name(dtype: torch.dtype) -> str:
    """'bfloat16', 'float32', ... as records and benchmarks write it."""
    return str(dtype).removeprefix("torch.")
