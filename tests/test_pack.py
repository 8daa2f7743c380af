"""Route packs (``agentroute.pack``): loading and checking a pack directory, the router's choices,
the merged LoRA adapter, and the Router using a pack inside ``generate``."""

import copy
import json
import re

import pytest
import torch
from tiny_models import save_tiny, tiny_model

import agentroute
from agentroute import DepthPolicy, LayerProgram, RoutedModel, StepType
from agentroute.pack import (
    MANIFEST,
    PACK_FORMAT,
    ROUTER_FILE,
    PackError,
    PackManifest,
    RoutePack,
    fingerprint_mismatches,
    load_pack,
    model_fingerprint,
)
from agentroute.steps.router_net import RouterNet, prompt_features

N_LAYERS = 6
STEP_TYPES = [StepType.TOOL_CALL, StepType.PLANNING, StepType.FINAL_ANSWER]
# Cheapest first, as ``build_library`` writes them; layer 0 and the last layer always run.
LIBRARY = {
    StepType.TOOL_CALL: ["0,3,5", "0,2-3,5", "0-3,5"],  # costs 3/6, 4/6, 5/6
    StepType.PLANNING: ["0-3,5"],  # 5/6
    StepType.FINAL_ANSWER: ["0,2-5", "0-5"],  # 5/6, 6/6
}
N_PROGRAMS = sum(len(v) for v in LIBRARY.values())
ROUTER_LAYER = 2
HIDDEN = 64

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TOOL_REQUEST = [{"role": "user", "content": "Weather in Paris?"}]
PLAN_REQUEST = [{"role": "user", "content": "Plan a three-step trip to Rome, then check the weather there."}]


def fresh_model(seed: int = 0) -> RoutedModel:
    """A tiny llama of its own (load_pack changes a model's weights; the shared fixtures must not change)."""
    model, tok = tiny_model("llama", n_layers=N_LAYERS, seed=seed)
    return RoutedModel(model, tok, name="tiny-llama")


def router_net(type_bias=None, safe_bias=None) -> RouterNet:
    """A RouterNet whose decisions are set by hand: zero weights, so the biases decide."""
    net = RouterNet(HIDDEN, STEP_TYPES, N_PROGRAMS)
    with torch.no_grad():
        for head in (net.type_head, net.safe_head):
            head.weight.zero_()
            head.bias.zero_()
        if type_bias is not None:
            net.type_head.bias.copy_(torch.tensor(type_bias, dtype=torch.float32))
        if safe_bias is not None:
            net.safe_head.bias.copy_(torch.tensor(safe_bias, dtype=torch.float32))
    return net.eval()


def manifest_dict(model, threshold: float = 0.5) -> dict:
    manifest = PackManifest(
        format=PACK_FORMAT,
        model=model_fingerprint(model),
        policy={"budgets": {"tool_call": 0.7, "planning": 0.9}, "default_budget": 1.0, "protected_layers": [0, -1]},
        library={t: [{"budget": 0.0, "program": p} for p in programs] for t, programs in LIBRARY.items()},
        router={"layer": ROUTER_LAYER, "step_types": STEP_TYPES, "threshold": threshold},
        training={"seed": 0},
    )
    data = json.loads(manifest.model_dump_json())
    for entries in data["library"].values():
        for entry in entries:
            entry["budget"] = round(LayerProgram.parse(entry["program"], N_LAYERS).cost, 4)
    return data


def write_pack(path, model, net: RouterNet | None = None, lora_std: float = 0.1, seed: int = 0):
    """A pack directory for ``model``; returns the peft model whose adapter it holds (on a copy)."""
    from peft import LoraConfig, get_peft_model

    path.mkdir(parents=True, exist_ok=True)
    (path / MANIFEST).write_text(json.dumps(manifest_dict(model), indent=2))
    (net or router_net()).save(path / ROUTER_FILE)
    peft_model = get_peft_model(
        copy.deepcopy(model.hf_model), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"])
    )
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_B" in name:
                param.normal_(0.0, lora_std)  # peft starts lora_B at zero: an adapter that changes nothing
    peft_model.save_pretrained(str(path / "adapter"))
    return peft_model.eval()


