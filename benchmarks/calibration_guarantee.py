"""Does "max accuracy drop 1 pp" hold on unseen data?  (issue 17; not a test)

For each model: train it (on data never used below), convert to int8, then
for 5 random calibration/test splits of the held-out pool calibrate with the
library defaults (search + confirmation at the default ``confidence``; or
each of ``--confidence A B ...`` on the same model and splits, to show what
the promise costs in MACs) and measure the accuracy drop on the split's test
part.  Reports per run: test drop, MACs
skipped by threshold (and by zero operands), calibration cost in dense
passes (wall time / one dense Interpreter.run over the same samples, and
the same in process CPU time, which other jobs on the machine move less), wall
time; per model: the share of runs within the budget and the worst drop.
Writes JSON and one PNG.

Models: the UnIT paper net on MNIST and on Fashion-MNIST, a CIFAR-10
ResNet-8 (16-32-64, trained here), a Conv1D HAR net (uci_har_test.npz split
by subject: subjects 2, 4, 9, 10 train, the rest form the pool).

    python benchmarks/calibration_guarantee.py --quick --models mnist
    python benchmarks/calibration_guarantee.py --out benchmarks/results/calibration_guarantee
    # the reported run (models trained once into the cache, calibrations measured on an idle machine):
    python benchmarks/calibration_guarantee.py --confidence 0.9 0.95 --model-cache benchmarks/results/models \
        --out benchmarks/reported/calibration_guarantee
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from tflm_unit.unit.calibration import calibrate  # noqa: E402
from tflm_unit.unit.calibration.guarantee import DEFAULT_CONFIDENCE  # noqa: E402
from tflm_unit.unit.evaluation import evaluate  # noqa: E402

DATA = "/work/shared/datasets"
HAR_TRAIN_SUBJECTS = (2, 4, 9, 10)


def resnet8(keras, input_shape=(32, 32, 3), classes=10):
    """ResNet-8 as in MLPerf Tiny image classification: three residual stages 16-32-64."""
    L = keras.layers
    inp = L.Input(input_shape)
    x = L.ReLU()(L.BatchNormalization()(L.Conv2D(16, 3, padding="same")(inp)))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        y = L.ReLU()(L.BatchNormalization()(L.Conv2D(filters, 3, strides=stride, padding="same")(x)))
        y = L.BatchNormalization()(L.Conv2D(filters, 3, padding="same")(y))
        if stride != 1 or x.shape[-1] != filters:
            x = L.Conv2D(filters, 1, strides=stride)(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.Flatten()(L.AveragePooling2D(8)(x))
    return keras.Model(inp, L.Dense(classes)(x))


def har_net(keras, input_shape=(128, 9), classes=6):
    L = keras.layers
    return keras.Sequential([L.Input(input_shape), L.Conv1D(16, 5, activation="relu"), L.MaxPooling1D(2),
                             L.Conv1D(32, 5, activation="relu"), L.MaxPooling1D(2), L.Flatten(),
                             L.Dense(32, activation="relu"), L.Dense(classes)])


def load_model_data(name: str, quick: bool):
    """(keras builder, x_fit, y_fit, x_pool, y_pool, scale to float): the pool is never trained on."""
    import tf_keras as keras

    from tflm_unit.models import unit_paper_cnn

    if name in ("mnist", "fashion_mnist"):
        d = np.load(os.path.join(DATA, f"{name}.npz"))
        x_fit, y_fit = d["x_train"][..., None], d["y_train"].astype(np.int64)
        x_pool, y_pool = d["x_test"][..., None], d["y_test"].astype(np.int64)
        build = lambda: unit_paper_cnn(softmax=False)  # noqa: E731
        return build, x_fit[:20000 if quick else None], y_fit[:20000 if quick else None], x_pool, y_pool, 255.0
    if name == "cifar10":
        d = np.load(os.path.join(DATA, "cifar10.npz"))
        x, y = d["x_train"], d["y_train"].astype(np.int64)
        # The pool: the last 5000 training images (never trained on) + the 1000 test images.
        x_pool = np.concatenate([x[-5000:], d["x_test"]])
        y_pool = np.concatenate([y[-5000:], d["y_test"].astype(np.int64)])
        n_fit = 10000 if quick else 45000
        return lambda: resnet8(keras), x[:n_fit], y[:n_fit], x_pool, y_pool, 255.0
    if name == "har":
        d = np.load(os.path.join(DATA, "uci_har_test.npz"))
        train = np.isin(d["subject_test"], HAR_TRAIN_SUBJECTS)
        x, y = d["x_test"].astype(np.float32), d["y_test"].astype(np.int64)
        return lambda: har_net(keras), x[train], y[train], x[~train], y[~train], 1.0
    raise SystemExit(f"unknown model {name}")


def train(build, x, y, scale: float, epochs: int, seed: int):
    import tensorflow as tf
    import tf_keras as keras

    tf.random.set_seed(seed)
    np.random.seed(seed)
    model = build()
    model.compile(keras.optimizers.Adam(2e-3), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x.astype(np.float32) / scale, y, epochs=epochs, batch_size=128, verbose=0)
    return model


def run_model(name: str, args) -> dict:
    from tflm_unit.converter import int8_model

    build, x_fit, y_fit, x_pool, y_pool, scale = load_model_data(name, args.quick)
    epochs = args.epochs or (1 if args.quick else {"cifar10": 15, "har": 20}.get(name, 5))
    cached = None
    if args.model_cache:  # the trained int8 model of this (model, epochs, seed, quick), if kept
        os.makedirs(args.model_cache, exist_ok=True)
        cached = os.path.join(args.model_cache, f"{name}_e{epochs}_s{args.seed}{'_quick' if args.quick else ''}")
    if cached and os.path.exists(cached + ".tflite"):
        with open(cached + ".tflite", "rb") as f:
            tflite = f.read()
        with open(cached + ".json") as f:
            train_seconds = json.load(f)["train_seconds"]
        print(f"[{name}] trained model from {cached}.tflite", flush=True)
    else:
        t0 = time.time()
        model = train(build, x_fit, y_fit, scale, epochs, args.seed)
        tflite = int8_model(model, x_fit[:200].astype(np.float32) / scale)
        train_seconds = time.time() - t0
        if cached:
            with open(cached + ".tflite", "wb") as f:
                f.write(tflite)
            with open(cached + ".json", "w") as f:
                json.dump(dict(model=name, epochs=epochs, seed=args.seed, train_seconds=train_seconds), f)
    calib_size = min(args.calib_size, len(x_pool) // 2)
    test_size = min(args.test_size, len(x_pool) - calib_size)
    runs = []
    for split in range(args.splits):
        order = np.random.default_rng(1000 + split).permutation(len(x_pool))
        cal, test = order[:calib_size], order[calib_size:calib_size + test_size]
        dense = evaluate(tflite, x_pool[test], y_pool[test], thresholds="dense")
        for confidence in args.confidence:
            t1 = time.time()
            result = calibrate(tflite, x_pool[cal], y_pool[cal], args.budget, seed=split, progress=False,
                               measure_cost=True, confidence=confidence)
            wall = time.time() - t1
            unit = evaluate(tflite, x_pool[test], y_pool[test], thresholds=result)
            run = dict(split=split, confidence=confidence, test_samples=int(len(test)),
                       test_drop=dense["accuracy"] - unit["accuracy"],
                       test_accuracy_dense=dense["accuracy"], test_accuracy_unit=unit["accuracy"],
                       test_mac_reduction=unit["mac_reduction"], test_macs_dense=unit["macs_dense"],
                       test_macs_skipped_threshold=unit["macs_skipped_threshold"],
                       test_macs_skipped_zero=unit["macs_skipped_zero"],
                       threshold_skip_share=unit["macs_skipped_threshold"] / unit["macs_dense"],
                       calibration=result.summary(), wall_seconds=wall, **result.timing())
            runs.append(run)
            print(f"[{name}] split {split}, confidence {confidence}: test drop {100 * run['test_drop']:.2f} pp, "
                  f"MACs skipped by threshold {100 * run['threshold_skip_share']:.1f} % (total {100 * unit['mac_reduction']:.1f} %), searched "
                  f"drop {100 * result.searched_drop:.2f} pp, confirmed {100 * result.confirmed_drop:.2f} pp "
                  f"(upper {100 * result.confirmed_interval[1]:.2f}), cost {run['cost_dense_passes']:.1f} dense passes "
                  f"(CPU time: {run['cost_dense_passes_cpu']:.1f}), "
                  f"{wall:.0f} s", flush=True)
    return dict(model=name, budget=args.budget, calib_samples=int(calib_size), epochs=epochs,
                train_seconds=train_seconds, runs=runs,
                by_confidence={str(c): summarise([r for r in runs if r["confidence"] == c], args.budget)
                               for c in args.confidence})


def summarise(runs: list, budget: float) -> dict:
    """Share of runs within the budget, worst drop, mean and sd of drops and threshold skips."""
    drops = np.array([r["test_drop"] for r in runs])
    skips = np.array([r["threshold_skip_share"] for r in runs])
    return dict(runs=len(runs), share_within_budget=float(np.mean(drops <= budget + 1e-12)),
                worst_test_drop=float(drops.max()), mean_test_drop=float(drops.mean()),
                sd_test_drop=float(drops.std(ddof=1)) if len(drops) > 1 else 0.0,
                beyond_1_5x=int(np.sum(drops > 1.5 * budget + 1e-12)),
                mean_threshold_skip_share=float(skips.mean()),
                sd_threshold_skip_share=float(skips.std(ddof=1)) if len(skips) > 1 else 0.0,
                mean_cost_dense_passes=float(np.mean([r["cost_dense_passes"] for r in runs])),
                mean_cost_dense_passes_cpu=float(np.mean([r["cost_dense_passes_cpu"] for r in runs])),
                mean_wall_seconds=float(np.mean([r["wall_seconds"] for r in runs])))


def plot(results: list, budget: float, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.6))
    confidences = sorted({r["confidence"] for res in results for r in res["runs"]})
    markers = "os^Dv"
    for i, res in enumerate(results):
        for j, c in enumerate(confidences):
            runs = [r for r in res["runs"] if r["confidence"] == c]
            drops = [100 * r["test_drop"] for r in runs]
            skips = [100 * r["threshold_skip_share"] for r in runs]
            offset = (j - (len(confidences) - 1) / 2) * 0.15
            a.scatter([i + offset] * len(drops), drops, color=f"C{i}", marker=markers[j % len(markers)])
            b.scatter(skips, drops, color=f"C{i}", marker=markers[j % len(markers)],
                      label=f"{res['model']}, conf. {c}")
    for ax in (a, b):
        ax.axhline(100 * budget, color="r", ls="--", lw=0.8)
        ax.axhline(150 * budget, color="r", ls=":", lw=0.8)
        ax.set_ylabel("test-split accuracy drop (pp)")
    a.set_xticks(range(len(results)))
    a.set_xticklabels([r["model"] for r in results])
    b.set_xlabel("MACs skipped by threshold (%)")
    b.legend(fontsize=7)
    fig.suptitle(f"calibration guarantee: budget {100 * budget:.1f} pp, test drop of each split", fontsize=9)
    from tflm_unit.plots import save

    save(fig, path)  # constrained layout, long titles wrapped to fit


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["mnist", "fashion_mnist", "cifar10", "har"])
    parser.add_argument("--out", default="benchmarks/results/calibration_guarantee")
    parser.add_argument("--splits", type=int, default=5)
    parser.add_argument("--budget", type=float, default=0.01)
    parser.add_argument("--calib-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=9000)
    parser.add_argument("--epochs", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--confidence", type=float, nargs="+", default=[DEFAULT_CONFIDENCE],
                        help="calibrate each split at each of these confidences (default: the library's)")
    parser.add_argument("--model-cache", help="keep each trained int8 model here and reuse it on the next run "
                        "(training is the slow part; the calibrations are what is measured)")
    parser.add_argument("--quick", action="store_true", help="fewer training samples/epochs, 3000 test samples")
    args = parser.parse_args(argv)
    if args.quick:
        args.test_size = min(args.test_size, 3000)
    os.makedirs(args.out, exist_ok=True)
    results = []
    for name in args.models:  # written after each model, so a long run keeps what it finished
        results.append(run_model(name, args))
        with open(os.path.join(args.out, "calibration_guarantee.json"), "w") as f:
            json.dump(dict(budget=args.budget, quick=args.quick, confidence=args.confidence,
                           calib_size=args.calib_size, test_size=args.test_size, results=results),
                      f, indent=1, default=float)
        plot(results, args.budget, os.path.join(args.out, "calibration_guarantee.png"))
    for res in results:
        for c, summary in res["by_confidence"].items():
            print(f"{res['model']} (confidence {c}): {100 * summary['share_within_budget']:.0f} % of runs within "
                  f"{100 * args.budget:.1f} pp, test drop {100 * summary['mean_test_drop']:.2f} ± "
                  f"{100 * summary['sd_test_drop']:.2f} pp, worst {100 * summary['worst_test_drop']:.2f} pp, "
                  f"{summary['beyond_1_5x']} beyond 1.5x, MACs skipped by threshold "
                  f"{100 * summary['mean_threshold_skip_share']:.1f} ± {100 * summary['sd_threshold_skip_share']:.1f} %,"
                  f" cost {summary['mean_cost_dense_passes']:.1f} dense passes (CPU time "
                  f"{summary['mean_cost_dense_passes_cpu']:.1f}), {summary['mean_wall_seconds']:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
