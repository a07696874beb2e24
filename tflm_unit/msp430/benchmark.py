"""Dense against UnIT on the simulated MSP430: cycles per layer, energy
estimate and a bit-exactness check against the host runtime.

:func:`benchmark_model` builds two firmwares from one UnIT ``.tflite`` —
the dense form (``to_builtin``: every MAC layer with thresholds NULL, the
builtin kernels) and the UnIT form (its thresholds, in its own division
mode or in each mode asked for) — runs the same samples through both in
mspdebug's simulator and compares every output with ``tflm_unit.runtime``.

Energy is an estimate, not a measurement: E = cycles / f_MCLK * P_active,
with P_active = V_CC * I_AM and I_AM = f_MCLK * 118 uA/MHz, the typical
active-mode current of the MSP430FR5994 (TI datasheet SLASE54, "MSP430FR599x,
MSP430FR596x Mixed-Signal Microcontrollers", features list: "Active mode:
118 uA/MHz"), at V_CC = 3.0 V and f_MCLK = 8 MHz (the fastest clock at
which the FRAM needs no wait states, so the simulator's cycle counts hold).
The per-MHz figure makes the energy per cycle independent of f_MCLK:
118 uA/MHz * 3.0 V = 0.354 nJ per cycle.  Speed and energy ratios equal
the cycle ratio.
"""
from __future__ import annotations

import dataclasses
import os
import tempfile
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from tflm_unit.msp430.build import BuildOptions
from tflm_unit.msp430.graph import GraphFirmware, build_graph_firmware, run_graph_samples
from tflm_unit.msp430.memory_map import MSP430FR5994, MemoryMap
from tflm_unit.msp430.toolchain import ToolchainMissingError, find_toolchain

#: MSP430FR5994 typical active-mode current per MHz (datasheet SLASE54, features list).
ACTIVE_CURRENT_UA_PER_MHZ = 118.0
#: Supply voltage of the estimate (the datasheet's typical conditions are at 3 V).
SUPPLY_VOLTAGE_V = 3.0
#: MCLK of the estimate: 8 MHz, the FR5994's highest clock without FRAM wait states.
MCLK_HZ = 8_000_000
ENERGY_SOURCE = ("TI MSP430FR5994 datasheet (SLASE54), active mode 118 uA/MHz typical; "
                 "V_CC = 3.0 V, f_MCLK = 8 MHz (no FRAM wait states)")

ModelLike = Union[bytes, str, os.PathLike]


def missing_toolchain_message() -> Optional[str]:
    """None when clang-16, ld.lld-16 and mspdebug are installed, else what
    is missing and the apt command that installs it."""
    try:
        find_toolchain()
    except ToolchainMissingError as error:
        return str(error)
    return None


def energy_uj(cycles: float, supply_v: float = SUPPLY_VOLTAGE_V,
              active_ua_per_mhz: float = ACTIVE_CURRENT_UA_PER_MHZ) -> float:
    """Estimated energy in microjoules of `cycles` MCLK cycles in active mode
    (see the module docstring): cycles * V * I_per_MHz / 1 MHz."""
    joules_per_cycle = supply_v * active_ua_per_mhz * 1e-6 / 1e6
    return float(cycles) * joules_per_cycle * 1e6


@dataclasses.dataclass
class LayerBenchmark:
    """One op of the graph: mean cycles per inference, dense and UnIT, and
    its MACs per inference (0 for ops that do not multiply-accumulate)."""

    name: str
    op: str
    op_index: int
    cycles_dense: float
    cycles_unit: float
    macs: float
    macs_executed: float

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class VariantBenchmark:
    """The UnIT firmware in one division mode."""

    division: str
    cycles_unit: float
    speedup: float
    energy_uj_unit: float
    macs_executed: float
    bit_exact: bool
    sample_cycles: list[int]
    layers: list[LayerBenchmark]

    def to_dict(self) -> dict:
        out = dataclasses.asdict(self)
        out["layers"] = [layer.to_dict() for layer in self.layers]
        return out


