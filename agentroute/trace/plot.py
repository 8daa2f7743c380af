"""One picture of a trace: which layers each step ran, its tokens and its latency.

Uses matplotlib's object API with the Agg canvas (no pyplot), so plotting never touches the
caller's global backend or open figures.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from agentroute.errors import AgentRouteError
from agentroute.model.program import LayerProgram
from agentroute.steps.records import StepRecord, StepType

STEP_COLORS = {
    StepType.TOOL_CALL: "#1b9e77",
    StepType.PLANNING: "#7570b3",
    StepType.REASONING: "#d95f02",
    StepType.FINAL_ANSWER: "#1f78b4",
    StepType.OTHER: "#969696",
}
# Layer cells: skipped, ran once, looped (ran twice or more). Neutral tones keep the step-type colours readable.
_LAYER_CMAP = ListedColormap(["#f4f4f4", "#8c96a8", "#1d2533"])
_MAX_ANNOTATED_STEPS = 40  # beyond this, per-step labels overlap


def plot_trace(records: Sequence[StepRecord], out_path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Draw ``records`` (in order) as a PNG at ``out_path`` and return the path.

    Top: layers run per step (skipped light, once mid grey, looped dark) under a band coloured by
    step type. Middle: prompt (reused and new) and completion tokens. Bottom: latency with the
    time to first token shaded, coloured by step type; errors are marked.
    """
    records = list(records)
    if not records:
        raise AgentRouteError("the trace has no step records to plot")
    n_layers = model_layer_count(records)
    steps = np.arange(1, len(records) + 1)
    annotate = len(records) <= _MAX_ANNOTATED_STEPS

    width = min(22.0, max(9.0, 5.5 + 0.45 * len(records)))
    fig = Figure(figsize=(width, 9.5), dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(4, 1, height_ratios=[0.35, 3.2, 1.5, 1.5])
    band = fig.add_subplot(grid[0])
    layers_ax = fig.add_subplot(grid[1], sharex=band)
    tokens_ax = fig.add_subplot(grid[2], sharex=band)
    latency_ax = fig.add_subplot(grid[3], sharex=band)

    colors = [STEP_COLORS.get(StepType(r.step_type), "#969696") for r in records]
    _draw_type_band(band, records, steps, colors, annotate)
    _draw_layers(layers_ax, records, steps, n_layers)
    _draw_tokens(tokens_ax, records, steps, annotate)
    _draw_latency(latency_ax, records, steps, colors, annotate)

    latency_ax.set_xlabel("step")
    latency_ax.set_xticks(steps if annotate else latency_ax.get_xticks())
    latency_ax.set_xlim(0.5, len(records) + 0.5)
    for ax in (band, layers_ax, tokens_ax):
        ax.tick_params(labelbottom=False)
    fig.suptitle(_title(records, n_layers), fontsize=12, fontweight="bold")

    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi, facecolor="white")
    return out


def model_layer_count(records: Sequence[StepRecord]) -> int:
    """Decoder layers of the traced model: the most any record shows (indices, or count / fraction)."""
    count = 1
    for record in records:
        layers = _layers_of(record, None)
        if layers:
            count = max(count, max(layers) + 1)
        if record.layers_fraction > 0:
            # layers_fraction = layers_per_token / n_layers, so this recovers layers a program skipped at the end.
            count = max(count, round(record.layers_per_token / record.layers_fraction))
    return count


def _layers_of(record: StepRecord, n_layers: int | None) -> list[int]:
    if record.layers_executed is not None and record.layers_executed.which:
        return list(record.layers_executed.which)
    text = record.program.strip().lower()
    if text in {"full", "all"}:
        return list(range(n_layers)) if n_layers else []
    try:
        # The parser checks indices against a layer count; any large bound reads the string as written.
        return list(LayerProgram.parse(record.program, n_layers or 1 << 20).layers)
    except AgentRouteError:
        return []


def _draw_type_band(ax, records, steps, colors, annotate: bool) -> None:
    for step, color in zip(steps, colors, strict=True):
        ax.axvspan(step - 0.5, step + 0.5, color=color, linewidth=0)
    if annotate:
        for step, record in zip(steps, records, strict=True):
            mark = ""
            if record.step_type_observed is not None and record.step_type_observed != record.step_type:
                mark = " ≠"  # the reply turned out to be another type than predicted
            ax.text(
                step,
                0.5,
                f"{record.layers_fraction:.0%}{mark}",
                ha="center",
                va="center",
                color="white",
                fontsize=8,
                fontweight="bold",
            )
    ax.set_yticks([])
    ax.set_ylim(0, 1)
    ax.set_ylabel("type", rotation=0, ha="right", va="center")
    for side in ("top", "right", "left", "bottom"):
        ax.spines[side].set_visible(False)
    present = [t for t in StepType if any(StepType(r.step_type) == t for r in records)]
    handles = [Patch(color=STEP_COLORS[t], label=t.value.replace("_", " ")) for t in present]
    ax.legend(
        handles=handles,
        loc="lower left",
        bbox_to_anchor=(0, 1.05),
        ncol=len(handles),
        frameon=False,
        fontsize=9,
        title="step type (label: layer cost, ≠ = observed type differs)",
        title_fontsize=8,
        alignment="left",
    )