def edit_manifest(path, change) -> None:
    data = json.loads((path / MANIFEST).read_text())
    change(data)
    (path / MANIFEST).write_text(json.dumps(data))


def full_logits(model, text: str = "What is the capital of France?") -> torch.Tensor:
    with torch.inference_mode():
        return model.hf_model(torch.tensor([model.encode(text)])).logits[0].float()


@pytest.fixture(autouse=True)
def _calibration_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTROUTE_CACHE", str(tmp_path / "cache"))


# -- loading ----------------------------------------------------------------------------------


def test_load_pack_merges_the_adapter(tmp_path):
    model = fresh_model()
    peft_model = write_pack(tmp_path / "pack", model)
    before = full_logits(model)
    pack = load_pack(model, tmp_path / "pack")
    assert isinstance(pack, RoutePack)
    assert pack.path == tmp_path / "pack"
    after = full_logits(model)
    assert (after - before).abs().max() > 1e-2, "the adapter changed nothing"
    # Merged: plain modules again (no peft wrapper), and the same function as the unmerged adapter.
    assert not any("lora_" in name for name, _ in model.hf_model.named_parameters())
    with torch.inference_mode():
        expected = peft_model(torch.tensor([model.encode("What is the capital of France?")])).logits[0].float()
    torch.testing.assert_close(after, expected, atol=1e-4, rtol=1e-4)
    # The fingerprint still matches: the embedding is not adapted.
    assert not fingerprint_mismatches(pack.manifest.model, model_fingerprint(model))


def test_pack_applied_model_generates_with_new_weights(tmp_path):
    model = fresh_model()
    peft_model = write_pack(tmp_path / "pack", model)
    prompt = "Summarise: the cat sat on the mat."
    old = model.generate(prompt, max_new_tokens=8, ignore_eos=True)  # fills the prefix cache with old weights
    model.pack = load_pack(model, tmp_path / "pack")
    new = model.generate(prompt, max_new_tokens=8, ignore_eos=True)
    reference = RoutedModel(peft_model.merge_and_unload(), model.tokenizer, name="reference")
    expected = reference.generate(prompt, max_new_tokens=8, ignore_eos=True)
    assert new.token_ids == expected.token_ids, "a prefix cached with the old weights was reused"
    assert new.token_ids != old.token_ids
    assert len(new.token_ids) == 8
    # Programs still run on the merged weights.
    skip = model.generate(prompt, program="0,2-5", max_new_tokens=4, ignore_eos=True)
    assert skip.record.program == "0,2-5" and len(skip.token_ids) == 4


def test_load_with_pack_sets_pack_and_policy(tmp_path):
    checkpoint = save_tiny(tmp_path / "model", "llama", n_layers=N_LAYERS)
    plain = agentroute.load(checkpoint)
    write_pack(tmp_path / "pack", plain)
    model = agentroute.load(checkpoint, pack=tmp_path / "pack")
    assert isinstance(model.pack, RoutePack)
    assert model.policy.budget_for(StepType.TOOL_CALL) == 0.7
    assert model.policy.budget_for(StepType.PLANNING) == 0.9
    assert (full_logits(model) - full_logits(plain)).abs().max() > 1e-2
    # An explicit policy wins over the pack's.
    explicit = agentroute.load(checkpoint, pack=tmp_path / "pack", policy={"budgets": {"tool_call": 0.5}})
    assert explicit.policy.budget_for(StepType.TOOL_CALL) == 0.5