@dataclasses.dataclass
class BenchmarkResult:
    """What :func:`benchmark_model` measured; ``to_dict()`` for JSON."""

    multiplier: str
    samples: int
    division: str              # the mode of the headline UnIT numbers
    cycles_dense: float        # mean cycles per inference, all ops
    cycles_unit: float
    speedup: float             # cycles_dense / cycles_unit
    bit_exact: bool            # every output of every firmware equals the host runtime's
    energy_uj_dense: float
    energy_uj_unit: float
    macs_dense: float          # per inference
    macs_executed: float       # per inference, UnIT
    layers: list[LayerBenchmark]
    dense_sample_cycles: list[int]
    sample_cycles: list[int]
    divisions: dict[str, VariantBenchmark]
    sizes: dict[str, int]      # bytes of the UnIT firmware: code, constants, ram, stack_used
    energy_model: dict[str, Any]

    @property
    def mac_reduction(self) -> float:
        return 1.0 - self.macs_executed / self.macs_dense if self.macs_dense else 0.0

    def to_dict(self) -> dict:
        return {
            "multiplier": self.multiplier, "samples": self.samples, "division": self.division,
            "cycles_dense": self.cycles_dense, "cycles_unit": self.cycles_unit, "speedup": self.speedup,
            "bit_exact": self.bit_exact, "energy_uj_dense": self.energy_uj_dense,
            "energy_uj_unit": self.energy_uj_unit, "macs_dense": self.macs_dense,
            "macs_executed": self.macs_executed, "mac_reduction": self.mac_reduction,
            "layers": [layer.to_dict() for layer in self.layers],
            "dense_sample_cycles": self.dense_sample_cycles, "sample_cycles": self.sample_cycles,
            "divisions": {mode: variant.to_dict() for mode, variant in self.divisions.items()},
            "sizes": self.sizes, "energy_model": self.energy_model,
        }


def _quantized_samples(model_bytes: bytes, x: np.ndarray, samples: int, input_range=None) -> np.ndarray:
    """The first ``samples`` inputs as the model's int8 input tensor, scaled
    as the model expects (tflm_unit.inputs; int8 data pass unchanged)."""
    from tflm_unit.inputs import positive_count, prepare_inputs
    from tflm_unit.runtime import Interpreter

    x = np.asarray(x)[: positive_count(samples, "samples")]
    return np.asarray(prepare_inputs(Interpreter(model_bytes), x, input_range, what="the benchmark data"),
                      dtype=np.int8)


def _run_and_check(model_bytes: bytes, firmware: GraphFirmware, xq: np.ndarray):
    """(runs, host result, bit_exact) for one firmware and its model."""
    from tflm_unit.runtime import Interpreter

    runs = run_graph_samples(firmware, xq)
    reference = Interpreter(model_bytes).run(xq)
    expected = np.asarray(reference.outputs[0], dtype=np.int8).reshape(len(xq), -1)
    bit_exact = all(np.array_equal(run.output, expected[i]) for i, run in enumerate(runs))
    return runs, reference, bit_exact


def _mean_op_cycles(runs) -> np.ndarray:
    return np.mean(np.array([run.op_cycles for run in runs], dtype=np.float64), axis=0)


@dataclasses.dataclass
class SimulatedModel:
    """One model's firmware run on a batch: mean cycles per op and per
    inference, MACs per inference from the host runtime, bit-exactness."""

    firmware: GraphFirmware
    op_cycles: np.ndarray         # mean per op, in firmware.ops order
    sample_cycles: list[int]
    macs_total: dict[int, float]  # op_index -> MACs per inference
    macs_executed: dict[int, float]
    bit_exact: bool
    stack_bytes_used: int

    @property
    def cycles(self) -> float:
        return float(self.op_cycles.sum())


def simulate_model(model_bytes: bytes, xq: np.ndarray, options: BuildOptions, out_dir: Union[str, Path],
                   object_dir: Optional[Union[str, Path]] = None) -> SimulatedModel:
    """Build the firmware of one model (its own thresholds and layouts, or
    dense for a builtin model), run the int8 batch `xq` one sample per
    simulation and compare every output with tflm_unit.runtime."""
    firmware = build_graph_firmware(model_bytes, Path(out_dir), options, object_dir)
    runs, reference, exact = _run_and_check(model_bytes, firmware, xq)
    return SimulatedModel(firmware, _mean_op_cycles(runs), [run.cycles for run in runs],
                          {layer.op_index: layer.macs_total / len(xq) for layer in reference.layers},
                          {layer.op_index: layer.macs_executed / len(xq) for layer in reference.layers},
                          exact, max(run.stack_bytes_used for run in runs))


