"""The calibration cost measure: wall time in units of one dense pass.

A calibration's cost is its wall time divided by the time of one dense
evaluation of the same samples through ``tflm_unit.runtime`` (the builtin
kernels, one ``Interpreter.run`` over all calibration samples).  The ratio
says how many dense passes a calibration is worth, whatever the model's size
or the machine's speed (issue 17 asks for <= 30).  ``calibrate(...,
measure_cost=True)`` times that pass (outside its own wall time) and reports
both in ``CalibrationResult.timing()``.
"""
from __future__ import annotations

import time

import numpy as np

from tflm_unit.runtime import Interpreter


def time_dense_pass(interpreter: Interpreter, x_q: np.ndarray) -> float:
    """Seconds of one dense ``Interpreter.run`` over ``x_q`` (the interpreter's
    thresholds are put back afterwards)."""
    ops = interpreter.mac_layers()
    saved = {op.index: interpreter.skip_setting(op.index) for op in ops}
    try:
        for op in ops:
            interpreter.set_skip(op.index, None)
        start = time.perf_counter()
        interpreter.run(x_q)
        return time.perf_counter() - start
    finally:
        for op_index, setting in saved.items():
            if setting is None:
                interpreter.set_skip(op_index, None)
            else:
                interpreter.set_skip(op_index, setting.thresholds, setting.group_size, setting.division)
