"""The MSP430 compiler helpers (__mspabi_* multiply, divide, shift) compute
what C requires, in both multiplier builds, on the simulated MSP430.

Operands are written into the program's .noinit arrays before the run;
results are compared with Python's exact integer arithmetic."""
from __future__ import annotations

import numpy as np
import pytest

from tflm_unit.msp430 import (MSP430_SOURCE_DIR, BuildOptions, build_program, run_program,
                              toolchain_available)

pytestmark = pytest.mark.skipif(
    not toolchain_available(),
    reason="MSP430 toolchain absent: apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu")


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """One object cache for this module's builds, so the core compiles once."""
    return tmp_path_factory.mktemp("msp430_objects")

PAIRS = 24  # HELPER_CHECK_PAIRS in unit_msp430_helper_check.c


def signed(value: int, bits: int) -> int:
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def c_div(a: int, b: int) -> int:
    """C99 division: truncates toward zero."""
    quotient = abs(a) // abs(b)
    return quotient if (a < 0) == (b < 0) else -quotient


def make_operands(seed: int) -> dict[str, list[int]]:
    """Edge cases first, then random values; no zero divisors and no
    INT_MIN / -1 (undefined in C)."""
    rng = np.random.default_rng(seed)
    a16 = [0, 1, -1, 32767, -32768, 255, -255, 127, -128, 1000, -3, 12345]
    b16 = [7, -1, 1, 2, 3, -255, 255, -128, 127, 1, -32768, 3]
    a32 = [0, 1, -1, 2**31 - 1, -2**31, 65535, -65536, 0x12345678, 255, -255, 70000, 2**30]
    b32 = [3, 7, -1, 65536, 65535, -65537, 2, 0x0F0F0F0F, -255, 255, -70000, 3]
    a64 = [0, 1, -1, 2**63 - 1, -2**63, 2**32 + 5, -(2**40), 0x0123456789ABCDEF, 255, -255,
           2**31 - 1, -2**31]
    b64 = [5, -1, -1, 3, 1, 2**32 - 1, 2**20 + 1, 0x0FEDCBA987654321, -128, 127, 2**31 - 1, -2**31]
    while len(a16) < PAIRS:
        a16.append(int(rng.integers(-32768, 32768)))
        b16.append(int(rng.choice([v for v in rng.integers(-32768, 32768, 4) if v not in (0, -1)])))
        a32.append(int(rng.integers(-2**31, 2**31)))
        b32.append(int(rng.choice([v for v in rng.integers(-2**31, 2**31, 4) if v not in (0, -1)])))
        a64.append(int(rng.integers(-2**63, 2**63)))
        b64.append(int(rng.integers(-2**63, 2**63)))
    return {"a16": a16, "b16": b16, "a32": a32, "b32": b32, "a64": a64, "b64": b64}


def multiply_by_quantized_multiplier(x: int, multiplier: int, shift: int) -> int:
    """TFLite's requantisation from gemmlowp's definitions, on Python ints."""
    left, right = max(shift, 0), max(-shift, 0)
    x = ((x << left) + 2**31) % 2**32 - 2**31  # wraps like int32
    if x == multiplier == -2**31:
        high = 2**31 - 1
    else:
        product = x * multiplier
        nudged = product + (2**30 if product >= 0 else 1 - 2**30)
        high = abs(nudged) // 2**31 * (1 if nudged >= 0 else -1)  # truncates toward zero
    mask = (1 << right) - 1
    threshold = (mask >> 1) + (1 if high < 0 else 0)
    return (high >> right) + (1 if (high & mask) > threshold else 0)


