"""The converter's exception: one clear sentence about what is wrong with the
user's input (the CLI prints it as its one-line error)."""
from tflm_unit.runtime.model import ModelFormatError, UnsupportedModelError


class ConversionError(ValueError):
    """The model, data or thresholds given to the converter cannot be used."""


__all__ = ["ConversionError", "ModelFormatError", "UnsupportedModelError"]
