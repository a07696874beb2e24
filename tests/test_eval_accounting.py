"""Skip accounting (DESIGN.md §9): MACs skipped because an operand is zero
and MACs skipped by a threshold are reported apart, add up to the total, and
match a brute-force count over every tap of a small model."""
from __future__ import annotations

import numpy as np
import pytest

from tflite_oracle import convert_int8, keras

from tflm_unit.runtime import Interpreter
from tflm_unit.unit.evaluation import evaluate


@pytest.fixture(scope="module")
def small():
    """SAME-padded conv, depthwise (multiplier 2), FC without bias; some weights zeroed."""
    k = keras()
    rng = np.random.default_rng(3)
    model = k.Sequential([
        k.layers.Conv2D(4, 3, padding="same", activation="relu", input_shape=(6, 6, 2)),
        k.layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2, activation="relu"),
        k.layers.Flatten(),
        k.layers.Dense(3, use_bias=False),
    ])
    weights = [w * (rng.random(w.shape) > 0.3) if w.ndim > 1 else w for w in model.get_weights()]
    model.set_weights([rng.normal(0, 0.5, w.shape).astype(np.float32) * (w != 0) if w.ndim > 1 else w
                       for w in weights])
    x = rng.normal(0, 1, (40, 6, 6, 2)).astype(np.float32)
    y = model.predict(x, verbose=0).argmax(1)
    return convert_int8(model, x), x, y


def _brute_force_nonzero(interp: Interpreter, values: dict) -> dict:
    """op index -> taps with x' != 0 and w != 0 inside the input, by loops."""
    g = interp.graph
    counts = {}
    for op in interp.mac_layers():
        x = values[op.inputs[0]].astype(np.int64) - g.tensor(op.inputs[0]).scalar_zero_point()
        w = g.tensor(op.inputs[1]).data.astype(np.int64)
        if op.name.endswith("FULLY_CONNECTED"):
            x2 = x.reshape(-1, w.shape[1])
            counts[op.index] = sum(int(np.sum((x2[:, d] != 0))) * int(np.sum(w[:, d] != 0))
                                   for d in range(w.shape[1]))
            continue
        depthwise = "DEPTHWISE" in op.name
        n, h, wd, cin = x.shape
        kh, kw = w.shape[1], w.shape[2]
        total = 0
        for oy in range(h):  # SAME, stride 1: output size = input size, pad = k // 2
            for ox in range(wd):
                for ky in range(kh):
                    for kx in range(kw):
                        iy, ix = oy + ky - kh // 2, ox + kx - kw // 2
                        if not (0 <= iy < h and 0 <= ix < wd):
                            continue
                        active = x[:, iy, ix, :] != 0  # [n, cin]
                        if depthwise:
                            per_in = (w[0, ky, kx].reshape(cin, -1) != 0).sum(axis=1)
                        else:
                            per_in = (w[:, ky, kx, :] != 0).sum(axis=0)
                        total += int((active * per_in).sum())
        counts[op.index] = total
    return counts


@pytest.mark.parametrize("t_q", [0, 3, 40])
def test_zero_and_threshold_counts_match_brute_force(small, t_q):
    tflite, x, _ = small
    interp = Interpreter(tflite)
    xq = interp.quantize_input(x)
    for op in interp.mac_layers():
        channels = int(interp.graph.tensor(op.outputs[0]).shape[-1])
        interp.set_skip(op.index, np.full(1, t_q, np.int16), channels, "exact")
    interp.count_zero_operands = True
    values = {interp.graph.inputs[0]: xq}
    layers = interp.run_from(values)
    expected = _brute_force_nonzero(interp, values)
    for layer in layers:
        assert layer.macs_nonzero == expected[layer.op_index]
        assert layer.macs_skipped_zero == layer.macs_total - expected[layer.op_index]
        assert layer.macs_skipped_threshold == expected[layer.op_index] - layer.macs_executed
        assert layer.macs_skipped_zero + layer.macs_skipped_threshold == layer.macs_total - layer.macs_executed
        if t_q == 0:
            assert layer.macs_skipped_threshold == 0  # T = 0 skips zero operands only
    assert any(layer.macs_skipped_zero > 0 for layer in layers)  # padding, ReLU zeros and zeroed weights
    if t_q == 40:
        assert any(layer.macs_skipped_threshold > 0 for layer in layers)


def test_evaluate_reports_both_skips_per_layer_and_in_total(small):
    tflite, x, y = small
    interp = Interpreter(tflite)
    thresholds = {op.index: np.array([20], np.int16) for op in interp.mac_layers()}
    report = evaluate(tflite, x, y, thresholds=thresholds, batch_size=16)
    for layer in report["layers"]:
        skipped = layer["macs_dense"] - layer["macs_executed"]
        assert layer["macs_skipped_zero"] + layer["macs_skipped_threshold"] == pytest.approx(skipped)
    assert report["macs_skipped_zero"] == pytest.approx(sum(la["macs_skipped_zero"] for la in report["layers"]))
    assert report["macs_skipped_threshold"] > 0
    total = report["macs_skipped_zero"] + report["macs_skipped_threshold"]
    assert report["mac_reduction"] == pytest.approx(total / report["macs_dense"])
    dense = evaluate(tflite, x, y, thresholds="dense")
    assert dense["macs_skipped_threshold"] == 0
    # A dense kernel executes zero operands: only padding taps count as skipped.
    assert dense["macs_skipped_zero"] == pytest.approx(dense["macs_dense"] - dense["macs_executed"])
