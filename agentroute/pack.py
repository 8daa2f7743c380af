"""Route packs: a directory that adapts one base model for layer routing.

Layout::

    pack.json            manifest (format, model fingerprint, policy, program library, router,
                         data version, training command and seed, metrics)
    adapter/             peft LoRA adapter (adapter_config.json + adapter_model.safetensors)
    router.safetensors   the router's weights (``router_net``)
    decline.safetensors  optional: the no-tool-fits head (``decline_head``), in packs trained on
                         data with no-tool-fits rows
    replies.safetensors  optional: the model's own full-depth replies on training steps, which
                         lossless mode drafts from (``decode.reply_store``)

Loading checks the manifest against the model before touching any weights: a pack loads only into
the model it was trained for (same layer count, width, vocabulary and embedding checksum), whatever
its quantization. Only JSON and safetensors are read: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, Field, ValidationError

from agentroute.decode.reply_store import ReplyStore
from agentroute.errors import AgentRouteError
from agentroute.model.program import LayerProgram
from agentroute.quiet import quiet_peft
from agentroute.steps.decline_head import DeclineHead
from agentroute.steps.policy import DepthPolicy
from agentroute.steps.records import StepType
from agentroute.steps.router_net import RouterNet, prompt_features, safety_columns
from agentroute.steps.tools import ToolStyle

PACK_FORMAT = "agentroute-pack/1"
MANIFEST = "pack.json"
ROUTER_FILE = "router.safetensors"
DECLINE_FILE = "decline.safetensors"
REPLIES_FILE = "replies.safetensors"
ADAPTER_DIR = "adapter"
BUILTIN_PACKS = ("default",)


class PackError(AgentRouteError, ValueError):
    """A route pack that cannot be used: missing files, bad manifest, or trained for another model."""


class LibraryEntry(BaseModel):
    budget: float
    program: str


class RouterSpec(BaseModel):
    layer: int = Field(description="features are read after this many decoder layers")
    step_types: list[StepType]
    threshold: float = Field(0.5, description="a program is chosen when its predicted safety reaches this")


class DeclineSpec(BaseModel):
    layer: int = Field(description="the last prompt token's hidden state is read after this many decoder layers")
    threshold: float = Field(description="a tool-call step answers in words when P(no tool fits) reaches this")


class RepliesSpec(BaseModel):
    count: int = Field(description="replies in the store")
    tokens: int = Field(description="tokens in the store")
    max_new_tokens: int = Field(description="each reply's length limit")


class PackManifest(BaseModel):
    format: str
    model: dict[str, Any]
    # How the pack's prompts write tools (``steps.tools.TOOL_STYLES``): it was trained on one.
    tool_style: ToolStyle = "json"
    # Whether the pack writes declared dates and times as the user said them (``steps.said_values``):
    # its grammar then admits a phrase there, which parsing resolves.
    said_values: bool = False
    policy: dict[str, Any]
    library: dict[StepType, list[LibraryEntry]]
    router: RouterSpec
    decline: DeclineSpec | None = None
    replies: RepliesSpec | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    training: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


# Fingerprint keys that must match for a pack or programs file to fit a model (the name may differ).
MATCHING_KEYS = ("model_type", "n_layers", "hidden_size", "vocab_size", "embedding_probe")
_PROBE_SIZE = 32
# A probe value matches within bfloat16's and float16's rounding of it (2^-8 relative), with room.
_PROBE_RTOL, _PROBE_ATOL = 1e-2, 1e-4


def model_fingerprint(model) -> dict[str, Any]:
    """Identity of a base model that survives quantization and the compute dtype: shapes plus
    embedding values at fixed positions (bitsandbytes never quantizes the embedding), compared
    within a bf16 rounding (``fingerprint_mismatches``), so a pack trained in float32 loads in
    bfloat16 or float16 and the other way round."""
    config = model.hf_model.config
    embed = model.parts.embed.weight
    rows = torch.linspace(0, embed.shape[0] - 1, _PROBE_SIZE).long()
    cols = (rows * 7919) % embed.shape[1]
    with torch.inference_mode():
        probe = embed[rows.to(embed.device), cols.to(embed.device)].float().cpu().tolist()
    return {
        "name": model.name,
        "model_type": config.model_type,
        "n_layers": model.n_layers,
        "hidden_size": config.hidden_size,
        "vocab_size": int(embed.shape[0]),
        "embedding_probe": [float(f"{v:.6g}") for v in probe],
    }


def fingerprint_mismatches(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """Keys of ``MATCHING_KEYS`` on which a recorded fingerprint and a model's differ.

    A fingerprint written before probes (``embedding_sha256`` only, a float32 checksum) is
    reported as ``embedding_probe``: it cannot be checked in another dtype.
    """
    wrong = [k for k in MATCHING_KEYS[:-1] if expected.get(k) != actual.get(k)]
    recorded, probe = expected.get("embedding_probe"), actual["embedding_probe"]
    if not isinstance(recorded, list) or len(recorded) != len(probe):
        wrong.append("embedding_probe")
    elif any(abs(a - b) > _PROBE_RTOL * abs(b) + _PROBE_ATOL for a, b in zip(probe, recorded, strict=True)):
        wrong.append("embedding_probe")
    return wrong


def resolve_pack_dir(pack: str | Path) -> Path:
    """``"default"`` -> the pack shipped in the package; otherwise a directory path."""
    if str(pack) in BUILTIN_PACKS:
        path = Path(str(resources.files("agentroute") / "packs" / str(pack)))
    else:
        path = Path(pack).expanduser()
    if not (path / MANIFEST).is_file():
        raise PackError(
            f"{path} is not a route pack (no {MANIFEST}); pass 'default' or a directory written by "
            "`agentroute train --out DIR`"
        )
    return path


def write_manifest(out: Path, manifest: dict) -> None:
    """``out/pack.json``, replaced whole: a crash mid-write leaves the old one, never half of one."""
    partial = out / (MANIFEST + ".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, out / MANIFEST)


def read_manifest(path: Path) -> PackManifest:
    try:
        manifest = PackManifest.model_validate_json((path / MANIFEST).read_text(encoding="utf-8"))
    except (ValidationError, ValueError, OSError) as exc:
        raise PackError(f"{path / MANIFEST} is not a valid pack manifest: {exc}") from exc
    if manifest.format != PACK_FORMAT:
        raise PackError(f"{path} has pack format {manifest.format!r}; this release reads {PACK_FORMAT!r}")
    return manifest


class RoutePack:
    """A loaded pack: its manifest, library of programs and router, bound to one model."""

    def __init__(
        self,
        path: Path,
        manifest: PackManifest,
        router: RouterNet,
        n_layers: int,
        decline: DeclineHead | None = None,
        replies: ReplyStore | None = None,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.router = router
        self.decline_head = decline  # with manifest.decline: the no-tool-fits head
        self.reply_store = replies  # with manifest.replies: lossless mode's store of the model's replies
        self.library: dict[StepType, list[LayerProgram]] = {
            t: [LayerProgram.parse(e.program, n_layers) for e in entries] for t, entries in manifest.library.items()
        }
        self.columns, _ = safety_columns(self.library, manifest.router.step_types)
        self.flat = [p for t in manifest.router.step_types for p in self.library.get(t, [])]

    def __str__(self) -> str:
        return str(self.path)

    @property
    def policy(self) -> DepthPolicy:
        return DepthPolicy.from_dict(self.manifest.policy)

    def features(self, model, prompt_ids) -> torch.Tensor:
        return prompt_features(model.parts, prompt_ids, self.manifest.router.layer)

    def predict(self, features: torch.Tensor, step_type: StepType | None = None) -> tuple[StepType, list[float]]:
        """Predicted step type (or ``step_type`` when known) and safety per library program of it."""
        types = self.manifest.router.step_types
        known = torch.tensor([types.index(step_type)]) if step_type in types else None
        with torch.inference_mode():
            type_logits, safe_logits = self.router(features[None], known)
        chosen = types[int(type_logits.argmax(-1))] if known is None else step_type
        return chosen, torch.sigmoid(safe_logits[0, self.columns[chosen]]).tolist()

    def choose(self, step_type: StepType, safety: list[float], budget: float) -> LayerProgram | None:
        """The cheapest program of ``step_type`` within ``budget`` predicted safe, else the dearest
        within the budget; None when the library has none within it."""
        within = [(p, s) for p, s in zip(self.library.get(step_type, []), safety, strict=False)]
        within = [(p, s) for p, s in within if p.cost <= budget + 1e-9]
        if not within:
            return None
        for program, prob in within:  # cheapest first
            if prob >= self.manifest.router.threshold:
                return program
        return within[-1][0]


def load_pack(model, pack: str | Path) -> RoutePack:
    """Check ``pack`` against ``model``, apply its adapter to ``model.hf_model``, set ``model.pack``."""
    if getattr(model, "pack", None) is not None:
        raise PackError(f"{model.name} already has route pack {model.pack} applied; load the model again for another")
    path = resolve_pack_dir(pack)
    manifest = read_manifest(path)
    expected, actual = manifest.model, model_fingerprint(model)
    wrong = fingerprint_mismatches(expected, actual)
    if wrong:
        key = wrong[0]
        raise PackError(
            f"route pack {path} was trained for {expected.get('name')!r} ({key}={_short(expected.get(key))}) and "
            f"does not fit the loaded model {actual['name']!r} ({key}={_short(actual[key])}); load the model it was "
            "trained for or train a pack for this one with `agentroute train`"
        )
    for needed in (ROUTER_FILE, f"{ADAPTER_DIR}/adapter_config.json", f"{ADAPTER_DIR}/adapter_model.safetensors"):
        if not (path / needed).is_file():
            raise PackError(f"route pack {path} is missing {needed}; retrain it or copy the whole directory")
    _, n_programs = safety_columns(manifest.library, manifest.router.step_types)
    hidden = actual["hidden_size"]
    router = _read_part(
        path, ROUTER_FILE, "router", lambda f: RouterNet.load(f, hidden, manifest.router.step_types, n_programs)
    )
    decline = None
    if manifest.decline is not None:
        if not 0 < manifest.decline.layer <= model.n_layers:
            raise PackError(
                f"route pack {path} reads its no-tool-fits head after layer {manifest.decline.layer}, but "
                f"{actual['name']} has {model.n_layers} layers; retrain the pack"
            )
        decline = _read_part(path, DECLINE_FILE, "no-tool-fits head", lambda f: DeclineHead.load(f, hidden))
    replies = None
    if manifest.replies is not None:
        vocab = actual["vocab_size"]
        replies = _read_part(path, REPLIES_FILE, "reply store", lambda f: ReplyStore.load(f, vocab))
    apply_adapter(model, path / ADAPTER_DIR)
    model.pack = RoutePack(path, manifest, router, model.n_layers, decline, replies)
    model.reply_store = replies
    model.tool_style = manifest.tool_style
    model.said_values = manifest.said_values
    return model.pack


def _read_part(path: Path, file: str, what: str, read):
    """``read(path / file)``, or a PackError naming the pack, the file and the fix."""
    try:
        return read(path / file)
    except Exception as exc:  # a missing or damaged file: safetensors/torch raise several types
        raise PackError(
            f"cannot read the {what} of route pack {path} ({file}: {exc}); copy the whole pack directory or retrain it"
        ) from exc


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def apply_adapter(model, adapter_dir: Path) -> None:
    """Load the LoRA adapter; merged into the weights unless they are quantized (then kept beside)."""
    with quiet_peft():
        from peft import PeftConfig, PeftModel
    from safetensors import safe_open

    try:  # read both files before peft injects anything, so a bad adapter leaves the model as it was
        PeftConfig.from_pretrained(str(adapter_dir))
        with safe_open(str(adapter_dir / "adapter_model.safetensors"), framework="pt") as weights:
            list(weights.keys())
    except Exception as exc:  # peft/safetensors raise several types for unreadable files
        raise PackError(f"cannot load the LoRA adapter in {adapter_dir}: {exc}") from exc
    try:
        with quiet_peft():
            peft_model = PeftModel.from_pretrained(model.hf_model, str(adapter_dir))
    except Exception as exc:  # peft raises ValueError/KeyError/OSError for unreadable adapters
        raise PackError(f"cannot load the LoRA adapter in {adapter_dir}: {exc}") from exc
    merged = peft_model.merge_and_unload() if model.quantization is None else peft_model
    model.attach_weights(merged.eval())
