"""The compute dtype: detected from the hardware when not given, checked when given, recorded per step."""

import pytest
import torch
from tiny_models import save_tiny, tiny_model

import agentroute
from agentroute import RoutedModel, StepRecord
from agentroute.errors import AgentRouteError
from agentroute.model import dtype_choice
from agentroute.model.dtype_choice import cpu_flags, cpu_has_native_bf16, default_dtype, dtype_name, resolve_dtype

BASE_FLAGS = "fpu vme de pse tsc msr pae mce cx8 apic sep mtrr sse sse2 ht avx avx2 avx512f avx512bw avx512vl"


def fake_cpuinfo(tmp_path, extra_flags: str = "", key: str = "flags"):
    """A /proc/cpuinfo with two processors whose flags line carries ``extra_flags``."""
    block = (
        "processor\t: {n}\n"
        "vendor_id\t: GenuineIntel\n"
        "model name\t: Fake CPU @ 2.00GHz\n"
        f"{key}\t\t: {BASE_FLAGS} {extra_flags}\n"
        "bogomips\t: 4000.00\n"
    )
    path = tmp_path / "cpuinfo"
    path.write_text("\n".join(block.format(n=n) for n in range(2)))
    return path


# -- detection from cpuinfo ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, native",
    [
        ("amx_bf16 amx_tile amx_int8", True),
        ("avx512_bf16", True),
        ("amx_bf16 avx512_bf16", True),
        ("", False),
        ("avx512_fp16 amx_tile amx_int8 avx_vnni", False),  # neighbours of the bf16 flags are not bf16
    ],
)
def test_cpu_flags_decide_bf16_on_cpu(tmp_path, extra, native):
    flags = cpu_flags(fake_cpuinfo(tmp_path, extra))
    assert "avx2" in flags and "sse2" in flags and "processor" not in flags
    assert set(extra.split()) <= flags
    assert cpu_has_native_bf16(flags) is native
    assert default_dtype("cpu", flags) == (torch.bfloat16 if native else torch.float32)


def test_arm_features_line_is_read(tmp_path):
    # aarch64 Linux writes "Features" instead of "flags"; no x86 bf16 flag there means float32.
    flags = cpu_flags(fake_cpuinfo(tmp_path, "asimd bf16", key="Features"))
    assert {"asimd", "bf16"} <= flags
    assert default_dtype("cpu", flags) == torch.float32


def test_missing_cpuinfo_means_no_flags_and_float32(tmp_path):
    flags = cpu_flags(tmp_path / "does-not-exist")
    assert flags == set()
    assert cpu_has_native_bf16(flags) is False
    assert default_dtype("cpu", flags) == torch.float32


def test_flags_are_taken_as_any_iterable():
    assert cpu_has_native_bf16(["sse2", "amx_bf16"]) is True
    assert cpu_has_native_bf16(iter(["avx512_bf16"])) is True
    assert cpu_has_native_bf16(("sse2", "avx2")) is False
    assert default_dtype("cpu", frozenset({"avx512_bf16"})) == torch.bfloat16


def test_meta_device_is_never_bf16_by_default():
    assert default_dtype("meta", {"amx_bf16"}) == torch.float32


