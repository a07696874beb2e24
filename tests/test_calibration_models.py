"""Every int8 model shape calibrates (issue 17 item 4) and the budget is
confirmed on samples the search never used (DESIGN.md §9).

One tiny functional net covers: several MAC layers reading the same tensor,
a residual ADD, a fully connected layer without bias.  It is
converted by TFLiteConverter three ways: per-channel int8 I/O, per-tensor
weights (``_experimental_disable_per_channel``, one weight scale for all
channels) and float I/O (QUANTIZE / DEQUANTIZE at the ends).  Each goes
through calibrate, apply_thresholds, evaluate and (toolchain present) the
MSP430 static graph, bit-exact with the host runtime.
"""
from __future__ import annotations

import numpy as np
import pytest

from tflite_oracle import convert_int8, keras

from tflm_unit.converter import apply_thresholds
from tflm_unit.runtime import Interpreter
from tflm_unit.unit.calibration import CalibrationWarning, calibrate, paired_drop_bound, prepare_inputs
from tflm_unit.unit.calibration.guarantee import drop_bound_from_counts, split_indices
from tflm_unit.unit.evaluation import evaluate

CLASSES = 3


def _net():
    k = keras()
    inp = k.layers.Input((8, 8, 1))
    c1 = k.layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    b1 = k.layers.Conv2D(4, 3, padding="same", activation="relu")(c1)  # reads c1 ...
    b2 = k.layers.Conv2D(4, 1, activation="relu")(c1)  # ... as does this one
    residual = k.layers.Add()([c1, b1])
    joined = k.layers.Add()([residual, b2])
    pooled = k.layers.MaxPooling2D(2)(joined)
    out = k.layers.Dense(CLASSES, use_bias=False)(k.layers.Flatten()(pooled))
    return k.Model(inp, out)


@pytest.fixture(scope="module")
def data_and_model():
    rng = np.random.default_rng(11)
    keras().utils.set_random_seed(11)
    model = _net()
    x = np.clip(rng.normal(0.3, 0.3, (600, 8, 8, 1)), 0, 1).astype(np.float32)
    y = model.predict(x, verbose=0).argmax(1)
    noisy = rng.random(len(y)) < 0.1
    y[noisy] = rng.integers(0, CLASSES, int(noisy.sum()))
    return model, x, y


VARIANTS = {"per_channel": dict(), "per_tensor": dict(per_channel=False), "float_io": dict(io_int8=False)}


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request, data_and_model):
    model, x, y = data_and_model
    return request.param, convert_int8(model, x[:64], **VARIANTS[request.param]), x, y


def test_variant_has_the_promised_shape(variant):
    name, tflite, _, _ = variant
    interp = Interpreter(tflite)
    ops = interp.mac_layers()
    assert len(ops) == 4
    scales = [interp.graph.tensor(op.inputs[1]).scale.size for op in ops]
    if name == "per_tensor":
        assert scales == [1, 1, 1, 1]
    else:
        assert max(scales) > 1
    names = [op.name for op in interp.graph.operators]
    assert names.count("ADD") == 2
    readers = [op.inputs[0] for op in ops]
    assert len(set(readers)) < len(readers)  # two MAC layers share an input
    fc = [op for op in ops if op.name == "FULLY_CONNECTED"][0]
    assert len(fc.inputs) < 3 or fc.inputs[2] < 0  # no bias
    assert (names[0] == "QUANTIZE" and names[-1] == "DEQUANTIZE") == (name == "float_io")


