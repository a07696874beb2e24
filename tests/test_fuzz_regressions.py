"""One test per escape benchmarks/fuzz.py found (issue 13): each corrupts a
generated seed model the way the reproducer did and checks that every entry
point concerned raises the project's error (never a raw Python exception),
with the op / tensor / field named."""
from __future__ import annotations

import importlib.util
import json
import os
from typing import Any, Callable

import numpy as np
import pytest

from tflm_unit.converter import apply_thresholds, export_c, read_unit_config, to_builtin
from tflm_unit.converter.report import inspect_model
from tflm_unit.converter.rewrite import set_metadata
from tflm_unit.errors import (ConversionError, DataError, ModelFormatError, TflmUnitError,
                              UnsupportedModelError)
from tflm_unit.resources import tflite_resources
from tflm_unit.runtime import Interpreter, load_graph
from tflm_unit.runtime.model import pack_model, unpack_model

_FUZZ_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "benchmarks", "fuzz.py")


def _fuzz_module():
    spec = importlib.util.spec_from_file_location("tflm_unit_fuzz_harness", _FUZZ_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def fuzz():
    return _fuzz_module()


@pytest.fixture(scope="module")
def seeds(fuzz):
    return fuzz.seed_models()  # generated once per machine, cached in the temp directory


def _mutated(data: bytes, change: Callable[[Any], None]) -> bytes:
    model_t = unpack_model(data)
    change(model_t)
    return pack_model(model_t)


def _with_metadata(data: bytes, payload: bytes) -> bytes:
    return _mutated(data, lambda m: set_metadata(m, "UNIT_METADATA", payload))


def _unit_config_readers():
    return [read_unit_config, to_builtin, lambda d: apply_thresholds(d, 0.05), inspect_model]


@pytest.mark.parametrize("depth", [5000, 100000])
def test_deeply_nested_metadata_is_a_format_error(seeds, depth):
    bad = _with_metadata(seeds["mlp_unit"], b"[" * depth + b"]" * depth)
    for reader in _unit_config_readers():
        with pytest.raises(ModelFormatError, match="UNIT_METADATA"):
            reader(bad)


@pytest.mark.parametrize("config, field", [
    ({"ops": 3}, "'ops' must be a list"),
    ({"ops": [1]}, r"ops\[0\] must be an object"),
    ({"ops": [{"op_index": "a"}]}, "'op_index'"),
    ({"ops": [{"op_index": 10 ** 30}]}, "'op_index'"),
    ({"ops": [{"op_index": 5}]}, r"'op_index' = 5 must be an integer in \[0, 1\]"),
    ({"ops": [{"op_index": True}]}, "'op_index'"),
    ({"ops": [{"op_index": 0, "builtin_version": 1 << 40}]}, "'builtin_version'"),
    ({"ops": [{"op_index": 0, "builtin_version": [2]}]}, "'builtin_version'"),
    ({"ops": [{"op_index": 0, "op": "UNIT_FULLY_CONNECTED", "layer": 5}]}, "'layer' must be a string"),
    ({"ops": [{"op_index": 0, "op": "UNIT_FULLY_CONNECTED"}]}, "'layer' must be a string, got NoneType"),
    ({"ops": [{"op_index": 0, "layer": "dense"}]}, "'op' must be a string, got NoneType"),
])
def test_metadata_op_records_are_checked_where_they_are_read(seeds, config, field):
    bad = _with_metadata(seeds["mlp_unit"], json.dumps(config).encode())
    for reader in _unit_config_readers():
        with pytest.raises(ModelFormatError, match=field):
            reader(bad)


def test_to_builtin_refuses_versions_the_schema_cannot_hold(seeds):
    with pytest.raises(ConversionError, match="operator 0: builtin version"):
        to_builtin(seeds["mlp_unit"], versions={0: 1 << 40})
    assert load_graph(to_builtin(seeds["mlp_unit"], versions={0: 3})).model.operatorCodes[0].version == 3


def test_non_utf8_names_are_decoded_once_not_raised(seeds):
    def rename(m):
        m.subgraphs[0].tensors[3].name = b"\xc2\xff bad"
        m.metadata[0].name = b"\xfa\xfb"
    bad = _mutated(seeds["mlp_unit"], rename)
    assert "\ufffd" in tflite_resources(bad).layers[0].name
    apply_thresholds(bad, 0.05)  # set_metadata compares names without raising
    json.dumps(inspect_model(bad))


@pytest.mark.parametrize("change, message", [
    (lambda m: setattr(m.subgraphs[0].operators[0], "opcodeIndex", 7), "opcode 7"),
    (lambda m: setattr(m.subgraphs[0].operators[0], "inputs", np.array([0, 99, -1], np.int32)), "tensor 99"),
    (lambda m: setattr(m.subgraphs[0].tensors[1], "buffer", 500), "buffer 500"),
    (lambda m: setattr(m.subgraphs[0], "outputs", np.array([40], np.int32)), "tensor 40"),
])
def test_tflite_resources_checks_indices_first(seeds, change, message):
    bad = _mutated(seeds["cnn_int8"], change)
    with pytest.raises(ModelFormatError, match=message):
        tflite_resources(bad)


def test_tflite_resources_refuses_a_filter_of_the_wrong_rank(seeds):
    bad = _mutated(seeds["mlp_int8"], lambda m: setattr(m.subgraphs[0].tensors[2], "shape", np.array([128], np.int32)))
    with pytest.raises(ModelFormatError, match=r"operator 0 \(FULLY_CONNECTED\): filter shape \[128\]"):
        tflite_resources(bad)


def test_signature_and_metadata_buffer_indices_are_checked_at_load(seeds):
    def bad_signature(m):
        m.signatureDefs[0].outputs[0].tensorIndex = 77
    bad = _mutated(seeds["mlp_float"], bad_signature)
    for reader in (load_graph, to_builtin, tflite_resources):
        with pytest.raises(ModelFormatError, match="refers to tensor 77"):
            reader(bad)
    bad = _mutated(seeds["mlp_unit"], lambda m: setattr(m, "metadataBuffer", np.array([900], np.int32)))
    with pytest.raises(ModelFormatError, match="metadata_buffer refers to buffer 900"):
        to_builtin(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_float_constant_is_refused_at_load(seeds, value):
    def poison(m):
        t = m.subgraphs[0].tensors[2]  # the first dense filter, float32
        raw = np.frombuffer(bytes(bytearray(m.buffers[t.buffer].data)), np.float32).copy()
        raw[5] = value
        m.buffers[t.buffer].data = np.frombuffer(raw.tobytes(), np.uint8)
    bad = _mutated(seeds["mlp_float"], poison)
    with pytest.raises(ModelFormatError, match=r"tensor 2 '.*MatMul.*': constant holds NaN or infinite values"):
        Interpreter(bad)


def test_graph_output_that_no_op_computes_is_refused(seeds):
    bad = _mutated(seeds["mlp_int8"], lambda m: setattr(m.subgraphs[0], "outputs", np.array([2], np.int32)))
    with pytest.raises(UnsupportedModelError, match=r"output tensor 2 \('.*'\) is a constant"):
        Interpreter(bad)


def test_missing_group_size_means_one_group_everywhere(seeds, fuzz, tmp_path):
    def drop_group_size(m):
        from tflm_unit.runtime.model import decode_custom_options

        for op in m.subgraphs[0].operators:
            options = decode_custom_options(op.customOptions)
            del options["group_size"]
            op.customOptions = np.frombuffer(fuzz._flexbuffer_map(options), np.uint8)
    data = _mutated(seeds["mlp_unit"], drop_group_size)
    graph = load_graph(data)
    assert [op.custom_options["group_size"] for op in graph.operators] == [8, 4]  # the output channels
    export_c(data, str(tmp_path / "c"), name="m")  # reads group_size like every stage
    assert (tmp_path / "c").is_dir()


@pytest.mark.parametrize("key, value", [("quantized_bias_type", 65535), ("quantized_bias_type", -1),
                                        ("weights_format", 7)])
def test_unit_enum_options_must_fit_the_builtin_table(seeds, fuzz, key, value):
    def set_option(m):
        from tflm_unit.runtime.model import decode_custom_options

        op = m.subgraphs[0].operators[0]
        options = decode_custom_options(op.customOptions)
        options[key] = value
        op.customOptions = np.frombuffer(fuzz._flexbuffer_map(options), np.uint8)
    bad = _mutated(seeds["mlp_unit"], set_option)
    for reader in (load_graph, to_builtin):
        with pytest.raises(ModelFormatError, match=f"operator 0 .*option '{key}' = {value} is outside"):
            reader(bad)


def test_steps_that_reapply_a_declared_shape_need_the_batch_dimension_kept(seeds):
    # a RESHAPE to (108,) keeps the element count (valid TFLite) but not the batch dimension
    bad = _mutated(seeds["fconv_float"], lambda m: setattr(m.subgraphs[0].tensors[8], "shape",
                                                            np.array([108], np.int32)))
    load_graph(bad)
    with pytest.raises(UnsupportedModelError, match=r"operator 2 \(RESHAPE\): input \(1, 6, 6, 3\) and output "
                                                    r"\(108,\) do not share the leading \(batch\) dimension"):
        Interpreter(bad)
    for index, shape in ((0, [16]), (4, [4])):  # FULLY_CONNECTED from a rank-1 input / to a rank-1 output
        bad = _mutated(seeds["mlp_float"], lambda m: setattr(m.subgraphs[0].tensors[index], "shape",
                                                              np.array(shape, np.int32)))
        load_graph(bad)
        with pytest.raises(UnsupportedModelError, match=r"\(FULLY_CONNECTED\): input .* do not share the leading"):
            Interpreter(bad)


def test_interpreter_run_raises_data_errors(seeds):
    interp = Interpreter(seeds["mlp_int8"])
    for bad in ([], [np.zeros((1, 16), np.int8)] * 2, np.zeros((1, 15), np.int8), np.zeros((1, 16), np.int32)):
        with pytest.raises(DataError):
            interp.run(bad)
    assert interp.run(np.zeros((3, 16), np.int8)).outputs[0].shape == (3, 4)


def test_export_c_pool_with_an_unquantised_output(seeds, tmp_path):
    def drop_quantization(m):
        m.subgraphs[0].tensors[8].quantization = None  # the MAX_POOL_2D output
    bad = _mutated(seeds["cnn_int8"], drop_quantization)
    with pytest.raises(TflmUnitError, match=r"max_pooling2d(_\d+)?/MaxPool"):
        export_c(bad, str(tmp_path / "c"), name="m")
    assert not (tmp_path / "c").exists()


@pytest.mark.parametrize("constant", [b"NaN", b"-Infinity", b"Infinity"])
def test_non_finite_metadata_numbers_are_a_format_error(seeds, constant):
    bad = _with_metadata(seeds["mlp_unit"], b'{"ops": [], "macs_total": ' + constant + b"}")
    for reader in _unit_config_readers():
        with pytest.raises(ModelFormatError, match=f"UNIT_METADATA holds {constant.decode()}"):
            reader(bad)


def test_tflite_resources_reads_an_absent_shape_as_a_scalar(seeds):
    def drop_shapes(m):
        for i in (0, 3):  # an op input and an op output
            m.subgraphs[0].tensors[i].shape = None
    report = tflite_resources(_mutated(seeds["mlp_int8"], drop_shapes))
    assert report.layers[0].macs == 16  # the output counts as one element: 1 × the filter depth 16
    bad = _mutated(seeds["mlp_int8"], lambda m: setattr(m.subgraphs[0].tensors[2], "shape", None))
    with pytest.raises(ModelFormatError, match=r"filter shape \[\] has the wrong rank"):
        tflite_resources(bad)


def test_variable_read_before_any_write_is_refused(seeds):
    def as_variable(m):
        sub = m.subgraphs[0]
        sub.tensors[3].isVariable = True  # the QUANTIZE output, read by the first FULLY_CONNECTED
        sub.operators[0], sub.operators[1] = sub.operators[1], sub.operators[0]
    bad = _mutated(seeds["mlp_int8_float_io"], as_variable)
    assert load_graph(bad).variables == [3]
    with pytest.raises(UnsupportedModelError, match=r"operator 0 \(FULLY_CONNECTED\) reads variable tensor"):
        Interpreter(bad)
    with pytest.raises(ConversionError, match="reads variable tensor"):
        apply_thresholds(bad, 0.05)


_REPRODUCERS = os.path.join(os.path.dirname(_FUZZ_PATH), "reported", "fuzz_reproducers")


@pytest.mark.parametrize("name", sorted(f[:-5] for f in os.listdir(_REPRODUCERS) if f.endswith(".json"))
                         if os.path.isdir(_REPRODUCERS) else [])
def test_committed_reproducers_raise_only_project_errors(name, tmp_path):
    """The escapes left by the >= 10^5 run (a non-constant FC filter and MEAN axes
    in export_c, a subgraph without outputs in to_builtin / apply_thresholds)."""
    with open(os.path.join(_REPRODUCERS, name + ".json")) as f:
        entry = json.load(f)["entry"]
    with open(os.path.join(_REPRODUCERS, name + ".tflite"), "rb") as f:
        data = f.read()
    run = {"export_c": lambda: export_c(data, str(tmp_path / "c")), "to_builtin": lambda: to_builtin(data),
           "apply_thresholds": lambda: apply_thresholds(data, 0.01, "shift")}[entry]
    with pytest.raises(TflmUnitError):
        run()
