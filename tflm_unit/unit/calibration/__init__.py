"""UnIT threshold calibration under an accuracy budget that holds on unseen data.

Goal: integer thresholds T_q per layer (and per group of output channels)
that skip the most MACs (or save the most estimated cycles) while the
accuracy drop against the unpruned int8 model stays within
``max_accuracy_drop``, confirmed on calibration samples the search never saw
(DESIGN.md §9 "Calibration guarantee").  The C kernels run in the loop with
the chosen division mode, so the thresholds are calibrated for the way the
firmware will actually divide.

The parts:

- ``pipeline``: ``calibrate`` (split, search, confirm, report).
- ``search``: the threshold search on the search split and its grid.
- ``guarantee``: the split, the paired confidence bound and the fixed-sequence
  confirmation.
- ``runner``: one configuration run on one batch (cached activations, threads).
- ``result``: ``CalibrationResult`` / ``LayerThresholds``.
- ``cycle_model``: the cycle-model interface of the "cycles" objective.
- ``cost``: the calibration cost measure (wall time in dense passes).
"""
from tflm_unit.inputs import (  # noqa: F401  (re-exported: the calibration API's inputs)
    ModelLike, float_inputs, load_interpreter, predictions, prepare_inputs, prepare_labels)
from tflm_unit.unit.calibration.cycle_model import CycleModel, LayerWork, LinearCycleModel, layer_work
from tflm_unit.unit.calibration.guarantee import (DEFAULT_CONFIDENCE, DEFAULT_CONFIRM_FRACTION, CalibrationWarning,
                                                  DropBound, paired_drop_bound)
from tflm_unit.unit.calibration.pipeline import OBJECTIVES, STRATEGIES, calibrate
from tflm_unit.unit.calibration.result import CalibrationResult, LayerThresholds, base_op_name
from tflm_unit.unit.calibration.search import threshold_grid

__all__ = ["calibrate", "CalibrationResult", "LayerThresholds", "LayerWork", "layer_work", "CycleModel", "LinearCycleModel",
           "CalibrationWarning", "DropBound", "paired_drop_bound", "threshold_grid", "prepare_inputs",
           "load_interpreter", "prepare_labels", "predictions", "float_inputs", "DEFAULT_CONFIDENCE",
           "DEFAULT_CONFIRM_FRACTION", "STRATEGIES", "OBJECTIVES", "base_op_name"]