def expected_results(ops: dict[str, list[int]]):
    a16, b16, a32, b32 = ops["a16"], ops["b16"], ops["a32"], ops["b32"]
    r16 = [
        [a * b for a, b in zip(a16, b16)],
        [c_div(a, b) for a, b in zip(a16, b16)],
        [a - c_div(a, b) * b for a, b in zip(a16, b16)],
        [(a & 0xFFFF) // (b & 0xFFFF) for a, b in zip(a16, b16)],
        [(a & 0xFFFF) % (b & 0xFFFF) for a, b in zip(a16, b16)],
        [(a & 0xFFFF) >> ((b & 0xFFFF) & 15) for a, b in zip(a16, b16)],
    ]
    r32 = [
        [a * b for a, b in zip(a32, b32)],
        [a * b for a, b in zip(a16, b16)],
        [c_div(a, b) for a, b in zip(a32, b32)],
        [a - c_div(a, b) * b for a, b in zip(a32, b32)],
        [(a & 0xFFFFFFFF) // (b & 0xFFFFFFFF) for a, b in zip(a32, b32)],
        [(a & 0xFFFFFFFF) % (b & 0xFFFFFFFF) for a, b in zip(a32, b32)],
        [(a & 0xFFFFFFFF) << ((b & 0xFFFF) & 31) for a, b in zip(a32, b16)],
        [(a & 0xFFFFFFFF) >> ((b & 0xFFFF) & 31) for a, b in zip(a32, b16)],
        [a >> ((b & 0xFFFF) & 31) for a, b in zip(a32, b16)],
        [(a & 0xFFFF) * (b & 0xFFFF) for a, b in zip(a16, b16)],
        [multiply_by_quantized_multiplier(x, m, (s & 31) - 24) for x, m, s in zip(a32, b32, a16)],
    ]
    r64 = [[a * b for a, b in zip(ops["a64"], ops["b64"])]]
    to_bits = lambda rows, bits: [[v & ((1 << bits) - 1) for v in row] for row in rows]
    return to_bits(r16, 16), to_bits(r32, 32), to_bits(r64, 64)


def words(values: list[int], bits: int) -> bytes:
    return b"".join((v & ((1 << bits) - 1)).to_bytes(bits // 8, "little") for v in values)


def rows(data: bytes, count: int, bits: int) -> list[list[int]]:
    size = bits // 8
    flat = [int.from_bytes(data[i:i + size], "little") for i in range(0, len(data), size)]
    return [flat[r * PAIRS:(r + 1) * PAIRS] for r in range(count)]


@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_helpers_match_c_semantics(multiplier, tmp_path, objects):
    program = build_program([MSP430_SOURCE_DIR / "unit_msp430_helper_check.c"], tmp_path,
                            BuildOptions(multiplier=multiplier), object_dir=objects)
    ops = make_operands(seed=6)
    inputs = {f"check_{name}": words(values, int(name[1:])) for name, values in ops.items()}
    result = run_program(program, inputs=inputs, reads=["result16", "result32", "result64"])
    assert result.exit_code == 0
    want16, want32, want64 = expected_results(ops)
    got16 = rows(result.memory["result16"], 6, 16)
    got32 = rows(result.memory["result32"], 11, 32)
    got64 = rows(result.memory["result64"], 1, 64)
    names16 = ["mpyi", "divi", "remi", "divu", "remu", "16-bit shift"]
    names32 = ["mpyl", "mpyl (int16 operands)", "divli", "remli", "divul", "remul", "slll",
               "srll", "sral", "mpyul", "multiply_by_quantized_multiplier"]
    for name, got, want in zip(names16, got16, want16):
        assert got == want, name
    for name, got, want in zip(names32, got32, want32):
        assert got == want, name
    assert got64 == want64, "mpyll"


def test_software_build_does_not_touch_the_hardware_multiplier(tmp_path, objects):
    """The software build must compute without the simulator's multiplier
    device, and the hardware build must really use it (without the device
    its results would be wrong)."""
    from tflm_unit.msp430 import simulator
    ops = make_operands(seed=7)
    inputs = {f"check_{name}": words(values, int(name[1:])) for name, values in ops.items()}
    want16 = expected_results(ops)[0]
    hardware = build_program([MSP430_SOURCE_DIR / "unit_msp430_helper_check.c"], tmp_path / "hw",
                             BuildOptions(multiplier="hardware"), object_dir=objects)
    # Pretend it is a software build so the driver leaves the multiplier device out.
    detached = type(hardware)(hardware.elf_path, hardware.elf, hardware.sizes,
                              BuildOptions(multiplier="software"), hardware.warnings)
    result = simulator.run_program(detached, inputs=inputs, reads=["result16"])
    assert rows(result.memory["result16"], 6, 16)[0] != want16[0]


@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_helpers_do_not_call_helpers_they_implement(multiplier, tmp_path):
    """A `*` or `/` inside a helper would compile to a call to the helper
    itself (endless recursion on the MCU): the runtime objects may only call
    __mspabi_mpyl, and only from mspabi_mul.c in the hardware build (where
    it is the assembly version), and the software build's conv inner loop
    (unit_msp430_tap.S) and sorted FC walk (unit_msp430_fc_sorted.S)
    multiply with __mspabi_mpyi."""
    from tflm_unit.msp430.build import compile_flags, compile_source, runtime_flags, runtime_sources
    from tflm_unit.msp430.elf import read_elf
    options = BuildOptions(multiplier=multiplier)
    flags = compile_flags(options) + runtime_flags(options)
    for source in runtime_sources(multiplier):
        obj, _ = compile_source(source, flags, tmp_path)
        helpers_called = {name for name in read_elf(obj).undefined if name.startswith("__mspabi_")}
        allowed = {("mspabi_mul.c", "hardware"): {"__mspabi_mpyl"},
                   ("unit_msp430_tap.S", "software"): {"__mspabi_mpyi"},
                   ("unit_msp430_fc_sorted.S", "software"): {"__mspabi_mpyi"}}.get((source.name, multiplier), set())
        assert helpers_called <= allowed, (source.name, helpers_called)
