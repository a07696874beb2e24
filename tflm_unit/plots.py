"""PNG plots a person would rather look at than read: the accuracy-vs-MACs
Pareto front of a calibration, resources before/after pruning, MSP430 cycles
per layer, MACs skipped per layer.  matplotlib with the Agg backend (no display
needed).  Every figure (the benchmarks' too) is written by :func:`save`, which
lays it out so that no title, label or annotation is cut off at its edges."""
from __future__ import annotations

import os
import textwrap
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _wrap(text: Any, renderer: Any, width_px: float) -> bool:
    """Re-wraps a Text artist at word boundaries so it is at most ``width_px``
    wide; True if it changed."""
    content = text.get_text()
    if not content or not text.get_visible() or width_px <= 0:
        return False
    extent = text.get_window_extent(renderer)
    # a label turned 90 degrees (y label) grows along its height
    size = extent.height if abs(text.get_rotation() % 180 - 90) < 1 else extent.width
    if size <= width_px:
        return False
    lines = content.split("\n")
    chars = max(len(line) for line in lines)
    target = max(8, int(chars * width_px / size * 0.95))
    wrapped = "\n".join(textwrap.fill(line, target, break_long_words=False) for line in lines)
    if wrapped == content:
        return False
    text.set_text(wrapped)
    return True


def _texts_to_fit(fig: Any) -> List[Tuple[Any, float]]:
    """(Text artist, width in pixels it may take) for the figure's titles and
    axis labels: a title or x label the width of its axes, a y label its
    height, a figure title the figure's width."""
    fig_box = fig.bbox
    items = []
    for text in fig.texts:
        items.append((text, 0.96 * fig_box.width))
    for ax in fig.axes:
        box = ax.get_window_extent()
        for title in (ax.title, ax._left_title, ax._right_title):
            items.append((title, box.width))
        items.append((ax.xaxis.label, box.width))
        items.append((ax.yaxis.label, box.height))
    return items


def save(fig: Any, path: PathLike, dpi: int = 120, close: bool = True) -> str:
    """Writes ``fig`` as PNG with every title and label inside it: constrained
    layout, and titles/labels wider than their axes (or the figure) wrapped onto
    more lines, re-laid out until they fit.  Closes the figure unless told not
    to (the tests keep it to inspect)."""
    plt = _pyplot()
    fig.set_layout_engine("constrained")
    for _ in range(4):
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        changed = [_wrap(text, renderer, width) for text, width in _texts_to_fit(fig)]
        if not any(changed):
            break
    fig.savefig(path, dpi=dpi)
    if close:
        plt.close(fig)
    return os.fspath(path)


def text_outside(fig: Any, tolerance_px: float = 1.0) -> List[str]:
    """The visible text of ``fig`` whose drawn box is not inside the figure
    (what :func:`save` prevents): titles, axis labels, tick labels in view,
    annotations, legend entries.  Draws the figure first."""
    from matplotlib.text import Text

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fb = fig.bbox
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        texts += [t for t in ax.findobj(Text) if t.axes is ax and t not in texts
                  and not any(t in (tick.label1, tick.label2) for axis in (ax.xaxis, ax.yaxis)
                              for tick in axis.get_major_ticks() + axis.get_minor_ticks())]
        for axis in (ax.xaxis, ax.yaxis):
            lo, hi = sorted(axis.get_view_interval())
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                if lo <= tick.get_loc() <= hi:
                    texts += [tick.label1, tick.label2]
        legend = ax.get_legend()
        if legend is not None:
            texts += list(legend.get_texts()) + [legend.get_title()]
    outside = []
    for text in texts:
        if not text.get_visible() or not text.get_text().strip():
            continue
        box = text.get_window_extent(renderer)
        if (box.x0 < fb.x0 - tolerance_px or box.y0 < fb.y0 - tolerance_px
                or box.x1 > fb.x1 + tolerance_px or box.y1 > fb.y1 + tolerance_px):
            outside.append(f"{text.get_text()!r} at x {box.x0:.0f}..{box.x1:.0f}, y {box.y0:.0f}..{box.y1:.0f} "
                           f"(figure {fb.width:.0f} x {fb.height:.0f} px)")
    return outside


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
    return save(fig, path)


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
    return save(fig, path)


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
    return save(fig, path)


def skip_rates_plot(report: Mapping, path: PathLike, title: Optional[str] = None) -> str:
    """Bars of the share of MACs skipped per layer (an ``evaluate`` report),
    each labelled with the layer's dense MACs."""
    plt = _pyplot()
    layers = report["layers"]
    labels = [f"{layer['op_index']}: {layer['op_name']}" for layer in layers]
    rates = [100.0 * layer["mac_reduction"] for layer in layers]
    fig, ax = plt.subplots(figsize=(max(4.0, 1.2 * len(layers) + 2), 3.5))
    bars = ax.bar(range(len(layers)), rates, color="tab:blue")
    for bar, layer in zip(bars, layers):
        ax.annotate(f"{layer['macs_dense']:,.0f}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(layers)))
    ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 105)
    ax.set_ylabel("MACs skipped (%)")
    ax.set_title(title or f"accuracy {100 * report['accuracy']:.2f} %, "
                          f"{100 * report['mac_reduction']:.1f} % of MACs skipped (labels: dense MACs)", fontsize=10)
    return save(fig, path)
