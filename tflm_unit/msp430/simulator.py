"""Running an MSP430 program in mspdebug's simulator and measuring it.

One ``mspdebug -n sim`` session per run: load the ELF, write the inputs
(Intel HEX through ``load``), put breakpoints on ``unit_msp430_checkpoint``
and ``unit_msp430_halt``, then ``run`` repeatedly, reading the tracer's
cycle counter (``simio info tr``) and clearing it after each stop.  Each
stop ends one segment; the program calls unit_msp430_checkpoint() at the
boundaries it wants timed (layers, kernels).  Memory is read back with
``hexout``.

Cycle counts are the simulator's MCLK count (its instruction timings of
the MSP430 CPU); the hardware multiplier answers without wait states.
"""
from __future__ import annotations

import dataclasses
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Mapping, Sequence

from tflm_unit.errors import ToolchainError
from tflm_unit.msp430.build import Program
from tflm_unit.msp430.toolchain import find_toolchain

CHECKPOINT_SYMBOL = "unit_msp430_checkpoint"
HALT_SYMBOL = "unit_msp430_halt"
_STACK_PAINT = 0xA5  # UNIT_MSP430_STACK_PAINT in unit_msp430.h


class SimulationError(ToolchainError):
    """The simulator failed, or the program did not finish as expected."""


@dataclasses.dataclass(frozen=True)
class Segment:
    """The stretch of execution that ended at one breakpoint."""

    cycles: int        # MCLK cycles
    instructions: int
    ended_at: str      # "checkpoint" or "halt"
    memory: dict[str, bytes] = dataclasses.field(default_factory=dict, repr=False)
    """The `reads_at_stops` regions as they were when the segment ended."""


@dataclasses.dataclass(frozen=True)
class SimulationResult:
    segments: tuple[Segment, ...]  # segments[0] starts at reset (includes startup)
    memory: dict[str, bytes]       # the requested reads, by name
    exit_code: int                 # main()'s return value
    stack_bytes_used: int          # high-water mark of the stack

    @property
    def checkpoint_segments(self) -> tuple[Segment, ...]:
        """The segments between consecutive checkpoints and from the last
        checkpoint to the halt (i.e. without the startup segment)."""
        return self.segments[1:]


def _intel_hex(chunks: Mapping[int, bytes]) -> str:
    lines = []
    for address, data in sorted(chunks.items()):
        for offset in range(0, len(data), 16):
            piece = data[offset:offset + 16]
            at = address + offset
            record = [len(piece), at >> 8, at & 0xFF, 0, *piece]
            lines.append(":" + "".join(f"{b:02X}" for b in record) + f"{(-sum(record)) & 0xFF:02X}")
    lines.append(":00000001FF")
    return "\n".join(lines) + "\n"


def _parse_intel_hex(text: str) -> dict[int, int]:
    memory = {}
    for line in text.split():
        raw = bytes.fromhex(line[1:])
        count, address, kind = raw[0], (raw[1] << 8) | raw[2], raw[3]
        if kind == 0:
            for i in range(count):
                memory[address + i] = raw[4 + i]
    return memory


def _resolve(program: Program, where: str | int) -> int:
    return where if isinstance(where, int) else program.elf.address_of(where)


