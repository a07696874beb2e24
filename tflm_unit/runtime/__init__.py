"""Host execution of (UnIT) int8 ``.tflite`` models through the C core."""
from tflm_unit.runtime.interpreter import Interpreter, LayerStats, RunResult, SkipSetting, register_op
from tflm_unit.runtime.model import (
    ModelFormatError,
    ModelGraph,
    UnsupportedModelError,
    load_graph,
)
from tflm_unit.runtime import layout_ops as _layout_ops  # noqa: F401  (registers the layout ops)
from tflm_unit.runtime import activation_ops as _activation_ops  # noqa: F401  (activations, MUL, SUB, ...)

__all__ = ["Interpreter", "LayerStats", "RunResult", "SkipSetting", "register_op", "ModelFormatError",
           "ModelGraph", "UnsupportedModelError", "load_graph"]
