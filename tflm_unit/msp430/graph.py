"""A whole model on the simulated MSP430: the static graph of
``tflm_unit.converter.export_c.graph_sources`` (op list, arena offsets,
prepared kernel parameters, const weights) built with the graph runner
(``custom_ops/msp430/unit_msp430_graph.c``) into firmware, and run one
sample per simulator session with a checkpoint between ops.

    firmware = build_graph_firmware(model_bytes, "build/")
    run = run_graph_firmware(firmware, x_int8_sample)
    run.output, run.op_cycles    # int8 output, MCLK cycles of each op

The generated sources are named "model" (``model_graph.h``), which the
fixed main (``unit_msp430_graph_main.c``) includes.
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Sequence

import numpy as np

from tflm_unit.msp430.build import MSP430_SOURCE_DIR, BuildOptions, Program, build_program
from tflm_unit.msp430.simulator import SimulationError, run_program

#: The name export_c gives the generated graph; unit_msp430_graph_main.c includes model_graph.h.
GRAPH_NAME = "model"
GRAPH_SOURCES = ("unit_msp430_graph.c", "unit_msp430_graph_main.c")
ARENA_SYMBOL = "unit_graph_arena"
_MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")
_STATUS_NAMES = {1: "UNIT_ERR_ARG", 2: "UNIT_ERR_GROUP", 3: "UNIT_ERR_SCRATCH", 4: "UNIT_ERR_DIVISION",
                 5: "UNIT_ERR_SHAPE", 6: "UNIT_ERR_NULL", 7: "UNIT_ERR_REQUANT", 8: "UNIT_ERR_ACTIVATION",
                 9: "UNIT_ERR_OFFSET", 10: "UNIT_ERR_OVERFLOW"}

# One row of the generated tensor table and the graph's input / output indices.
_TENSOR_ROW = re.compile(r"/\* (\d+): .*? \*/ \{\.shape = \{[^}]*\}, \.num_dims = \d+, "
                         r"\.offset = (\d+), \.bytes = (\d+),")
_GRAPH_IO = re.compile(r"\.input = (-?\d+), \.output = (-?\d+), \.arena_bytes")


@dataclasses.dataclass(frozen=True)
class GraphOp:
    """One op of the static graph, in execution order."""

    op_index: int   # index in the .tflite
    op_name: str    # base name: CONV_2D, MAX_POOL_2D, ... (UNIT_ prefix dropped)
    unit: bool      # a UNIT_* op (thresholds may skip MACs)
    name: str       # the Keras layer for MAC ops (UnIT metadata), else op name and index

    @property
    def is_mac(self) -> bool:
        return self.op_name in _MAC_OPS


@dataclasses.dataclass(frozen=True)
class GraphFirmware:
    """A built model firmware and where its input and output live."""

    program: Program
    ops: tuple[GraphOp, ...]
    input_offset: int       # in the arena
    input_bytes: int
    output_offset: int
    output_bytes: int
    arena_bytes: int
    scratch_bytes: int

    @property
    def arena_address(self) -> int:
        return self.program.elf.address_of(ARENA_SYMBOL)


@dataclasses.dataclass(frozen=True)
class GraphRun:
    """One inference on the simulated MSP430."""

    output: np.ndarray          # int8, flat
    op_cycles: tuple[int, ...]  # MCLK cycles of each op, in GraphFirmware.ops order
    stack_bytes_used: int

    @property
    def cycles(self) -> int:
        """Cycles of the inference (all ops; startup excluded)."""
        return int(sum(self.op_cycles))


def _layer_names(model_bytes: bytes) -> dict[int, str]:
    from tflm_unit.converter.metadata import read_unit_config

    config = read_unit_config(model_bytes) or {}
    return {int(op["op_index"]): str(op["layer"]) for op in config.get("ops", []) if op.get("layer")}


def graph_ops(model_bytes: bytes, dropped_ops: Sequence[int] = ()) -> tuple[GraphOp, ...]:
    """The ops export_c keeps (all but `dropped_ops`), in execution order."""
    from tflm_unit.converter.rewrite import fold_dynamic_reshapes
    from tflm_unit.runtime.model import load_graph

    graph = load_graph(fold_dynamic_reshapes(model_bytes))  # as export_c and the host runtime see it
    names = _layer_names(model_bytes)
    ops = []
    for op in graph.operators:
        if op.index in dropped_ops:
            continue
        base = op.name[len("UNIT_"):] if op.is_unit else op.name
        ops.append(GraphOp(op.index, base, bool(op.is_unit),
                           names.get(op.index, f"{base.lower()}_{op.index}")))
    return tuple(ops)


#: RAM the runner itself needs besides arena, scratch and stack (its .data/.bss).
_RUNNER_RAM_RESERVE = 128


def write_graph_sources(model_bytes: bytes, out_dir: Path | str, scratch_limit: int | None = None) -> dict:
    """Write unit_graph.h and model_graph.h/.c (export_c's static graph) into
    `out_dir`; returns export_c's summary plus the input / output placement."""
    from tflm_unit.converter.export_c import graph_sources

    files, summary = graph_sources(model_bytes, GRAPH_NAME, scratch_limit=scratch_limit)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    for file_name, text in files.items():
        (out_dir / file_name).write_text(text)
    source = files[f"{GRAPH_NAME}_graph.c"]
    tensors = {int(i): (int(offset), int(size)) for i, offset, size in _TENSOR_ROW.findall(source)}
    io = _GRAPH_IO.search(source)
    if io is None or len(tensors) != summary["tensors"]:
        raise RuntimeError("tflm_unit.msp430.graph cannot read the tensor table of the generated graph "
                           "(export_c's format changed?)")
    graph_input, graph_output = int(io.group(1)), int(io.group(2))
    summary = dict(summary)
    summary.update(input_offset=tensors[graph_input][0], input_bytes=tensors[graph_input][1],
                   output_offset=tensors[graph_output][0], output_bytes=tensors[graph_output][1])
    return summary


#: Op kinds the graph runner compiles only for models that use them.
_OPTIONAL_KINDS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "MAX_POOL_2D", "AVERAGE_POOL_2D", "ADD",
                   "SOFTMAX", "MEAN", "LUT", "BINARY", "REQUANTIZE", "STRIDED_SLICE", "SPLIT", "TRANSPOSE",
                   "RESIZE_NEAREST_NEIGHBOR", "RESIZE_BILINEAR", "SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND",
                   "TRANSPOSE_CONV")


