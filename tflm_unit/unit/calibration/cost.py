"""The calibration cost measure: wall time in units of one dense pass.

A calibration's cost is its wall time divided by the time of one dense
evaluation of the same samples through ``tflm_unit.runtime`` (the builtin
kernels, one ``Interpreter.run`` over all calibration samples).  The ratio
says how many dense passes a calibration is worth, whatever the model's size
or the machine's speed (issue 17 asks for <= 30).  ``calibrate(...,
measure_cost=True)`` times that pass (outside its own wall time) and reports
both in ``CalibrationResult.timing()``.

The pass is timed after one warm-up run (the first run prepares per-layer
state) as the best of ``repeats``, so it is the machine's dense speed, not a
cold start.  Besides wall time the process CPU time is kept (all threads):
on a machine shared with other jobs the wall-time ratio moves with their load,
the CPU-time ratio much less, so both are reported.
"""
from __future__ import annotations

import time
from typing import Tuple

import numpy as np

from tflm_unit.runtime import Interpreter


def time_dense_pass(interpreter: Interpreter, x_q: np.ndarray, repeats: int = 3) -> Tuple[float, float]:
    """(wall, CPU) seconds of one dense ``Interpreter.run`` over ``x_q``, each
    the least of ``repeats`` after a warm-up (the interpreter's thresholds are
    put back afterwards)."""
    ops = interpreter.mac_layers()
    saved = {op.index: interpreter.skip_setting(op.index) for op in ops}
    try:
        for op in ops:
            interpreter.set_skip(op.index, None)
        interpreter.run(x_q)
        wall, cpu = [], []
        for _ in range(max(1, repeats)):
            start, start_cpu = time.perf_counter(), time.process_time()
            interpreter.run(x_q)
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        return min(wall), min(cpu)
    finally:
        for op_index, setting in saved.items():
            if setting is None:
                interpreter.set_skip(op_index, None)
            else:
                interpreter.set_skip(op_index, setting.thresholds, setting.group_size, setting.division)