def test_a_pack_prompts_tools_in_the_style_it_was_trained_on(tmp_path):
    checkpoint = save_tiny(tmp_path / "model", "llama", n_layers=N_LAYERS)
    plain = agentroute.load(checkpoint)
    write_pack(tmp_path / "pack", plain)
    assert agentroute.load(checkpoint, pack=tmp_path / "pack").tool_style == "json"  # packs before the field
    edit_manifest(tmp_path / "pack", lambda data: data.update(tool_style="signature"))
    assert agentroute.load(checkpoint, pack=tmp_path / "pack").tool_style == "signature"
    assert not agentroute.load(checkpoint, pack=tmp_path / "pack").said_values  # packs before the field
    edit_manifest(tmp_path / "pack", lambda data: data.update(said_values=True))
    assert agentroute.load(checkpoint, pack=tmp_path / "pack").said_values
    edit_manifest(tmp_path / "pack", lambda data: data.update(tool_style="yaml"))
    with pytest.raises(PackError, match="tool_style"):
        agentroute.load(checkpoint, pack=tmp_path / "pack")


# -- errors -------------------------------------------------------------------------------------


def test_missing_manifest(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PackError, match=r"not a route pack \(no pack.json\)"):
        load_pack(fresh_model(), tmp_path / "empty")
    with pytest.raises(PackError, match="not a route pack"):
        load_pack(fresh_model(), tmp_path / "does-not-exist")


def test_wrong_format(tmp_path):
    model = fresh_model()
    write_pack(tmp_path, model)
    edit_manifest(tmp_path, lambda d: d.update(format="agentroute-pack/0"))
    with pytest.raises(PackError, match=r"pack format 'agentroute-pack/0'.*'agentroute-pack/1'"):
        load_pack(model, tmp_path)


def test_invalid_manifest(tmp_path):
    model = fresh_model()
    write_pack(tmp_path, model)
    (tmp_path / MANIFEST).write_text("{not json")
    with pytest.raises(PackError, match="not a valid pack manifest"):
        load_pack(model, tmp_path)
    write_pack(tmp_path, model)
    edit_manifest(tmp_path, lambda d: d["router"].update(step_types=["thinking"]))
    with pytest.raises(PackError, match="not a valid pack manifest"):
        load_pack(model, tmp_path)


@pytest.mark.parametrize(
    ("key", "value"),
    [("n_layers", N_LAYERS + 2), ("embedding_probe", [0.5] * 32), ("hidden_size", 128), ("model_type", "qwen2")],
)
def test_fingerprint_mismatch(tmp_path, key, value):
    model = fresh_model()
    write_pack(tmp_path, model)
    edit_manifest(tmp_path, lambda d: d["model"].update({key: value}))
    before = full_logits(model)
    shown = re.escape(repr(value) if len(repr(value)) <= 60 else repr(value)[:57])
    with pytest.raises(PackError, match=rf"trained for .*\({key}={shown}.*\).*does not fit.*\({key}="):
        load_pack(model, tmp_path)
    # Checked before any weights are touched.
    torch.testing.assert_close(full_logits(model), before, atol=0, rtol=0)


def test_pack_of_another_model_is_refused(tmp_path):
    write_pack(tmp_path, fresh_model(seed=1))
    with pytest.raises(PackError, match="embedding_probe"):
        load_pack(fresh_model(seed=0), tmp_path)


def test_pack_from_before_probes_names_the_fingerprint(tmp_path):
    model = fresh_model()
    write_pack(tmp_path, model)
    edit_manifest(tmp_path, lambda d: d["model"].pop("embedding_probe"))
    with pytest.raises(PackError, match="embedding_probe=None"):
        load_pack(model, tmp_path)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_pack_trained_in_float32_loads_in_other_dtypes(tmp_path, dtype):
    write_pack(tmp_path, fresh_model())
    model = fresh_model()
    model.attach_weights(model.hf_model.to(dtype))
    pack = load_pack(model, tmp_path)
    assert pack.manifest.model["embedding_probe"]
    assert model.dtype == dtype