def test_calibrate_apply_evaluate_and_msp430(variant, tmp_path):
    name, tflite, x, y = variant
    result = calibrate(tflite, x, y, 0.05, progress=False)
    assert result.macs_skipped_threshold > 0, name
    unit = apply_thresholds(tflite, **result.converter_kwargs())
    report = evaluate(unit, x, y)
    assert report["accuracy"] == pytest.approx(result.accuracy_unit)
    assert report["macs_executed"] == pytest.approx(result.macs_executed)
    assert report["macs_skipped_threshold"] == pytest.approx(result.macs_skipped_threshold)
    assert report["macs_skipped_zero"] == pytest.approx(result.macs_skipped_zero)

    from tflm_unit.msp430 import build_graph_firmware, run_graph_firmware, toolchain_available

    if not toolchain_available():
        pytest.skip("MSP430 toolchain absent")
    host = Interpreter(unit)
    sample = prepare_inputs(host, x[:1])
    expected = host.run(sample).outputs[0]
    if name == "float_io":
        # The MSP430 static graph is int8 only: a clear error naming the float tensor, not a crash.
        from tflm_unit.errors import ConversionError

        with pytest.raises(ConversionError, match="FLOAT32"):
            build_graph_firmware(unit, tmp_path)
        return
    firmware = build_graph_firmware(unit, tmp_path)
    run = run_graph_firmware(firmware, sample[0])
    assert np.array_equal(run.output, expected.reshape(-1))


def test_confirmation_uses_only_samples_the_search_did_not(data_and_model):
    model, x, y = data_and_model
    tflite = convert_int8(model, x[:64])
    result = calibrate(tflite, x, y, 0.03, confirm_fraction=0.5, seed=4, progress=False)
    search_idx, confirm_idx = split_indices(len(x), 0.5, 4)
    assert not set(search_idx) & set(confirm_idx)
    assert result.num_search_samples == len(search_idx) and result.num_confirm_samples == len(confirm_idx)
    # Recompute the confirmed drop independently on the confirmation indices only.
    dense, unit = Interpreter(tflite), Interpreter(tflite)
    result.apply(unit)
    xq = prepare_inputs(dense, x)
    dense_ok = dense.run(xq).outputs[0].argmax(-1) == y
    unit_ok = unit.run(xq).outputs[0].argmax(-1) == y
    bound = paired_drop_bound(dense_ok[confirm_idx], unit_ok[confirm_idx], result.confidence)
    assert result.confirmed_drop == pytest.approx(bound.drop)
    assert result.confirmed_interval == pytest.approx([bound.lower, bound.upper])
    assert bound.upper <= 0.03 + 1e-12
    # On the search split the same thresholds give the searched numbers, not these.
    searched = [c for c in result.confirmation if c["passed"]]
    if searched:
        assert searched[-1]["worse"] == bound.worse and searched[-1]["better"] == bound.better
    on_search = paired_drop_bound(dense_ok[search_idx], unit_ok[search_idx], result.confidence)
    assert result.accuracy_unit == pytest.approx(np.mean(unit_ok))
    assert result.summary()["num_confirm_samples"] == len(confirm_idx)
    assert (on_search.worse, on_search.better) != (bound.worse, bound.better) or bound.worse == 0


def test_too_few_samples_warn_with_the_numbers(data_and_model):
    model, x, y = data_and_model
    tflite = convert_int8(model, x[:64])
    with pytest.warns(CalibrationWarning, match=r"60 confirmation samples cannot confirm a 1\.00% budget"):
        result = calibrate(tflite, x[:120], y[:120], 0.01, progress=False)
    assert result.warnings and "needed" in result.warnings[0]


def test_drop_bound_is_paired_and_sensible():
    none = drop_bound_from_counts(1000, 0, 0, 0.9)
    assert none.drop == 0 and 0 < none.upper < 0.002
    some = drop_bound_from_counts(1000, 12, 2, 0.9)
    assert some.drop == pytest.approx(0.01) and some.upper > 0.01 > some.lower
    stricter = drop_bound_from_counts(1000, 12, 2, 0.99)
    assert stricter.upper > some.upper
    # Improvements offset losses (paired), unlike a bound on the losses alone.
    assert drop_bound_from_counts(1000, 12, 10, 0.9).upper < some.upper
