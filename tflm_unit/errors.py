"""The package's one exception hierarchy (DESIGN.md §9 "Errors").

Every entry point that reads a model, data or options raises only these for
bad input, with a message that names the op / tensor / field, so a user (and
the CLI, which prints one line and exits 2) can tell what to fix.  Classes
whose cause is a bad value also subclass :class:`ValueError`, so code written
against the older ``ValueError`` contract keeps working.

    TflmUnitError
    ├── ModelFormatError        malformed .tflite bytes (sizes, indices, tables)
    ├── UnsupportedModelError   a valid model with an op / dtype / option we cannot run
    ├── DataError               data that do not fit the model (shape, dtype, NaN, labels)
    │   └── InputScalingError   data scaled differently from what the model expects
    ├── OptionError             an option / argument value out of range
    ├── ConversionError         the converter cannot use the model, data or thresholds
    ├── KernelArgumentError     the C core refused its arguments (status code)
    ├── UnsupportedLayerError   a Keras layer the resource model / pruner cannot handle
    ├── BudgetError             a resource budget that is malformed or cannot be met
    ├── CalibrationError        calibration cannot deliver what was asked
    └── ToolchainError          (RuntimeError) the MSP430 toolchain or simulator failed
"""
from __future__ import annotations


class TflmUnitError(Exception):
    """Base class of every error tflm-unit raises on purpose."""


class ModelFormatError(TflmUnitError, ValueError):
    """The bytes are not a valid TFLite flatbuffer (or not one we can read)."""


class UnsupportedModelError(TflmUnitError, ValueError):
    """A valid model uses an op, option or dtype this package cannot run."""


class DataError(TflmUnitError, ValueError):
    """Data (inputs or labels) that do not fit the model or are not finite."""


class InputScalingError(DataError):
    """The data reach the model on a different scale than it expects."""


class OptionError(TflmUnitError, ValueError):
    """An option or argument value outside its valid range."""


class ConversionError(TflmUnitError, ValueError):
    """The model, data or thresholds given to the converter cannot be used."""


class KernelArgumentError(TflmUnitError, ValueError):
    """The C kernel core rejected its arguments (returned a non-zero status)."""


class UnsupportedLayerError(TflmUnitError, ValueError):
    """A layer the resource model or the pruner does not know how to handle."""


class BudgetError(TflmUnitError, ValueError):
    """A budget that cannot be met, or is malformed."""


class CalibrationError(TflmUnitError, ValueError):
    """Calibration cannot deliver the requested budget with the data given."""


class ToolchainError(TflmUnitError, RuntimeError):
    """The MSP430 toolchain, build or simulator failed."""


__all__ = [
    "TflmUnitError", "ModelFormatError", "UnsupportedModelError", "DataError", "InputScalingError",
    "OptionError", "ConversionError", "KernelArgumentError", "UnsupportedLayerError", "BudgetError",
    "CalibrationError", "ToolchainError",
]
