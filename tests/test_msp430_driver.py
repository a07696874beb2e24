"""The MSP430 build and simulator driver: toolchain errors, the memory map,
the fit check, segment timing, host-written inputs, and the core compiling
warning-free for MSP430."""
from __future__ import annotations

import re

import pytest

from tflm_unit import msp430
from tflm_unit.msp430 import (MSP430FR5994, MSP430_SOURCE_DIR, BuildError, BuildOptions,
                              MemoryMap, ProgramSizes, ProgramTooLargeError, ToolchainMissingError,
                              build_program, check_fit, run_program, toolchain_available)

needs_toolchain = pytest.mark.skipif(
    not toolchain_available(),
    reason="MSP430 toolchain absent: apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu")


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """One object cache for this module's builds, so the core compiles once."""
    return tmp_path_factory.mktemp("msp430_objects")


def test_missing_toolchain_names_the_apt_command(monkeypatch):
    monkeypatch.setattr(msp430.toolchain.shutil, "which",
                        lambda name: None if name == "mspdebug" else f"/usr/bin/{name}")
    with pytest.raises(ToolchainMissingError) as error:
        msp430.find_toolchain()
    assert "mspdebug" in str(error.value)
    assert "apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu" in str(error.value)
    assert not toolchain_available()


def test_checked_in_linker_script_matches_the_python_map():
    text = (MSP430_SOURCE_DIR / "msp430fr5994.ld").read_text()
    regions = {name: (int(origin, 16), int(length, 16)) for name, origin, length in re.findall(
        r"(\w+) \([a-z]+\)\s*: ORIGIN = (0x[0-9A-Fa-f]+), LENGTH = (0x[0-9A-Fa-f]+)", text)}
    assert regions["RAM"] == (MSP430FR5994.ram_start, MSP430FR5994.ram_size)
    assert regions["FRAM"] == (MSP430FR5994.fram_start, MSP430FR5994.fram_size)


def test_memory_map_rejects_impossible_layouts():
    with pytest.raises(ValueError, match="overlap"):
        MemoryMap("bad", ram_start=0x2000, ram_size=0x2000, fram_start=0x3000, fram_size=0x1000)
    with pytest.raises(ValueError, match="64 KiB"):
        MemoryMap("bad", ram_start=0x1C00, ram_size=0x2000, fram_start=0x4000, fram_size=0xC000)


def test_fit_check_says_which_part_and_by_how_much():
    sizes = ProgramSizes(code=4000, constants=50000, initialised=10, zeroed=7000, uninitialised=784)
    with pytest.raises(ProgramTooLargeError) as error:
        check_fit(sizes, MSP430FR5994)
    message = str(error.value)
    fram_excess = 4000 + 50000 + 10 - MSP430FR5994.fram_size
    ram_excess = 10 + 7000 + 784 + MSP430FR5994.stack_size - MSP430FR5994.ram_size
    assert f"{fram_excess} bytes too many" in message and "weights/constants 50000" in message
    assert f"{ram_excess} bytes too many" in message and "stack reserve" in message
    check_fit(ProgramSizes(4000, 20000, 10, 3000, 784), MSP430FR5994)  # fits: no error


@needs_toolchain
@pytest.mark.parametrize("part, declaration, wanted", [
    ("FRAM", "const int8_t weights[50000] = {1};", "weights/constants"),
    ("RAM", "int8_t arena[9000];", "buffers"),
])
def test_too_large_program_gives_the_clear_error(tmp_path, part, declaration, wanted, objects):
    name = declaration.split()[-3 if part == "FRAM" else -1].split("[")[0]
    source = tmp_path / "big.c"
    source.write_text("#include <stdint.h>\n" + declaration + "\n"
                      f"int main(void) {{ return {name}[(uint16_t)main & 7]; }}\n")
    with pytest.raises(ProgramTooLargeError) as error:
        build_program([source], tmp_path / "build", BuildOptions(), object_dir=objects)
    message = str(error.value)
    assert f"{part} (" in message and wanted in message
    needed, capacity, excess = map(int, re.search(
        part + r" \(.*?\) needs (\d+) bytes but has (\d+): (\d+) bytes too many", message).groups())
    assert needed - capacity == excess > 0


@needs_toolchain
def test_program_beyond_64k_still_gets_the_clear_error(tmp_path, objects):
    """Weights larger than the whole address space: sizes come from the objects."""
    source = tmp_path / "huge.c"
    source.write_text("#include <stdint.h>\nconst int8_t w1[30000] = {1};\n"
                      "const int8_t w2[30000] = {2};\nconst int8_t w3[20000] = {3};\n"
                      "int main(void) { uint16_t i = (uint16_t)main & 7; "
                      "return w1[i] + w2[i] + w3[i]; }\n")
    with pytest.raises(ProgramTooLargeError, match=r"weights/constants 80\d\d\d"):
        build_program([source], tmp_path / "build", BuildOptions(), object_dir=objects)


