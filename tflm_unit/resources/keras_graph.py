"""The Keras graph walk: layer kinds the resource model knows and the layers in execution order."""

from __future__ import annotations

import dataclasses
from typing import Any

from tflm_unit.errors import UnsupportedLayerError


CONV_LAYERS = ("Conv2D", "Conv1D")
TRANSPOSED_CONV_LAYERS = ("Conv2DTranspose",)
SEPARABLE_LAYERS = ("SeparableConv2D",)
DEPTHWISE_LAYERS = ("DepthwiseConv2D",)
DENSE_LAYERS = ("Dense",)
#: Layers whose output channels are a new coupling group (prunable unless fixed).
CHANNEL_MAKING_LAYERS = CONV_LAYERS + TRANSPOSED_CONV_LAYERS + SEPARABLE_LAYERS + DENSE_LAYERS
PRUNABLE_LAYERS = CHANNEL_MAKING_LAYERS + DEPTHWISE_LAYERS
IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                    "AlphaDropout", "ActivityRegularization", "ChannelGate")
ACTIVATION_LAYERS = ("Activation", "ReLU", "Softmax", "LeakyReLU", "ELU")
POOL_LAYERS = ("MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D",
                "MaxPooling1D", "AveragePooling1D", "ZeroPadding1D", "Cropping1D", "UpSampling1D")
GLOBAL_POOL_LAYERS = ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                       "GlobalMaxPooling1D")
ELEMENTWISE_LAYERS = ("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average")
PER_CHANNEL_LAYERS = ("Rescaling",)
SUPPORTED_LAYERS = (PRUNABLE_LAYERS + ("InputLayer", "BatchNormalization", "Flatten", "Reshape", "Concatenate")
                    + IDENTITY_LAYERS + ACTIVATION_LAYERS + POOL_LAYERS + GLOBAL_POOL_LAYERS
                    + ELEMENTWISE_LAYERS + PER_CHANNEL_LAYERS)
#: 1-D layers TFLite runs as their 2-D op on a RESHAPEd (expanded) copy of the input.
ONE_D_OPS = ("Conv1D", "MaxPooling1D", "AveragePooling1D")
FUSABLE_ACTIVATIONS = ("linear", "relu", "relu6")
FUSING_OPS = ("conv2d", "depthwise", "dense", "transpose_conv", "elementwise")


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def shape_of(tensor) -> tuple[int, ...]:
    """A symbolic tensor's shape without the batch dimension, as ints."""
    shape = tuple(tensor.shape)[1:]
    if any(dim is None for dim in shape):
        raise UnsupportedLayerError(f"Tensor {getattr(tensor, 'name', tensor)} has an unknown dimension "
                                    f"{tuple(tensor.shape)}; give the model a fixed input shape")
    return tuple(int(dim) for dim in shape)


def activation_name(layer) -> str:
    """The activation a layer applies, as a name ('linear' when none)."""
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "ReLU":
        max_value = config.get("max_value")
        slope = config.get("negative_slope", 0.0) or 0.0
        threshold = config.get("threshold", 0.0) or 0.0
        if slope or threshold:
            return "leaky_relu"
        if max_value is None:
            return "relu"
        return "relu6" if float(max_value) == 6.0 else "relu_clipped"
    activation = config.get("activation", "linear")
    if isinstance(activation, dict):  # Keras 3 may serialise functions as dicts
        activation = activation.get("config", activation.get("class_name", "custom"))
    name = getattr(activation, "__name__", activation)
    return str(name) if name is not None else "linear"


def model_inputs(model) -> list:
    """The model's symbolic inputs; a clear error when it was built without an ``Input``."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise UnsupportedLayerError(f"Model {model.name!r} has no inputs yet; build it on a keras Input "
                                    "(e.g. Sequential([Input(shape), ...])) before analysing or pruning it")
    return list(inputs)


def topological_layers(model) -> list[tuple[Any, list, Any]]:
    """``[(layer, input_tensors, output_tensor)]`` of a functional/Sequential model in execution order.

    Works for tf_keras and Keras 3 models built on an ``Input``. Raises for nested models,
    shared layers and multi-output layers, which the pruning tools do not handle.
    """
    known = {id(tensor) for tensor in model_inputs(model)}
    pending = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if hasattr(layer, "layers") and hasattr(layer, "inputs"):
            raise UnsupportedLayerError(f"Layer {layer.name!r} is a nested model; flatten it into the outer "
                                        "functional model (call its layers directly) before pruning")
        if len(getattr(layer, "_inbound_nodes", [])) > 1:
            raise UnsupportedLayerError(f"Layer {layer.name!r} ({kind}) is called more than once (shared "
                                        "weights, or it also belongs to another model, e.g. after tfmot's "
                                        "strip_pruning); give each call its own layer, or rebuild the model with "
                                        "keras.models.clone_model(model) and copy the weights")
        try:
            inputs = _as_list(layer.input)
            output = layer.output
        except (AttributeError, ValueError) as error:
            raise UnsupportedLayerError(f"Layer {layer.name!r} ({kind}) is not connected in the model: {error}")
        if isinstance(output, (list, tuple)):
            if len(output) != 1:
                raise UnsupportedLayerError(f"Layer {layer.name!r} ({kind}) has several outputs; not supported")
            output = output[0]
        pending.append((layer, inputs, output))
    ordered = []
    while pending:
        remaining = []
        for entry in pending:
            if all(id(tensor) in known for tensor in entry[1]):
                ordered.append(entry)
                known.add(id(entry[2]))
            else:
                remaining.append(entry)
        if len(remaining) == len(pending):
            names = ", ".join(layer.name for layer, _, _ in remaining)
            raise UnsupportedLayerError(f"Could not order layers {names}: their inputs are not produced "
                                        "inside the model")
        pending = remaining
    return ordered


@dataclasses.dataclass
class ChannelGroup:
    """Channels that structured pruning must keep or remove together.

    ``layers`` are the Conv2D/DepthwiseConv2D/Dense layers whose output channels are this group.
    """

    index: int
    name: str
    layers: list[str]
    full_size: int
    prunable: bool
