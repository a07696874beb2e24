"""Conv1D, SeparableConv2D and Conv2DTranspose: gated, stripped and costed correctly, both Keras
flavours; the stripped model converts to int8 and the resource model agrees with the .tflite and
TFLM's arena."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import pytest

from tflm_unit import resources
from tflm_unit.pruning import gate_layers, prepare, strip
from tflm_unit.resources import KerasResourceModel, UnsupportedLayerError

from test_resources_tflm import constant_tensor_bytes, convert_int8, random_prune, randomise


def conv1d_model(K):
    L = K.layers
    inp = L.Input((32, 3))
    x = L.Conv1D(12, 5, padding="same", activation="relu", name="c1")(inp)
    x = L.MaxPooling1D(2)(x)
    x = L.Conv1D(10, 3, strides=2, use_bias=False, name="c2")(x)
    x = L.BatchNormalization(name="c2_bn")(x)
    x = L.ReLU()(x)
    x = L.GlobalAveragePooling1D()(x)
    return K.Model(inp, L.Dense(4, name="logits")(x))


def separable_model(K):
    L = K.layers
    inp = L.Input((12, 12, 3))
    x = L.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inp)
    x = L.SeparableConv2D(12, 3, padding="same", activation="relu", name="sep")(x)
    x = L.MaxPooling2D()(x)
    x = L.SeparableConv2D(10, 3, strides=2, name="sep2")(x)
    x = L.Flatten()(x)
    return K.Model(inp, L.Dense(4, name="logits")(x))


def transposed_model(K):
    L = K.layers
    inp = L.Input((8, 8, 2))
    x = L.Conv2D(8, 3, strides=2, padding="same", activation="relu", name="down")(inp)
    x = L.Conv2DTranspose(10, 3, strides=2, padding="same", activation="relu", name="up")(x)
    x = L.Conv2D(6, 3, padding="same", name="mix")(x)
    x = L.Flatten()(x)
    return K.Model(inp, L.Dense(3, name="logits")(x))


MODELS = {"conv1d": conv1d_model, "separable": separable_model, "transposed": transposed_model}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_new_layers_strip_to_the_gated_function(keras_flavour, name):
    K = keras_flavour
    rng = np.random.default_rng(7)
    model = MODELS[name](K)
    randomise(model, rng)
    gated = prepare(model)
    assert len(gate_layers(gated)) >= 2
    resource_model = random_prune(gated, rng)
    small = strip(gated)
    x = rng.random((4,) + tuple(model.inputs[0].shape[1:])).astype(np.float32)
    np.testing.assert_allclose(small(x, training=False), gated(x, training=False), atol=1e-4, rtol=1e-4)
    counts = resource_model.full_counts()
    for gate in gate_layers(gated):
        (group,) = resource_model.output_layout(gate.name)
        counts[group] = float(np.sum(gate.mask.numpy()))
    from_gated, from_stripped = resource_model.evaluate(counts), resources.keras_resources(small)
    assert (from_gated.macs, from_gated.flash_bytes, from_gated.peak_ram_bytes) == (
        from_stripped.macs, from_stripped.flash_bytes, from_stripped.peak_ram_bytes)
    assert from_stripped.macs < resources.keras_resources(model).macs


@pytest.mark.parametrize("name", sorted(MODELS))
def test_new_layers_convert_and_match_the_int8_file(name):
    import tf_keras as K

    rng = np.random.default_rng(8)
    model = MODELS[name](K)
    randomise(model, rng)
    gated = prepare(model)
    random_prune(gated, rng)
    small = strip(gated)
    estimate = resources.keras_resources(small)
    tflite = convert_int8(small)
    arena = resources.tflm_arena_report(tflite)
    flash = constant_tensor_bytes(tflite)
    assert abs(estimate.peak_ram_bytes - arena["head"]) <= 0.05 * arena["head"], (estimate.peak_ram_bytes, arena)
    assert abs(estimate.flash_bytes - flash) <= 0.05 * flash, (estimate.flash_bytes, flash)
    if name == "transposed":  # MACs by hand: TRANSPOSE_CONV scatters every input pixel
        up = small.get_layer("up")
        cin, cout = int(up.input.shape[-1]), int(up.output.shape[-1])
        down, mix = small.get_layer("down"), small.get_layer("mix")
        d_out, m_out = int(down.output.shape[-1]), int(mix.output.shape[-1])
        expected = 4 * 4 * 9 * 2 * d_out + 4 * 4 * 9 * cin * cout + 8 * 8 * 9 * cout * m_out + 8 * 8 * m_out * 3
        assert estimate.macs == expected
    else:
        assert resources.tflite_resources(tflite).macs == estimate.macs


def test_separable_depth_multiplier_is_a_clear_error(keras_flavour):
    K = keras_flavour
    L = K.layers
    model = K.Sequential([L.Input((8, 8, 2)), L.SeparableConv2D(4, 3, depth_multiplier=2), L.Flatten(),
                          L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="depth_multiplier=1"):
        KerasResourceModel(model)