def test_detection_without_flags_reads_this_machines_cpuinfo(monkeypatch):
    """Without ``flags``, detection reads this machine's cpuinfo (on x86 only)."""
    seen = []
    monkeypatch.setattr(dtype_choice.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(dtype_choice, "cpu_flags", lambda *a: seen.append(a) or {"sse2", "amx_bf16"})
    assert cpu_has_native_bf16() is True and seen
    assert default_dtype("cpu") == torch.bfloat16
    assert resolve_dtype(None, "cpu") == torch.bfloat16
    monkeypatch.setattr(dtype_choice, "cpu_flags", lambda *a: {"sse2", "avx2"})
    assert cpu_has_native_bf16() is False
    assert resolve_dtype(None, "cpu") == torch.float32


def test_non_x86_machine_is_float32_whatever_the_flags(monkeypatch):
    monkeypatch.setattr(dtype_choice.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(dtype_choice, "cpu_flags", lambda *a: {"amx_bf16", "avx512_bf16"})
    assert cpu_has_native_bf16() is False
    assert resolve_dtype(None, "cpu") == torch.float32


def test_cuda_default_follows_bf16_support(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert default_dtype("cuda") == torch.bfloat16
    assert resolve_dtype(None, "cuda:0") == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert default_dtype("cuda") == torch.float16
    assert resolve_dtype("float32", "cuda") == torch.float32
    with pytest.raises(AgentRouteError, match="cannot compute bfloat16") as err:
        resolve_dtype("bf16", "cuda")
    assert "float16" in str(err.value) and "float32" in str(err.value)


# -- resolve_dtype -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "given, expected",
    [
        ("bfloat16", torch.bfloat16),
        ("bf16", torch.bfloat16),
        ("float32", torch.float32),
        ("fp32", torch.float32),
        ("float16", torch.float16),
        ("fp16", torch.float16),
        (torch.bfloat16, torch.bfloat16),
        (torch.float32, torch.float32),
        (torch.float16, torch.float16),
    ],
)
def test_resolve_dtype_accepts_names_and_torch_dtypes(given, expected):
    assert resolve_dtype(given, "cpu") is expected


def test_resolve_none_detects(monkeypatch):
    monkeypatch.setattr(dtype_choice, "default_dtype", lambda device, flags=None: torch.float16)
    assert resolve_dtype(None, "cpu") == torch.float16
    monkeypatch.undo()
    assert resolve_dtype(None, "cpu") == default_dtype("cpu")


@pytest.mark.parametrize("bad", ["int4", "float64", "BF16x", "", torch.float64, torch.int8, 5, 3.0])
def test_unknown_dtype_names_the_choices(bad):
    with pytest.raises(AgentRouteError) as err:
        resolve_dtype(bad, "cpu")
    message = str(err.value)
    for choice in ("bfloat16", "float32", "float16"):
        assert choice in message, message
    assert str(bad).removeprefix("torch.") in message, message


def test_dtype_name():
    assert dtype_name(torch.bfloat16) == "bfloat16"
    assert dtype_name(torch.float32) == "float32"
    assert dtype_name(torch.float16) == "float16"


# -- load -------------------------------------------------------------------------------------------


def test_load_refuses_unknown_kernels(tmp_path):
    save_tiny(tmp_path)
    with pytest.raises(AgentRouteError, match=r"kernels must be 'auto' or 'plain', got 'fast'"):
        agentroute.load(tmp_path, kernels="fast")


@pytest.mark.parametrize("bad", ["int4", "float64", torch.float64])
def test_load_refuses_unknown_dtype_naming_the_choices(tmp_path, bad):
    save_tiny(tmp_path)
    with pytest.raises(AgentRouteError, match="bfloat16.*float32.*float16|float32.*bfloat16.*float16"):
        agentroute.load(tmp_path, dtype=bad)


@pytest.mark.parametrize("dtype, expected", [("bfloat16", torch.bfloat16), ("float32", torch.float32)])
def test_load_with_a_dtype_computes_in_it(tmp_path, dtype, expected):
    save_tiny(tmp_path, "llama", n_layers=2)
    plain = agentroute.load(tmp_path, dtype=dtype, kernels="plain", device="cpu")
    assert plain.dtype == expected and plain.lean is False
    assert all(p.dtype == expected for p in plain.hf_model.parameters())
    auto = agentroute.load(tmp_path, dtype=dtype, device="cpu")
    # "auto" turns lean decode on exactly where it is available: bf16 on a CPU with oneDNN.
    assert auto.lean is (expected == torch.bfloat16 and torch.backends.mkldnn.is_available())
    result = auto.generate_ids(auto.encode("hi"), max_new_tokens=3, ignore_eos=True)
    assert result.record.dtype == dtype


def test_load_without_dtype_uses_detection(tmp_path, monkeypatch):
    save_tiny(tmp_path, "llama", n_layers=2)
    monkeypatch.setattr(dtype_choice, "cpu_flags", lambda *a: {"sse2"})
    assert agentroute.load(tmp_path, device="cpu", kernels="plain").dtype == torch.float32
    monkeypatch.setattr(dtype_choice.platform, "machine", lambda: "x86_64")
    monkeypatch.setattr(dtype_choice, "cpu_flags", lambda *a: {"sse2", "amx_bf16"})
    assert agentroute.load(tmp_path, device="cpu", kernels="plain").dtype == torch.bfloat16


# -- the record -------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype, name", [(torch.bfloat16, "bfloat16"), (torch.float32, "float32")])
def test_step_record_carries_the_dtype(dtype, name):
    hf, tok = tiny_model("llama", n_layers=2)
    model = RoutedModel(hf.to(dtype), tok, name="tiny")
    assert model.dtype == dtype
    step = model.generate("What is the capital of France?", max_new_tokens=4)
    assert isinstance(step.record, StepRecord)
    assert step.record.dtype == name
    assert model.generate_ids(model.encode("2 + 2 = ?"), max_new_tokens=4).record.dtype == name
    assert '"dtype":"' + name + '"' in step.record.model_dump_json()
