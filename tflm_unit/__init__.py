"""tflm-unit: MCU-aware structured pruning (training time) and UnIT unstructured
inference-time pruning for TensorFlow Lite Micro.

Pipeline: ``pruning`` (Keras callbacks) → ``converter`` (int8 ``.tflite`` with
UNIT_* custom ops) → ``runtime`` (host execution through the C core) →
``msp430`` (cycle-accurate simulation) → ``custom_ops`` (TFLM firmware).
"""
__version__ = "0.1.0"
