"""Resource model: hand-computed MACs / flash / peak RAM, coupling groups, planner, budgets."""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import pytest

from tflm_unit import resources
from tflm_unit.resources import Budget, BudgetError, KerasResourceModel, UnsupportedLayerError, plan_greedy_memory


@pytest.fixture
def keras_module(keras_flavour):
    return keras_flavour


def small_chain(K):
    """8x8x2 -> Conv 3x3 (4) -> Depthwise 3x3 -> Conv 1x1 (3) -> Flatten -> Dense (5)."""
    L = K.layers
    return K.Sequential([L.Input((8, 8, 2)), L.Conv2D(4, 3, name="conv_a"), L.DepthwiseConv2D(3, name="dw"),
                         L.Conv2D(3, 1, activation="relu", name="conv_b"), L.Flatten(name="flat"),
                         L.Dense(5, name="out")])


def test_greedy_planner_hand_example():
    # Chain a(0-1) b(1-2) c(2-3): b is biggest and goes first at 0, a and c share the space after it.
    offsets, arena = plan_greedy_memory([(100, 0, 1), (200, 1, 2), (100, 2, 3)])
    assert offsets == [200, 0, 200]
    assert arena == 300
    # Buffers alive at different times share offset 0.
    offsets, arena = plan_greedy_memory([(64, 0, 0), (32, 1, 1)])
    assert offsets == [0, 0] and arena == 64


def test_greedy_planner_equal_sizes_later_buffer_first():
    # TFLM places equal-sized buffers later-added first: x (added 2nd) takes offset 0.
    offsets, _ = plan_greedy_memory([(48, 0, 1), (48, 1, 2)])
    assert offsets == [48, 0]


def test_keras_chain_full_size_hand_computed(keras_module):
    model = small_chain(keras_module)
    report = resources.keras_resources(model)
    # conv_a 6*6*4*9*2, dw 4*4*4*9, conv_b 4*4*3*4, out 48*5
    assert [layer.macs for layer in report.layers if layer.macs] == [2592, 576, 192, 240]
    assert report.macs == 3600
    # conv_a 72 w + 16 b, dw 36 + 16, conv_b 12 + 12, reshape shape 8, dense 240 + 20
    assert report.flash_bytes == 88 + 52 + 24 + 8 + 260
    # Buffers (16-aligned): input 128, conv_a 144, dw 64, conv_b 48, flat 48, out 16; step 1 holds 272.
    assert report.peak_ram_bytes == 272
    assert report.peak_step == 1


def test_keras_chain_pruned_counts_hand_computed(keras_module):
    model_resources = KerasResourceModel(small_chain(keras_module))
    report = model_resources.evaluate({"conv_a": 2})
    assert report.macs == 1296 + 288 + 96 + 240
    assert report.flash_bytes == 44 + 26 + 18 + 8 + 260
    assert report.peak_ram_bytes == 128 + 80
    costs = model_resources.marginal_costs()
    group = model_resources.group_of_layer("conv_a").index
    assert costs["macs"][group] == 6 * 6 * 9 * 2 + 4 * 4 * 9 + 4 * 4 * 3
    assert costs["flash_bytes"][group] == 9 * 2 + 4 + 9 + 4 + 3
    assert costs["peak_ram_bytes"][group] == 36  # only the conv_a output is alive at the peak
    assert costs["peak_ram_bytes"][model_resources.group_of_layer("conv_b").index] == 0


def test_groups_fixed_input_and_output(keras_module):
    model_resources = KerasResourceModel(small_chain(keras_module))
    assert model_resources.group_of_layer("dw") is model_resources.group_of_layer("conv_a")
    assert model_resources.group_of_layer("conv_a").prunable
    assert not model_resources.group_of_layer("out").prunable
    assert [g.prunable for g in model_resources.groups].count(True) == 2
    assert model_resources.min_counts().tolist() == [2, 1, 1, 5]
    # Flatten repeats conv_b's group once per spatial position (4x4).
    conv_b = model_resources.group_of_layer("conv_b").index
    assert model_resources.output_layout("flat") == [conv_b] * 16
    with pytest.raises(ValueError, match="fixed"):
        model_resources.evaluate({"out": 3})


def test_residual_add_and_concat_coupling(keras_module):
    L = keras_module.layers
    inp = L.Input((6, 6, 3))
    x = L.Conv2D(8, 3, padding="same", name="stem")(inp)
    y = L.Conv2D(8, 3, padding="same", name="branch")(x)
    x = L.Add(name="add")([x, y])
    z = L.Conv2D(4, 1, name="side")(x)
    x = L.Concatenate(name="cat")([x, z])
    x = L.GlobalAveragePooling2D()(x)
    model = keras_module.Model(inp, L.Dense(2, name="head")(x))
    model_resources = KerasResourceModel(model)
    stem = model_resources.group_of_layer("stem")
    assert model_resources.group_of_layer("branch") is stem
    side = model_resources.group_of_layer("side")
    assert model_resources.output_layout("cat") == [stem.index, side.index]
    report = model_resources.evaluate({"stem": 5, "side": 2})
    # stem 36*9*3*5, branch 36*9*5*5, side 36*5*2, head 7*2
    assert report.macs == 4860 + 8100 + 360 + 14


def test_unsupported_layer_names_layer_and_fix(keras_module):
    L = keras_module.layers
    model = keras_module.Sequential([L.Input((10, 3)), L.LayerNormalization(name="my_norm"), L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="my_norm.*LayerNormalization.*Supported"):
        KerasResourceModel(model)


def test_model_without_input_is_a_clear_error(keras_module):
    L = keras_module.layers
    model = keras_module.Sequential([L.Conv2D(4, 3), L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="Input"):
        KerasResourceModel(model)


def test_budget_and_boards():
    board = resources.get_board("MSP430FR5994")
    assert board.sram_bytes == 8192 and board.flash_bytes == 256 * 1024
    budget = Budget.for_board("msp430fr5994")
    assert budget.peak_ram_bytes == 8192 - board.ram_reserve_bytes
    assert budget.macs is None
    assert set(resources.BOARDS) >= {"msp430fr5994", "stm32f446re", "stm32f746ng"}
    assert all(b.source for b in resources.BOARDS.values())
    with pytest.raises(BudgetError):
        Budget()
    with pytest.raises(BudgetError, match="macs"):
        Budget(macs=-1)
    with pytest.raises(KeyError, match="Unknown board"):
        resources.get_board("esp32")


def test_report_violations():
    report = resources.ResourceReport(layers=[], macs=100, flash_bytes=50, peak_ram_bytes=30, peak_step=0,
                                      peak_tensors=[])
    assert report.violations(Budget(macs=90, peak_ram_bytes=40)) == {"macs": (100, 90)}
    assert report.meets(Budget(macs=100))


def test_tflite_resources_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="TFL3"):
        resources.tflite_resources(b"not a model at all")
    with pytest.raises(TypeError):
        resources.tflite_resources(12)
