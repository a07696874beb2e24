"""UnIT: division approximations, NumPy reference kernels, thresholds, calibration."""
from tflm_unit.unit.division import (DIVISION_MODES, FLOAT_DIVISION_MODES, divide,
                                     divide_float)
from tflm_unit.unit.thresholds import dequantize_thresholds, quantize_thresholds
from tflm_unit.unit import reference
from tflm_unit.unit.calibration import CalibrationResult, calibrate
from tflm_unit.unit.evaluation import evaluate

__all__ = [
    "DIVISION_MODES", "FLOAT_DIVISION_MODES", "divide", "divide_float",
    "quantize_thresholds", "dequantize_thresholds", "reference", "calibrate", "CalibrationResult", "evaluate",
]