@pytest.mark.parametrize("missing", [ROUTER_FILE, "adapter/adapter_config.json", "adapter/adapter_model.safetensors"])
def test_missing_files(tmp_path, missing):
    model = fresh_model()
    write_pack(tmp_path, model)
    (tmp_path / missing).unlink()
    before = full_logits(model)
    with pytest.raises(PackError, match=f"missing {missing}"):
        load_pack(model, tmp_path)
    torch.testing.assert_close(full_logits(model), before, atol=0, rtol=0)


def test_router_that_does_not_fit_the_library(tmp_path):
    model = fresh_model()
    write_pack(tmp_path, model)
    RouterNet(HIDDEN, STEP_TYPES, N_PROGRAMS + 1).save(tmp_path / ROUTER_FILE)
    with pytest.raises(PackError, match="cannot read the router"):
        load_pack(model, tmp_path)
    (tmp_path / ROUTER_FILE).write_bytes(b"not safetensors")
    with pytest.raises(PackError, match="cannot read the router"):
        load_pack(model, tmp_path)


def test_unreadable_adapter(tmp_path):
    model = fresh_model()
    write_pack(tmp_path, model)
    (tmp_path / "adapter" / "adapter_config.json").write_text("{broken")
    with pytest.raises(PackError, match="cannot load the LoRA adapter"):
        load_pack(model, tmp_path)


# -- predict and choose ---------------------------------------------------------------------------


def loaded_pack(tmp_path, net: RouterNet, threshold: float = 0.5) -> tuple[RoutedModel, RoutePack]:
    model = fresh_model()
    write_pack(tmp_path, model, net)
    if threshold != 0.5:
        edit_manifest(tmp_path, lambda d: d["router"].update(threshold=threshold))
    model.pack = load_pack(model, tmp_path)
    return model, model.pack


