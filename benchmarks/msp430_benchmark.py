"""The UnIT paper's MSP430 comparison on the simulated MSP430 (not run by CI).

Per dataset, with the paper's 2-conv net (int8):
  (a) dense              trained, quantised, run with the builtin kernels;
  (b) tfmot pruned       (a) pruned with prune_low_magnitude (constant
                         sparsity), fine-tuned, stripped, run dense (the
                         paper's "training-time pruned" baseline);
  (c) UnIT on (a)        thresholds calibrated within --budget accuracy loss
                         on a held-apart calibration split (tail of the
                         training set, never trained on; or, --calib-split
                         test, the head of the test set, which the test
                         accuracy then leaves out);
  (d) UnIT on (b)        the same on the pruned model;
  (e) each division mode (c) calibrated with that mode in the loop;
  (f) with --layouts: (c) of the first division with the zero-cost layouts
      (DESIGN.md §9; bit-exact, so (c)'s accuracy), "auto" chosen per
      multiplier build by the fitted cycle model.
Accuracy on the test split (host runtime, bit-exact with the firmware);
cycles per layer and total on the simulated MSP430 (mspdebug, both
multiplier builds) over --samples test images, every output checked against
the host runtime; energy estimate from the MSP430FR5994 datasheet
(tflm_unit.msp430.benchmark).

    python benchmarks/msp430_benchmark.py --data mnist=/work/shared/datasets/mnist.npz \\
        --out benchmarks/results/msp430 [--train-size 6000 --epochs 2 --samples 3] [--layouts fast auto]
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

from tflm_unit.unit.calibration.guarantee import DEFAULT_CONFIDENCE  # noqa: E402
from unit_domain_shift import magnitude_pruned  # noqa: E402

DIVISIONS = ("exact", "shift", "tree", "clz")


def calibrated(model: bytes, x_calib, y_calib, budget: float, division: str, name: str,
               confidence: float = DEFAULT_CONFIDENCE):
    """(UnIT .tflite, calibration summary) within `budget` on the calibration split."""
    from tflm_unit.converter import apply_thresholds
    from tflm_unit.converter.metadata import read_unit_config
    from tflm_unit.unit.calibration import calibrate

    calib = calibrate(model, x_calib, y_calib, budget, division=division, progress=False, dataset=name,
                      confidence=confidence)
    unit = apply_thresholds(model, calib.thresholds_real(), division, calib.group_sizes(),
                            calibration=calib.summary())
    written = {op["op_index"]: op["thresholds_int"] for op in read_unit_config(unit)["ops"]}
    same = all(list(map(int, t)) == list(map(int, written[i])) for i, t in calib.thresholds_int().items())
    summary = calib.summary()
    summary["thresholds_int_round_trip"] = bool(same)
    return unit, summary


def accuracy(model: bytes, x, y) -> dict:
    from tflm_unit.unit.evaluation import evaluate

    result = evaluate(model, x, y)
    return {"accuracy": result["accuracy"], "macs_dense": result["macs_dense"],
            "macs_executed": result["macs_executed"], "mac_reduction": result["mac_reduction"]}


def simulate(model: bytes, xq, multiplier: str, out_dir: str, objects: str) -> dict:
    """Cycles of one model on the simulated MSP430 (FR5994 map, else the
    simulator's 24 KiB-RAM map when the activations do not fit)."""
    from tflm_unit.msp430 import (MSP430FR5994, SIMULATOR_LARGE_RAM, BuildOptions, ProgramTooLargeError,
                                  energy_uj)
    from tflm_unit.msp430.benchmark import simulate_model

    note = None
    try:
        sim = simulate_model(model, xq, BuildOptions(multiplier=multiplier, memory_map=MSP430FR5994), out_dir, objects)
    except ProgramTooLargeError as error:
        note = " ".join(str(error).split())
        try:
            sim = simulate_model(model, xq, BuildOptions(multiplier=multiplier, memory_map=SIMULATOR_LARGE_RAM),
                                 out_dir, objects)
        except ProgramTooLargeError as larger:  # recorded, the other models still run
            return {"not_run": " ".join(str(larger).split()), "fr5994_fit_error": note}
    layers = [{"name": op.name, "op": op.op_name, "cycles": float(sim.op_cycles[i]),
               "macs": sim.macs_total.get(op.op_index, 0.0), "macs_executed": sim.macs_executed.get(op.op_index, 0.0)}
              for i, op in enumerate(sim.firmware.ops)]
    return {"cycles": sim.cycles, "energy_uj": energy_uj(sim.cycles), "bit_exact": sim.bit_exact,
            "sample_cycles": sim.sample_cycles, "layers": layers,
            "memory_map": sim.firmware.program.options.memory_map.name, "fr5994_fit_error": note,
            "sizes": {"code": sim.firmware.program.sizes.code, "constants": sim.firmware.program.sizes.constants,
                      "arena": sim.firmware.arena_bytes}}


def run_dataset(name: str, path: str, args) -> dict:
    import tensorflow as tf

    from tflm_unit.converter import int8_model
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.runtime import Interpreter

    t0 = time.time()
    (x_fit, y_fit), (x_calib, y_calib), (x_test, y_test) = load(path, args.calib_size, args.train_size)
    if args.calib_split == "test":
        # Calibrate on the first test images, evaluate on the others (disjoint).
        x_calib, y_calib = x_test[:args.calib_size], y_test[:args.calib_size]
        x_test, y_test = x_test[args.calib_size:], y_test[args.calib_size:]
    x_test, y_test = x_test[:args.test_size], y_test[:args.test_size]
    model_dir = os.path.join(args.out, "models")
    os.makedirs(model_dir, exist_ok=True)
    cache_file = os.path.join(model_dir, f"{name}_models.json")
    if args.reuse and os.path.exists(cache_file):
        # The models (training, pruning, calibration) of an earlier run: only simulate again.
        with open(cache_file) as f:
            cached = json.load(f)
        models = {label: open(os.path.join(model_dir, file), "rb").read() for label, file in cached["files"].items()}
        calibrations = cached["calibrations"]
    else:
        base = train(x_fit, y_fit, args.epochs, args.seed)
        rep = x_fit[:200].astype(np.float32) / 255.0
        models = {"(a) dense": int8_model(base, rep)}
        tf.random.set_seed(args.seed)
        pruned = magnitude_pruned(base, x_fit, y_fit, args.sparsity, args.fine_tune_epochs)
        models["(b) tfmot pruned"] = int8_model(pruned, rep)
        calibrations = {}
        for mode in args.divisions:
            label = f"(c) UnIT on (a), {mode}"
            models[label], calibrations[label] = calibrated(models["(a) dense"], x_calib, y_calib, args.budget,
                                                            mode, name, args.confidence)
            print(f"{name}: {label} calibrated ({time.time() - t0:.0f} s)", flush=True)
        label = f"(d) UnIT on (b), {args.divisions[0]}"
        models[label], calibrations[label] = calibrated(models["(b) tfmot pruned"], x_calib, y_calib, args.budget,
                                                        args.divisions[0], name, args.confidence)
        files = {}
        for index, (label, model) in enumerate(models.items()):
            files[label] = f"{name}_{index}.tflite"
            with open(os.path.join(model_dir, files[label]), "wb") as f:
                f.write(model)
        with open(cache_file, "w") as f:
            json.dump({"files": files, "calibrations": calibrations}, f, indent=1, default=float)
    results = {label: {"test": accuracy(model, x_test, y_test)} for label, model in models.items()}
    for label, summary in calibrations.items():
        results[label]["calibration"] = summary
    dense_acc = results["(a) dense"]["test"]["accuracy"]
    for label, r in results.items():
        r["test"]["accuracy_drop_vs_a"] = dense_acc - r["test"]["accuracy"]
        print(f"{name}: {label}: test accuracy {r['test']['accuracy']:.4f}, "
              f"MAC reduction {r['test']['mac_reduction']:.3f}", flush=True)

    objects = os.path.join(args.work, "objects")
    source = f"(c) UnIT on (a), {args.divisions[0]}"
    pricing = x_calib[:64].astype(np.float32) / 255.0  # auto prices the layouts on calibration images
    layouts_chosen = {}
    for multiplier in args.multipliers:
        runs = dict(models)
        for layout in args.layouts:
            # The zero-cost layouts (DESIGN.md §9) of the first division's UnIT model: bit-exact, so the
            # test accuracy is the source model's; "auto" is chosen by the cycle model of this build.
            label = f"{source}, {layout} layout"
            if layout == "auto":
                from tflm_unit.converter import choose_layouts

                chosen = choose_layouts(models[source], pricing, multiplier)
                layouts_chosen[multiplier] = {str(index): value for index, value in chosen.items()}
                runs[label] = set_layouts(models[source], chosen)
            else:
                runs[label] = set_layouts(models[source], layout)
            results.setdefault(label, {"test": results[source]["test"]})
        for label, model in runs.items():
            key = "".join(ch if ch.isalnum() else "_" for ch in f"{name}_{multiplier}_{label}")
            # Each model has its own input quantisation (all from the same images).
            x_model = Interpreter(model).quantize_input(x_test[:args.samples].astype(np.float32) / 255.0)
            results[label][multiplier] = simulate(model, x_model, multiplier, os.path.join(args.work, key), objects)
            r = results[label][multiplier]
            if "not_run" in r:
                print(f"{name}: {multiplier:8s} {label:28s} not run: {r['not_run']}", flush=True)
                continue
            print(f"{name}: {multiplier:8s} {label:28s} {r['cycles']:12.0f} cycles  {r['energy_uj']:9.1f} uJ  "
                  f"bit_exact {r['bit_exact']} ({time.time() - t0:.0f} s)", flush=True)
        if "not_run" in results["(a) dense"][multiplier]:
            continue  # no baseline in this build: no ratios
        dense_cycles = results["(a) dense"][multiplier]["cycles"]
        for label in runs:
            r = results[label][multiplier]
            if "not_run" in r:
                continue
            r["speedup_vs_a"] = dense_cycles / r["cycles"]
            pruned = results["(b) tfmot pruned"][multiplier]
            r["speedup_vs_b"] = pruned["cycles"] / r["cycles"] if "cycles" in pruned else None
    return {"dataset": name, "path": path, "train_samples": int(len(x_fit)), "epochs": args.epochs,
            "fine_tune_epochs": args.fine_tune_epochs, "tfmot_sparsity": args.sparsity,
            "calib_samples": int(len(x_calib)), "calib_split": args.calib_split, "test_samples": int(len(x_test)), "simulated_samples": args.samples,
            "budget": args.budget, "confidence": args.confidence, "layouts_auto": layouts_chosen,
            "seconds": time.time() - t0, "models": results}


def table(report: dict) -> str:
    lines = []
    for dataset in report["datasets"]:
        lines.append(f"\n### {dataset['dataset']} ({dataset['train_samples']} training images, "
                     f"{dataset['epochs']} epochs; {dataset['simulated_samples']} images simulated)\n")
        multipliers = [m for m in ("hardware", "software") if m in next(iter(dataset["models"].values()))]
        header = "| model | test acc. | MACs run | " + " | ".join(
            f"{m} cycles | {m} speed-up vs (a) | {m} energy uJ" for m in multipliers) + " | bit-exact |"
        lines += [header, "|" + "---|" * (header.count("|") - 1)]
        for label, r in dataset["models"].items():
            cells = [label, f"{r['test']['accuracy']:.4f}",
                     f"{r['test']['macs_executed']:.0f}/{r['test']['macs_dense']:.0f}"]
            for m in multipliers:
                cells += ["does not fit", "", ""] if "not_run" in r[m] else \
                    [f"{r[m]['cycles']:.0f}", f"{r[m]['speedup_vs_a']:.2f}" if "speedup_vs_a" in r[m] else "",
                     f"{r[m]['energy_uj']:.1f}"]
            cells.append(str(all(r[m]["bit_exact"] for m in multipliers if "not_run" not in r[m])))
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", action="append", required=True, metavar="NAME=NPZ",
                        help="dataset name and .npz path (x_train, y_train, x_test, y_test), repeatable")
    parser.add_argument("--out", default="benchmarks/results/msp430")
    parser.add_argument("--work", default=None, help="build directory (default OUT/build)")
    parser.add_argument("--train-size", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    parser.add_argument("--sparsity", type=float, default=0.5, help="tfmot constant sparsity of (b)")
    parser.add_argument("--calib-size", type=int, default=1000)
    parser.add_argument("--calib-split", choices=("train", "test"), default="train",
                        help="where the calibration images come from: the tail of the training split "
                             "(never trained on), or the head of the test split (then excluded from the "
                             "test accuracy); MNIST's test digits are by other writers than its training "
                             "digits, so 'test' calibrates on the distribution the accuracy is measured on")
    parser.add_argument("--test-size", type=int, default=2000)
    parser.add_argument("--samples", type=int, default=3, help="test images run in the simulator")
    parser.add_argument("--budget", type=float, default=0.01, help="max accuracy drop of calibration (1 pp)")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                        help="confidence of the calibration guarantee (the library default unless given)")
    parser.add_argument("--divisions", nargs="+", choices=DIVISIONS, default=["shift", "exact", "tree", "clz"])
    parser.add_argument("--multipliers", nargs="+", choices=("hardware", "software"),
                        default=["hardware", "software"])
    parser.add_argument("--layouts", nargs="*", choices=("fast", "auto"), default=(),
                        help="also simulate the first division's UnIT model with these zero-cost layouts "
                             "(fast: bucketed convs and sorted FC; auto: per layer the fewer cycles by the "
                             "fitted cycle model of each multiplier build)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the models of an earlier run in OUT/models (simulate again only)")
    args = parser.parse_args(argv)
    from tflm_unit.msp430 import missing_toolchain_message

    message = missing_toolchain_message()
    if message:
        print(message, file=sys.stderr)
        return 2
    os.makedirs(args.out, exist_ok=True)
    args.work = args.work or os.path.join(args.out, "build")
    report = {"datasets": []}
    for spec in args.data:
        name, _, path = spec.partition("=")
        report["datasets"].append(run_dataset(name, path, args))
        with open(os.path.join(args.out, "msp430_benchmark.json"), "w") as f:
            json.dump(report, f, indent=1, default=float)
    text = table(report)
    with open(os.path.join(args.out, "msp430_benchmark.md"), "w") as f:
        f.write(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
