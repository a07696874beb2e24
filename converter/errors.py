"""The converter's exception: one clear sentence about what is wrong with the
user's input (the CLI prints it as its one-line error)."""
from tflm_unit.errors import ConversionError, ModelFormatError, UnsupportedModelError


__all__ = ["ConversionError", "ModelFormatError", "UnsupportedModelError"]
