"""Finding the MSP430 toolchain (clang-16, ld.lld-16, mspdebug) and running it.

The tools come from Debian/Ubuntu packages; when one is missing the error
names the apt command that installs them.
"""
from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

from tflm_unit.errors import ToolchainError

APT_COMMAND = "apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu"

#: Compiler flags every MSP430 build uses.  -ffunction-sections and
#: --gc-sections drop the host-only parts of the core (float prepare code).
BASE_CFLAGS = (
    "--target=msp430", "-O2", "-std=c99", "-ffreestanding", "-nostdlib",
    "-Wall", "-Wextra", "-ffunction-sections", "-fdata-sections",
    "-DUNIT_COUNTERS=0",
)


class ToolchainMissingError(ToolchainError):
    """A tool needed for MSP430 builds or simulation is not installed."""


class BuildError(ToolchainError):
    """Compiling or linking an MSP430 program failed."""


@dataclasses.dataclass(frozen=True)
class Toolchain:
    clang: str
    linker: str
    simulator: str


def find_toolchain() -> Toolchain:
    """The installed tools, or ToolchainMissingError naming what is missing
    and the apt command that installs it."""
    wanted = {"clang": "clang-16", "linker": "ld.lld-16", "simulator": "mspdebug"}
    found = {role: shutil.which(program) for role, program in wanted.items()}
    missing = [wanted[role] for role, path in found.items() if path is None]
    if missing:
        raise ToolchainMissingError(
            f"the MSP430 toolchain is incomplete: {', '.join(missing)} not found on PATH. "
            f"Install it with: sudo {APT_COMMAND}")
    return Toolchain(**found)  # type: ignore[arg-type]


def toolchain_available() -> bool:
    try:
        find_toolchain()
    except ToolchainMissingError:
        return False
    return True


def run_tool(command: Sequence[str], what: str, cwd: Path | None = None) -> str:
    """Run a build command; BuildError with its output if it fails.
    Returns stderr (compiler warnings)."""
    result = subprocess.run(list(command), capture_output=True, text=True, cwd=cwd)
    if result.returncode != 0:
        raise BuildError(f"{what} failed (exit {result.returncode}):\n"
                         f"{' '.join(command)}\n{result.stdout}{result.stderr}")
    return result.stderr
