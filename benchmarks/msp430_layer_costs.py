"""Per-layer MSP430 cycles of the UnIT paper's MNIST net, dense and UnIT,
both multiplier builds, before and after a kernel change (not run by CI).

One command trains the paper net (or reuses the models it saved), calibrates
UnIT thresholds within --budget on the head of the test split (shift
division by default), and simulates on the MSP430 simulator, every output
checked bit for bit against the host runtime:
  dense      the builtin form of the model (thresholds NULL);
  unit       the calibrated thresholds;
  skip_all   thresholds so large that every MAC is skipped: the cycles that
             lie outside the MAC walk (setup, quotients, requantisation,
             pooling), the floor UnIT cannot go below with this kernel.
--baseline reads an earlier run of this script (the same models) and puts
its numbers beside the new ones as "before".

    python benchmarks/msp430_layer_costs.py --data /work/shared/datasets/mnist.npz \\
        --models benchmarks/reported/msp430_layer_costs_models \\
        --out benchmarks/reported/msp430_layer_costs.json [--baseline before.json]
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, ".."))

from tflm_unit.unit.calibration.guarantee import DEFAULT_CONFIDENCE  # noqa: E402
sys.path.insert(0, HERE)

MULTIPLIERS = ("hardware", "software")


def make_models(args) -> dict:
    """{"dense": bytes, "unit": bytes, "skip_all": bytes} and the calibration summary, cached in --models."""
    os.makedirs(args.models, exist_ok=True)
    files = {key: os.path.join(args.models, f"mnist_{key}.tflite") for key in ("dense", "unit", "skip_all")}
    info_file = os.path.join(args.models, "mnist_models.json")
    if all(os.path.exists(f) for f in files.values()) and os.path.exists(info_file):
        with open(info_file) as f:
            info = json.load(f)
        return {key: open(path, "rb").read() for key, path in files.items()}, info
    from msp430_benchmark import accuracy, calibrated
    from unit_calibration import load, train

    from tflm_unit.converter import apply_thresholds, int8_model

    (x_fit, y_fit), _, (x_test, y_test) = load(args.data, args.calib_size, args.train_size)
    x_calib, y_calib = x_test[:args.calib_size], y_test[:args.calib_size]
    x_test, y_test = x_test[args.calib_size:args.calib_size + args.test_size], \
        y_test[args.calib_size:args.calib_size + args.test_size]
    base = train(x_fit, y_fit, args.epochs, args.seed)
    dense = int8_model(base, x_fit[:200].astype(np.float32) / 255.0)
    unit, summary = calibrated(dense, x_calib, y_calib, args.budget, args.division, "mnist", args.confidence)
    # Every MAC skipped: a real threshold far above any |x*w| (T_q saturates at the int16 maximum).
    skip_all = apply_thresholds(dense, 1e9, args.division)
    models = {"dense": dense, "unit": unit, "skip_all": skip_all}
    for key, model in models.items():
        with open(files[key], "wb") as f:
            f.write(model)
    info = {"train_samples": int(len(x_fit)), "epochs": args.epochs, "calib_samples": int(len(x_calib)),
            "budget": args.budget, "division": args.division, "calibration": summary,
            "test_samples": int(len(x_test)),
            "test": {key: accuracy(model, x_test, y_test) for key, model in models.items()}}
    with open(info_file, "w") as f:
        json.dump(info, f, indent=1, default=float)
    return models, info


def simulate_all(models: dict, xq_by_model: dict, work: str, conv_layout: str = "compare",
                 layouts: tuple = (), pricing=None) -> dict:
    """{multiplier: {model: {"cycles", "layers": [{name, op, cycles, macs, macs_executed}], "bit_exact"}}};
    with conv_layout "bucketed" also "unit_bucketed" and "skip_all_bucketed": the
    same models with the bucketed layout on their UnIT convs (DESIGN.md §9);
    each of `layouts` ("fast", "auto": chosen by the cycle model of each
    build, priced on `pricing`) adds "unit_<layout>"."""
    from tflm_unit.converter.rewrite import set_layouts
    from tflm_unit.msp430 import MSP430FR5994, SIMULATOR_LARGE_RAM, BuildOptions, ProgramTooLargeError
    from tflm_unit.msp430.benchmark import simulate_model

    out = {}
    runs = [(key, key, models[key]) for key in models]
    if conv_layout == "bucketed":
        runs += [(f"{key}_bucketed", key, set_layouts(models[key], "bucketed")) for key in models if key != "dense"]
    for multiplier in MULTIPLIERS:
        out[multiplier] = {}
        extra, chosen = [], {}
        for layout in layouts:
            if layout == "auto":
                from tflm_unit.converter import choose_layouts

                chosen = choose_layouts(models["unit"], pricing, multiplier)
                extra.append(("unit_auto", "unit", set_layouts(models["unit"], chosen)))
            else:
                extra.append((f"unit_{layout}", "unit", set_layouts(models["unit"], layout)))
        for key, source, model in runs + extra:
            where = (os.path.join(work, f"{multiplier}_{key}"), os.path.join(work, "objects"))
            try:  # the part's own map; the simulator's 24 KiB-RAM map when the activations do not fit
                sim = simulate_model(model, xq_by_model[source],
                                     BuildOptions(multiplier=multiplier, memory_map=MSP430FR5994), *where)
            except ProgramTooLargeError:
                sim = simulate_model(model, xq_by_model[source],
                                     BuildOptions(multiplier=multiplier, memory_map=SIMULATOR_LARGE_RAM), *where)
            sizes = sim.firmware.program.sizes
            out[multiplier][key] = {
                "cycles": sim.cycles, "bit_exact": bool(sim.bit_exact), "sample_cycles": sim.sample_cycles,
                "memory_map": sim.firmware.program.options.memory_map.name,
                "sizes": {"code": sizes.code, "constants": sizes.constants, "arena": sim.firmware.arena_bytes,
                          "stack_used": sim.stack_bytes_used},
                "layers": [{"name": op.name, "op": op.op_name, "cycles": float(sim.op_cycles[i]),
                            "macs": sim.macs_total.get(op.op_index, 0.0),
                            "macs_executed": sim.macs_executed.get(op.op_index, 0.0)}
                           for i, op in enumerate(sim.firmware.ops)]}
            if key == "unit_auto":
                out[multiplier][key]["layouts"] = {str(index): layout for index, layout in chosen.items()}
            print(f"{multiplier:8s} {key:17s} {sim.cycles:12.0f} cycles bit_exact {sim.bit_exact}", flush=True)
    return out


def cycle_model_check(models: dict, run: dict, division: str) -> dict:
    """The shipped cycle model (tflm_unit/msp430/cycle_model.json, what
    calibration's cycle objective uses) against the simulated cycles of each
    MAC layer: {multiplier: {model: [{name, predicted, measured}]}}."""
    from tflm_unit.converter.metadata import read_unit_config
    from tflm_unit.msp430.cycle_model import load_cycle_model
    from tflm_unit.runtime import Interpreter
    from tflm_unit.unit.calibration import LayerWork
    from tflm_unit.unit.calibration.cycle_model import walked_weights

    out = {}
    for multiplier in run:
        cycle_model = load_cycle_model(multiplier)
        out[multiplier] = {}
        for key, model in models.items():
            graph = Interpreter(model).graph
            groups = {op["op_index"]: len(op["thresholds_int"]) for op in (read_unit_config(model) or {}).get("ops", [])}
            mac_ops = [op for op in graph.operators if op.name.replace("UNIT_", "") in
                       ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
            rows = []
            for op, layer in zip(mac_ops, [l for l in run[multiplier][key]["layers"] if l["macs"] > 0]):
                name = op.name.replace("UNIT_", "")
                unit = op.name.startswith("UNIT_")
                weights = graph.tensor(op.inputs[1]).data
                out_shape = graph.tensor(op.outputs[0]).shape
                channels = int(out_shape[-1])
                num_groups = groups.get(op.index, 1)
                divisions = (float(weights.shape[1] * num_groups) if name == "FULLY_CONNECTED"
                             else float(np.count_nonzero(weights)))
                walked = 0.0
                if unit and name == "CONV_2D":
                    walked = float(walked_weights(weights, graph.tensor(op.inputs[3]).data, channels // num_groups,
                                                  division))
                work = LayerWork(op_name=name, unit=unit, division=division, macs_total=layer["macs"],
                                 macs_executed=layer["macs_executed"], divisions=divisions if unit else 0.0,
                                 outputs=int(np.prod(out_shape[1:])), group_size=channels // num_groups,
                                 num_groups=num_groups,
                                 layout=op.custom_options.get("layout", "compare") if unit else "compare",
                                 input_elements=int(np.prod(graph.tensor(op.inputs[0]).shape[1:])),
                                 output_rows=int(out_shape[1]) if len(out_shape) == 4 else 1,
                                 walked_weights=walked)
                predicted = cycle_model.layer_cycles(work)
                rows.append({"name": layer["name"], "predicted": predicted, "measured": layer["cycles"],
                             "relative_error": predicted / layer["cycles"] - 1.0})
            out[multiplier][key] = rows
    return out


def ratios(run: dict, dense: dict = None) -> dict:
    """Dense cycles / each model's cycles, whole model and per layer (dense
    from `dense`, default the same run)."""
    dense = dense or run
    out = {}
    for m in run:
        base = dense[m]["dense"]
        out[m] = {key: {"model": base["cycles"] / run[m][key]["cycles"],
                        "layers": {layer["name"]: d["cycles"] / layer["cycles"]
                                   for d, layer in zip(base["layers"], run[m][key]["layers"])}}
                  for key in run[m] if key != "dense"}
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/work/shared/datasets/mnist.npz")
    parser.add_argument("--models", default="benchmarks/reported/msp430_layer_costs_models")
    parser.add_argument("--out", default="benchmarks/reported/msp430_layer_costs.json")
    parser.add_argument("--baseline", default=None, help="an earlier run's JSON (same models): the 'before'")
    parser.add_argument("--train-size", type=int, default=58000)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--calib-size", type=int, default=2000)
    parser.add_argument("--test-size", type=int, default=4000)
    parser.add_argument("--budget", type=float, default=0.01)
    parser.add_argument("--division", default="shift")
    parser.add_argument("--confidence", type=float, default=DEFAULT_CONFIDENCE,
                        help="calibration guarantee: probability that the drop holds on unseen data")
    parser.add_argument("--samples", type=int, default=2, help="test images simulated")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--conv-layout", choices=("compare", "bucketed"), default="compare",
                        help="bucketed: also run the UnIT models with the bucketed-input CONV_2D kernel")
    parser.add_argument("--layouts", nargs="*", choices=("fast", "auto"), default=(),
                        help="also run the UnIT model with these layouts (auto: chosen per layer by each "
                             "build's cycle model, priced on the calibration images)")
    args = parser.parse_args(argv)
    from tflm_unit.msp430 import missing_toolchain_message
    from tflm_unit.runtime import Interpreter
    from unit_calibration import load

    message = missing_toolchain_message()
    if message:
        print(message, file=sys.stderr)
        return 2
    t0 = time.time()
    models, info = make_models(args)
    _, _, (x_test, _) = load(args.data, args.calib_size, args.train_size)
    images = x_test[args.calib_size:args.calib_size + args.samples].astype(np.float32) / 255.0
    xq = {key: Interpreter(model).quantize_input(images) for key, model in models.items()}
    with tempfile.TemporaryDirectory(prefix="msp430_layer_costs_") as work:
        pricing = x_test[:min(args.calib_size, 64)].astype(np.float32) / 255.0  # the calibration head
        run = simulate_all(models, xq, work, args.conv_layout, tuple(args.layouts), pricing)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=HERE).stdout.strip()
    report = {"commit": commit, "samples": args.samples, "models": info,
              "note": "cycles: mean per inference over the simulated test images (mspdebug MCLK); "
                      "ratios: dense cycles / model cycles, dense = the same build's dense kernels",
              "after": run, "ratios_after": ratios(run),
              "cycle_model_check": cycle_model_check(models, run, args.division), "seconds": time.time() - t0}
    if args.baseline:
        with open(args.baseline) as f:
            before = json.load(f)
        report["before"] = before["after"]
        report["before_commit"] = before.get("commit")
        report["ratios_before"] = ratios(before["after"])
        # the new UnIT against the old dense baseline (not the honest ratio: for reference)
        report["ratios_after_vs_dense_before"] = ratios(run, before["after"])
        report["speedup_after_vs_before"] = {
            m: {key: before["after"][m][key]["cycles"] / run[m][key]["cycles"] for key in run[m]} for m in run}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(report, f, indent=1, default=float)
    for key in ("before", "after"):
        if key not in report:
            continue
        print(f"{key}:")
        for m, models in report[key].items():
            for name, r in models.items():
                layers = "  ".join(f"{layer['name']}={layer['cycles']:.0f}" for layer in r["layers"])
                print(f"  {m:8s} {name:17s} {r['cycles']:10.0f}  {layers}")
    for key in ("ratios_before", "ratios_after"):
        if key in report:
            print(key, {m: {k: round(v["model"], 3) for k, v in r.items()} for m, r in report[key].items()})
    return 0


if __name__ == "__main__":
    sys.exit(main())
