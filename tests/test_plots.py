"""Every PNG the demo and the benchmarks write keeps its titles, labels and
annotations inside the figure (issue 15: the demo's skip-rate title was cut
off at the right edge).  The figures are rendered with the values and titles
the demo and the benchmarks use, then each visible text's drawn box is checked
against the figure's."""
import json
import os
import subprocess
import sys

import pytest

from tflm_unit import plots

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# A demo-like evaluation report: the paper CNN's UnIT layers (the fewer the
# layers, the narrower the figure, the harder the title is to fit).
_LAYERS = [dict(op_index=i, op_name=name, output_name=f"t{i}", mac_reduction=red, macs_dense=macs)
           for i, (name, red, macs) in enumerate([("UNIT_CONV_2D", 0.81, 215_296),
                                                   ("UNIT_FULLY_CONNECTED", 0.52, 7_930)])]
_REPORT = dict(accuracy=0.957, mac_reduction=0.786, layers=_LAYERS)


@pytest.fixture
def kept_figures(monkeypatch):
    """plots.save, but the figures stay open for inspection."""
    kept = []
    original = plots.save

    def save(fig, path, dpi=120, close=True):
        kept.append(fig)
        return original(fig, path, dpi, close=False)

    monkeypatch.setattr(plots, "save", save)
    yield kept
    import matplotlib.pyplot as plt

    for fig in kept:
        plt.close(fig)


def _render_demo_plots(out):
    """The four PNGs of `make demo` (tflm_unit.demo._write_plots and
    evaluate's skip-rate plot) with demo-sized values."""
    from tflm_unit.unit.evaluation import plot_skip_rates

    plot_skip_rates(_REPORT, out / "skip_rates.png")
    front = [(0.1, 0.956), (0.5, 0.955), (0.786, 0.951), (0.9, 0.90)]
    plots.pareto_plot({"calibration search (shift)": front}, 0.957, 0.01, out / "pareto.png",
                      title="Calibration split: accuracy vs MACs skipped", chosen=(0.786, 0.951))
    before = dict(macs=662_912, flash_bytes=61_000, peak_ram_bytes=13_520)
    after = dict(macs=294_524, flash_bytes=24_000, peak_ram_bytes=5_920)
    plots.resources_plot(before, after, dict(flash_bytes=262_144, peak_ram_bytes=8_192), out / "resources.png")
    plots.cycles_plot([dict(name=f"{i}: sequential/conv2d_{i}/Relu;sequential/conv2d_{i}/BiasAdd",
                            cycles_dense=1e6 * (i + 1), cycles_unit=4e5 * (i + 1)) for i in range(3)],
                      out / "msp430_cycles.png")


def test_demo_plots_keep_their_text_inside(kept_figures, tmp_path):
    _render_demo_plots(tmp_path)
    assert len(kept_figures) == 4
    for fig in kept_figures:
        assert plots.text_outside(fig) == []
    for name in ["skip_rates.png", "pareto.png", "resources.png", "msp430_cycles.png"]:
        assert (tmp_path / name).stat().st_size > 0, name


def test_a_long_title_is_wrapped_not_cut(kept_figures, tmp_path):
    title = "a title far longer than this figure is wide, " * 4
    plot = plots.skip_rates_plot(_REPORT, tmp_path / "long.png", title=title)
    (fig,) = kept_figures
    assert plot.endswith("long.png")
    shown = fig.axes[0].get_title()
    assert "\n" in shown and shown.split() == title.split()  # same words, more lines
    assert plots.text_outside(fig) == []


def test_text_outside_finds_text_past_the_edge():
    """The checker itself: a title wider than its figure (laid out without
    plots.save) is reported, and by its text."""
    plt = plots._pyplot()
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("a title far longer than this three-inch figure is wide")
    fig.tight_layout()
    try:
        (found,) = plots.text_outside(fig)
        assert "a title far longer" in found
    finally:
        plt.close(fig)


_BENCHMARK_SCRIPT = r"""
import importlib.util, json, os, sys
sys.path.insert(0, os.path.join(sys.argv[1], "benchmarks"))
from tflm_unit import plots

kept, original = [], plots.save
def save(fig, path, dpi=120, close=True):
    kept.append(fig)
    return original(fig, path, dpi, close=False)
plots.save = save

def load(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(sys.argv[1], "benchmarks", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

out = sys.argv[2]
models = ["mnist", "fashion_mnist", "cifar10", "har"]  # calibration_guarantee --models
load("calibration_guarantee").plot(
    [dict(model=m, runs=[dict(test_drop=0.004 * k, threshold_skip_share=0.3 + 0.1 * k, confidence=0.9) for k in range(5)])
     for m in models], 0.01, os.path.join(out, "calibration_guarantee.png"))
shifted = ["(a) dense", "(b) UnIT calibrated on clean", "(d) tfmot 50 % sparse"]
calib = load("unit_calibration")
calib.plot_pareto({f"{g} thresholds": [(0.2, 0.98), (0.6, 0.975), (0.85, 0.97)] for g in ["layer", "group", "channel"]},
                  0.981, 0.01, "fashion_mnist_paper_cnn: division shift (calibration split, 2000 samples)",
                  os.path.join(out, "pareto.png"))
load("unit_domain_shift").plot(
    {m: dict(sets={s: dict(accuracy=0.9, mac_reduction=0.8) for s in
                   ["clean", "gaussian_noise", "brightness", "contrast", "blur", "mixed"]}) for m in shifted},
    os.path.join(out, "shift.png"), "fashion_mnist: accuracy under corruptions (first 10000 test images)")
methods = ["A_unpruned", "B_ours", "C_uniform", "D_tfmot", "E_mct"]
load("pruning_benchmark").plot(
    {label: {m: dict(mean=0.9, sd=0.01) for m in methods} for label in ["paper_cnn 1/2 MACs", "paper_cnn 1/4 MACs"]},
    os.path.join(out, "pruning.png"), "cifar10: 8 epochs each, 3 seeds, int8 accuracy on the test split")
print(json.dumps({os.path.basename(f.get_label() or str(i)): plots.text_outside(f) for i, f in enumerate(kept)}))
"""


def test_benchmark_plots_keep_their_text_inside(tmp_path):
    """The benchmarks' own plot functions (in a subprocess: importing them sets
    TensorFlow environment variables), with the titles their main()s pass."""
    res = subprocess.run([sys.executable, "-c", _BENCHMARK_SCRIPT, REPO, str(tmp_path)],
                         capture_output=True, text=True, cwd=str(tmp_path), timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    outside = json.loads(res.stdout.strip().splitlines()[-1])
    assert len(outside) == 4
    assert all(v == [] for v in outside.values()), outside
    assert len(list(tmp_path.glob("*.png"))) == 4