def benchmark_model(model: ModelLike, x: np.ndarray, samples: int = 4, hwmult: bool = True,
                    divisions: Optional[Sequence[str]] = None, *,
                    memory_map: MemoryMap = MSP430FR5994, work_dir: Optional[Union[str, Path]] = None,
                    object_dir: Optional[Union[str, Path]] = None, input_range=None) -> BenchmarkResult:
    """Cycles, energy and bit-exactness of a UnIT model on the simulated MSP430.

    model: a UnIT (or builtin) int8 ``.tflite``, bytes or path.
    x: inputs (raw, scaled as the model expects by tflm_unit.inputs, or
       already int8); the first `samples` are run.  input_range overrides
       the inferred scaling ("raw", "0,1", ...).
    hwmult: True = the hardware-multiplier build, False = software multiply.
    divisions: None = the model's own division mode; else each listed mode
       ("exact", "shift", "tree", "clz") with the model's integer thresholds,
       the first giving the headline numbers.
    memory_map: the part's memory (ProgramTooLargeError says which region,
       which part and by how much when the model does not fit).

    Raises ToolchainMissingError (with the apt command) without the toolchain.
    """
    from tflm_unit.converter import apply_thresholds, to_builtin
    from tflm_unit.converter.metadata import read_unit_config
    from tflm_unit.runtime.model import load_graph, read_model_bytes

    message = missing_toolchain_message()
    if message is not None:
        raise ToolchainMissingError(message)
    model_bytes = read_model_bytes(model)
    graph = load_graph(model_bytes)
    has_unit_ops = any(op.is_unit for op in graph.operators)
    dense_bytes = to_builtin(model_bytes) if has_unit_ops else model_bytes
    own_division = (read_unit_config(model_bytes) or {}).get("division") or "exact"
    modes = list(divisions) if divisions else [own_division]
    if not has_unit_ops and divisions:
        raise ValueError("the model has no UNIT_* ops; convert it first (tflm-unit convert) to compare "
                         "division modes")
    options = BuildOptions(multiplier="hardware" if hwmult else "software", memory_map=memory_map)
    xq = _quantized_samples(model_bytes, x, samples, input_range)

    with tempfile.TemporaryDirectory(prefix="tflm_unit_bench_") as tmp:
        base = Path(work_dir) if work_dir is not None else Path(tmp)
        objects = Path(object_dir) if object_dir is not None else base / "objects"
        dense = simulate_model(dense_bytes, xq, options, base / "dense", objects)
        variants: dict[str, VariantBenchmark] = {}
        head_firmware, head_stack = dense.firmware, 0
        for mode in modes:
            variant_bytes = model_bytes
            if has_unit_ops and mode != own_division:
                variant_bytes = apply_thresholds(model_bytes, None, division=mode)
            unit = simulate_model(variant_bytes, xq, options, base / f"unit_{mode}", objects)
            if [op.op_name for op in unit.firmware.ops] != [op.op_name for op in dense.firmware.ops]:
                raise RuntimeError("the dense and UnIT graphs have different op lists")
            layers = [LayerBenchmark(op.name, op.op_name, op.op_index, float(dense.op_cycles[i]),
                                     float(unit.op_cycles[i]), float(dense.macs_total.get(op.op_index, 0.0)),
                                     float(unit.macs_executed.get(op.op_index, 0.0)))
                      for i, op in enumerate(unit.firmware.ops)]
            variants[mode] = VariantBenchmark(
                mode, unit.cycles, dense.cycles / unit.cycles, energy_uj(unit.cycles),
                float(sum(unit.macs_executed.values())), unit.bit_exact, unit.sample_cycles, layers)
            if mode == modes[0]:
                head_firmware, head_stack = unit.firmware, unit.stack_bytes_used
        head = variants[modes[0]]
        sizes = head_firmware.program.sizes
        ram = sizes.initialised + sizes.zeroed + sizes.uninitialised
        cycles_dense = dense.cycles
        return BenchmarkResult(
            multiplier=options.multiplier, samples=len(xq), division=head.division,
            cycles_dense=cycles_dense, cycles_unit=head.cycles_unit, speedup=head.speedup,
            bit_exact=dense.bit_exact and all(v.bit_exact for v in variants.values()),
            energy_uj_dense=energy_uj(cycles_dense), energy_uj_unit=head.energy_uj_unit,
            macs_dense=float(sum(dense.macs_total.values())), macs_executed=head.macs_executed,
            layers=head.layers, dense_sample_cycles=dense.sample_cycles,
            sample_cycles=head.sample_cycles, divisions=variants,
            sizes={"code": sizes.code, "constants": sizes.constants, "ram": ram,
                   "stack_used": head_stack},
            energy_model={"mclk_hz": MCLK_HZ, "supply_v": SUPPLY_VOLTAGE_V,
                          "active_ua_per_mhz": ACTIVE_CURRENT_UA_PER_MHZ,
                          "nj_per_cycle": energy_uj(1000.0), "source": ENERGY_SOURCE,
                          "time_ms_dense": cycles_dense / MCLK_HZ * 1e3,
                          "time_ms_unit": head.cycles_unit / MCLK_HZ * 1e3},
        )