def run_program(program: Program, inputs: Mapping[str | int, bytes] = {},
                reads: Mapping[str, tuple[str | int, int]] | Sequence[str] = (),
                reads_at_stops: Mapping[str, tuple[str | int, int]] = {},
                max_segments: int = 64, timeout_s: float = 120.0) -> SimulationResult:
    """Run `program` to its halt loop and return the cycles of each segment
    and the memory read back.

    inputs: symbol (or address) -> bytes written before the run; put such
        buffers in .noinit (UNIT_MSP430_NOINIT), or reset clears them.
    reads: name -> (symbol or address, byte count), or a list of symbol
        names read whole (their ELF size); read once, after the halt.
    reads_at_stops: like `reads`, but read at every breakpoint stop, into
        each Segment's `memory` (e.g. a buffer every checkpoint reuses).
    max_segments: an upper bound on checkpoints + 1; a program that has
        not halted by then is an error.
    """
    simulator = find_toolchain().simulator
    if not isinstance(reads, Mapping):
        reads = {name: (name, program.elf.symbols[name].size if name in program.elf.symbols
                        else 0) for name in reads}
        for name, (_, size) in reads.items():
            if size <= 0:
                raise ValueError(f"cannot read {name!r}: no such symbol with a size in the program")
    elf = program.elf
    halt = elf.address_of(HALT_SYMBOL)
    # A program that never calls unit_msp430_checkpoint() has it removed by
    # the linker; it then runs as one segment, to the halt.
    checkpoint = elf.symbols[CHECKPOINT_SYMBOL].address if CHECKPOINT_SYMBOL in elf.symbols else None
    stack_bottom, stack_top = elf.address_of("__stack_bottom"), elf.address_of("__stack_top")
    exit_code_address = elf.address_of("unit_msp430_exit_code")

    with tempfile.TemporaryDirectory(prefix="tflm_unit_msp430_") as tmp:
        tmp_path = Path(tmp)
        commands = []
        if program.options.multiplier == "hardware":
            if program.options.hwmult_base != 0x0130:
                raise ValueError("the simulator's hardware multiplier is at 0x0130; build with "
                                 "hwmult_base=0x0130 to run in it")
            commands.append("simio add hwmult hw")
        commands += ["simio add tracer tr", f"prog {program.elf_path}"]
        if inputs:
            chunks = {_resolve(program, where): bytes(data) for where, data in inputs.items()}
            (tmp_path / "inputs.hex").write_text(_intel_hex(chunks))
            commands.append(f"load {tmp_path / 'inputs.hex'}")
        if checkpoint is not None:
            commands.append(f"setbreak 0x{checkpoint:04x}")
        commands.append(f"setbreak 0x{halt:04x}")
        stop_regions = {name: (_resolve(program, where), size)
                        for name, (where, size) in reads_at_stops.items()}
        for segment in range(max_segments):
            commands += ["simio config tr clear", "run", "simio info tr"]
            for index, (address, size) in enumerate(stop_regions.values()):
                commands.append(f"hexout 0x{address:04x} {size} "
                                f"{tmp_path / f'stop{segment}_{index}.hex'}")
        regions = {"__exit_code": (exit_code_address, 2),
                   "__stack": (stack_bottom, stack_top - stack_bottom)}
        regions.update({name: (_resolve(program, where), size) for name, (where, size) in reads.items()})
        for index, (address, size) in enumerate(regions.values()):
            commands.append(f"hexout 0x{address:04x} {size} {tmp_path / f'read{index}.hex'}")
        try:
            completed = subprocess.run([simulator, "-q", "-n", "sim", *commands], capture_output=True,
                                       text=True, timeout=timeout_s, cwd=tmp)
        except subprocess.TimeoutExpired:
            raise SimulationError(f"the simulation of {program.elf_path.name} did not finish within "
                                  f"{timeout_s} s (an endless loop, or a far longer program "
                                  "than expected)") from None
        output = completed.stdout + completed.stderr
        if completed.returncode != 0:
            raise SimulationError(f"mspdebug failed (exit {completed.returncode}):\n{output[-2000:]}")

        def read_back(file_name: str, name: str, address: int, size: int) -> bytes:
            hex_file = tmp_path / file_name
            if not hex_file.exists():
                raise SimulationError(f"mspdebug did not write memory region {name}:\n"
                                      f"{output[-2000:]}")
            values = _parse_intel_hex(hex_file.read_text())
            return bytes(values.get(address + i, 0) for i in range(size))

        memory = {name: read_back(f"read{index}.hex", name, address, size)
                  for index, (name, (address, size)) in enumerate(regions.items())}
        stop_memory = [{name: read_back(f"stop{segment}_{index}.hex", name, address, size)
                        for index, (name, (address, size)) in enumerate(stop_regions.items())}
                       for segment in range(max_segments)]

    stops = [int(pc, 16) for pc in re.findall(r"\( PC: ([0-9a-fA-F]+)\)", output)]
    counts = re.findall(r"Instruction count:\s*(\d+)\s*\n\s*MCLK:\s*(\d+)", output)
    if len(stops) != max_segments or len(counts) != max_segments:
        raise SimulationError(f"unexpected mspdebug output ({len(stops)} stops, {len(counts)} "
                              f"counter reads for {max_segments} runs):\n{output[-2000:]}")
    segments = []
    for pc, (instructions, cycles), stop_reads in zip(stops, counts, stop_memory):
        if pc not in (checkpoint, halt):
            raise SimulationError(f"the program stopped at 0x{pc:04x}, not at a breakpoint")
        segments.append(Segment(int(cycles), int(instructions),
                                "halt" if pc == halt else "checkpoint", stop_reads))
        if pc == halt:
            break
    else:
        raise SimulationError(f"the program did not halt within {max_segments} segments; "
                              "raise max_segments")
    stack = memory.pop("__stack")
    untouched = next((i for i, b in enumerate(stack) if b != _STACK_PAINT), len(stack))
    exit_code = int.from_bytes(memory.pop("__exit_code"), "little", signed=True)
    return SimulationResult(tuple(segments), memory, exit_code, len(stack) - untouched)
