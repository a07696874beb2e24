"""A per-op cycle model of the UnIT kernels on the MSP430, fitted from
simulator runs, for calibration's cycle objective.

For each MAC op (CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED) and each
multiplier build, least squares over kernel-harness runs
(:mod:`tflm_unit.msp430.harness`) of a few layer configurations, dense and
UnIT at several thresholds in every division mode, gives

    dense:  cycles = dense_mac * MACs + dense_output * outputs
    UnIT:   cycles = mac * executed MACs + skip * skipped MACs
                     + division[mode] * divisions + output * outputs

with "divisions" counted as calibration counts them (conv / depthwise: the
layer's non-zero weights; fully connected: input depth * groups) and the
per-output cost shared by both (the same requantisation).  UnIT CONV_2D
adds ``walk * walked weights * output rows``: a weight whose quotient is
below 255 is walked row by row, one with a larger quotient is passed over
(calibration.LayerWork.walked_weights).  The zero-cost layouts (DESIGN.md
§9) have UnIT figures of their own, under ``FULLY_CONNECTED/sorted`` (the
same terms) and ``CONV_2D/bucketed`` (also ``input * input elements``, the
bucketing of each call; its quotients cost what the compare kernel's do).
The coefficients are non-negative (NNLS).  The fitted figures ship as
``cycle_model.json`` next to this module; refit after changing the core:

    python -m tflm_unit.msp430.cycle_model --fit [--out FILE]

Use in calibration::

    from tflm_unit.msp430.cycle_model import load_cycle_model
    calibrate(model, x, y, objective="cycles", cycle_model=load_cycle_model("hardware"))
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence

import numpy as np

MODEL_FILE = Path(__file__).with_name("cycle_model.json")
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
DIVISION_MODES = ("exact", "shift", "tree", "clz")
_HARNESS_OPS = {"conv_2d": "CONV_2D", "depthwise_conv_2d": "DEPTHWISE_CONV_2D",
                "fully_connected": "FULLY_CONNECTED"}


@dataclasses.dataclass(frozen=True)
class OpCycles:
    """Cycle coefficients of one op kind in one multiplier build."""

    dense_mac: float
    dense_output: float
    mac: float
    skip: float
    output: float
    division: dict[str, float]
    walk: float = 0.0   # conv: per walked weight and output row
    input: float = 0.0  # bucketed conv: per input element

    def dense_cycles(self, macs: float, outputs: float) -> float:
        return self.dense_mac * macs + self.dense_output * outputs

    def unit_cycles(self, executed: float, skipped: float, divisions: float, outputs: float,
                    division: str, walks: float = 0.0, inputs: float = 0.0) -> float:
        if division not in self.division:
            raise ValueError(f"no cycle figure for division {division!r} (have {sorted(self.division)})")
        return (self.mac * executed + self.skip * skipped + self.division[division] * divisions
                + self.output * outputs + self.walk * walks + self.input * inputs)


def layout_key(op_name: str, layout: str) -> str:
    """The ``ops`` key of an op kind's layout: CONV_2D, CONV_2D/bucketed, ..."""
    return op_name if layout == "compare" else f"{op_name}/{layout}"


@dataclasses.dataclass(frozen=True)
class MSP430CycleModel:
    """Estimated MSP430 cycles of one MAC layer's inference; implements
    calibration's ``CycleModel`` protocol (``layer_cycles(work)``)."""

    multiplier: str
    ops: dict[str, OpCycles]
    fit: dict[str, Any] = dataclasses.field(default_factory=dict)  # provenance and residuals

    def layer_cycles(self, work: Any) -> float:
        """work: calibration.LayerWork (op_name, unit, division, macs_total,
        macs_executed, divisions, outputs, layout, input_elements, output_rows)."""
        key = layout_key(work.op_name, work.layout) if work.unit else work.op_name
        if key not in self.ops:
            raise ValueError(f"no cycle figures for {key} (have {sorted(self.ops)}); refit with "
                             "python -m tflm_unit.msp430.cycle_model --fit")
        op = self.ops[key]
        if not work.unit:
            return op.dense_cycles(work.macs_total, work.outputs)
        return op.unit_cycles(work.macs_executed, work.macs_total - work.macs_executed, work.divisions,
                              work.outputs, work.division, work.walked_weights * work.output_rows,
                              work.input_elements)

    def to_dict(self) -> dict:
        return {"multiplier": self.multiplier, "ops": {k: dataclasses.asdict(v) for k, v in self.ops.items()},
                "fit": self.fit}

    @classmethod
    def from_dict(cls, data: dict) -> "MSP430CycleModel":
        return cls(str(data["multiplier"]),
                   {name: OpCycles(**{**values, "division": dict(values["division"])})
                    for name, values in data["ops"].items()}, dict(data.get("fit", {})))


