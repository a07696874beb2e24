"""``prepare`` (insert channel gates) and ``strip`` (rebuild with only the kept channels)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..resources import (DENSE_LAYERS, DEPTHWISE_LAYERS, PRUNABLE_LAYERS, SEPARABLE_LAYERS, TRANSPOSED_CONV_LAYERS,
                         KerasResourceModel, topological_layers)
from ._keras import gate_class, is_gate, keras_module_of, variable_value, weight_short_name


def gate_layers(model: Any) -> list:
    """The ``ChannelGate`` layers of a prepared model, in model order."""
    return [layer for layer in model.layers if is_gate(layer)]


def _new_inputs(keras, model) -> list:
    inputs = []
    for tensor in model.inputs:
        history = getattr(tensor, "_keras_history", None)
        name = history[0].name if history is not None else None
        inputs.append(keras.Input(shape=tuple(tensor.shape)[1:], dtype=tensor.dtype, name=name))
    return inputs


def _model(keras, inputs: list, outputs: list, name: str):
    """A functional model; single inputs/outputs passed bare so Keras 3 accepts bare tensors."""
    return keras.Model(inputs if len(inputs) > 1 else inputs[0], outputs if len(outputs) > 1 else outputs[0],
                       name=name)


def _call(layer, inputs: list):
    return layer(inputs if len(inputs) > 1 else inputs[0])


def _clone(layer, **config_changes):
    config = layer.get_config()
    config.update(config_changes)
    return type(layer).from_config(config)


def prepare(model: Any) -> Any:
    """A copy of ``model`` with a trainable per-channel gate after every prunable layer.

    Every Conv2D, DepthwiseConv2D and Dense whose output channels can be pruned (not the
    classifier output, not coupled to the model input) gets a ``ChannelGate``: right after it,
    or after the BatchNormalization that directly follows it; a fused non-linear activation is
    split off into its own Activation layer so the gate sits before it (then ``strip`` can fold
    the gate into the weights exactly). The copy has the same weights and computes the same
    function (all gates start at 1). Compile it, then train with ``DifferentiablePruning``.
    Call it inside ``strategy.scope()`` when training with a ``tf.distribute`` strategy.
    """
    keras = keras_module_of(model)
    if gate_layers(model):
        raise ValueError(f"Model {model.name!r} already has ChannelGate layers (it is already prepared)")
    resource_model = KerasResourceModel(model)  # raises UnsupportedLayerError for unknown layers
    entries = topological_layers(model)
    consumers: dict[int, list] = {}
    for layer, inputs, _ in entries:
        for tensor in inputs:
            consumers.setdefault(id(tensor), []).append(layer)
    output_ids = {id(tensor) for tensor in model.outputs}
    Gate = gate_class(keras)

    # Decide where each gate goes: after the prunable layer, or after its BatchNormalization.
    gate_after: dict[str, str] = {}  # layer name the gate follows -> layer the gate folds into
    split_activation: set[str] = set()
    for layer, _, output in entries:
        if type(layer).__name__ not in PRUNABLE_LAYERS:
            continue
        if not resource_model.group_of_layer(layer.name).prunable:
            continue
        activation = layer.get_config().get("activation", "linear")
        if activation not in ("linear", None):
            split_activation.add(layer.name)
            gate_after[layer.name] = layer.name
            continue
        next_layers = consumers.get(id(output), [])
        if (len(next_layers) == 1 and type(next_layers[0]).__name__ == "BatchNormalization"
                and id(output) not in output_ids):
            gate_after[next_layers[0].name] = next_layers[0].name
        else:
            gate_after[layer.name] = layer.name

    new_tensors: dict[int, Any] = {}
    new_inputs = _new_inputs(keras, model)
    for old, new in zip(model.inputs, new_inputs):
        new_tensors[id(old)] = new
    for layer, inputs, output in entries:
        changes = {"activation": "linear"} if layer.name in split_activation else {}
        new_layer = _clone(layer, **changes)
        result = _call(new_layer, [new_tensors[id(tensor)] for tensor in inputs])
        new_layer.set_weights(layer.get_weights())
        if layer.name in gate_after:
            result = Gate(fold_into=gate_after[layer.name], name=f"{layer.name}_gate")(result)
        if layer.name in split_activation:
            activation = layer.get_config()["activation"]
            result = keras.layers.Activation(activation, name=f"{layer.name}_activation")(result)
        new_tensors[id(output)] = result
    outputs = [new_tensors[id(tensor)] for tensor in model.outputs]
    return _model(keras, new_inputs, outputs, model.name)


def group_keep_masks(model: Any, resource_model: KerasResourceModel | None = None) -> list[np.ndarray]:
    """Boolean keep-mask per coupling group of a prepared model (all True where no gate)."""
    resource_model = resource_model or KerasResourceModel(model)
    keep = [np.ones(group.full_size, dtype=bool) for group in resource_model.groups]
    for gate in gate_layers(model):
        (group,) = resource_model.output_layout(gate.name)
        keep[group] &= variable_value(gate.mask) > 0.5
    return keep


def _kept_indices(layout: list[int], keep: list[np.ndarray]) -> np.ndarray:
    """Indices along the last axis that survive, for a tensor with the given group layout."""
    indices, offset = [], 0
    for group in layout:
        indices.append(np.flatnonzero(keep[group]) + offset)
        offset += len(keep[group])
    return np.concatenate(indices) if indices else np.zeros(0, dtype=int)


def _sliced_kernel_weights(kind: str, weights: dict, in_keep: np.ndarray, out_keep: np.ndarray,
                           scale: np.ndarray | None) -> list:
    """A prunable layer's weights with only the kept input/output channels, ``scale`` (the gate's
    ``g · m`` per output channel) multiplied into the kernel and bias.

    Kernel layouts: Conv1D/Conv2D ``[..., in, out]``; Dense ``[in, out]``; DepthwiseConv2D
    ``[kh, kw, C, 1]`` (outputs = inputs); Conv2DTranspose ``[kh, kw, out, in]``;
    SeparableConv2D a depthwise ``[kh, kw, in, 1]`` then a pointwise ``[1, 1, in, out]``.
    """
    bias = weights.get("bias")
    if kind in SEPARABLE_LAYERS:
        depthwise = weights["depthwise_kernel"][:, :, in_keep]
        pointwise = weights["pointwise_kernel"][:, :, in_keep][..., out_keep]
        if scale is not None:
            pointwise = pointwise * scale[out_keep]
        bias = None if bias is None else bias[out_keep] * (1.0 if scale is None else scale[out_keep])
        return [depthwise, pointwise] + ([] if bias is None else [bias])
    # tf_keras calls the depthwise kernel 'depthwise_kernel', Keras 3 'kernel'.
    kernel = weights["depthwise_kernel"] if "depthwise_kernel" in weights else weights["kernel"]
    if kind in DEPTHWISE_LAYERS:
        kernel, kept = kernel[:, :, in_keep, :], in_keep
        channel_scale = None if scale is None else scale[in_keep][None, None, :, None]
    elif kind in TRANSPOSED_CONV_LAYERS:
        kernel, kept = kernel[:, :, out_keep][..., in_keep], out_keep
        channel_scale = None if scale is None else scale[out_keep][:, None]
    else:  # Conv1D / Conv2D / Dense: [..., in, out]
        kernel, kept = kernel[..., in_keep, :][..., out_keep], out_keep
        channel_scale = None if scale is None else scale[out_keep]
    if bias is not None:
        bias = bias[kept]
    if channel_scale is not None:
        kernel = kernel * channel_scale
        if bias is not None:
            bias = bias * channel_scale.reshape(-1)
    return [kernel] if bias is None else [kernel, bias]


def strip(model: Any) -> Any:
    """A physically smaller model without gates that computes what the gated ``model`` computes.

    Pruned channels are removed (kernels, biases and BatchNorm statistics sliced, inputs of the
    following layers sliced, through Flatten, Add and Concatenate); each gate's ``gate · mask``
    is multiplied into the layer named by its ``fold_into`` (conv/dense kernel and bias, or
    BatchNorm gamma and beta). Outputs match the gated model in inference mode up to float
    rounding.
    """
    keras = keras_module_of(model)
    resource_model = KerasResourceModel(model)
    keep = group_keep_masks(model, resource_model)
    for group, mask in zip(resource_model.groups, keep):
        if not mask.any():
            raise ValueError(f"Channel group {group.name!r} has every channel pruned; keep at least one")
    scales: dict[str, np.ndarray] = {}
    for gate in gate_layers(model):
        scale = variable_value(gate.gate) * variable_value(gate.mask)
        scales[gate.fold_into] = scales.get(gate.fold_into, 1.0) * scale

    new_tensors: dict[int, Any] = {}
    new_inputs = _new_inputs(keras, model)
    for old, new in zip(model.inputs, new_inputs):
        new_tensors[id(old)] = new
    for layer, inputs, output in topological_layers(model):
        mapped = [new_tensors[id(tensor)] for tensor in inputs]
        if is_gate(layer):
            new_tensors[id(output)] = mapped[0]
            continue
        kind = type(layer).__name__
        in_keep = _kept_indices(resource_model.input_layouts(layer.name)[0], keep)
        out_keep = _kept_indices(resource_model.output_layout(layer.name), keep)
        scale = scales.get(layer.name)
        weights = {weight_short_name(w): variable_value(w) for w in layer.weights}
        config_changes: dict[str, Any] = {}
        new_weights = None
        if kind in PRUNABLE_LAYERS:
            new_weights = _sliced_kernel_weights(kind, weights, in_keep, out_keep, scale)
            if kind in DENSE_LAYERS:
                config_changes["units"] = len(out_keep)
            elif kind not in DEPTHWISE_LAYERS:
                config_changes["filters"] = len(out_keep)
        elif kind == "BatchNormalization":
            channels = len(weights["moving_mean"])
            gamma = weights.get("gamma", np.ones(channels, dtype=np.float32))[in_keep]
            beta = weights.get("beta", np.zeros(channels, dtype=np.float32))[in_keep]
            if scale is not None:
                gamma, beta = gamma * scale[in_keep], beta * scale[in_keep]
            config_changes.update(scale=True, center=True)
            new_weights = [gamma, beta, weights["moving_mean"][in_keep], weights["moving_variance"][in_keep]]
        elif scale is not None:
            raise ValueError(f"Cannot fold a gate into layer {layer.name!r} of type {kind}")
        new_layer = _clone(layer, **config_changes)
        result = _call(new_layer, mapped)
        if new_weights is not None:
            new_weights = [np.asarray(w, dtype=np.float32) for w in new_weights]
        new_layer.set_weights(new_weights if new_weights is not None else layer.get_weights())
        new_tensors[id(output)] = result
    outputs = [new_tensors[id(tensor)] for tensor in model.outputs]
    return _model(keras, new_inputs, outputs, model.name)
