"""Keras → int8 ``.tflite`` with UNIT_* custom ops (installed as ``tflm_unit.converter``).

* :func:`convert` — Keras model / SavedModel / int8 ``.tflite`` → UnIT ``.tflite``.
* :func:`apply_thresholds` (alias :func:`rewrite_to_unit`) — new thresholds
  for an int8 or UnIT ``.tflite``, replaced in place.
* :func:`set_layouts` / :func:`choose_layouts` / :func:`auto_layouts` — the
  ops' kernel ``layout`` option (DESIGN.md §9), set or chosen by the cycle model.
* :func:`to_builtin` — back to builtin ops for a stock TFLM.
* :func:`read_unit_config` — the ``UNIT_METADATA`` JSON.
* :func:`export_c` — C sources: the model array for TFLM, the graph data for
  the MSP430 runner.
"""
from tflm_unit.converter.convert import apply_thresholds, convert, int8_model, rewrite_to_unit
from tflm_unit.converter.errors import ConversionError, ModelFormatError, UnsupportedModelError
from tflm_unit.converter.layouts import auto_layouts, choose_layouts
from tflm_unit.converter.metadata import read_unit_config
from tflm_unit.converter.rewrite import set_layouts, to_builtin

# Imported last: binding the function rebinds the package attribute that the
# submodule import set to the module of the same name.
from tflm_unit.converter.export_c import export_c  # noqa: E402


__all__ = ["convert", "apply_thresholds", "rewrite_to_unit", "int8_model", "to_builtin", "read_unit_config",
           "export_c", "set_layouts", "choose_layouts", "auto_layouts", "ConversionError", "ModelFormatError", "UnsupportedModelError"]
