"""The tflm-unit CLI (convert / inspect / export-c) end to end, its error
contract (one line on stderr, exit code 2) and the data loaders."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tflite_oracle import keras, run_tflm

from tflm_unit.cli import main
from tflm_unit.converter import read_unit_config, to_builtin
from tflm_unit.datasets import fit_to_input_shape, load_default_digits, load_npz
from tflm_unit.errors import DataError, OptionError
from tflm_unit.inputs import prepare_inputs
from tflm_unit.runtime import Interpreter


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """A saved tf_keras model (.h5) and a uint8 data file with x_train/x_test."""
    path = tmp_path_factory.mktemp("cli")
    K = keras()
    K.utils.set_random_seed(3)
    model = K.Sequential([K.Input((10, 10, 1)), K.layers.Conv2D(4, 3, activation="relu", name="conv"),
                          K.layers.MaxPooling2D(2, name="pool"), K.layers.Flatten(name="flat"),
                          K.layers.Dense(3, name="dense")], name="small")
    model.save(path / "small.h5")
    from tflite_oracle import convert_float

    (path / "float.tflite").write_bytes(convert_float(model))
    rng = np.random.default_rng(0)
    np.savez(path / "data.npz", x_train=rng.integers(0, 256, (30, 10, 10), dtype=np.uint8),
             y_train=rng.integers(0, 3, 30), x_test=rng.integers(0, 256, (10, 10, 10), dtype=np.uint8),
             y_test=rng.integers(0, 3, 10))
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def converted(workdir):
    out = workdir / "small_unit.tflite"
    assert main(["convert", str(workdir / "small.h5"), "--calib-data", str(workdir / "data.npz"), "--out",
                 str(out), "--threshold", "0.01", "--division", "tree", "--json"]) == 0
    return out


def test_convert_writes_a_unit_model(converted, workdir, capsys):
    config = read_unit_config(converted.read_bytes())
    assert config["division"] == "tree"
    assert [op["layer"] for op in config["ops"]] == ["conv", "dense"]
    assert all(op["thresholds_real"] == [0.01] and op["thresholds_int"][0] > 0 for op in config["ops"])
    # At T = 0 (re-converted from the UnIT file itself) the runtime equals TFLM on the builtin form.
    zero = workdir / "zero.tflite"
    code, out, err = _run(capsys, "convert", converted, "--out", zero, "--threshold", "0", "--json")
    assert code == 0 and err == ""
    result = json.loads(out)
    assert result["out"] == str(zero) and result["division"] == "tree"
    assert [op["thresholds_int"] for op in result["ops"]] == [[0], [0]]
    assert result["input_scaling"]["source"] == "keras"  # kept from the Keras conversion, which recorded it
    data = load_npz(str(workdir / "data.npz"))
    interp = Interpreter(zero.read_bytes())
    xq = prepare_inputs(interp, data.x_test)
    np.testing.assert_array_equal(interp.run(xq).outputs[0], run_tflm(to_builtin(zero.read_bytes()), xq)[0])


def test_inspect_json_and_text(converted, capsys):
    code, out, err = _run(capsys, "inspect", converted, "--json")
    assert code == 0 and err == ""
    report = json.loads(out)
    assert report["unit"] is True
    ops = {op["op"]: op for op in report["ops"]}
    assert ops["UNIT_CONV_2D"]["macs"] == 8 * 8 * 4 * 9
    assert ops["UNIT_FULLY_CONNECTED"]["macs"] == 64 * 3
    assert report["macs_total"] == 8 * 8 * 4 * 9 + 64 * 3
    assert ops["UNIT_CONV_2D"]["options"]["stride_w"] == 1 and ops["UNIT_CONV_2D"]["division"] == "tree"
    assert ops["UNIT_CONV_2D"]["thresholds_real"][0] == pytest.approx(0.01, rel=0.01)
    from tflm_unit.runtime import load_graph

    constants = [t for t in load_graph(converted.read_bytes()).tensors if t.is_constant]
    assert report["flash_bytes"] == sum(t.data.nbytes for t in constants)  # weights, biases, thresholds, shapes
    assert sum(t.data.nbytes for t in constants if t.dtype == np.int16) == 4  # one T_q per layer
    assert report["peak_ram_bytes"] >= 256 + 112  # conv output + its input alive together (16-aligned)
    assert report["unit_metadata"] == read_unit_config(converted.read_bytes())
    code, out, _ = _run(capsys, "inspect", converted)
    assert code == 0 and "UNIT_CONV_2D" in out and "peak RAM" in out


def test_inspect_builtin_form_keeps_thresholds_only_in_metadata(converted, tmp_path, capsys):
    builtin = tmp_path / "builtin.tflite"
    builtin.write_bytes(to_builtin(converted.read_bytes()))
    code, out, _ = _run(capsys, "inspect", builtin, "--json")
    report = json.loads(out)
    assert code == 0 and report["unit"] is False
    assert [op["op"] for op in report["ops"]] == ["CONV_2D", "MAX_POOL_2D", "RESHAPE", "FULLY_CONNECTED"]
    assert all("thresholds_int" not in op for op in report["ops"])
    assert [op["thresholds_real"] for op in report["unit_metadata"]["ops"]] == [[0.01], [0.01]]
    assert report["ops"][0]["options"]["fused_activation_function"] == 1  # RELU, back as a builtin option


def test_export_c(converted, tmp_path, capsys):
    code, out, err = _run(capsys, "export-c", converted, "--out", tmp_path / "c", "--json")
    assert code == 0, err
    result = json.loads(out)
    names = sorted(os.path.basename(p) for p in result["files"])
    assert names == ["small_unit_graph.c", "small_unit_graph.h", "small_unit_model_data.cc",
                     "small_unit_model_data.h", "unit_graph.h"]
    assert result["graph"]["ops"] == 4  # conv, pool, reshape, fc


@pytest.mark.parametrize("argv,message", [
    (["inspect", "{bad}"], "not a TFLite flatbuffer"),
    (["inspect", "{missing}"], "no such model file"),
    (["convert", "{h5}", "--out", "{out}"], "--calib-data is required"),
    (["convert", "{h5}", "--calib-data", "{wrong}", "--out", "{out}"], "expects (10, 10, 1)"),
    (["convert", "{unit}", "--out", "{out}", "--thresholds-json", "{thresholds}"], "no MAC layer named 'nope'"),
    (["convert", "{unit}", "--out", "{out}", "--group-size", "3"], "does not divide"),
    (["convert", "{unit}", "--out", "{out}", "--max-accuracy-drop", "0.01"], "--max-accuracy-drop"),
    (["convert", "{unit}"], "the following arguments are required: --out"),
    (["export-c", "{bad}", "--out", "{dir}"], "not a TFLite flatbuffer"),
    ([], "choose a command"),
    # issue 12: the right message for a directory and for a float .tflite that already had data
    (["inspect", "{folder}"], "is a directory, not a .tflite file"),
    (["convert", "{folder}", "--out", "{out}"], "is a directory but not a SavedModel"),
    (["convert", "{float}", "--calib-data", "{data}", "--out", "{out}"], "a .tflite cannot be quantised again"),
    (["eval", "{folder}", "--data", "{data}"], "is a directory"),
    # issue 13: data validation
    (["convert", "{h5}", "--calib-data", "{nchw}", "--out", "{out}"], "channels first"),
    (["eval", "{unit}", "--data", "{nchw}", "--plot", "{png}"], "channels first"),
    (["eval", "{unit}", "--data", "{labels}", "--plot", "{png}"], "2 labels lie outside the model's classes 0..2"),
    (["eval", "{unit}", "--data", "{fraction}"], "labels must be integral"),
    (["eval", "{unit}", "--data", "{nan}", "--plot", "{png}"], "3 input values are NaN or infinite (2 NaN)"),
    (["eval", "{unit}", "--data", "{data}", "--limit", "-3"], "--limit: must be a positive integer"),
    (["eval", "{unit}", "--data", "{data}", "--limit", "0"], "--limit: must be a positive integer"),
    (["convert", "{h5}", "--calib-data", "{data}", "--out", "{out}", "--num-calibration-samples", "0"],
     "--num-calibration-samples: must be a positive integer"),
    (["convert", "{unit}", "--calib-data", "{data}", "--out", "{out}", "--max-accuracy-drop", "0.1",
      "--max-calibration-samples", "0"], "--max-calibration-samples: must be a positive integer"),
    (["msp430", "{unit}", "--data", "{data}", "--samples", "0"], "--samples: must be a positive integer"),
    (["eval", "{unit}", "--data", "{data}", "--input-range", "1,0"], "finite LO < HI"),
    (["eval", "{unit}", "--data", "{float255}", "--plot", "{png}"], "scaled differently from what the model"),
    (["convert", "{h5}", "--calib-data", "{empty}", "--out", "{out}"], "no samples"),
])
def test_errors_are_one_line_with_exit_code_2(argv, message, workdir, converted, tmp_path, capsys):
    (tmp_path / "bad.tflite").write_bytes(b"\x00" * 64)
    np.savez(tmp_path / "wrong.npz", x=np.zeros((4, 9, 9), np.uint8))
    (tmp_path / "t.json").write_text(json.dumps({"nope": 0.1}))
    (tmp_path / "folder").mkdir()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (6, 10, 10), dtype=np.uint8)
    np.savez(tmp_path / "nchw.npz", x=images[:, None], y=np.arange(6) % 3)  # (N, 1, 10, 10) for (10, 10, 1)
    np.savez(tmp_path / "labels.npz", x=images, y=np.array([0, 1, 2, 3, 7, 1]))
    np.savez(tmp_path / "fraction.npz", x=images, y=np.array([0, 1, 2, 0.5, 1, 1]))
    with_nan = images.astype(np.float32) / 255
    with_nan[0, 0, :2], with_nan[1, 1, 1] = np.nan, np.inf
    np.savez(tmp_path / "nan.npz", x=with_nan, y=np.arange(6) % 3)
    np.savez(tmp_path / "float255.npz", x=images.astype(np.float32), y=np.arange(6) % 3)  # forgot / 255
    np.savez(tmp_path / "empty.npz", x=np.zeros((0, 10, 10), np.uint8))
    paths = {"bad": tmp_path / "bad.tflite", "missing": tmp_path / "missing.tflite", "h5": workdir / "small.h5",
             "out": tmp_path / "out.tflite", "wrong": tmp_path / "wrong.npz", "unit": converted,
             "thresholds": tmp_path / "t.json", "dir": tmp_path / "c", "folder": tmp_path / "folder",
             "float": workdir / "float.tflite", "data": workdir / "data.npz", "png": tmp_path / "out.png",
             **{name: tmp_path / f"{name}.npz" for name in ("nchw", "labels", "fraction", "nan", "float255",
                                                            "empty")}}
    code, out, err = _run(capsys, *[a.format(**paths) for a in argv])
    assert code == 2 and out == ""
    assert err.startswith("tflm-unit: error: ") and err.count("\n") == 1, err
    assert message in err
    assert "--calib-data NPZ" not in err  # never told to give data it already gave
    assert not (tmp_path / "out.tflite").exists() and not (tmp_path / "c").exists()
    assert not (tmp_path / "out.png").exists()


def test_cli_error_classes():
    from tflm_unit.cli import CliError

    assert issubclass(CliError, OptionError) and issubclass(DataError, ValueError)


def test_eval_warns_in_one_line_when_a_few_values_are_clipped(converted, tmp_path, capsys):
    x = np.random.default_rng(2).random((20, 10, 10)).astype(np.float32)  # the model's [0, 1] units
    x[0, 0, :3] = 1.5
    np.savez(tmp_path / "tail.npz", x=x, y=np.arange(20) % 3)
    code, out, err = _run(capsys, "eval", converted, "--data", tmp_path / "tail.npz", "--json")
    assert code == 0
    assert err.startswith("tflm-unit: warning: ") and err.count("\n") == 1 and "(3 of 2000)" in err
    result = json.loads(out)
    assert result["warnings"] == [err[len("tflm-unit: warning: "):].strip()]
    assert result["input_scaling"]["clipped_fraction"] == pytest.approx(3 / 2000)


def test_console_entry_point_runs_as_a_process(converted):
    done = subprocess.run([sys.executable, "-m", "tflm_unit.cli", "inspect", str(converted), "--json"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["unit"] is True


@pytest.mark.parametrize("kind", ["keras3 .keras", "tf_keras SavedModel"])
def test_convert_accepts_keras3_files_and_saved_models(kind, workdir, tmp_path, capsys):
    if kind == "keras3 .keras":
        import keras as keras3

        keras3.utils.set_random_seed(4)
        model = keras3.Sequential([keras3.Input((10, 10, 1)), keras3.layers.Conv2D(2, 3, name="conv"),
                                   keras3.layers.Flatten(), keras3.layers.Dense(3, name="dense")])
        path = tmp_path / "m.keras"
        model.save(path)
    else:
        K = keras()
        K.utils.set_random_seed(4)
        model = K.Sequential([K.Input((10, 10, 1)), K.layers.Conv2D(2, 3, name="conv"), K.layers.Flatten(),
                              K.layers.Dense(3, name="dense")])
        path = tmp_path / "saved"
        model.save(path, save_format="tf")
    out = tmp_path / "unit.tflite"
    code, stdout, err = _run(capsys, "convert", path, "--calib-data", workdir / "data.npz", "--out", out,
                             "--thresholds-json", _write_json(tmp_path / "t.json", {"dense": [0.0], "conv": 0}), "--json")
    assert code == 0, err
    ops = {op["layer"]: op for op in json.loads(stdout)["ops"]}
    assert set(ops) == {"conv", "dense"} and ops["dense"]["thresholds_real"] == [0.0]
    x = load_npz(str(workdir / "data.npz")).x_test[..., None] / np.float32(255)  # no Rescaling: [0, 1]
    interp = Interpreter(out.read_bytes())
    expected = model.predict(x, verbose=0)
    got = interp.run(interp.quantize_input(x)).outputs[0]
    scale, zero_point = interp.output_details[0].scalar_scale(), interp.output_details[0].scalar_zero_point()
    dequantized = (got.astype(np.float32) - zero_point) * scale
    # int8 at T = 0 tracks the float model within a few output quantisation steps.
    assert np.max(np.abs(dequantized - expected)) <= 4 * scale


def _write_json(path, value):
    path.write_text(json.dumps(value))
    return path


def test_load_npz_variants(tmp_path):
    np.savez(tmp_path / "xy.npz", x=np.full((5, 4, 4), 255, np.uint8), y=np.arange(5))
    data = load_npz(str(tmp_path / "xy.npz"))
    assert data.x_train.dtype == np.uint8 and data.x_train.max() == 255  # raw: the model decides the scaling
    np.testing.assert_array_equal(data.x_test, data.x_train)
    assert data.y_train.tolist() == data.y_test.tolist() == [0, 1, 2, 3, 4]
    np.savez(tmp_path / "none.npz", images=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="expected x_train"):
        load_npz(str(tmp_path / "none.npz"))
    (tmp_path / "text.npz").write_text("hello")
    with pytest.raises(ValueError, match="not a NumPy .npz"):
        load_npz(str(tmp_path / "text.npz"))
    assert fit_to_input_shape(np.zeros((3, 4, 4)), (4, 4, 1)).shape == (3, 4, 4, 1)
    with pytest.raises(DataError, match=r"shape \(4, 4\), the model expects \(5, 5, 1\)"):
        fit_to_input_shape(np.zeros((3, 4, 4)), (5, 5, 1))
    with pytest.raises(DataError, match="channels first"):  # NCHW is never reshaped into NHWC
        fit_to_input_shape(np.zeros((3, 1, 4, 4)), (4, 4, 1))


def test_default_digits_are_a_seeded_split():
    a, b = load_default_digits(seed=1), load_default_digits(seed=1)
    assert a.x_train.shape == (4000, 28, 28) and a.x_test.shape == (1000, 28, 28)
    assert a.x_train.dtype == np.float32 and 0.0 <= a.x_train.min() and a.x_train.max() <= 1.0
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert len(np.unique(a.y_test)) == 10  # shuffled, not the file's label order


def test_every_subcommand_has_json_and_help(capsys):
    from tflm_unit.cli import SUBCOMMANDS, build_parser

    parser = build_parser()
    names = [s.name for s in SUBCOMMANDS]
    assert {"convert", "inspect", "export-c", "msp430"} <= set(names)
    for name in names:
        assert main([name, "--help"]) == 0
        assert "--json" in capsys.readouterr().out
    assert parser.prog == "tflm-unit"


def test_sources_subcommand_copies_the_firmware_tree(tmp_path, capsys):
    from tflm_unit.cli import main

    assert main(["sources", "--out", str(tmp_path / "fw"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    files = set(result["files"])
    assert {"BUILD", "tflm/unit_ops.h", "tflm/unit_ops.cc", "tflm/Makefile_internal.inc",
            "core/unit_core.h"} <= files
    assert all((tmp_path / "fw" / f).is_file() for f in files)


def test_eval_reports_accuracy_and_macs_per_layer(converted, workdir, capsys):
    code, out, err = _run(capsys, "eval", converted, "--data", workdir / "data.npz", "--json")
    assert code == 0, err
    result = json.loads(out)
    data = load_npz(str(workdir / "data.npz"))
    interp = Interpreter(converted.read_bytes())
    run = interp.run(interp.quantize_input(data.x_test[..., None] / np.float32(255)))  # covers [0, 1]
    expected_accuracy = float(np.mean(np.argmax(run.outputs[0], axis=-1) == data.y_test))
    assert result["accuracy"] == pytest.approx(expected_accuracy)
    assert result["macs_executed"] == pytest.approx(run.macs_executed / len(data.x_test))
    assert [layer["op_index"] for layer in result["layers"]] == [layer.op_index for layer in run.layers]
    assert 0 < result["mac_reduction"] < 1
    assert result["input_scaling"]["mapping"] == "uint8 0..255 -> [0, 1] (x / 255)"
    code, out, _ = _run(capsys, "eval", converted, "--data", workdir / "data.npz")
    assert code == 0 and "input scaling (int8 input): uint8 0..255 -> [0, 1] (x / 255)" in out


def test_convert_with_max_accuracy_drop_calibrates_on_the_training_split(workdir, tmp_path, capsys):
    out = tmp_path / "calibrated.tflite"
    code, stdout, err = _run(capsys, "convert", workdir / "small.h5", "--calib-data", workdir / "data.npz",
                             "--out", out, "--max-accuracy-drop", "0.05", "--json")
    assert code == 0, err
    config = read_unit_config(out.read_bytes())
    calibration = config["calibration"]
    assert calibration["max_accuracy_drop"] == 0.05
    assert calibration["num_samples"] == 30  # x_train of the data file, not x_test
    assert calibration["accuracy_drop"] <= 0.05 + 1e-9
    assert json.loads(stdout)["ops"][0]["thresholds_int"] == config["ops"][0]["thresholds_int"]
