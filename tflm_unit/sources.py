"""The C/C++ sources a TFLM firmware build needs, from the installed package.

The wheel installs ``custom_ops/`` as ``tflm_unit/custom_ops`` (package data)
with the Bazel ``BUILD`` file next to it:

    tflm_unit/custom_ops/
        BUILD                       Bazel targets :unit_core, :unit_tflm_ops
        core/*.c, core/*.h          the C99 kernel core
        tflm/unit_ops.h, .cc        the TFLM adapters (Register_UNIT_*, AddUnitOps)
        tflm/Makefile_internal.inc  TFLM make's EXTERNAL_DIR hook

Firmware builds either point at that directory (``get_include()``: the include
root for ``#include "tflm/unit_ops.h"`` and the ``EXTERNAL_DIR`` for TFLM's
make) or copy it into their tree (``copy_sources(out_dir)``).
"""
import os
import shutil
from typing import List

# What firmware needs from custom_ops/ (the MSP430 port and tests stay out).
_PARTS = ("core", "tflm")
_SOURCE_SUFFIXES = (".c", ".cc")
_SHIPPED_SUFFIXES = (".c", ".cc", ".h", ".inc")


def _package_dir() -> str:
    """tflm_unit/custom_ops when installed; the repository's custom_ops/ in an
    editable install (setup.py maps the package there)."""
    import tflm_unit.custom_ops as custom_ops

    return os.path.dirname(os.path.abspath(custom_ops.__file__))


def _build_file() -> str:
    """The Bazel BUILD: next to the sources when installed, else the repository root."""
    here = os.path.join(_package_dir(), "BUILD")
    if os.path.exists(here):
        return here
    repo_root = os.path.join(os.path.dirname(_package_dir()), "BUILD")
    if os.path.exists(repo_root):
        return repo_root
    raise FileNotFoundError("the Bazel BUILD file of tflm-unit is not installed")


def get_include() -> str:
    """The include root (``#include "tflm/unit_ops.h"``; the core is reached
    relatively) and the directory to pass as TFLM make's ``EXTERNAL_DIR``."""
    return _package_dir()


def _shipped_files() -> List[str]:
    root = _package_dir()
    files = []
    for part in _PARTS:
        folder = os.path.join(root, part)
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if os.path.isfile(path) and name.endswith(_SHIPPED_SUFFIXES):
                files.append(path)
    return files


def get_sources() -> List[str]:
    """Absolute paths of the C and C++ files to compile into the firmware."""
    return [p for p in _shipped_files() if p.endswith(_SOURCE_SUFFIXES)]


def get_headers() -> List[str]:
    """Absolute paths of the headers (core and adapters)."""
    return [p for p in _shipped_files() if p.endswith(".h")]


def copy_sources(out_dir: str) -> List[str]:
    """Copies core/, tflm/ (sources, headers, Makefile_internal.inc) and BUILD
    into ``out_dir`` with the installed layout; returns the written paths."""
    root = _package_dir()
    written = []
    for src in _shipped_files():
        dst = os.path.join(out_dir, os.path.relpath(src, root))
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        shutil.copyfile(src, dst)
        written.append(dst)
    build_dst = os.path.join(out_dir, "BUILD")
    os.makedirs(out_dir, exist_ok=True)
    shutil.copyfile(_build_file(), build_dst)
    written.append(build_dst)
    return written