@needs_toolchain
def test_float_arithmetic_is_reported(tmp_path, objects):
    source = tmp_path / "uses_float.c"
    source.write_text("volatile float f = 1.5f;\nint main(void) { return (int)(f * 3.0f); }\n")
    with pytest.raises(BuildError, match="floating-point"):
        build_program([source], tmp_path / "build", BuildOptions(), object_dir=objects)


LOOP_PROGRAM = """
#include <stdint.h>
#include "unit_msp430.h"
UNIT_MSP430_NOINIT volatile uint16_t counts[4];
volatile uint16_t sink;
uint16_t doubled[4];
static void spin(uint16_t n) { while (n--) sink = (uint16_t)(sink + 1u); }
int main(void) {
  uint16_t i;
  /* Not unrolled, so every segment runs the same instructions. */
#pragma clang loop unroll(disable)
  for (i = 0; i < 4; i++) {
    unit_msp430_checkpoint(i);
    spin(counts[i]);
    doubled[i] = (uint16_t)(counts[i] * 2u);
  }
  unit_msp430_checkpoint(4);
  return 7;
}
"""


@needs_toolchain
@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_segments_inputs_and_outputs(tmp_path, multiplier, objects):
    """Each checkpoint closes one segment: spins of n, 2n, 3n iterations
    (segments 1-3, each ended by the next loop iteration's checkpoint, so
    they run the same instructions) cost equal increments; inputs written
    into .noinit reach the program and its results and exit code come back."""
    source = tmp_path / "loop.c"
    source.write_text(LOOP_PROGRAM)
    program = build_program([source], tmp_path / "build", BuildOptions(multiplier=multiplier),
                            object_dir=objects)
    assert program.elf.address_of("main") >= MSP430FR5994.fram_start
    assert MSP430FR5994.ram_start <= program.elf.address_of("doubled") < MSP430FR5994.stack_top
    counts = [100, 200, 300, 50]
    result = run_program(program, inputs={"counts": b"".join(c.to_bytes(2, "little") for c in counts)},
                         reads=["doubled"])
    assert result.exit_code == 7
    assert [int.from_bytes(result.memory["doubled"][i:i + 2], "little") for i in (0, 2, 4, 6)] == \
        [2 * c for c in counts]
    segments = result.segments
    assert [s.ended_at for s in segments] == ["checkpoint"] * 5 + ["halt"]
    loop_cycles = [s.cycles for s in segments[1:4]]
    assert loop_cycles[0] < loop_cycles[1] < loop_cycles[2]
    assert loop_cycles[1] - loop_cycles[0] == loop_cycles[2] - loop_cycles[1]
    assert 0 < result.stack_bytes_used < MSP430FR5994.stack_size


@needs_toolchain
def test_core_compiles_warning_free_for_msp430(tmp_path):
    """Issue 6: the kernel core compiles with -Wall -Wextra for MSP430."""
    from tflm_unit.msp430.build import compile_flags, compile_source, core_sources
    flags = compile_flags(BuildOptions())
    problems = []
    for source in core_sources():
        try:
            _, warnings = compile_source(source, flags, tmp_path, werror=True)
        except BuildError as error:
            problems += [line for line in str(error).splitlines() if "error:" in line]
        else:
            assert not warnings.strip(), warnings
    assert not problems, problems


@needs_toolchain
def test_program_without_checkpoints_runs_as_one_segment(tmp_path, objects):
    source = tmp_path / "plain.c"
    source.write_text("#include <stdint.h>\nvolatile uint16_t seen;\n"
                      "int main(void) { seen = 0x1234u; return 3; }\n")
    program = build_program([source], tmp_path / "build", BuildOptions(multiplier="software"),
                            object_dir=objects)
    result = run_program(program, reads=["seen"], max_segments=2)
    assert [s.ended_at for s in result.segments] == ["halt"]
    assert result.exit_code == 3 and result.memory["seen"] == b"\x34\x12"


@needs_toolchain
def test_hardware_multiplier_base_is_a_build_option(tmp_path, objects):
    """hwmult_base=0x04C0 (the MSP430FR5994's MPY32) moves the helpers'
    register accesses; the simulator, whose multiplier is at 0x0130, refuses
    to run such a build rather than give wrong results."""
    source = tmp_path / "mul.c"
    source.write_text("#include <stdint.h>\nvolatile int16_t a = 3, b = 5, c;\n"
                      "int main(void) { c = (int16_t)(a * b); return 0; }\n")
    fr5994 = build_program([source], tmp_path / "fr5994", BuildOptions(hwmult_base=0x04C0),
                           object_dir=objects)
    sim = build_program([source], tmp_path / "sim", BuildOptions(), object_dir=objects)

    def mpyi_code(program) -> bytes:
        text = program.elf.sections[".text"]
        start = text.file_offset + program.elf.address_of("__mspabi_mpyi") - text.address
        return program.elf_path.read_bytes()[start:start + 12]

    # "mov r12, &ADDR" stores the address little-endian right after the opcode.
    assert (0x04C0).to_bytes(2, "little") in mpyi_code(fr5994)
    assert (0x0130).to_bytes(2, "little") in mpyi_code(sim)
    with pytest.raises(ValueError, match="0x0130"):
        run_program(fr5994)

