"""Keras → int8 ``.tflite`` with UNIT_* custom ops (installed as ``tflm_unit.converter``)."""
