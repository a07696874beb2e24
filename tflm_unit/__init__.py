"""tflm-unit: MCU-aware structured pruning (training time) and UnIT unstructured
inference-time pruning for TensorFlow Lite Micro.

Pipeline: ``pruning`` (Keras callbacks) → ``converter`` (int8 ``.tflite`` with
UNIT_* custom ops) → ``runtime`` (host execution through the C core) →
``msp430`` (cycle-accurate simulation) → ``custom_ops`` (TFLM firmware).
"""
__version__ = "0.1.0"

from tflm_unit.errors import (  # noqa: E402  (the public error hierarchy, DESIGN.md §9)
    BudgetError,
    CalibrationError,
    ConversionError,
    DataError,
    InputScalingError,
    KernelArgumentError,
    ModelFormatError,
    OptionError,
    TflmUnitError,
    ToolchainError,
    UnsupportedLayerError,
    UnsupportedModelError,
)


def get_include() -> str:
    """Include root of the packaged C/C++ sources (see tflm_unit.sources)."""
    from tflm_unit.sources import get_include as _get_include

    return _get_include()


def get_sources() -> list:
    """The .c/.cc files a TFLM firmware build compiles (see tflm_unit.sources)."""
    from tflm_unit.sources import get_sources as _get_sources

    return _get_sources()
