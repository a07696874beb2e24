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
    """The directory holding core/ and tflm/, wherever ``tflm_unit`` came from.

    - a regular install: ``tflm_unit/custom_ops`` next to this file;
    - the source tree (an editable install, or the repository root as the
      current directory, where Python imports the checkout's ``tflm_unit/``
      before any installed copy): the repository's ``custom_ops/``, beside
      ``tflm_unit/`` (setup.py maps it in as ``tflm_unit.custom_ops``);
    - else wherever the import system finds ``tflm_unit.custom_ops``.
    """
    here = os.path.dirname(os.path.abspath(__file__))
    candidates = [os.path.join(here, "custom_ops"), os.path.join(os.path.dirname(here), "custom_ops")]
    for folder in candidates:
        if _has_sources(folder):
            return folder
    try:
        import tflm_unit.custom_ops as custom_ops
    except ImportError as exc:
        raise FileNotFoundError(
            f"the C/C++ sources of tflm-unit are not installed (looked in {', '.join(candidates)})") from exc
    return os.path.dirname(os.path.abspath(custom_ops.__file__))


def _has_sources(folder: str) -> bool:
    return all(os.path.isfile(os.path.join(folder, rel)) for rel in ("core/unit_core.h", "tflm/unit_ops.h"))


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
