"""C/C++ sources of tflm-unit, installed as package data so that firmware
builds can take them from an installed package (see tflm_unit.sources)."""
