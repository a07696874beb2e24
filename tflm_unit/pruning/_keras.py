"""Keras-flavour helpers: tell tf_keras from Keras 3 and build the gate layer for each."""

from __future__ import annotations

import types
from typing import Any

_GATE_CLASSES: dict[str, type] = {}


def keras_module_of(model: Any) -> types.ModuleType:
    """The Keras package (``tf_keras`` or ``keras`` 3) that ``model`` belongs to."""
    for cls in type(model).__mro__:
        module = cls.__module__ or ""
        if module.startswith("tf_keras"):
            import tf_keras

            return tf_keras
        if module.startswith("keras.") or module == "keras":
            import keras

            if not keras.__version__.startswith("2."):
                return keras
    raise TypeError(f"Expected a tf_keras or Keras 3 model, got {type(model).__module__}.{type(model).__name__}")


def gate_class(keras_module: types.ModuleType) -> type:
    """The ``ChannelGate`` layer class for one Keras flavour (created once per flavour)."""
    key = keras_module.__name__
    if key in _GATE_CLASSES:
        return _GATE_CLASSES[key]
    import tensorflow as tf

    class ChannelGate(keras_module.layers.Layer):
        """Per-channel trainable gate: ``y = x · gate · mask``.

        ``gate`` (trainable, starts at 1) is what the resource penalty pushes towards 0;
        ``mask`` (0/1, not trainable) removes pruned channels; ``penalty_coefficient`` (set by the
        ``DifferentiablePruning`` callback) scales the penalty ``coefficient · Σ|gate · mask|``
        that the layer adds to the training loss. ``taylor`` (not trainable) accumulates, at every
        training step, each channel's squared first-order estimate of the loss change its removal
        would cause, ``(Σ_batch,positions y · ∂L/∂y)²`` (Molchanov et al. 2019); the callback reads
        and resets it at each cut. ``fold_into`` names the layer (the conv/dense itself or the
        BatchNormalization after it) whose output channels ``strip`` scales by ``gate · mask``.
        """

        def __init__(self, fold_into: str | None = None, **kwargs):
            super().__init__(**kwargs)
            self.fold_into = fold_into

        def build(self, input_shape):
            channels = int(input_shape[-1])
            self.gate = self.add_weight(name="gate", shape=(channels,), initializer="ones", trainable=True)
            self.mask = self.add_weight(name="mask", shape=(channels,), initializer="ones", trainable=False)
            self.penalty_coefficient = self.add_weight(name="penalty_coefficient", shape=(),
                                                       initializer="zeros", trainable=False)
            # Replicas of a tf.distribute strategy each add their batch's estimate: keep the mean.
            mean = tf.VariableAggregation.MEAN if keras_module.__name__ == "tf_keras" else "mean"
            self.taylor = self.add_weight(name="taylor", shape=(channels,), initializer="zeros",
                                          trainable=False, aggregation=mean)
            super().build(input_shape)

        def call(self, inputs, training=None):
            scale = tf.cast(self.gate * self.mask, inputs.dtype)
            if training:
                self.add_loss(tf.cast(self.penalty_coefficient, tf.float32)
                              * tf.reduce_sum(tf.abs(tf.cast(scale, tf.float32))))
                return self._record_taylor(inputs * scale)
            return inputs * scale

        def _record_taylor(self, outputs):
            """Identity whose gradient adds (Σ y · dy)² per channel to ``taylor``."""
            taylor = self.taylor

            @tf.custom_gradient
            def record(y):
                def grad(dy):
                    axes = list(range(len(y.shape) - 1))
                    contribution = tf.reduce_sum(tf.cast(y, tf.float32) * tf.cast(dy, tf.float32), axis=axes)
                    update = taylor.assign_add(tf.square(contribution))
                    with tf.control_dependencies([update]):
                        return tf.identity(dy)

                return tf.identity(y), grad

            return record(outputs)

        def compute_output_shape(self, input_shape):
            return input_shape

        def get_config(self):
            config = super().get_config()
            config["fold_into"] = self.fold_into
            return config

    ChannelGate.__module__ = __name__
    ChannelGate.__qualname__ = "ChannelGate"
    if hasattr(keras_module, "saving") and hasattr(keras_module.saving, "register_keras_serializable"):
        ChannelGate = keras_module.saving.register_keras_serializable(package="tflm_unit")(ChannelGate)
    elif hasattr(keras_module.utils, "register_keras_serializable"):
        ChannelGate = keras_module.utils.register_keras_serializable(package="tflm_unit")(ChannelGate)
    _GATE_CLASSES[key] = ChannelGate
    return ChannelGate


def is_gate(layer: Any) -> bool:
    return type(layer).__name__ == "ChannelGate" and hasattr(layer, "fold_into")


def variable_value(variable: Any):
    """A Keras/TF variable as a NumPy array (both flavours, also under MirroredStrategy)."""
    import numpy as np

    return np.array(variable.numpy())


def weight_short_name(variable: Any) -> str:
    """'gamma' for 'batch_normalization/gamma:0' (tf_keras) and for 'gamma' (Keras 3)."""
    return str(variable.name).split("/")[-1].split(":")[0]
