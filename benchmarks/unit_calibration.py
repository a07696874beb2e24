"""UnIT calibration on the UnIT paper's 2-conv net (not run by CI).

Conv 5x5x6 -> max-pool 2 -> Conv 5x5x16 -> max-pool 2 -> Dense 10 (ReLU), int8.
For each dataset: train (on the training split minus a held-out calibration
split), convert to int8, calibrate thresholds on the calibration split under
an accuracy budget for every division mode, then measure accuracy and MACs on
the test split.  Writes JSON and PNG Pareto curves (calibration accuracy vs
MACs skipped: one global T, per layer, per group).

    python benchmarks/unit_calibration.py --data /work/shared/datasets/mnist.npz \
        --data /work/shared/datasets/fashion_mnist.npz --out benchmarks/results/unit_calibration
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tflm_unit.core.kernels import DIVISION_MODES  # noqa: E402
from tflm_unit.unit.calibration import calibrate  # noqa: E402
from tflm_unit.unit.evaluation import evaluate, plot_skip_rates  # noqa: E402


def paper_net(input_shape, classes: int = 10):
    import tf_keras as keras

    return keras.Sequential([
        keras.layers.Conv2D(6, 5, activation="relu", input_shape=input_shape),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(16, 5, activation="relu"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(classes),
    ])


def load(path: str, calib_size: int, train_size: int | None):
    data = np.load(path)
    x_train, y_train = data["x_train"], data["y_train"].astype(np.int64)
    x_test, y_test = data["x_test"], data["y_test"].astype(np.int64)
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    # The calibration split is the tail of the training split, never trained on.
    x_calib, y_calib = x_train[-calib_size:], y_train[-calib_size:]
    x_fit, y_fit = x_train[:-calib_size], y_train[:-calib_size]
    if train_size:
        x_fit, y_fit = x_fit[:train_size], y_fit[:train_size]
    return (x_fit, y_fit), (x_calib, y_calib), (x_test, y_test)


def train(x, y, epochs: int, seed: int):
    import tensorflow as tf
    import tf_keras as keras

    tf.random.set_seed(seed)
    np.random.seed(seed)
    model = paper_net(x.shape[1:])
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x.astype(np.float32) / 255.0, y, epochs=epochs, batch_size=128, verbose=2)
    return model


def pareto(points, macs_dense):
    """Best (highest) calibration accuracy for each MAC reduction, upper envelope."""
    pts = sorted(((1 - p["macs_executed"] / macs_dense, p["accuracy"]) for p in points), key=lambda t: -t[0])
    front, best = [], -1.0
    for skipped, acc in pts:
        if acc > best:
            front.append((skipped, acc))
            best = acc
    return sorted(front)


def plot_pareto(curves: dict, accuracy_dense: float, budget: float, title: str, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for label, front in curves.items():
        if front:
            ax.plot([100 * s for s, _ in front], [100 * a for _, a in front], marker=".", label=label)
    ax.axhline(100 * accuracy_dense, color="k", lw=0.8, label="dense int8")
    ax.axhline(100 * (accuracy_dense - budget), color="r", lw=0.8, ls="--", label="budget")
    ax.set_xlabel("MACs skipped (%)")
    ax.set_ylabel("calibration accuracy (%)")
    ax.set_ylim(100 * (accuracy_dense - max(0.05, 3 * budget)), 100 * accuracy_dense + 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    from tflm_unit.plots import save

    save(fig, path)  # constrained layout, long titles wrapped to fit


def run_dataset(path: str, args) -> dict:
    from tflm_unit.converter import int8_model

    name = os.path.splitext(os.path.basename(path))[0]
    (x_fit, y_fit), (x_calib, y_calib), (x_test, y_test) = load(path, args.calib_size, args.train_size)
    if args.test_size:
        x_test, y_test = x_test[:args.test_size], y_test[:args.test_size]
    t0 = time.time()
    model = train(x_fit, y_fit, args.epochs, args.seed)
    tflite = int8_model(model, x_fit[:200].astype(np.float32) / 255.0)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, f"{name}_int8.tflite"), "wb") as f:
        f.write(tflite)
    dense_test = evaluate(tflite, x_test, y_test, thresholds="dense")
    out = dict(dataset=name, train_samples=len(x_fit), calib_samples=len(x_calib), test_samples=len(x_test),
               epochs=args.epochs, train_seconds=time.time() - t0, dense_test=dense_test, runs=[])
    print(f"[{name}] dense int8 test accuracy {dense_test['accuracy']:.4f}, "
          f"{dense_test['macs_dense']:.0f} MACs/inference", flush=True)
    for division in args.divisions:
        strategy = "group" if division in args.group_divisions else args.other_strategy
        for budget in args.budgets:
            t1 = time.time()
            result = calibrate(tflite, x_calib, y_calib, max_accuracy_drop=budget, division=division,
                               group_size=args.group_size if strategy == "group" else None,
                               strategy=strategy, seed=args.seed, progress=False, dataset=name,
                               confidence=args.confidence, confirm_fraction=args.confirm_fraction)
            seconds = time.time() - t1
            test = evaluate(tflite, x_test, y_test, thresholds=result)
            run = dict(division=division, strategy=strategy, budget=budget, calibrate_seconds=seconds,
                       calibration=result.summary(), thresholds=result.to_metadata()["ops"], test=test,
                       test_accuracy_drop=dense_test["accuracy"] - test["accuracy"])
            # Best point of each search family within the budget, on calibration data.
            by_family = {}
            for p in result.path:
                if p["accuracy"] >= result.accuracy_dense - budget - 1e-12:
                    family = p["strategy"].split(" ")[0]
                    by_family[family] = max(by_family.get(family, 0.0), 1 - p["macs_executed"] / result.macs_dense)
            run["calibration_mac_reduction_by_family"] = by_family
            out["runs"].append(run)
            print(f"[{name}] {division:5s} {strategy:5s} budget {budget:.3f}: calib acc "
                  f"{result.accuracy_dense:.4f}->{result.accuracy_unit:.4f}, calib MACs skipped "
                  f"{100 * result.mac_reduction:.1f} % {by_family}; test acc {test['accuracy']:.4f} "
                  f"(drop {100 * run['test_accuracy_drop']:.2f} pp), test MACs skipped "
                  f"{100 * test['mac_reduction']:.1f} % [{seconds:.0f} s]", flush=True)
            if budget == max(args.budgets):
                families = {}
                for p in result.path:
                    families.setdefault(p["strategy"], []).append(p)
                curves = {label: pareto(points, result.macs_dense) for label, points in families.items()}
                run["pareto"] = {label: [dict(mac_reduction=s, accuracy=a) for s, a in front]
                                 for label, front in curves.items()}
                plot_pareto(curves, result.accuracy_dense, budget,
                            f"{name}: division {division} (calibration split, {len(x_calib)} samples)",
                            os.path.join(args.out, f"{name}_{division}_pareto.png"))
                plot_skip_rates(test, os.path.join(args.out, f"{name}_{division}_skip_rates.png"),
                                title=f"{name} {division}: test acc {100 * test['accuracy']:.2f} %, "
                                      f"{100 * test['mac_reduction']:.1f} % MACs skipped")
    with open(os.path.join(args.out, f"{name}.json"), "w") as f:
        json.dump(out, f, indent=1, default=float)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, help=".npz with x_train/y_train/x_test/y_test")
    parser.add_argument("--out", default="benchmarks/results/unit_calibration")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--calib-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=None)
    parser.add_argument("--budgets", type=float, nargs="+", default=[0.01])
    parser.add_argument("--divisions", nargs="+", default=list(DIVISION_MODES))
    parser.add_argument("--group-divisions", nargs="*", default=["shift"],
                        help="division modes calibrated per group (the rest per layer)")
    parser.add_argument("--other-strategy", default="global", choices=["global", "layer"],
                        help="strategy for the division modes not in --group-divisions (global: cheap)")
    parser.add_argument("--group-size", type=int, default=1)
    parser.add_argument("--confidence", type=float, default=0.9,
                        help="probability that the budget holds on unseen data (confirmed on held-out samples)")
    parser.add_argument("--confirm-fraction", type=float, default=0.5,
                        help="share of the calibration samples held out to confirm the budget (0: none)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    for path in args.data:
        run_dataset(path, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
