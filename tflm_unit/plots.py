"""PNG plots a person would rather look at than read: the accuracy-vs-MACs
Pareto front of a calibration, resources before/after pruning, MSP430 cycles
per layer.  matplotlib with the Agg backend (no display needed)."""
from __future__ import annotations

import os
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def pareto_front(points: Iterable[Mapping], macs_dense: float) -> List[Tuple[float, float]]:
    """(fraction of MACs skipped, accuracy) pairs on the upper envelope: for
    each MAC reduction, the best accuracy any measured configuration reached
    with at least that reduction.  ``points`` carry ``macs_executed`` and
    ``accuracy`` (e.g. ``CalibrationResult.path``)."""
    pts = sorted(((1.0 - float(p["macs_executed"]) / macs_dense, float(p["accuracy"])) for p in points),
                 key=lambda t: -t[0])
    front, best = [], -1.0
    for skipped, accuracy in pts:
        if accuracy > best:
            front.append((skipped, accuracy))
            best = accuracy
    return sorted(front)


def pareto_plot(curves: Mapping[str, Sequence[Tuple[float, float]]], accuracy_dense: float, budget: float,
                path: PathLike, title: str = "", chosen: Optional[Tuple[float, float]] = None) -> str:
    """Accuracy vs MACs skipped, one line per curve (e.g. per division mode or
    threshold granularity), with the dense accuracy and the budget line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4))
    for label, front in curves.items():
        if front:
            ax.plot([100 * s for s, _ in front], [100 * a for _, a in front], marker=".", label=label)
    ax.axhline(100 * accuracy_dense, color="k", lw=0.8, label="dense int8")
    ax.axhline(100 * (accuracy_dense - budget), color="r", lw=0.8, ls="--", label=f"budget (-{100 * budget:g} pp)")
    if chosen is not None:
        ax.plot([100 * chosen[0]], [100 * chosen[1]], "r*", markersize=12, label="chosen")
    ax.set_xlabel("MACs skipped (%)")
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(100 * (accuracy_dense - max(0.05, 3 * budget)), 100 * accuracy_dense + 1)
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)


def resources_plot(before: Mapping[str, float], after: Mapping[str, float], budget: Mapping[str, float],
                   path: PathLike, title: str = "Resources before / after structured pruning") -> str:
    """Bars of MACs, flash and peak RAM before and after pruning, each as a
    fraction of the unpruned value, with the budget marked where one is set."""
    plt = _pyplot()
    names = [n for n in ("macs", "flash_bytes", "peak_ram_bytes") if n in before]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [1.0] * len(names), width=0.4, label="unpruned")
    ax.bar([i + 0.2 for i in x], [after[n] / before[n] for n in names], width=0.4, label="pruned")
    for i, n in enumerate(names):
        ax.text(i - 0.2, 1.01, f"{before[n]:,.0f}", ha="center", va="bottom", fontsize=7)
        ax.text(i + 0.2, after[n] / before[n] + 0.01, f"{after[n]:,.0f}", ha="center", va="bottom", fontsize=7)
        if n in budget:
            level = budget[n] / before[n]
            if level <= 1.25:
                ax.plot([i - 0.45, i + 0.45], [level] * 2, "r--", lw=1)
            else:  # a budget far above the model would squash the bars: say it in words
                ax.text(i, 1.15, f"budget {budget[n]:,.0f}\n(off scale)", ha="center", fontsize=7, color="r")
    ax.set_xticks(list(x))
    ax.set_xticklabels([n.replace("_bytes", " (B)").replace("_", " ") for n in names])
    ax.set_ylim(0, 1.3)
    ax.set_ylabel("fraction of unpruned")
    ax.set_title(title + " (red: budget)", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)


def cycles_plot(layers: Sequence[Mapping], path: PathLike, title: str = "MSP430 cycles per layer") -> str:
    """Grouped bars of dense vs UnIT cycles per layer (keys ``name``,
    ``cycles_dense``, ``cycles_unit``)."""
    plt = _pyplot()
    names = [str(layer.get("name", i)) for i, layer in enumerate(layers)]
    fig, ax = plt.subplots(figsize=(max(5, 0.8 * len(names) + 2), 3.6))
    x = range(len(names))
    ax.bar([i - 0.2 for i in x], [layer["cycles_dense"] for layer in layers], width=0.4, label="dense")
    ax.bar([i + 0.2 for i in x], [layer["cycles_unit"] for layer in layers], width=0.4, label="UnIT")
    ax.set_xticks(list(x))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=7)
    ax.set_ylabel("cycles")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return os.fspath(path)
