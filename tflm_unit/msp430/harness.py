"""Kernel-level harness: run UnIT kernel calls on the simulated MSP430 and
compare them with the host build of the same C core.

A list of :class:`KernelCase` becomes generated C (inputs, weights,
thresholds and a table of calls for ``unit_msp430_kernel_harness.c``),
is built in one multiplier build, run once in the simulator, and each
call's output, status and cycle count comes back as a :class:`KernelRun`.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal, Mapping, Optional, Sequence

import numpy as np

from tflm_unit.core import kernels
from tflm_unit.core.kernels import ConvParams, KernelResult
from tflm_unit.msp430.build import MSP430_SOURCE_DIR, BuildOptions, Multiplier, Program, build_program
from tflm_unit.msp430.simulator import run_program

KernelOp = Literal["conv_2d", "depthwise_conv_2d", "fully_connected"]
_OP_ENUM = {"conv_2d": "UNIT_HARNESS_CONV_2D", "depthwise_conv_2d": "UNIT_HARNESS_DEPTHWISE_CONV_2D",
            "fully_connected": "UNIT_HARNESS_FULLY_CONNECTED"}
_LAYOUTS = {"conv_2d": ("compare", "bucketed"), "depthwise_conv_2d": ("compare",),
            "fully_connected": ("compare", "sorted")}
_DIVISION_ENUM = {"exact": "UNIT_DIV_EXACT", "shift": "UNIT_DIV_SHIFT", "tree": "UNIT_DIV_TREE",
                  "clz": "UNIT_DIV_CLZ"}


@dataclasses.dataclass
class KernelCase:
    """One int8 kernel call.  conv/depthwise: input [N,H,W,C] and filter as
    in tflm_unit.core.kernels; fully connected: input [N,D], filter [O,D],
    and only params.input_offset/output_offset/act_min/act_max are used.
    thresholds None = the dense kernel."""

    op: KernelOp
    input: np.ndarray
    filter: np.ndarray
    bias: Optional[np.ndarray]
    multiplier: np.ndarray
    shift: np.ndarray
    params: ConvParams
    thresholds: Optional[np.ndarray] = None
    group_size: Optional[int] = None
    division: str = "exact"
    name: str = ""
    #: The kernel (DESIGN.md §9): "compare" the compare-per-MAC one; fully
    #: connected "sorted" the sorted layout (unit_fully_connected_sorted_int8),
    #: conv_2d "bucketed" the bucketed-input kernel (unit_conv_2d_bucketed_int8).
    layout: str = "compare"
    #: conv / depthwise: give the kernel only its minimum scratch (one output
    #: row of accumulators), so it works in row blocks
    min_scratch: bool = False

    def __post_init__(self) -> None:
        if self.op not in _OP_ENUM:
            raise ValueError(f"op must be one of {sorted(_OP_ENUM)}, not {self.op!r}")
        if self.layout not in _LAYOUTS[self.op]:
            raise ValueError(f"layout {self.layout!r}: {self.op} has {_LAYOUTS[self.op]}")
        if self.division not in _DIVISION_ENUM:
            raise ValueError(f"division must be one of {sorted(_DIVISION_ENUM)}, not {self.division!r}")

    def sorted_layout(self) -> "kernels.FcSortedLayout":
        """The sorted layout of the filter for this case's threshold groups."""
        return kernels.fc_sorted_layout(self.filter, self.group_size if self.thresholds is not None else None)

    @property
    def channels(self) -> int:
        return int(self.filter.shape[3] if self.op == "depthwise_conv_2d" else self.filter.shape[0])

    def run_on_host(self) -> KernelResult:
        """The same call through the host build of the C core."""
        p = self.params
        if self.layout == "sorted":
            return kernels.fully_connected_sorted_int8(
                self.input, self.sorted_layout(), self.bias, self.multiplier, self.shift, p.input_offset,
                p.output_offset, int(p.act_min), int(p.act_max), self.thresholds, self.group_size,
                self.division)
        if self.op == "fully_connected":
            return kernels.fully_connected_int8(
                self.input, self.filter, self.bias, self.multiplier, self.shift, p.input_offset,
                p.output_offset, int(p.act_min), int(p.act_max), self.thresholds, self.group_size,
                self.division)
        if self.op == "conv_2d":
            return kernels.conv_2d_int8(self.input, self.filter, self.bias, self.multiplier, self.shift, p,
                                        self.thresholds, self.group_size, self.division, layout=self.layout)
        return kernels.depthwise_conv_2d_int8(self.input, self.filter, self.bias, self.multiplier, self.shift, p,
                                              self.thresholds, self.group_size, self.division)


@dataclasses.dataclass(frozen=True)
class KernelRun:
    """What one call did on the simulated MSP430."""

    case: KernelCase
    output: np.ndarray
    status: int      # unit_status_t (0 = UNIT_OK)
    cycles: int
    instructions: int


