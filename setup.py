"""Build script: the Python package, the C kernel core as a CPython extension
(``tflm_unit._core``), and the C/C++ sources of ``custom_ops/`` shipped as
package data (``tflm_unit.custom_ops``) so firmware builds can take them from
an installed package."""
import glob
import os
import shutil

from setuptools import Extension, setup
from setuptools.command.build_py import build_py

HERE = os.path.dirname(os.path.abspath(__file__))


def _rel(pattern: str) -> list:
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


class BuildPyWithBazelFile(build_py):
    """Also installs the top-level Bazel ``BUILD`` next to the packaged sources."""

    def run(self):
        super().run()
        src = os.path.join(HERE, "BUILD")
        if os.path.exists(src):
            dst_dir = os.path.join(self.build_lib, "tflm_unit", "custom_ops")
            os.makedirs(dst_dir, exist_ok=True)
            shutil.copyfile(src, os.path.join(dst_dir, "BUILD"))


core_extension = Extension(
    "tflm_unit._core",
    sources=_rel("tflm_unit/_ext/*.c") + _rel("custom_ops/core/*.c"),
    include_dirs=["custom_ops/core"],
    define_macros=[("UNIT_COUNTERS", "1"), ("_POSIX_C_SOURCE", "200809L")],
    extra_compile_args=["-std=c99", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
)

# Host-only fast MAC kernels (tflm_unit/_fast): optimised separately, with the
# core's division and requantisation code linked in (not part of MCU builds).
fast_extension = Extension(
    "tflm_unit._fast",
    sources=_rel("tflm_unit/_fast/*.c") + ["custom_ops/core/unit_division.c", "custom_ops/core/unit_quant.c"],
    include_dirs=["custom_ops/core", "tflm_unit/_fast"],
    define_macros=[("UNIT_COUNTERS", "1"), ("_POSIX_C_SOURCE", "200809L")],
    # -flto: the core's requantisation inlines into (and vectorises with) the tile loops
    extra_compile_args=["-std=c99", "-O3", "-flto", "-fvisibility=hidden", "-Wall", "-Wextra", "-Wno-unused-parameter", "-pthread"],
    extra_link_args=["-O3", "-flto", "-pthread"],
)

setup(
    ext_modules=[core_extension, fast_extension],
    package_dir={
        "tflm_unit": "tflm_unit",
        "tflm_unit.converter": "converter",
        "tflm_unit.custom_ops": "custom_ops",
    },
    cmdclass={"build_py": BuildPyWithBazelFile},
)
