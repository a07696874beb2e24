"""Reference MCU model families used by the demo, the benchmarks and the tests.

Each builder takes the Keras module to build with (``tf_keras`` — the default,
what tensorflow-model-optimization needs — or Keras 3's ``keras``), so the same
architectures serve both flavours.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence


def _default_keras(keras_module: Optional[Any]) -> Any:
    if keras_module is not None:
        return keras_module
    import os

    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import tf_keras

    return tf_keras


def unit_paper_cnn(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10,
                   keras_module: Optional[Any] = None, softmax: bool = True) -> Any:
    """The UnIT paper's net: Conv 5×5 (6) → max-pool → Conv 5×5 (16) → max-pool
    → Dense (classes), ReLU activations (Neth et al. 2025, section 5)."""
    K = _default_keras(keras_module)
    layers = [
        K.layers.Input(tuple(input_shape)),
        K.layers.Conv2D(6, 5, activation="relu", name="conv1"),
        K.layers.MaxPooling2D(2, name="pool1"),
        K.layers.Conv2D(16, 5, activation="relu", name="conv2"),
        K.layers.MaxPooling2D(2, name="pool2"),
        K.layers.Flatten(name="flatten"),
        K.layers.Dense(classes, name="fc"),
    ]
    if softmax:
        layers.append(K.layers.Softmax(name="softmax"))
    return K.Sequential(layers, name="unit_paper_cnn")


def ds_cnn(input_shape: Sequence[int] = (28, 28, 1), classes: int = 10, filters: int = 32, blocks: int = 3,
           keras_module: Optional[Any] = None) -> Any:
    """A DS-CNN in the style of the MLPerf Tiny keyword-spotting model: a strided
    conv, depthwise-separable blocks (depthwise 3×3 + pointwise 1×1, each with
    BatchNorm + ReLU), global average pooling, a dense classifier."""
    K = _default_keras(keras_module)
    inputs = K.layers.Input(tuple(input_shape))
    x = K.layers.Conv2D(filters, 3, strides=2, padding="same", use_bias=False, name="conv_stem")(inputs)
    x = K.layers.BatchNormalization(name="bn_stem")(x)
    x = K.layers.ReLU(name="relu_stem")(x)
    for i in range(blocks):
        x = K.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{i}")(x)
        x = K.layers.BatchNormalization(name=f"bn_dw{i}")(x)
        x = K.layers.ReLU(name=f"relu_dw{i}")(x)
        x = K.layers.Conv2D(filters, 1, use_bias=False, name=f"pw{i}")(x)
        x = K.layers.BatchNormalization(name=f"bn_pw{i}")(x)
        x = K.layers.ReLU(name=f"relu_pw{i}")(x)
    x = K.layers.GlobalAveragePooling2D(name="gap")(x)
    x = K.layers.Dense(classes, name="fc")(x)
    outputs = K.layers.Softmax(name="softmax")(x)
    return K.Model(inputs, outputs, name="ds_cnn")


def resnet8(input_shape: Sequence[int] = (32, 32, 3), classes: int = 10, filters: Sequence[int] = (16, 32, 64),
            keras_module: Optional[Any] = None) -> Any:
    """A ResNet-8 in the style of the MLPerf Tiny image-classification model:
    a stem conv and three residual stages (two 3×3 convs each, a 1×1 strided
    projection where the shape changes) joined by Add, then average pooling and
    a dense classifier."""
    K = _default_keras(keras_module)
    inputs = K.layers.Input(tuple(input_shape))
    x = K.layers.Conv2D(filters[0], 3, padding="same", name="conv_stem")(inputs)
    x = K.layers.BatchNormalization(name="bn_stem")(x)
    x = K.layers.ReLU(name="relu_stem")(x)
    for stage, width in enumerate(filters):
        stride = 1 if stage == 0 else 2
        y = K.layers.Conv2D(width, 3, strides=stride, padding="same", name=f"s{stage}_conv1")(x)
        y = K.layers.BatchNormalization(name=f"s{stage}_bn1")(y)
        y = K.layers.ReLU(name=f"s{stage}_relu1")(y)
        y = K.layers.Conv2D(width, 3, padding="same", name=f"s{stage}_conv2")(y)
        y = K.layers.BatchNormalization(name=f"s{stage}_bn2")(y)
        if stride != 1 or stage == 0 and x.shape[-1] != width:
            x = K.layers.Conv2D(width, 1, strides=stride, name=f"s{stage}_proj")(x)
        x = K.layers.Add(name=f"s{stage}_add")([x, y])
        x = K.layers.ReLU(name=f"s{stage}_relu2")(x)
    x = K.layers.AveragePooling2D(pool_size=int(x.shape[1]), name="avgpool")(x)
    x = K.layers.Flatten(name="flatten")(x)
    x = K.layers.Dense(classes, name="fc")(x)
    outputs = K.layers.Softmax(name="softmax")(x)
    return K.Model(inputs, outputs, name="resnet8")