def _c_array(c_type: str, name: str, values: np.ndarray, const: bool = True) -> str:
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(str(v) for v in flat[i:i + 16]) for i in range(0, len(flat), 16)]
    body = ",\n  ".join(lines)
    return f"{'const ' if const else ''}{c_type} {name}[{len(flat)}] = {{\n  {body}\n}};\n"


class _ArrayPool:
    """Emits each distinct array once, so cases sharing data share FRAM."""

    def __init__(self) -> None:
        self.text: list[str] = []
        self.names: dict[tuple, str] = {}

    def add(self, c_type: str, values: np.ndarray) -> str:
        key = (c_type, np.asarray(values).tobytes())
        if key not in self.names:
            name = f"data{len(self.names)}"
            self.names[key] = name
            self.text.append(_c_array(c_type, name, values))
        return self.names[key]


def _case_geometry(case: KernelCase) -> tuple[tuple[int, ...], int, int]:
    """(output shape, pad_h, pad_w) of a case."""
    x, w, p = case.input, case.filter, case.params
    if case.op == "fully_connected":
        return (x.shape[0], w.shape[0]), 0, 0
    kh, kw = w.shape[1], w.shape[2]
    out_h = kernels.compute_out_size(p.padding, x.shape[1], kh, p.stride_h, p.dilation_h)
    out_w = kernels.compute_out_size(p.padding, x.shape[2], kw, p.stride_w, p.dilation_w)
    pad_h = pad_w = 0
    if p.padding == "SAME":
        pad_h = kernels.compute_padding(p.stride_h, p.dilation_h, x.shape[1], kh, out_h)
        pad_w = kernels.compute_padding(p.stride_w, p.dilation_w, x.shape[2], kw, out_w)
    return (x.shape[0], out_h, out_w, case.channels), pad_h, pad_w


