"""Building MSP430 programs: compile the kernel core, the MSP430 runtime
(startup, compiler helpers in the chosen multiplier build) and the
program's own sources with clang-16, check the result fits the memory map,
and link an ELF with ld.lld-16.

Objects are cached by a hash of their source, the headers next to it and
the flags, so building the same core for several programs is cheap.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import os
import re
from pathlib import Path
from typing import Literal, Mapping, Sequence

from tflm_unit.msp430.elf import ElfInfo, read_elf
from tflm_unit.msp430.memory_map import (MSP430FR5994, MemoryMap, ProgramSizes, check_fit)
from tflm_unit.msp430.toolchain import BASE_CFLAGS, BuildError, find_toolchain, run_tool

Multiplier = Literal["hardware", "software"]

_PACKAGE_SOURCES = Path(str(importlib.resources.files("tflm_unit.custom_ops")))
#: custom_ops/msp430: startup code, linker scripts, compiler helpers, harnesses.
MSP430_SOURCE_DIR = _PACKAGE_SOURCES / "msp430"
#: custom_ops/core: the portable kernel core.
CORE_SOURCE_DIR = _PACKAGE_SOURCES / "core"

#: Core files the MSP430 build leaves out: they include <math.h> (absent in
#: a freestanding MSP430 build) and hold only the float kernels and the
#: host-side prepare code, which the MCU never runs (the exporter writes
#: the prepared integer parameters into generated C).
HOST_ONLY_CORE_FILES = ("unit_float.c", "unit_prepare.c", "unit_activation_float.c", "unit_ops_float.c")

#: Undefined helper names that mean float or double arithmetic reached the
#: MSP430 build (the integer kernels should not use any).
_FLOAT_HELPER = re.compile(r"__mspabi_(add|sub|mpy|div|cmp|cvt|fix|flt)[a-z]*[df]\b|__unord")


@dataclasses.dataclass(frozen=True)
class BuildOptions:
    """How to build: which multiplier helpers, where the hardware multiplier
    is, which memory map, extra -D defines."""

    multiplier: Multiplier = "hardware"
    hwmult_base: int = 0x0130  # the simulator's; 0x04C0 on the MSP430FR5994
    memory_map: MemoryMap = MSP430FR5994
    defines: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.multiplier not in ("hardware", "software"):
            raise ValueError(f"multiplier must be 'hardware' or 'software', not {self.multiplier!r}")


@dataclasses.dataclass(frozen=True)
class Program:
    """A linked MSP430 ELF and what the driver needs to know about it."""

    elf_path: Path
    elf: ElfInfo
    sizes: ProgramSizes
    options: BuildOptions
    warnings: tuple[str, ...]  # compiler warnings, one entry per source file


def core_sources() -> list[Path]:
    """The kernel core's C files an MSP430 build compiles."""
    return sorted(p for p in CORE_SOURCE_DIR.glob("*.c") if p.name not in HOST_ONLY_CORE_FILES)


def runtime_sources(multiplier: Multiplier) -> list[Path]:
    """Startup code, memory init and the __mspabi_* helpers for one multiplier build."""
    names = ["unit_msp430_start.S", "unit_msp430_mpyll.S", "unit_msp430_runtime.c",
             "mspabi_mul.c", "mspabi_div.c", "mspabi_shift.S",
             # the core's hot spots in assembly (custom_ops/core/unit_port.h)
             "unit_msp430_tap.S", "unit_msp430_requant.S", "unit_msp430_pool.S",
             "unit_msp430_fc_sorted.S", "unit_msp430_bucket.S"]
    if multiplier == "hardware":
        names.append("mspabi_mul_hw.S")  # __mspabi_mpyi / mpyl in assembly
    return [MSP430_SOURCE_DIR / name for name in names]


def runtime_flags(options: BuildOptions) -> list[str]:
    """Defines only the runtime sources need (so the core's objects do not
    depend on the multiplier build)."""
    return [f"-DUNIT_MSP430_HWMULT={1 if options.multiplier == 'hardware' else 0}",
            f"-DUNIT_MSP430_HWMULT_BASE=0x{options.hwmult_base:04X}"]


def compile_flags(options: BuildOptions, include_dirs: Sequence[Path] = ()) -> list[str]:
    flags = list(BASE_CFLAGS)
    flags += [f"-D{key}={value}" for key, value in sorted(options.defines.items())]
    for directory in (CORE_SOURCE_DIR, MSP430_SOURCE_DIR, *include_dirs):
        flags.append(f"-I{directory}")
    return flags


