"""Typed Python API over the C kernel core (the ``tflm_unit._core`` extension)."""
