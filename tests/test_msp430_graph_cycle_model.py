"""The MSP430 per-op cycle model: the least-squares fit recovers known
coefficients, the shipped cycle_model.json loads for both multiplier builds
and answers calibration's layer_cycles(LayerWork) sensibly, and calibration
accepts it as its cycle objective.  (No simulator needed.)"""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tflm_unit.msp430.cycle_model import (DIVISION_MODES, MSP430CycleModel, fit_from_rows,
                                          load_cycle_model)
from tflm_unit.unit.calibration import LayerWork


def _synthetic_rows(rng: np.random.Generator, op: str, truth: dict) -> list[dict]:
    rows = []
    for _ in range(6):
        macs, outputs = float(rng.integers(2000, 20000)), float(rng.integers(50, 500))
        rows.append({"op": op, "unit": False, "division": None, "macs_total": macs, "macs_executed": macs,
                     "divisions": 0.0, "outputs": outputs,
                     "cycles": truth["dense_mac"] * macs + truth["dense_output"] * outputs})
        for mode in DIVISION_MODES:
            executed, divisions = float(rng.integers(0, macs)), float(rng.integers(10, 400))
            rows.append({"op": op, "unit": True, "division": mode, "macs_total": macs, "macs_executed": executed,
                         "divisions": divisions, "outputs": outputs,
                         "cycles": truth["mac"] * executed + truth["skip"] * (macs - executed)
                         + truth["division"][mode] * divisions + truth["output"] * outputs})
    return rows


def test_fit_recovers_the_coefficients_of_exactly_linear_data():
    # (the model shares the per-output cost between dense and UnIT)
    truth = {"dense_mac": 80.0, "dense_output": 900.0, "mac": 95.0, "skip": 21.0, "output": 900.0,
             "division": {"exact": 480.0, "shift": 60.0, "tree": 35.0, "clz": 25.0}}
    rows = _synthetic_rows(np.random.default_rng(3), "CONV_2D", truth)
    model = fit_from_rows(rows, "hardware")
    fitted = model.ops["CONV_2D"]
    for key in ("dense_mac", "dense_output", "mac", "skip", "output"):
        assert getattr(fitted, key) == pytest.approx(truth[key], rel=1e-6)
    for mode, value in truth["division"].items():
        assert fitted.division[mode] == pytest.approx(value, rel=1e-6)
    assert model.fit["residuals"]["CONV_2D"]["max_abs_relative_error"] < 1e-6
    # round trip through the JSON form
    again = MSP430CycleModel.from_dict(model.to_dict())
    assert again == model


def _work(op: str, unit: bool, executed: float, division: str = "shift") -> LayerWork:
    return LayerWork(op_name=op, unit=unit, division=division, macs_total=10000.0, macs_executed=executed,
                     divisions=150.0 if unit else 0.0, outputs=400, group_size=4, num_groups=4)


@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_shipped_model_answers_layer_cycles(multiplier):
    model = load_cycle_model(multiplier)
    assert model.multiplier == multiplier
    assert set(model.ops) == {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "CONV_2D/bucketed",
                              "FULLY_CONNECTED/sorted"}
    for op_name, op in model.ops.items():
        values = [op.dense_mac, op.dense_output, op.mac, op.skip, op.output, *op.division.values()]
        assert all(v >= 0 for v in values) and set(op.division) == set(DIVISION_MODES)
        assert op.dense_mac > 0 and op.mac > 0
        assert op.skip < op.mac  # a skipped MAC is cheaper than an executed one
        dense = model.layer_cycles(_work(op_name, False, 10000.0))
        assert dense == pytest.approx(op.dense_mac * 10000 + op.dense_output * 400)
        fewer = [model.layer_cycles(_work(op_name, True, executed)) for executed in (9000.0, 5000.0, 1000.0)]
        assert fewer[0] > fewer[1] > fewer[2]
    # The software multiply makes an executed MAC dearer than the hardware multiplier does.
    assert load_cycle_model("software").ops["CONV_2D"].mac > load_cycle_model("hardware").ops["CONV_2D"].mac