def _scratch_bytes(case: KernelCase, out_shape, minimum: bool = False) -> int:
    """The core's own scratch rule (unit_*_scratch_bytes, via the host build)."""
    op = {"conv_2d": "CONV_2D", "depthwise_conv_2d": "DEPTHWISE_CONV_2D",
          "fully_connected": "FULLY_CONNECTED"}[case.op]
    if case.layout == "sorted":
        op = "FULLY_CONNECTED_SORTED"
    skipping = case.thresholds is not None
    groups = len(np.asarray(case.thresholds).reshape(-1)) if skipping else 1
    if case.layout == "bucketed":
        return kernels.conv_bucketed_scratch_bytes(case.input.shape, case.filter.shape, out_shape, case.params,
                                                   skipping, case.channels // groups, minimum=minimum)
    return kernels.scratch_bytes(op, case.filter.shape, out_shape, skipping, case.channels // groups,
                                 minimum=minimum)


def generate_harness_c(cases: Sequence[KernelCase]) -> str:
    """The C file with the case table for unit_msp430_kernel_harness.c."""
    if not cases:
        raise ValueError("give at least one KernelCase")
    pool = _ArrayPool()
    entries, output_bytes, scratch_bytes = [], 1, 2
    for case in cases:
        out_shape, pad_h, pad_w = _case_geometry(case)
        output_bytes = max(output_bytes, int(np.prod(out_shape)))
        scratch_bytes = max(scratch_bytes, _scratch_bytes(case, out_shape))
        # row blocks: the minimum, whole 4-byte words (the scratch is int32-aligned)
        case_scratch = (4 * ((_scratch_bytes(case, out_shape, True) + 3) // 4)
                        if case.min_scratch and case.op != "fully_connected" else 0)
        p = case.params
        x, w = case.input, case.filter
        if case.op == "fully_connected":
            in_shape = (x.shape[0], 1, 1, x.shape[1])
            f_shape = (w.shape[0], 1, 1, w.shape[1])
            o_shape = (out_shape[0], 1, 1, out_shape[1])
        else:
            in_shape, f_shape, o_shape = x.shape, w.shape, out_shape
        channels = case.channels
        multiplier = np.broadcast_to(np.asarray(case.multiplier, np.int32).reshape(-1), (channels,))
        shift = np.broadcast_to(np.asarray(case.shift, np.int32).reshape(-1), (channels,))
        bias = "NULL" if case.bias is None else pool.add("int32_t", np.asarray(case.bias, np.int32))
        if case.thresholds is None:
            skip = f"{{NULL, 0, {_DIVISION_ENUM[case.division]}}}"
        else:
            group = channels if case.group_size is None else case.group_size
            thresholds = pool.add("int16_t", np.asarray(case.thresholds, np.int16))
            skip = f"{{{thresholds}, {group}, {_DIVISION_ENUM[case.division]}}}"
        shape = "{{{}, {}, {}, {}}}".format
        sorted_init, op_enum = "", _OP_ENUM[case.op]
        if case.layout == "sorted":
            layout = case.sorted_layout()
            index_type = "uint8_t" if layout.index.dtype == np.uint8 else "uint16_t"
            index = pool.add(index_type, layout.index)
            sorted_init = (f"    .sorted = {{{pool.add('int8_t', layout.weights)}, "
                           f"{index if index_type == 'uint8_t' else 'NULL'}, "
                           f"{index if index_type == 'uint16_t' else 'NULL'}, {layout.group_size}}},\n")
            op_enum = "UNIT_HARNESS_FULLY_CONNECTED_SORTED"
        elif case.layout == "bucketed":
            op_enum = "UNIT_HARNESS_CONV_2D_BUCKETED"
        entries.append(
            f"  {{ /* {case.name or case.op} */\n"
            f"    .op = {op_enum},\n"
            f"    .conv = {{.stride_h = {p.stride_h}, .stride_w = {p.stride_w}, "
            f".dilation_h = {p.dilation_h}, .dilation_w = {p.dilation_w}, .pad_h = {pad_h}, "
            f".pad_w = {pad_w}, .depth_multiplier = {p.depth_multiplier}, "
            f".input_offset = {int(p.input_offset)}, .output_offset = {int(p.output_offset)}, "
            f".act_min = {int(p.act_min)}, .act_max = {int(p.act_max)}}},\n"
            f"    .fc = {{.input_offset = {int(p.input_offset)}, "
            f".output_offset = {int(p.output_offset)}, .act_min = {int(p.act_min)}, "
            f".act_max = {int(p.act_max)}}},\n"
            f"    .input_shape = {shape(*in_shape)}, .filter_shape = {shape(*f_shape)}, "
            f".output_shape = {shape(*o_shape)},\n"
            f"    .input = {pool.add('int8_t', x)}, .filter = {pool.add('int8_t', w)}, "
            f".bias = {bias},\n"
            f"    .requant = {{{pool.add('int32_t', multiplier)}, {pool.add('int32_t', shift)}}},\n"
            f"    .skip = {skip},\n"
            + sorted_init +
            f"    .scratch_bytes = {case_scratch},\n"
            "  },\n")
    return ("/* Generated by tflm_unit.msp430.harness: kernel cases. */\n"
            '#include "unit_msp430_kernel_harness.h"\n\n'
            + "".join("static " + text for text in pool.text)
            + "\nconst unit_harness_case_t unit_harness_cases[] = {\n" + "".join(entries) + "};\n"
            + f"const uint16_t unit_harness_case_count = {len(cases)};\n"
            + f"int8_t unit_harness_output[{output_bytes}];\n"
            + f"int32_t unit_harness_scratch[{(scratch_bytes + 3) // 4}];\n"
            + f"const uint16_t unit_harness_scratch_bytes = {4 * ((scratch_bytes + 3) // 4)};\n"
            + f"int16_t unit_harness_status[{len(cases)}];\n")


def build_harness(cases: Sequence[KernelCase], out_dir: Path | str,
                  options: BuildOptions = BuildOptions(),
                  object_dir: Path | str | None = None) -> Program:
    """Generate the case table and build the harness program."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = out_dir / "kernel_cases.c"
    generated.write_text(generate_harness_c(cases))
    return build_program([MSP430_SOURCE_DIR / "unit_msp430_kernel_harness.c", generated],
                         out_dir, options, name="kernel_harness", object_dir=object_dir)


def run_kernel_cases(cases: Sequence[KernelCase], out_dir: Path | str,
                     multiplier: Multiplier = "hardware", timeout_s: float = 300.0,
                     object_dir: Path | str | None = None,
                     defines: Mapping[str, str] | None = None) -> list[KernelRun]:
    """Run every case once on the simulated MSP430 (one program, one
    simulator session) and return outputs, statuses and cycles.  `defines`
    go to the compiler (e.g. {"UNIT_PORTABLE_C": "1"}: the core's C loops
    instead of the port's assembly)."""
    program = build_harness(cases, out_dir, BuildOptions(multiplier=multiplier, defines=dict(defines or {})),
                            object_dir)
    output_size = program.elf.symbols["unit_harness_output"].size
    result = run_program(program, reads={"status": ("unit_harness_status", 2 * len(cases))},
                         reads_at_stops={"output": ("unit_harness_output", output_size)},
                         max_segments=len(cases) + 2, timeout_s=timeout_s)
    if result.exit_code != 0 or len(result.segments) != len(cases) + 2:
        raise RuntimeError(f"the kernel harness did not run all {len(cases)} cases "
                           f"({len(result.segments)} segments, exit code {result.exit_code})")
    statuses = np.frombuffer(result.memory["status"], dtype="<i2")
    runs = []
    for index, case in enumerate(cases):
        segment = result.segments[index + 1]  # from checkpoint(index) to checkpoint(index + 1)
        out_shape, _, _ = _case_geometry(case)
        size = int(np.prod(out_shape))
        output = np.frombuffer(segment.memory["output"][:size], dtype=np.int8).reshape(out_shape)
        runs.append(KernelRun(case, output.copy(), int(statuses[index]), segment.cycles,
                              segment.instructions))
    return runs