def _draw_layers(ax, records, steps, n_layers: int) -> None:
    grid = np.zeros((n_layers, len(records)))
    for column, record in enumerate(records):
        for layer in _layers_of(record, n_layers):
            if 0 <= layer < n_layers:
                grid[layer, column] += 1
    # 0 skipped, 1 once, 2 looped: more repeats draw the same as a loop.
    ax.imshow(
        np.minimum(grid, 2),
        cmap=_LAYER_CMAP,
        vmin=0,
        vmax=2,
        aspect="auto",
        origin="lower",
        interpolation="nearest",
        extent=(0.5, len(records) + 0.5, -0.5, n_layers - 0.5),
    )
    # Thin white gaps make adjacent columns readable as separate programs; with many steps they would hide them.
    if len(records) <= _MAX_ANNOTATED_STEPS:
        for x in steps[:-1]:
            ax.axvline(x + 0.5, color="white", linewidth=1.5)
    ax.set_ylabel("decoder layer")
    ax.yaxis.set_major_locator(MaxNLocator(nbins=8, integer=True))
    ax.legend(
        handles=[
            Patch(facecolor=c, edgecolor="#bbbbbb", label=label)
            for c, label in zip(_LAYER_CMAP.colors, ["skipped", "ran", "looped (2+)"], strict=True)
        ],
        loc="upper left",
        bbox_to_anchor=(1.005, 1),
        frameon=False,
        fontsize=9,
        title="layer",
        title_fontsize=9,
    )


def _draw_tokens(ax, records, steps, annotate: bool) -> None:
    reused = np.array([r.reused_prompt_tokens for r in records])
    new = np.array([r.prompt_tokens for r in records]) - reused
    completion = np.array([r.completion_tokens for r in records])
    ax.bar(steps, reused, width=0.7, color="#c6dbef", label="prompt (reused KV)")
    ax.bar(steps, new, width=0.7, bottom=reused, color="#6baed6", label="prompt (new)")
    ax.bar(steps, completion, width=0.7, bottom=reused + new, color="#08306b", label="completion")
    if annotate:
        for step, top, done in zip(steps, reused + new + completion, completion, strict=True):
            ax.annotate(
                f"+{done}",
                (step, top),
                xytext=(0, 2),
                textcoords="offset points",
                ha="center",
                va="bottom",
                fontsize=7,
                color="#08306b",
            )
    ax.set_ylabel("tokens")
    ax.margins(y=0.18)
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1), frameon=False, fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _label_above(ax, text: str, xy, **style) -> None:
    """A small label centred just above a bar top."""
    ax.annotate(text, xy, xytext=(0, 2), textcoords="offset points", ha="center", va="bottom", **style)


def _draw_latency(ax, records, steps, colors, annotate: bool) -> None:
    latency = np.array([r.latency_s for r in records])
    ttft = np.array([min(r.ttft_s, r.latency_s) for r in records])
    ax.bar(steps, latency, width=0.7, color=colors)
    # The time to first token (mostly prefill) is hatched inside each bar.
    ax.bar(steps, ttft, width=0.7, color="none", edgecolor="white", hatch="////", linewidth=0)
    top = float(latency.max()) if len(latency) else 0.0
    for step, record in zip(steps, records, strict=True):
        if record.error is not None:
            _label_above(ax, "✗ error", (step, record.latency_s), fontsize=8, color="#cb181d", fontweight="bold")
        elif annotate and record.decode_tokens_per_s is not None:
            label = f"{record.decode_tokens_per_s:.0f} tok/s"
            _label_above(ax, label, (step, record.latency_s), fontsize=7, color="#444444")
    ax.set_ylim(0, top * 1.25 if top > 0 else 1)
    ax.set_ylabel("latency (s)")
    ax.legend(
        handles=[
            Patch(facecolor="#999999", hatch="////", edgecolor="white", label="time to first token"),
            Patch(facecolor="#999999", label="decode"),
        ],
        loc="upper left",
        bbox_to_anchor=(1.005, 1),
        frameon=False,
        fontsize=9,
    )
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)


def _title(records: Sequence[StepRecord], n_layers: int) -> str:
    models = ", ".join(dict.fromkeys(r.model for r in records))
    prompt = sum(r.prompt_tokens for r in records)
    completion = sum(r.completion_tokens for r in records)
    latency = sum(r.latency_s for r in records)
    mean_cost = sum(r.layers_fraction for r in records) / len(records)
    return (
        f"{models} \u00b7 {n_layers} layers\n{len(records)} steps \u00b7 {prompt:,} prompt + {completion:,} completion "
        f"tokens \u00b7 {latency:.1f} s \u00b7 mean layer cost {mean_cost:.0%}"
    )