def test_fit_recovers_the_layout_terms():
    """A zero-cost layout gets figures of its own: the sorted FC the UnIT
    terms, the bucketed conv also per walk (walked weight x output row) and
    per input element, with the compare kernel's quotient costs."""
    from tflm_unit.msp430.cycle_model import layout_key

    truth = {"dense_mac": 16.0, "dense_output": 250.0, "mac": 30.0, "skip": 7.0, "output": 250.0,
             "division": {"exact": 900.0, "shift": 300.0, "tree": 290.0, "clz": 280.0}}
    rng = np.random.default_rng(8)
    rows = _synthetic_rows(rng, "CONV_2D", truth)
    bucketed = {"mac": 40.0, "skip": 0.5, "walk": 18.0, "input": 9.0}
    for _ in range(8):
        macs, outputs = float(rng.integers(2000, 20000)), float(rng.integers(50, 500))
        out_rows, inputs = int(rng.integers(4, 25)), int(rng.integers(100, 900))
        for mode in DIVISION_MODES:
            executed, divisions = float(rng.integers(0, macs)), float(rng.integers(10, 400))
            walked = float(rng.integers(0, divisions))
            rows.append({"op": "CONV_2D", "layout": "bucketed", "unit": True, "division": mode,
                         "macs_total": macs, "macs_executed": executed, "divisions": divisions,
                         "outputs": outputs, "output_rows": out_rows, "input_elements": inputs,
                         "walked_weights": walked,
                         "cycles": bucketed["mac"] * executed + bucketed["skip"] * (macs - executed)
                         + truth["division"][mode] * divisions + truth["output"] * outputs
                         + bucketed["walk"] * walked * out_rows + bucketed["input"] * inputs})
    model = fit_from_rows(rows, "hardware")
    fitted = model.ops[layout_key("CONV_2D", "bucketed")]
    for key, value in bucketed.items():
        assert getattr(fitted, key) == pytest.approx(value, rel=1e-5)
    assert fitted.division == pytest.approx(model.ops["CONV_2D"].division, rel=1e-9)
    work = LayerWork(op_name="CONV_2D", unit=True, division="tree", macs_total=5000.0, macs_executed=800.0,
                     divisions=90.0, outputs=300, group_size=4, num_groups=1, layout="bucketed",
                     input_elements=400, output_rows=10, walked_weights=60.0)
    assert model.layer_cycles(work) == pytest.approx(
        40.0 * 800 + 0.5 * 4200 + 290.0 * 90 + 250.0 * 300 + 18.0 * 60 * 10 + 9.0 * 400, rel=1e-5)
    assert MSP430CycleModel.from_dict(model.to_dict()) == model
    with pytest.raises(ValueError, match="no cycle figures for CONV_2D/rows"):
        model.layer_cycles(dataclasses.replace(work, layout="rows"))


def test_unknown_division_or_op_is_a_clear_error():
    model = load_cycle_model("hardware")
    with pytest.raises(ValueError, match="division"):
        model.layer_cycles(_work("CONV_2D", True, 10.0, division="bitmask"))
    with pytest.raises(ValueError, match="no cycle figures"):
        model.layer_cycles(_work("LSTM", True, 10.0))
    with pytest.raises(ValueError, match="software"):
        load_cycle_model("quantum")


def test_calibration_minimises_cycles_with_the_msp430_model():
    """calibrate(objective="cycles") runs with the shipped model and reports
    its estimate of dense and UnIT cycles (a tiny untrained dense net)."""
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import int8_model
    from tflm_unit.unit.calibration import calibrate

    tf_keras.utils.set_random_seed(2)
    net = tf_keras.Sequential([tf_keras.layers.Input((6, 6, 1)), tf_keras.layers.Conv2D(4, 3, activation="relu"),
                               tf_keras.layers.Flatten(), tf_keras.layers.Dense(3)])
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (48, 6, 6, 1)).astype(np.float32)
    y = rng.integers(0, 3, 48)
    model = int8_model(net, x)
    cycle_model = load_cycle_model("hardware")
    # 48 samples cannot confirm a budget on held-out data (calibration then falls back to T = 0):
    # this test is about the cycle objective, so it searches on all of them.
    result = calibrate(model, x, y, max_accuracy_drop=0.05, division="shift", objective="cycles",
                       cycle_model=cycle_model, progress=False, confirm_fraction=0.0)
    conv, fc = cycle_model.ops["CONV_2D"], cycle_model.ops["FULLY_CONNECTED"]
    expected_dense = (conv.dense_mac * 4 * 4 * 4 * 9 + conv.dense_output * 4 * 4 * 4
                      + fc.dense_mac * 64 * 3 + fc.dense_output * 3)
    assert result.cycles_dense == pytest.approx(expected_dense)
    # The UnIT estimate is the same model applied to the calibrated layers' work (executed and
    # skipped MACs, one quotient per non-zero conv weight / per FC input and group, outputs).
    # (It may exceed the dense one: against the output-stationary dense kernels a compare-per-MAC
    # layer pays off only when it skips enough.)
    from tflm_unit.runtime import Interpreter

    graph = Interpreter(model).graph
    expected_unit = 0.0
    for layer, (op_name, outputs) in zip(result.layers, (("CONV_2D", 4 * 4 * 4), ("FULLY_CONNECTED", 3))):
        weights = graph.tensor(graph.operators[layer.op_index].inputs[1]).data
        divisions = (float(np.count_nonzero(weights)) if op_name == "CONV_2D"
                     else float(weights.shape[1] * (3 // layer.group_size)))
        walked = 0.0
        if op_name == "CONV_2D":  # non-zero weights with T_q / |w| < 255: walked row by row
            from tflm_unit.core.kernels import divide

            for channel, row in enumerate(np.abs(weights.reshape(4, -1).astype(np.int32))):
                d = row[row > 0]
                t = np.full(d.shape, int(layer.thresholds_int[channel // layer.group_size]))
                walked += float(np.count_nonzero(divide(t, d, "shift") < 255))
        expected_unit += cycle_model.layer_cycles(LayerWork(
            op_name=op_name, unit=True, division="shift", macs_total=layer.macs_dense,
            macs_executed=layer.macs_executed, divisions=divisions, outputs=outputs,
            group_size=layer.group_size, num_groups=(4 if op_name == "CONV_2D" else 3) // layer.group_size,
            output_rows=4 if op_name == "CONV_2D" else 1, walked_weights=walked,
            input_elements=36 if op_name == "CONV_2D" else 64))
    assert result.cycles_unit == pytest.approx(expected_unit)