def build_graph_firmware(model_bytes: bytes, out_dir: Path | str,
                         options: BuildOptions = BuildOptions(),
                         object_dir: Path | str | None = None) -> GraphFirmware:
    """Generate the graph C for `model_bytes` and build the firmware.

    Raises ProgramTooLargeError (which region, which part, by how much) if
    the model does not fit ``options.memory_map``, ConversionError if the
    model has ops the static graph does not support."""
    out_dir = Path(out_dir)
    summary = write_graph_sources(model_bytes, out_dir)
    ram = options.memory_map
    ram_left = ram.ram_size - ram.stack_size - summary["arena_bytes"] - _RUNNER_RAM_RESERVE
    if summary["scratch_bytes"] > ram_left:
        # Accumulators for whole images do not fit: let conv/depthwise work in
        # output-row blocks in the RAM that is left (fit errors still say by
        # how much when even one row per block does not fit).
        summary = write_graph_sources(model_bytes, out_dir, scratch_limit=max(ram_left, 0))
    # Leave out the code of what the model does not use (unit_msp430_graph.c).
    unused = {f"UNIT_GRAPH_WITH_{kind}": "0" for kind in _OPTIONAL_KINDS
              if f"UNIT_GRAPH_{kind}" not in summary["kinds"]}
    if not summary["sorted_fc"]:
        unused["UNIT_GRAPH_SORTED_FC"] = "0"
    if not summary["bucketed_conv"]:
        unused["UNIT_GRAPH_BUCKETED_CONV"] = "0"
    options = dataclasses.replace(options, defines={**options.defines, **unused})
    sources = [MSP430_SOURCE_DIR / name for name in GRAPH_SOURCES] + [out_dir / f"{GRAPH_NAME}_graph.c"]
    program = build_program(sources, out_dir, options,
                            name="model", include_dirs=[out_dir], object_dir=object_dir)
    ops = graph_ops(model_bytes, summary["dropped_ops"])
    if len(ops) != summary["ops"]:
        raise RuntimeError(f"the generated graph has {summary['ops']} ops, expected {len(ops)}")
    return GraphFirmware(program, ops, summary["input_offset"], summary["input_bytes"],
                         summary["output_offset"], summary["output_bytes"], summary["arena_bytes"],
                         summary["scratch_bytes"])


def run_graph_firmware(firmware: GraphFirmware, x_int8: np.ndarray,
                       timeout_s: float = 600.0) -> GraphRun:
    """Run one inference: write the int8 input into the arena, run to the
    halt, read the output back and the cycles of every op."""
    data = np.ascontiguousarray(x_int8, dtype=np.int8).reshape(-1)
    if data.size != firmware.input_bytes:
        raise ValueError(f"the model input has {firmware.input_bytes} values, got {data.size}")
    arena = firmware.arena_address
    result = run_program(firmware.program, inputs={arena + firmware.input_offset: data.tobytes()},
                         reads={"output": (arena + firmware.output_offset, firmware.output_bytes),
                                "failed_op": ("unit_graph_failed_op", 2)},
                         max_segments=len(firmware.ops) + 3, timeout_s=timeout_s)
    if result.exit_code != 0:
        failed = int.from_bytes(result.memory["failed_op"], "little", signed=True)
        where = (f"op {failed} ({firmware.ops[failed].name}, {firmware.ops[failed].op_name})"
                 if 0 <= failed < len(firmware.ops) else "the graph check")
        raise SimulationError(f"the model firmware failed at {where}: status "
                              f"{_STATUS_NAMES.get(result.exit_code, result.exit_code)}")
    # segments: [startup, op 0, ..., op n-1, last checkpoint → halt]
    op_segments = result.segments[1:1 + len(firmware.ops)]
    if len(op_segments) != len(firmware.ops) or result.segments[-1].ended_at != "halt":
        raise SimulationError(f"the model firmware stopped {len(result.segments)} times; expected "
                              f"{len(firmware.ops) + 2}")
    output = np.frombuffer(result.memory["output"], dtype=np.int8).copy()
    return GraphRun(output, tuple(s.cycles for s in op_segments), result.stack_bytes_used)


def run_graph_samples(firmware: GraphFirmware, x_int8: np.ndarray,
                      timeout_s: float = 600.0) -> list[GraphRun]:
    """run_graph_firmware for each sample of a batch (leading dimension)."""
    return [run_graph_firmware(firmware, sample, timeout_s) for sample in np.asarray(x_int8)]

