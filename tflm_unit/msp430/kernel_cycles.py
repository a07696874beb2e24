"""Cycles per MAC of single UnIT kernels on the simulated MSP430: dense
(thresholds None) against UnIT at several thresholds and division modes,
with a bit-exactness check against the host build of the core.

Default layers: the two 5x5 convolutions of the UnIT paper's MNIST net
(28x28x1 -> 6 filters, then 12x12x6 -> 16 filters, VALID), on synthetic
int8 data shaped like real activations (many values at the zero point).

    python -m tflm_unit.msp430.kernel_cycles [--image mnist.npz] [--json]
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from tflm_unit.core.kernels import DIVISION_MODES, ConvParams, quantize_multiplier
from tflm_unit.msp430.harness import KernelCase, run_kernel_cases

DEFAULT_THRESHOLDS = (50, 200, 800, 3000)


def _int8_weights(rng: np.random.Generator, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric per-output-channel int8 weights and their scales."""
    real = rng.normal(0.0, 0.2, shape)
    scale = np.abs(real).reshape(shape[0], -1).max(axis=1) / 127
    quantised = np.round(real / scale.reshape(-1, *[1] * (len(shape) - 1)))
    return np.clip(quantised, -127, 127).astype(np.int8), scale


def paper_mnist_conv_layers(image: Optional[np.ndarray] = None, seed: int = 1):
    """[(name, input, filter, bias, multiplier, shift, params)] for the two
    conv layers.  `image` (28x28 uint8) replaces the synthetic first input."""
    rng = np.random.default_rng(seed)
    if image is None:
        image = np.clip(rng.normal(40, 90, (28, 28)), 0, 255)  # dark background, bright strokes
    x1 = (np.asarray(image, np.int32) - 128).astype(np.int8).reshape(1, 28, 28, 1)
    # conv2 sees pooled ReLU outputs: mostly at or near the zero point (-128).
    x2 = np.clip(rng.normal(-118, 40, (1, 12, 12, 6)), -128, 127).astype(np.int8)
    layers = []
    for name, x, filters, input_scale in (("conv1", x1, 6, 1 / 255), ("conv2", x2, 16, 0.05)):
        w, w_scale = _int8_weights(rng, (filters, 5, 5, x.shape[3]))
        multiplier, shift = zip(*(quantize_multiplier(float(v)) for v in w_scale * input_scale / 0.05))
        params = ConvParams(padding="VALID", input_offset=128, output_offset=-128)
        bias = rng.integers(-500, 500, filters).astype(np.int32)
        layers.append((name, x, w, bias, np.array(multiplier, np.int32),
                       np.array(shift, np.int32), params))
    return layers


def measure(layers=None, thresholds: Sequence[int] = DEFAULT_THRESHOLDS,
            modes: Sequence[str] = DIVISION_MODES,
            multipliers: Sequence[str] = ("hardware", "software"),
            work_dir: Optional[Path] = None) -> list[dict]:
    """One row per (multiplier, layer, threshold, mode): cycles, MACs
    executed and total, cycles per MAC, bit_exact."""
    layers = paper_mnist_conv_layers() if layers is None else layers
    cases = []
    for name, x, w, bias, multiplier, shift, params in layers:
        cases.append(KernelCase("conv_2d", x, w, bias, multiplier, shift, params, name=f"{name}|dense|-"))
        for t in thresholds:
            for mode in modes:
                cases.append(KernelCase("conv_2d", x, w, bias, multiplier, shift, params,
                                        np.full(w.shape[0], t, np.int16), 1, mode,
                                        name=f"{name}|{t}|{mode}"))
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(work_dir) if work_dir else Path(tmp)
        for multiplier_build in multipliers:
            runs = run_kernel_cases(cases, base / multiplier_build, multiplier_build,  # type: ignore[arg-type]
                                    timeout_s=1800, object_dir=base / "objects")
            for run in runs:
                host = run.case.run_on_host()
                layer, threshold, mode = run.case.name.split("|")
                rows.append({
                    "multiplier": multiplier_build, "layer": layer,
                    "threshold": None if threshold == "dense" else int(threshold),
                    "division": None if mode == "-" else mode,
                    "cycles": run.cycles, "macs_total": host.macs_total,
                    "macs_executed": host.macs_executed,
                    "cycles_per_mac": run.cycles / host.macs_total,
                    "bit_exact": bool(run.status == 0 and np.array_equal(run.output, host.output)),
                })
    return rows


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", help="an .npz with x_test (28x28 uint8 images); the first is used")
    parser.add_argument("--json", action="store_true", help="print the rows as one JSON object")
    args = parser.parse_args(argv)
    image = np.load(args.image)["x_test"][0] if args.image else None
    rows = measure(paper_mnist_conv_layers(image))
    if args.json:
        print(json.dumps({"rows": rows}))
        return
    dense = {(r["multiplier"], r["layer"]): r["cycles"] for r in rows if r["threshold"] is None}
    for r in rows:
        speedup = dense[(r["multiplier"], r["layer"])] / r["cycles"]
        print(f"{r['multiplier']:8s} {r['layer']} T={str(r['threshold']):5s} {str(r['division']):5s} "
              f"cycles {r['cycles']:10d}  MACs {r['macs_executed']:6d}/{r['macs_total']:6d}  "
              f"cycles/MAC {r['cycles_per_mac']:6.1f}  speed-up {speedup:4.2f}  "
              f"bit_exact {r['bit_exact']}")


if __name__ == "__main__":
    main()