def load_cycle_model(multiplier: str = "hardware", path: Optional[Path | str] = None) -> MSP430CycleModel:
    """The fitted model of one multiplier build ("hardware" or "software")
    from ``cycle_model.json`` (or `path`)."""
    file = Path(path) if path is not None else MODEL_FILE
    if not file.is_file():
        raise FileNotFoundError(f"no MSP430 cycle model at {file}; fit one with "
                                "python -m tflm_unit.msp430.cycle_model --fit")
    data = json.loads(file.read_text())
    if multiplier not in data["models"]:
        raise ValueError(f"{file} has cycle models for {sorted(data['models'])}, not {multiplier!r}")
    return MSP430CycleModel.from_dict(data["models"][multiplier])


# --------------------------------------------------------------------------- fitting


def _int8_weights(rng: np.random.Generator, shape: tuple[int, ...], zero_fraction: float) -> np.ndarray:
    w = np.clip(np.round(rng.normal(0, 45, shape)), -127, 127).astype(np.int8)
    w[rng.uniform(size=shape) < zero_fraction] = 0
    return w


def _relu_activations(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """int8 with zero point -128, about a third at the zero point (ReLU outputs)."""
    return np.clip(np.round(rng.normal(-90, 80, shape)), -128, 127).astype(np.int8)


def _sparse(rng: np.random.Generator, x: np.ndarray, fraction: float) -> np.ndarray:
    """x with about `fraction` more of its values at the zero point (-128)."""
    x = x.copy()
    x[rng.uniform(size=x.shape) < fraction] = -128
    return x


def fit_layers(seed: int = 0) -> list[tuple]:
    """Layer configurations of the fit: (op, input, filter, params), small
    enough to simulate quickly, with different channel depths and kernels."""
    from tflm_unit.core.kernels import ConvParams

    rng = np.random.default_rng(seed)
    valid = ConvParams(padding="VALID", input_offset=128, output_offset=-128)
    same = ConvParams(padding="SAME", input_offset=128, output_offset=-128)
    return [
        ("conv_2d", _relu_activations(rng, (1, 12, 12, 1)), _int8_weights(rng, (4, 5, 5, 1), 0.05), valid),
        ("conv_2d", _relu_activations(rng, (1, 8, 8, 6)), _int8_weights(rng, (8, 3, 3, 6), 0.1), valid),
        ("conv_2d", _relu_activations(rng, (1, 6, 6, 16)), _int8_weights(rng, (6, 1, 1, 16), 0.0), same),
        ("conv_2d", _relu_activations(rng, (1, 11, 11, 3)), _int8_weights(rng, (5, 3, 3, 3), 0.1),
         dataclasses.replace(same, stride_h=2, stride_w=2)),
        ("conv_2d", _relu_activations(rng, (1, 14, 14, 4)), _int8_weights(rng, (8, 3, 3, 4), 0.05), valid),
        # many positions per weight (as an MNIST net's first conv): separates the
        # per-MAC costs from the per-weight ones
        ("conv_2d", _relu_activations(rng, (1, 26, 26, 1)), _int8_weights(rng, (4, 3, 3, 1), 0.0), valid),
        # 5x5 over several input channels with sparse inputs (as an MNIST net's
        # second conv: ReLU + pooling leave about half of them at zero)
        ("conv_2d", _sparse(rng, _relu_activations(rng, (1, 12, 12, 6)), 0.3), _int8_weights(rng, (8, 5, 5, 6), 0.05),
         valid),
        # 5x5 over a mostly-background image (as an MNIST net's first conv)
        ("conv_2d", _sparse(rng, _relu_activations(rng, (1, 28, 28, 1)), 0.6), _int8_weights(rng, (4, 5, 5, 1), 0.0),
         valid),
        ("depthwise_conv_2d", _relu_activations(rng, (1, 10, 10, 8)), _int8_weights(rng, (1, 3, 3, 8), 0.05),
         dataclasses.replace(same, depth_multiplier=1)),
        ("depthwise_conv_2d", _relu_activations(rng, (1, 8, 8, 4)), _int8_weights(rng, (1, 5, 5, 8), 0.1),
         dataclasses.replace(valid, depth_multiplier=2)),
        ("fully_connected", _relu_activations(rng, (1, 256)), _int8_weights(rng, (10, 256), 0.05), valid),
        ("fully_connected", _relu_activations(rng, (1, 64)), _int8_weights(rng, (32, 64), 0.1), valid),
    ]


def _divisions(op: str, w: np.ndarray, group_size: int) -> float:
    """Threshold quotients as calibration.LayerWork counts them."""
    if op == "fully_connected":
        return float(w.shape[1] * (w.shape[0] // group_size))
    return float(np.count_nonzero(w))


def _outputs(op: str, x: np.ndarray, w: np.ndarray, params: Any) -> int:
    from tflm_unit.core import kernels

    if op == "fully_connected":
        return int(x.shape[0] * w.shape[0])
    channels = w.shape[3] if op == "depthwise_conv_2d" else w.shape[0]
    out_h = kernels.compute_out_size(params.padding, x.shape[1], w.shape[1], params.stride_h, params.dilation_h)
    out_w = kernels.compute_out_size(params.padding, x.shape[2], w.shape[2], params.stride_w, params.dilation_w)
    return int(x.shape[0] * out_h * out_w * channels)


#: The zero-cost layout each harness op also runs (DESIGN.md §9).
FIT_LAYOUTS = {"conv_2d": "bucketed", "fully_connected": "sorted"}


def _output_rows(op: str, x: np.ndarray, w: np.ndarray, params: Any) -> int:
    from tflm_unit.core import kernels

    if op == "fully_connected":
        return 1
    return int(kernels.compute_out_size(params.padding, x.shape[1], w.shape[1], params.stride_h, params.dilation_h))


def fit_cases(layers: Sequence[tuple], quantiles: Sequence[float] = (0.0, 0.3, 0.6, 0.9),
              modes: Sequence[str] = DIVISION_MODES, seed: int = 0,
              layouts: Sequence[str] = ("compare", "bucketed", "sorted")):
    """Kernel-harness cases: per layer dense, and UnIT per threshold
    (quantiles of the non-zero |x'w| products; 0 = T_q 0), mode and layout
    (compare, and the op's zero-cost layout when listed).  Case names are
    ``layer|T_q or dense|mode|layout``."""
    from tflm_unit.core.kernels import quantize_multiplier
    from tflm_unit.msp430.harness import KernelCase

    rng = np.random.default_rng(seed)
    cases = []
    for index, (op, x, w, params) in enumerate(layers):
        channels = w.shape[3] if op == "depthwise_conv_2d" else w.shape[0]
        multiplier, shift = zip(*(quantize_multiplier(float(v)) for v in rng.uniform(0.0005, 0.003, channels)))
        multiplier, shift = np.array(multiplier, np.int32), np.array(shift, np.int32)
        bias = rng.integers(-2000, 2000, channels).astype(np.int32)
        products = np.abs(np.outer(x.astype(np.int32).reshape(-1)[:256] + params.input_offset,
                                   w.astype(np.int32).reshape(-1)[:256])).reshape(-1)
        products = products[products > 0]
        group_size = channels // 2 if channels % 2 == 0 else channels
        cases.append(KernelCase(op, x, w, bias, multiplier, shift, params, name=f"{index}|dense|-|compare"))
        mine = [layout for layout in ("compare", FIT_LAYOUTS.get(op)) if layout in layouts]
        for q in quantiles:
            t = 0 if q == 0 else int(min(np.quantile(products, q), 32767))
            thresholds = np.full(channels // group_size, t, np.int16)
            for mode in modes:
                for layout in mine:
                    cases.append(KernelCase(op, x, w, bias, multiplier, shift, params, thresholds, group_size,
                                            mode, name=f"{index}|{t}|{mode}|{layout}", layout=layout))
    return cases


def _nnls(features: np.ndarray, cycles: np.ndarray, total: Optional[np.ndarray] = None) -> np.ndarray:
    """Non-negative coefficients for features @ coef ~ cycles, each row
    weighted by 1 / total (default: cycles), i.e. relative error, so small
    layers count as much as big ones."""
    from scipy.optimize import nnls

    weights = 1.0 / (cycles if total is None else total)
    a = features * weights[:, None]
    scale = np.maximum(np.abs(a).max(axis=0), 1e-12)  # comparable column magnitudes
    solution, _ = nnls(a / scale, cycles * weights)
    return solution / scale


def fit_from_rows(rows: Sequence[dict], multiplier: str) -> MSP430CycleModel:
    """Least squares per op kind.  rows: op, unit, division, macs_total,
    macs_executed, divisions, outputs, cycles (one kernel call each)."""
    ops, residuals = {}, {}
    kinds = sorted({layout_key(r["op"], r.get("layout", "compare")) for r in rows},
                   key=lambda k: (MAC_OPS.index(k.split("/")[0]), k))
    for key in kinds:
        op_name = key.split("/")[0]
        bucketed = key.endswith("/bucketed")
        # a layout has no dense kernel of its own: the op's dense rows
        dense = [r for r in rows if r["op"] == op_name and not r["unit"]]
        unit = [r for r in rows if r["unit"] and layout_key(r["op"], r.get("layout", "compare")) == key]
        mine = dense + unit
        if not dense or not unit:
            continue
        dense_x = np.array([[r["macs_total"], r["outputs"]] for r in dense], np.float64)
        dense_y = np.array([r["cycles"] for r in dense], np.float64)
        dense_coef = _nnls(dense_x, dense_y)
        # Both paths requantise each output the same way, so UnIT shares the
        # dense per-output cost; what UnIT adds per weight (its quotient, the
        # skip-range set-up) goes to the division term.  (Fitted freely, the
        # per-output term soaked up those per-weight costs and made UnIT look
        # slower than dense on layers with few MACs per output.)
        modes = sorted({r["division"] for r in unit})
        outputs = np.array([r["outputs"] for r in unit], np.float64)
        fixed = dense_coef[1] * outputs
        walks = [[r.get("walked_weights", 0.0) * r.get("output_rows", 1)] if op_name == "CONV_2D" else []
                 for r in unit]
        if bucketed and op_name in ops:
            # The bucketed kernel computes unit_conv.c's quotients (the same
            # code and count): their cost is the compare kernel's, and the
            # fit attributes the rest to MACs, walks and the bucketing (left
            # free, the per-layer constants of so few layers are ambiguous).
            division = dict(ops[op_name].division)
            fixed = fixed + np.array([division[r["division"]] * r["divisions"] for r in unit])
            unit_x = np.array([[r["macs_executed"], r["macs_total"] - r["macs_executed"]] + walk
                               + [r["input_elements"]] for r, walk in zip(unit, walks)])
        else:
            unit_x = np.array([[r["macs_executed"], r["macs_total"] - r["macs_executed"]]
                               + [r["divisions"] if r["division"] == m else 0.0 for m in modes] + walk
                               for r, walk in zip(unit, walks)])
        unit_y = np.array([r["cycles"] for r in unit], np.float64)
        unit_coef = _nnls(unit_x, unit_y - fixed, total=unit_y)
        if bucketed and op_name in ops:
            extra = dict(walk=float(unit_coef[2]), input=float(unit_coef[3]))
        else:
            division = {m: float(c) for m, c in zip(modes, unit_coef[2:2 + len(modes)])}
            extra = dict(walk=float(unit_coef[-1])) if op_name == "CONV_2D" else {}
        ops[key] = OpCycles(dense_mac=float(dense_coef[0]), dense_output=float(dense_coef[1]),
                            mac=float(unit_coef[0]), skip=float(unit_coef[1]), output=float(dense_coef[1]),
                            division=division, **extra)
        predicted = np.concatenate([dense_x @ dense_coef, unit_x @ unit_coef + fixed])
        measured = np.concatenate([dense_y, unit_y])
        relative = np.abs(predicted - measured) / measured
        residuals[key] = {"calls": len(mine), "mean_abs_relative_error": float(relative.mean()),
                              "max_abs_relative_error": float(relative.max())}
    return MSP430CycleModel(multiplier, ops, {"residuals": residuals})


def measure_rows(multiplier: str, work_dir: Path, object_dir: Optional[Path] = None) -> list[dict]:
    """Run the fit cases in the simulator; one row per kernel call, bit-exact
    with the host core (else RuntimeError)."""
    from tflm_unit.msp430.harness import run_kernel_cases
    from tflm_unit.unit.calibration.cycle_model import walked_weights

    layers = fit_layers()
    cases = fit_cases(layers)
    runs = []
    # one program per layer and layout: all the cases' data do not fit FRAM at once
    programs = sorted({(int(case.name.split("|")[0]), case.layout) for case in cases})
    for index, layout in programs:
        mine = [case for case in cases if case.name.split("|")[0] == str(index) and case.layout == layout]
        runs += run_kernel_cases(mine, work_dir / multiplier / f"{index}_{layout}", multiplier,  # type: ignore[arg-type]
                                 timeout_s=3600, object_dir=object_dir or work_dir / "objects")
    rows = []
    for run in runs:
        host = run.case.run_on_host()
        if run.status != 0 or not np.array_equal(run.output, host.output):
            raise RuntimeError(f"kernel case {run.case.name} is not bit-exact on the MSP430")
        layer, threshold, mode, layout = run.case.name.split("|")
        op, x, w, params = layers[int(layer)]
        group = 1 if run.case.group_size is None else run.case.group_size
        outputs = _outputs(op, x, w, params)
        rows.append({"op": _HARNESS_OPS[op], "layer": int(layer), "unit": threshold != "dense",
                     "layout": layout, "threshold": None if threshold == "dense" else int(threshold),
                     "division": None if mode == "-" else mode, "macs_total": float(host.macs_total),
                     "macs_executed": float(host.macs_executed),
                     "divisions": _divisions(op, w, group) if threshold != "dense" else 0.0,
                     "outputs": outputs, "input_elements": int(x.size),
                     "walked_weights": float(walked_weights(w, run.case.thresholds, group, mode))
                     if op == "conv_2d" and threshold != "dense" else 0.0,
                     "output_rows": _output_rows(op, x, w, params),
                     "cycles": float(run.cycles)})
    return rows


def _core_revision() -> str:
    try:
        return subprocess.run(["git", "log", "-1", "--format=%h %cI", "--", "custom_ops/core",
                               "custom_ops/msp430"], capture_output=True,
                              text=True, cwd=Path(__file__).resolve().parents[2], timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def fit_cycle_models(multipliers: Sequence[str] = ("hardware", "software"),
                     work_dir: Optional[Path] = None) -> dict:
    """Measure and fit both multiplier builds; the JSON document of cycle_model.json."""
    models = {}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(work_dir) if work_dir is not None else Path(tmp)
        for multiplier in multipliers:
            rows = measure_rows(multiplier, base)
            model = fit_from_rows(rows, multiplier)
            fit = dict(model.fit, kernel_calls=len(rows), core_revision=_core_revision(),
                       method="NNLS on relative error over tflm_unit.msp430.cycle_model.fit_layers() "
                              "(dense + UnIT at T quantiles 0/0.3/0.6/0.9 of |x'w|, all division modes; "
                              "compare, bucketed conv and sorted fully connected layouts)")
            models[multiplier] = dataclasses.replace(model, fit=fit).to_dict()
    return {"format_version": 1, "clock": "MCLK cycles of mspdebug's simulator", "models": models}


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description="fit the MSP430 per-op cycle model from simulator runs")
    parser.add_argument("--fit", action="store_true", help="measure and fit (takes minutes)")
    parser.add_argument("--out", default=str(MODEL_FILE), help=f"where to write (default {MODEL_FILE})")
    parser.add_argument("--multiplier", action="append", choices=("hardware", "software"), default=None)
    args = parser.parse_args(argv)
    if not args.fit:
        print(json.dumps(json.loads(MODEL_FILE.read_text()), indent=2))
        return
    document = fit_cycle_models(args.multiplier or ("hardware", "software"))
    Path(args.out).write_text(json.dumps(document, indent=2) + "\n")
    for name, model in document["models"].items():
        print(name, json.dumps(model["ops"]), json.dumps(model["fit"]["residuals"]))


if __name__ == "__main__":
    main()