def compile_source(source: Path, flags: Sequence[str], object_dir: Path,
                   werror: bool = False) -> tuple[Path, str]:
    """Compile one C or assembly file; returns (object, warnings).  Reuses
    an earlier object when the source, the headers beside it and in the
    include directories, and the flags are unchanged."""
    source = Path(source)
    if not source.is_file():
        raise FileNotFoundError(f"MSP430 source file {source} does not exist")
    all_flags = list(flags) + (["-Werror"] if werror else [])
    digest = hashlib.sha256(" ".join(all_flags).encode())
    digest.update(source.read_bytes())
    header_dirs = {source.parent} | {Path(f[2:]) for f in all_flags if f.startswith("-I")}
    for directory in sorted(header_dirs):
        for header in sorted(directory.glob("*.h")):
            digest.update(header.read_bytes())
    object_dir.mkdir(parents=True, exist_ok=True)
    obj = object_dir / f"{source.stem}-{digest.hexdigest()[:16]}.o"
    warnings_file = obj.with_suffix(".warnings")
    if obj.exists() and warnings_file.exists():
        return obj, warnings_file.read_text()
    clang = find_toolchain().clang
    partial = obj.with_name(f"{obj.name}.{os.getpid()}.tmp")  # safe when builds run in parallel
    warnings = run_tool([clang, *all_flags, "-c", str(source), "-o", str(partial)],
                        f"compiling {source.name} for MSP430")
    warnings_file.write_text(warnings)
    partial.replace(obj)
    return obj, warnings


def _link(objects: Sequence[Path], script_text: str, output: Path,
          extra_flags: Sequence[str] = ()) -> None:
    script = output.with_suffix(".ld")
    script.write_text(script_text)
    command = [find_toolchain().linker, "-L", str(MSP430_SOURCE_DIR), "-T", str(script),
               "--gc-sections", *extra_flags, "-o", str(output), *map(str, objects)]
    try:
        run_tool(command, f"linking {output.name}")
    except BuildError as error:
        undefined = sorted(set(re.findall(r"undefined symbol: (\S+)", str(error))))
        floats = [name for name in undefined if _FLOAT_HELPER.search(name)]
        if floats:
            raise BuildError(
                f"{error}\nThe MSP430 build calls floating-point helpers ({', '.join(floats)}): "
                "a function the program uses does float/double arithmetic. The integer "
                "kernels must not; precompute such values on the host (prepare/export step).") \
                from None
        if undefined:
            raise BuildError(f"{error}\nUndefined symbols: {', '.join(undefined)}") from None
        raise


#: A probe map where RAM and FRAM each span the whole address space, so the
#: sizes of a program that does not fit the real map can still be measured.
_PROBE_SCRIPT = ("MEMORY\n{\n"
                 "  RAM (rwx)    : ORIGIN = 0x0200, LENGTH = 0xFDFE\n"
                 "  FRAM (rx)    : ORIGIN = 0x0200, LENGTH = 0xFDFE\n"
                 "  RESETVEC (r) : ORIGIN = 0xFFFE, LENGTH = 0x0002\n"
                 "}\n__stack_size = 0;\nINCLUDE unit_msp430_sections.ld\n")


def _object_sizes(objects: Sequence[Path]) -> ProgramSizes:
    """Sizes summed over the input objects' sections: an upper bound (unused
    functions not yet dropped), for programs too big even for the probe."""
    totals = {".text": 0, ".rodata": 0, ".data": 0, ".bss": 0, ".noinit": 0}
    for obj in objects:
        for section in read_elf(obj).sections.values():
            for prefix in totals:
                if section.name == prefix or section.name.startswith(prefix + "."):
                    totals[prefix] += section.size
    return ProgramSizes(code=totals[".text"], constants=totals[".rodata"],
                        initialised=totals[".data"], zeroed=totals[".bss"],
                        uninitialised=totals[".noinit"], upper_bound=True)


def measure_sizes(objects: Sequence[Path], out_dir: Path) -> ProgramSizes:
    """Sizes of the program's parts after unused code is dropped, measured
    by linking into the probe map (so it works even when it does not fit).
    A program whose parts exceed even the whole 64 KiB gets the sums over
    its objects instead (before unused code is dropped)."""
    probe = out_dir / "size_probe.elf"
    try:
        _link(objects, _PROBE_SCRIPT, probe, extra_flags=["--no-check-sections"])
    except BuildError as error:
        if "will not fit" in str(error) or "out of range" in str(error):
            return _object_sizes(objects)
        raise
    return ProgramSizes.from_elf(read_elf(probe))


def build_program(sources: Sequence[Path | str], out_dir: Path | str,
                  options: BuildOptions = BuildOptions(), name: str = "program",
                  include_dirs: Sequence[Path | str] = (),
                  object_dir: Path | str | None = None) -> Program:
    """Compile `sources` (the program: main() and its data) with the core
    and the runtime, check it fits `options.memory_map` (ProgramTooLargeError
    saying which part and by how much if not), and link `<name>.elf`.

    object_dir: where compiled objects are cached (default out_dir/obj);
    share one between builds to compile the core only once."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    flags = compile_flags(options, [Path(d) for d in include_dirs])
    objects, warnings = [], []
    runtime = runtime_sources(options.multiplier)
    for source in [*core_sources(), *runtime, *map(Path, sources)]:
        source_flags = flags + runtime_flags(options) if source in runtime else flags
        obj, warning_text = compile_source(source, source_flags,
                                           Path(object_dir) if object_dir else out_dir / "obj")
        objects.append(obj)
        if warning_text.strip():
            warnings.append(f"{source.name}: {warning_text.strip()}")
    sizes = measure_sizes(objects, out_dir)
    check_fit(sizes, options.memory_map)
    elf_path = out_dir / f"{name}.elf"
    _link(objects, options.memory_map.linker_script(), elf_path)
    elf = read_elf(elf_path)
    return Program(elf_path, elf, ProgramSizes.from_elf(elf), options, tuple(warnings))
