"""PNG figures for the benchmark results (matplotlib, Agg canvas: no display needed)."""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def executor_plot(results: dict, path: Path) -> Path:
    """Decode tokens/s per mode (float32 and bfloat16), with the ideal bytes-read ratio marked."""
    fig = Figure(figsize=(8, 4.2), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    labels, values, colors = [], [], []
    for dtype, table in results["speed"].items():
        for name, row in table.items():
            labels.append(f"{name}\n{dtype}")
            values.append(row["decode_tokens_per_s"])
            colors.append("#8c8c8c" if name == "stock generate" else "#1b9e77" if dtype == "float32" else "#7570b3")
    bars = ax.bar(range(len(values)), values, color=colors)
    for bar, value in zip(bars, values, strict=True):
        ax.annotate(f"{value:.1f}", (bar.get_x() + bar.get_width() / 2, value), ha="center", va="bottom", fontsize=8)
    full = results["speed"]["float32"]["full"]["decode_tokens_per_s"]
    for i, (dtype, name) in enumerate((d, n) for d, t in results["speed"].items() for n in t):
        row = results["speed"][dtype][name]
        if dtype == "float32" and "ideal_speedup" in row:
            ax.plot([i - 0.4, i + 0.4], [full * row["ideal_speedup"]] * 2, color="black", lw=1, ls="--")
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("decode tokens/s (median)")
    ax.set_title("Decode speed by layer program (dashed: ideal from weight bytes read)", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    return path


def fidelity_plot(results: dict, path: Path) -> Path:
    """Token agreement with full depth against layer fraction, one line per step type."""
    fig = Figure(figsize=(7, 4.2), dpi=150)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    series: dict[str, list[tuple[float, float, float]]] = {}
    for entry in results["budgets"].values():
        for step_type, row in entry["summary"].items():
            if row.get("layers_fraction") is None:
                continue
            series.setdefault(step_type, []).append(
                (row["layers_fraction"], row.get("token_agreement") or 0.0, row.get("forced_agreement") or 0.0)
            )
    for step_type, points in sorted(series.items()):
        points.sort()
        xs = [p[0] for p in points]
        line = ax.plot(xs, [p[1] for p in points], marker="o", label=f"{step_type} (prefix agreement)")[0]
        ax.plot(xs, [p[2] for p in points], marker="x", ls=":", color=line.get_color(), label=f"{step_type} (forced)")
    ax.set_xlabel("layer cost per token (fraction of full depth)")
    ax.set_ylabel("agreement with full depth")
    ax.set_ylim(-0.02, 1.02)
    ax.set_title("Training-free skipping: fidelity vs budget (test split)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    fig.savefig(path)
    return path


def programs_plot(results: dict, path: Path) -> Path:
    """Teacher-forced test agreement against layer fraction, one panel per step type, one line per method."""
    step_types = list(results["step_types"])
    fig = Figure(figsize=(5 * len(step_types), 4.2), dpi=150)
    FigureCanvasAgg(fig)
    for index, step_type in enumerate(step_types):
        ax = fig.add_subplot(1, len(step_types), index + 1)
        series: dict[str, list[tuple[float, float]]] = {}
        for by_method in results["step_types"][step_type]["budgets"].values():
            for method, row in by_method.items():
                series.setdefault(method, []).append((row["layers_fraction"], row["forced_agreement"]))
        for method, points in series.items():
            points.sort()
            loop = "loop" in method
            ax.plot([p[0] for p in points], [p[1] for p in points], marker="*" if loop else "o",
                    ls="none" if loop else "-", markersize=9 if loop else 4, label=method)  # fmt: skip
        ax.set_xlabel("layer cost per token (fraction of full depth)")
        ax.set_ylabel("teacher-forced agreement with full depth (test)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_title(step_type, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    return path