def test_library_and_router_round_trip(tmp_path):
    net = RouterNet(HIDDEN, STEP_TYPES, N_PROGRAMS)
    torch.nn.init.normal_(net.type_head.weight)
    torch.nn.init.normal_(net.safe_head.weight)
    net.mean.normal_()
    model, pack = loaded_pack(tmp_path, net.eval())
    assert {t: [str(p) for p in programs] for t, programs in pack.library.items()} == LIBRARY
    assert pack.flat == [LayerProgram.parse(p, N_LAYERS) for t in STEP_TYPES for p in LIBRARY[t]]
    features = pack.features(model, model.encode(TOOL_REQUEST))
    assert features.shape == (2 * HIDDEN,)
    torch.testing.assert_close(features, prompt_features(model.parts, model.encode(TOOL_REQUEST), ROUTER_LAYER))
    with torch.no_grad():
        expected = net(features[None])
        got = pack.router(features[None])
    for a, b in zip(expected, got, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("step_type", STEP_TYPES)
def test_predict_reads_the_type_head(tmp_path, step_type):
    bias = [5.0 if t == step_type else 0.0 for t in STEP_TYPES]
    model, pack = loaded_pack(tmp_path, router_net(type_bias=bias))
    predicted, safety = pack.predict(pack.features(model, model.encode(PLAN_REQUEST)))
    assert predicted == step_type
    assert len(safety) == len(LIBRARY[step_type])
    assert all(0.0 <= s <= 1.0 for s in safety)


def test_predict_safety_is_per_program_of_the_type(tmp_path):
    # One distinct safety per library program, in library order (tool_call, planning, final_answer).
    safe_bias = [3.0, -3.0, 1.0, 2.0, -1.0, 0.5]
    model, pack = loaded_pack(tmp_path, router_net(type_bias=[0.0, 5.0, 0.0], safe_bias=safe_bias))
    features = pack.features(model, model.encode(TOOL_REQUEST))
    expected = torch.sigmoid(torch.tensor(safe_bias)).tolist()
    step, safety = pack.predict(features, StepType.TOOL_CALL)  # a known type overrides the type head
    assert step == StepType.TOOL_CALL
    assert safety == pytest.approx(expected[0:3], abs=1e-6)
    assert pack.predict(features)[1] == pytest.approx(expected[3:4], abs=1e-6)  # predicted: planning
    assert pack.predict(features, StepType.FINAL_ANSWER)[1] == pytest.approx(expected[4:6], abs=1e-6)


def test_choose(tmp_path):
    _, pack = loaded_pack(tmp_path, router_net())
    cheap, middle, dear = pack.library[StepType.TOOL_CALL]
    assert cheap.cost < middle.cost < dear.cost
    tool = StepType.TOOL_CALL
    # The cheapest program predicted safe...
    assert pack.choose(tool, [0.9, 0.9, 0.9], 1.0) == cheap
    assert pack.choose(tool, [0.1, 0.8, 0.9], 1.0) == middle
    assert pack.choose(tool, [0.1, 0.5, 0.9], 1.0) == middle  # the threshold itself counts as safe
    # ... within the budget only ...
    assert pack.choose(tool, [0.1, 0.2, 0.9], 0.7) == middle
    assert pack.choose(tool, [0.1, 0.8, 0.9], 4 / 6) == middle  # a budget equal to the cost fits
    # ... else the dearest within the budget.
    assert pack.choose(tool, [0.1, 0.2, 0.3], 1.0) == dear
    assert pack.choose(tool, [0.1, 0.2, 0.3], 0.7) == middle
    assert pack.choose(tool, [0.1, 0.2, 0.3], 0.5) == cheap
    # None when nothing fits, or the type has no library.
    assert pack.choose(tool, [0.9, 0.9, 0.9], 0.4) is None
    assert pack.choose(StepType.REASONING, [], 1.0) is None
    assert pack.choose(StepType.PLANNING, [0.9], 0.8) is None
    for budget in (0.5, 0.6, 0.7, 0.9, 1.0):
        for safety in ([0.9] * 3, [0.0] * 3, [0.0, 0.9, 0.0]):
            chosen = pack.choose(tool, safety, budget)
            assert chosen is not None and chosen.cost <= budget + 1e-9


def test_choose_uses_the_manifest_threshold(tmp_path):
    _, pack = loaded_pack(tmp_path, router_net(), threshold=0.95)
    cheap, middle, dear = pack.library[StepType.TOOL_CALL]
    assert pack.choose(StepType.TOOL_CALL, [0.9, 0.96, 0.99], 1.0) == middle


# -- the Router with a pack ---------------------------------------------------------------------


def test_tool_step_decodes_with_a_pack_program(tmp_path):
    # Type head: tool_call; safety: only the middle tool_call program is predicted safe.
    safe_bias = [-5.0, 5.0, 5.0, 0.0, 0.0, 0.0]
    model, pack = loaded_pack(tmp_path, router_net(type_bias=[5.0, 0.0, 0.0], safe_bias=safe_bias))
    model.router.policy = DepthPolicy(budgets={"tool_call": 0.7})
    result = model.generate(TOOL_REQUEST, tools=[WEATHER], max_new_tokens=4)
    record = result.record
    assert record.step_type == StepType.TOOL_CALL and record.step_type_source == "router"
    assert record.budget == 0.7
    assert record.program == LIBRARY[StepType.TOOL_CALL][1]
    assert record.program in {str(p) for p in pack.library[StepType.TOOL_CALL]}
    assert record.layers_fraction <= 0.7


def test_pack_falls_back_to_the_dearest_program_within_budget(tmp_path):
    model, _ = loaded_pack(tmp_path, router_net(type_bias=[5.0, 0.0, 0.0], safe_bias=[-5.0] * N_PROGRAMS))
    model.router.policy = DepthPolicy(budgets={"tool_call": 0.7})
    record = model.generate(TOOL_REQUEST, tools=[WEATHER], max_new_tokens=4).record
    assert record.program == LIBRARY[StepType.TOOL_CALL][1]  # 4/6: the dearest within 0.7
    # A caller budget is served from the library too.
    record = model.generate(TOOL_REQUEST, tools=[WEATHER], budget=0.55, max_new_tokens=4).record
    assert record.program == LIBRARY[StepType.TOOL_CALL][0]
    assert record.budget == 0.55


def test_lossless_drafts_are_the_pack_programs_within_each_draft_budget(tmp_path):
    model, _ = loaded_pack(tmp_path, router_net(type_bias=[5.0, 0.0, 0.0], safe_bias=[-5.0] * N_PROGRAMS))
    model.router.policy = DepthPolicy(
        budgets={"tool_call": 0.7, "final_answer": 0.9},
        modes={"tool_call": "lossless", "planning": "lossless", "final_answer": "routed"},
        draft_budgets={"planning": 1.0},
    )
    drafts = [str(p) for p in model.router.lossless_drafts()]
    # Tool calls: the two library programs within 0.7 (the router picks among them); planning
    # drafts at full depth; final answers decode routed and draft nothing.
    assert drafts == [*LIBRARY[StepType.TOOL_CALL][:2], "0-5"]
    step = model.generate(TOOL_REQUEST, tools=[WEATHER], max_new_tokens=4)
    assert step.record.mode == "lossless" and step.record.draft_program in drafts


def test_planning_prompt_with_tools_is_typed_by_the_router(tmp_path):
    model, pack = loaded_pack(tmp_path, router_net(type_bias=[0.0, 5.0, 0.0], safe_bias=[5.0] * N_PROGRAMS))
    model.router.policy = DepthPolicy(budgets={"tool_call": 0.6, "planning": 0.9})
    record = model.generate(PLAN_REQUEST, tools=[WEATHER], max_new_tokens=4).record
    # Without the router the weak rule would call this a tool call.
    assert record.step_type == StepType.PLANNING
    assert record.step_type_source == "router"
    assert record.budget == 0.9
    assert record.program == LIBRARY[StepType.PLANNING][0]


def test_settled_steps_do_not_ask_the_router(tmp_path):
    model, _ = loaded_pack(tmp_path, router_net(type_bias=[0.0, 5.0, 0.0]))
    model.router.policy = DepthPolicy(hint_map={"planner": "planning", "tools": "tool_call"})

    def typed(messages, **kwargs):
        record = model.generate(messages, tools=[WEATHER], max_new_tokens=2, **kwargs).record
        return record.step_type, record.step_type_source

    assert typed(PLAN_REQUEST, step_type="reasoning") == (StepType.REASONING, "caller")
    assert typed(PLAN_REQUEST, hints={"node": "tools"}) == (StepType.TOOL_CALL, "hint")
    assert typed(PLAN_REQUEST, hints={"tool_choice": "required"}) == (StepType.TOOL_CALL, "rule")
    after_tool = TOOL_REQUEST + [
        {"role": "assistant", "content": "", "tool_calls": [{"id": "1", "name": "get_weather", "arguments": {}}]},
        {"role": "tool", "tool_call_id": "1", "name": "get_weather", "content": "18C"},
    ]
    assert typed(after_tool) == (StepType.FINAL_ANSWER, "rule")
    assert typed(PLAN_REQUEST) == (StepType.PLANNING, "router")


def test_without_a_pack_the_weak_rule_types_tool_steps():
    model = fresh_model()
    record = model.generate(PLAN_REQUEST, tools=[WEATHER], max_new_tokens=2).record
    assert (record.step_type, record.step_type_source) == (StepType.TOOL_CALL, "rule")


def test_full_budget_keeps_full_depth_with_a_pack(tmp_path):
    model, _ = loaded_pack(tmp_path, router_net(type_bias=[5.0, 0.0, 0.0], safe_bias=[5.0] * N_PROGRAMS))
    model.router.policy = DepthPolicy()  # every budget 1.0
    record = model.generate(TOOL_REQUEST, tools=[WEATHER], max_new_tokens=2).record
    assert record.program == f"0-{N_LAYERS - 1}"
    assert record.step_type_source == "router"
