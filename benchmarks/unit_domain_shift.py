"""Domain shift: UnIT calibrated on clean data vs dense, fine-tuned and
magnitude-pruned models, on corrupted test sets (not run by CI).

Models (the UnIT paper's 2-conv net, int8):
  (a) dense            trained on clean data;
  (b) UnIT             (a) with thresholds calibrated on a clean calibration split;
  (c) fine-tuned       (a) trained further on corrupted training data (dense);
  (d) tfmot pruned     (a) pruned with prune_low_magnitude to the sparsity of
                       UnIT's clean-test MAC reduction, fine-tuned on clean data.
Corruptions: tflm_unit.unit.domain_shift (noise, blur, brightness, rotation,
translation).  MACs: what TFLM executes; for (d) also with zero weights and
zero activations skipped (UnIT kernels at T = 0), which is the most its zeros
could save.

    python benchmarks/unit_domain_shift.py --data /work/shared/datasets/mnist.npz \
        --out benchmarks/results/unit_domain_shift
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

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from unit_calibration import load, train  # noqa: E402

from tflm_unit.unit.calibration import calibrate  # noqa: E402
from tflm_unit.unit.domain_shift import corrupted_sets, mixed_corruption  # noqa: E402
from tflm_unit.unit.evaluation import evaluate  # noqa: E402


def clone(model):
    import tf_keras as keras

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def compile_model(model, lr: float = 1e-3):
    import tf_keras as keras

    model.compile(keras.optimizers.Adam(lr), keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])


def fine_tune_on_shift(base, x_fit, y_fit, epochs: int, seed: int):
    """(c): half the training images corrupted (one random corruption each)."""
    model = clone(base)
    compile_model(model)
    x = x_fit.astype(np.float32) / 255.0
    half = len(x) // 2
    x_shifted = np.concatenate([mixed_corruption(x[:half], seed=seed), x[half:]])
    model.fit(x_shifted, y_fit, epochs=epochs, batch_size=128, verbose=2)
    return model


def magnitude_pruned(base, x_fit, y_fit, sparsity: float, epochs: int):
    """(d): tfmot prune_low_magnitude at constant sparsity, fine-tuned, stripped."""
    import tensorflow_model_optimization as tfmot

    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=50)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(clone(base), pruning_schedule=schedule)
    compile_model(pruned)
    pruned.fit(x_fit.astype(np.float32) / 255.0, y_fit, epochs=epochs, batch_size=128, verbose=2,
               callbacks=[tfmot.sparsity.keras.UpdatePruningStep()])
    return clone(tfmot.sparsity.keras.strip_pruning(pruned))


def zero_thresholds(tflite: bytes) -> dict:
    from tflm_unit.runtime import Interpreter

    interp = Interpreter(tflite)
    return {op.index: np.zeros(1, np.int16) for op in interp.mac_layers()}


def plot(results: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = list(results)
    sets = list(next(iter(results.values()))["sets"])
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(models)
    for k, name in enumerate(models):
        acc = [100 * results[name]["sets"][s]["accuracy"] for s in sets]
        red = 100 * results[name]["sets"]["clean"]["mac_reduction"]
        ax.bar(np.arange(len(sets)) + k * width, acc, width, label=f"{name} ({red:.0f} % MACs skipped)")
    ax.set_xticks(np.arange(len(sets)) + width * (len(models) - 1) / 2)
    ax.set_xticklabels(sets, fontsize=8)
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    from tflm_unit.plots import save

    save(fig, path)  # constrained layout, long titles wrapped to fit


def main(argv=None) -> int:
    from tflm_unit.converter import int8_model

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="benchmarks/results/unit_domain_shift")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    parser.add_argument("--train-size", type=int, default=None)
    parser.add_argument("--calib-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--budget", type=float, default=0.01)
    parser.add_argument("--division", default="shift")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    name = os.path.splitext(os.path.basename(args.data))[0]
    (x_fit, y_fit), (x_calib, y_calib), (x_test, y_test) = load(args.data, args.calib_size, args.train_size)
    x_test, y_test = x_test[:args.test_size], y_test[:args.test_size]
    os.makedirs(args.out, exist_ok=True)
    t0 = time.time()
    base = train(x_fit, y_fit, args.epochs, args.seed)
    rep = x_fit[:200].astype(np.float32) / 255.0
    dense_tflite = int8_model(base, rep)
    calib = calibrate(dense_tflite, x_calib, y_calib, args.budget, division=args.division, seed=args.seed,
                      progress=False, dataset=name)
    sets = corrupted_sets(x_test, seed=args.seed)
    clean_unit = evaluate(dense_tflite, sets["clean"], y_test, thresholds=calib)
    sparsity = float(min(0.9, round(clean_unit["mac_reduction"], 2)))
    shifted_tflite = int8_model(fine_tune_on_shift(base, x_fit, y_fit, args.fine_tune_epochs, args.seed), rep)
    pruned_tflite = int8_model(magnitude_pruned(base, x_fit, y_fit, sparsity, args.fine_tune_epochs), rep)

    def evaluate_all(tflite, thresholds):
        return {s: evaluate(tflite, data, y_test, thresholds=thresholds) for s, data in sets.items()}

    results = {
        "(a) dense": dict(sets=evaluate_all(dense_tflite, "dense")),
        "(b) UnIT clean-calibrated": dict(sets=evaluate_all(dense_tflite, calib)),
        "(c) fine-tuned on shift": dict(sets=evaluate_all(shifted_tflite, "dense")),
        f"(d) tfmot {int(100 * sparsity)} % sparse": dict(sets=evaluate_all(pruned_tflite, "dense")),
    }
    zero_skip = evaluate_all(pruned_tflite, zero_thresholds(pruned_tflite))
    results[f"(d) tfmot {int(100 * sparsity)} % sparse"]["zero_skip_mac_reduction"] = {
        s: r["mac_reduction"] for s, r in zero_skip.items()}
    for model_name, r in results.items():
        for s, rep_s in r["sets"].items():
            rep_s.pop("layers", None)
        print(model_name, {s: (round(v["accuracy"], 4), round(v["mac_reduction"], 3)) for s, v in r["sets"].items()},
              flush=True)
    out = dict(dataset=name, test_samples=len(x_test), epochs=args.epochs, fine_tune_epochs=args.fine_tune_epochs,
               budget=args.budget, division=args.division, calibration=calib.summary(), tfmot_sparsity=sparsity,
               seconds=time.time() - t0, models=results)
    with open(os.path.join(args.out, f"{name}_domain_shift.json"), "w") as f:
        json.dump(out, f, indent=1, default=float)
    plot(results, os.path.join(args.out, f"{name}_domain_shift.png"),
         f"{name}: accuracy under corruptions (first {len(x_test)} test images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
