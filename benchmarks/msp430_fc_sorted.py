"""Zero-cost skipping in FULLY_CONNECTED (DESIGN.md §9) on the simulated MSP430:
the UnIT paper's MNIST net, dense vs UnIT with the compare-per-MAC FC kernel
vs UnIT with the sorted FC layout (same thresholds, bit-exact), per layer and
whole model, both multiplier builds; flash/RAM of each firmware.

Thresholds: the calibration guarantee (search and confirmation within
--budget at the default confidence) on the calibration split (the tail of the
training set, never trained on); accuracy on --test-size unseen test
images (host runtime, bit-exact with the firmware, every simulated output
checked).  One command writes the JSON:

    python benchmarks/msp430_fc_sorted.py --data /work/shared/datasets/mnist.npz \\
        --out benchmarks/reported/msp430_fc_sorted_mnist.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))
sys.path.insert(0, HERE)

from msp430_benchmark import accuracy, calibrated, simulate  # noqa: E402
from unit_calibration import load, train  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="MNIST .npz (x_train, y_train, x_test, y_test)")
    parser.add_argument("--out", default="benchmarks/reported/msp430_fc_sorted_mnist.json")
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--calib-size", type=int, default=1000)
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=10, help="test images run in the simulator")
    parser.add_argument("--budget", type=float, default=0.01)
    parser.add_argument("--division", default="shift", choices=("exact", "shift", "tree", "clz"))
    parser.add_argument("--multipliers", nargs="+", default=["hardware", "software"])
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    from tflm_unit.converter import int8_model
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.msp430 import missing_toolchain_message
    from tflm_unit.runtime import Interpreter
    from tflm_unit.unit.calibration.guarantee import DEFAULT_CONFIDENCE

    message = missing_toolchain_message()
    if message:
        print(message, file=sys.stderr)
        return 2
    t0 = time.time()
    (x_fit, y_fit), (x_calib, y_calib), (x_test, y_test) = load(args.data, args.calib_size, args.train_size)
    x_test, y_test = x_test[:args.test_size], y_test[:args.test_size]
    base = train(x_fit, y_fit, args.epochs, args.seed)
    dense = int8_model(base, x_fit[:200].astype(np.float32) / 255.0)
    unit, calibration = calibrated(dense, x_calib, y_calib, args.budget, args.division, "mnist",
                                   confidence=DEFAULT_CONFIDENCE)
    models = {"dense": dense, "unit_compare": unit, "unit_sorted": set_layouts(unit, "sorted")}
    results = {label: {"test": accuracy(model, x_test, y_test)} for label, model in models.items()}
    results["unit_compare"]["calibration"] = calibration
    for label in models:
        results[label]["test"]["accuracy_drop_vs_dense"] = (results["dense"]["test"]["accuracy"]
                                                            - results[label]["test"]["accuracy"])
    # The layout changes no output: the host runtime runs the sorted kernel.
    assert results["unit_sorted"]["test"] == results["unit_compare"]["test"]
    print(f"calibrated ({time.time() - t0:.0f} s): " + ", ".join(
        f"{k} {r['test']['accuracy']:.4f}" for k, r in results.items()), flush=True)
    with tempfile.TemporaryDirectory() as work:
        objects = os.path.join(work, "objects")
        for multiplier in args.multipliers:
            for label, model in models.items():
                xq = Interpreter(model).quantize_input(x_test[:args.samples].astype(np.float32) / 255.0)
                results[label][multiplier] = simulate(model, xq, multiplier, os.path.join(work, multiplier + label),
                                                      objects)
                r = results[label][multiplier]
                print(f"{multiplier:8s} {label:13s} {r['cycles']:11.0f} cycles  bit_exact {r['bit_exact']}  "
                      + "  ".join(f"{layer['name']} {layer['cycles']:.0f}" for layer in r["layers"]), flush=True)
            base_cycles = results["dense"][multiplier]["cycles"]
            for label in models:
                r = results[label][multiplier]
                r["speedup_vs_dense"] = base_cycles / r["cycles"]
                r["flash_added_vs_dense"] = (r["sizes"]["code"] + r["sizes"]["constants"]
                                             - results["dense"][multiplier]["sizes"]["code"]
                                             - results["dense"][multiplier]["sizes"]["constants"])
            fc = {label: next(layer for layer in results[label][multiplier]["layers"]
                              if layer["op"] == "FULLY_CONNECTED")["cycles"] for label in models}
            results["unit_sorted"][multiplier]["fc_speedup_vs_compare"] = fc["unit_compare"] / fc["unit_sorted"]
            results["unit_sorted"][multiplier]["fc_speedup_vs_dense"] = fc["dense"] / fc["unit_sorted"]
    report = {"benchmark": "msp430_fc_sorted", "dataset": os.path.basename(args.data), "model": "UnIT paper net",
              "train_samples": int(len(x_fit)), "epochs": args.epochs, "calib_samples": int(len(x_calib)),
              "test_samples": int(len(x_test)), "simulated_samples": args.samples, "budget": args.budget,
              "division": args.division, "seconds": time.time() - t0,
              "note": "dense = today's dense kernels of this branch (not the issue's 'fastest dense' baseline)",
              "models": results}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1, default=float)
    print(f"wrote {args.out} ({time.time() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
