"""Resource estimates against the real thing: TFLM's arena and the .tflite's constant bytes.

A gated model is pruned with random (group-consistent) masks, stripped, converted full-int8 with
``tf.lite.TFLiteConverter``, and allocated in the ``tflite_micro`` interpreter.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import pytest

from tflm_unit import resources
from tflm_unit.pruning import gate_layers, prepare, strip
from tflm_unit.resources import KerasResourceModel


def convert_int8(model, seed=0):
    """Full-int8 TFLite conversion (int8 input and output) with random calibration data."""
    import tensorflow as tf

    shape = (1,) + tuple(model.inputs[0].shape[1:])
    function = tf.function(lambda x: model(x, training=False))
    concrete = function.get_concrete_function(tf.TensorSpec(shape, tf.float32))
    converter = tf.lite.TFLiteConverter.from_concrete_functions([concrete], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    rng = np.random.default_rng(seed)
    converter.representative_dataset = lambda: ([rng.random(shape, dtype=np.float32)] for _ in range(8))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def constant_tensor_bytes(tflite_bytes):
    """Bytes of every distinct constant buffer the ops read (independent of tflite_resources)."""
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(tflite_bytes, 0)
    graph = model.subgraphs[0]
    used = {graph.tensors[i].buffer for op in graph.operators for i in op.inputs if i >= 0}
    return sum(len(model.buffers[b].data) for b in used if model.buffers[b].data is not None)


def residual_model(K):
    L = K.layers
    inp = L.Input((12, 12, 3))
    x = L.Conv2D(12, 3, padding="same", use_bias=False, name="stem")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU()(x)
    y = L.Conv2D(10, 3, padding="same", activation="relu", name="expand")(x)
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(y)
    y = L.Conv2D(12, 1, name="project")(y)
    x = L.ReLU()(L.Add()([x, y]))
    x = L.MaxPooling2D()(x)
    z = L.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="side")(x)
    x = L.Flatten()(z)
    x = L.Dense(16, activation="relu", name="fc")(x)
    return K.Model(inp, L.Dense(4, name="logits")(x))


def randomise(model, rng):
    """Random non-zero weights/biases (zero biases get shared between ops by the converter)."""
    for layer in model.layers:
        weights = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":  # gamma, beta, mean, variance
            gamma, beta, mean, variance = (w.shape for w in weights)
            layer.set_weights([rng.uniform(0.5, 1.5, gamma), rng.normal(0, 0.3, beta),
                               rng.normal(0, 0.3, mean), rng.uniform(0.5, 1.5, variance)])
        elif weights:
            layer.set_weights([rng.normal(0, 0.3, w.shape) for w in weights])


def random_prune(gated, rng):
    resource_model = KerasResourceModel(gated)
    masks = {}
    for group in resource_model.prunable_groups:
        keep = np.zeros(group.full_size, dtype=np.float32)
        keep[rng.choice(group.full_size, size=int(rng.integers(1, group.full_size)), replace=False)] = 1
        masks[group.index] = keep
    for gate in gate_layers(gated):
        (group,) = resource_model.output_layout(gate.name)
        gate.mask.assign(masks[group])
        gate.gate.assign(rng.uniform(0.3, 1.5, gate.gate.shape).astype(np.float32))
    return resource_model


@pytest.mark.slow
def test_stripped_converted_model_within_5_percent_of_tflm():
    import tf_keras as K

    rng = np.random.default_rng(3)
    model = residual_model(K)
    randomise(model, rng)
    gated = prepare(model)
    random_prune(gated, rng)
    small = strip(gated)

    estimate = resources.keras_resources(small)
    tflite = convert_int8(small)
    arena = resources.tflm_arena_report(tflite)
    from_file = resources.tflite_resources(tflite)

    assert abs(estimate.peak_ram_bytes - arena["head"]) <= 0.05 * arena["head"]
    assert abs(estimate.flash_bytes - constant_tensor_bytes(tflite)) <= 0.05 * constant_tensor_bytes(tflite)
    # The .tflite path plans exactly like TFLM and counts exactly the constant bytes.
    assert from_file.peak_ram_bytes == arena["head"]
    assert from_file.flash_bytes == constant_tensor_bytes(tflite)
    assert from_file.macs == estimate.macs


def test_gated_model_estimate_equals_stripped_model():
    import tf_keras as K

    rng = np.random.default_rng(4)
    model = residual_model(K)
    randomise(model, rng)
    gated = prepare(model)
    resource_model = random_prune(gated, rng)
    counts = resource_model.full_counts()
    for gate in gate_layers(gated):
        (group,) = resource_model.output_layout(gate.name)
        counts[group] = float(np.sum(gate.mask.numpy()))
    from_gated = resource_model.evaluate(counts)
    from_stripped = resources.keras_resources(strip(gated))
    assert (from_gated.macs, from_gated.flash_bytes, from_gated.peak_ram_bytes) == (
        from_stripped.macs, from_stripped.flash_bytes, from_stripped.peak_ram_bytes)
    assert from_gated.macs < resources.keras_resources(model).macs


@pytest.mark.parametrize("pooling", ["GlobalAveragePooling2D", "GlobalMaxPooling2D"])
def test_global_pooling_scratch_buffers_at_the_peak(pooling):
    """MEAN / REDUCE_MAX ask TFLM for scratch memory; here they run at the peak, so it counts."""
    import tf_keras as K

    L = K.layers
    model = K.Sequential([L.Input((8, 8, 1)), L.Conv2D(2, 3, padding="same"), L.Conv2D(40, 1),
                          getattr(L, pooling)(), L.Dense(3)])
    randomise(model, np.random.default_rng(5))
    tflite = convert_int8(model)
    arena = resources.tflm_arena_report(tflite)
    assert resources.tflite_resources(tflite).peak_ram_bytes == arena["head"]
    assert resources.keras_resources(model).peak_ram_bytes == arena["head"]
