"""Writes whole-model cases for unit_model_test.cc (MicroInterpreter on a
real TFLM build): .tflite files and, for each, a samples file with inputs and
the outputs ``tflm_unit.runtime`` computes.

Models: a small int8 CNN (conv, depthwise, strided conv, flatten, two dense
layers) converted by TensorFlow's TFLiteConverter, then
  - ``builtin``: unchanged (TFLM's builtin kernels vs tflm_unit.runtime);
  - ``unit_t0_<division>``: CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED
    rewritten into UNIT_* custom ops with all thresholds 0;
  - ``unit_trand_<division>``: the same with random thresholds;
  - ``layout_t0_<division>`` / ``layout_trand_<division>``: the same CNN
    made UnIT by tflm_unit.converter.apply_thresholds with layout="fast"
    (the convs ``bucketed``, format_version 2; the dense layers ``sorted``,
    format_version 3 with their layout tensors; the depthwise ``compare``),
    thresholds 0 / random, groups of 2;
  - ``layout_v2_t0_<division>`` / ``layout_v2_trand_<division>``: those with
    the dense layers as format_version-2 files carry them (the option only:
    the adapter builds the layout in its arena);
  - ``wide_sorted`` / ``wide_v2_sorted`` (with --converter): a 300-unit
    dense layer sorted (uint16 indices), format_version 3 and 2;
  - ``converter_*`` (with --converter): models written by
    tflm_unit.converter.convert at T = 0 and with calibrated thresholds,
    each also as ``*_fast`` (set_layouts(..., "fast"));
  - ``float_*`` (with --float): float32 UnIT models (float thresholds).
The rewrite here is a minimal test fixture following DESIGN.md section 5
(custom op names, thresholds as input 3, flexbuffer custom_options).

Usage: python gen_model_cases.py OUT_DIR [--samples N] [--converter] [--float]
"""
import argparse
import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import flatbuffers  # noqa: E402
import numpy as np  # noqa: E402
from flatbuffers import flexbuffers  # noqa: E402
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema  # noqa: E402

from tflm_unit.runtime import Interpreter  # noqa: E402

UNIT_NAMES = {schema.BuiltinOperator.CONV_2D: "UNIT_CONV_2D",
              schema.BuiltinOperator.DEPTHWISE_CONV_2D: "UNIT_DEPTHWISE_CONV_2D",
              schema.BuiltinOperator.FULLY_CONNECTED: "UNIT_FULLY_CONNECTED"}


def build_int8_model(seed=0):
    import tensorflow as tf
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.layers.Input((12, 12, 2)),
        keras.layers.Conv2D(6, 3, padding="same", activation="relu"),
        keras.layers.DepthwiseConv2D(3, padding="valid", depth_multiplier=2, activation="relu"),
        keras.layers.Conv2D(8, 3, strides=2, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(10),
    ])
    rng = np.random.default_rng(seed)
    calib = rng.normal(0, 1, (32, 12, 12, 2)).astype(np.float32)

    def representative():
        for i in range(calib.shape[0]):
            yield [calib[i:i + 1]]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    return conv.convert()


def opcode_of(m, op):
    oc = m.operatorCodes[op.opcodeIndex]
    return max(oc.builtinCode, oc.deprecatedBuiltinCode)


def custom_options(code, o, division, group_size):
    if code == schema.BuiltinOperator.FULLY_CONNECTED:
        opts = {"fused_activation_function": int(o.fusedActivationFunction),
                "weights_format": int(o.weightsFormat), "keep_num_dims": bool(o.keepNumDims),
                "asymmetric_quantize_inputs": bool(o.asymmetricQuantizeInputs)}
    else:
        opts = {"padding": int(o.padding), "stride_w": int(o.strideW), "stride_h": int(o.strideH),
                "dilation_w_factor": int(o.dilationWFactor), "dilation_h_factor": int(o.dilationHFactor),
                "fused_activation_function": int(o.fusedActivationFunction)}
        if code == schema.BuiltinOperator.DEPTHWISE_CONV_2D:
            opts["depth_multiplier"] = int(o.depthMultiplier)
    opts.update({"division": division, "group_size": int(group_size), "format_version": 1})
    return flexbuffers.Dumps(opts)


def rewrite_to_unit(tflite_bytes, division, rng, zero_thresholds, group_size=2):
    """CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED -> UNIT_* with thresholds."""
    m = schema.ModelT.InitFromObj(schema.Model.GetRootAs(tflite_bytes, 0))
    sg = m.subgraphs[0]
    codes = {}
    for op in sg.operators:
        code = opcode_of(m, op)
        if code not in UNIT_NAMES:
            continue
        name = UNIT_NAMES[code]
        if name not in codes:
            oc = schema.OperatorCodeT()
            oc.builtinCode = schema.BuiltinOperator.CUSTOM
            oc.deprecatedBuiltinCode = schema.BuiltinOperator.CUSTOM
            oc.customCode = name
            oc.version = 1
            m.operatorCodes.append(oc)
            codes[name] = len(m.operatorCodes) - 1
        channels = int(sg.tensors[op.outputs[0]].shape[-1])
        group = group_size if channels % group_size == 0 else channels
        groups = channels // group
        if zero_thresholds:
            t = np.zeros(groups, np.int16)
        else:
            t = rng.integers(0, 2500, groups).astype(np.int16)
        buf = schema.BufferT()
        buf.data = list(t.tobytes())
        m.buffers.append(buf)
        tensor = schema.TensorT()
        tensor.shape = [groups]
        tensor.type = schema.TensorType.INT16
        tensor.buffer = len(m.buffers) - 1
        tensor.name = f"unit_thresholds_{len(sg.tensors)}"
        sg.tensors.append(tensor)
        inputs = list(op.inputs)
        while len(inputs) < 3:
            inputs.append(-1)
        op.inputs = inputs[:3] + [len(sg.tensors) - 1]
        op.customOptions = list(custom_options(code, op.builtinOptions, division, group))
        op.customOptionsFormat = schema.CustomOptionsFormat.FLEXBUFFERS
        op.builtinOptionsType = 0
        op.builtinOptions = None
        op.opcodeIndex = codes[name]
    builder = flatbuffers.Builder(0)
    builder.Finish(m.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def layout_models(base, divisions, rng, group_size=2):
    """The builtin int8 CNN rewritten by tflm_unit.converter.apply_thresholds
    with every MAC op's zero-cost layout (layout="fast": UNIT_CONV_2D
    bucketed, format_version 2; UNIT_FULLY_CONNECTED sorted, format_version
    3 with its layout tensors), at T = 0 and
    with random thresholds (T_q in [0, 2500) per group, given to the
    converter as the real values they stand for), for each division."""
    from tflm_unit.converter import apply_thresholds
    from tflm_unit.runtime.model import load_graph
    from tflm_unit.unit.thresholds import dequantize_thresholds

    graph = load_graph(base)
    mac_ops = [op for op in graph.operators if op.name in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")]
    out = {}
    for division in divisions:
        out[f"layout_t0_{division}"] = apply_thresholds(base, 0.0, division, group_size, layout="fast")
        thresholds = {}
        for op in mac_ops:
            inp, filt, res = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
            channels = int(res.shape[-1])
            t_q = rng.integers(0, 2500, channels // group_size)
            thresholds[op.index] = [float(t) for t in dequantize_thresholds(
                t_q, float(inp.scale[0]), filt.scale, group_size, channels)]
        out[f"layout_trand_{division}"] = apply_thresholds(base, thresholds, division, group_size, layout="fast")
    for name, model in out.items():
        layouts = [op.custom_options.get("layout", "compare") for op in load_graph(model).operators if op.is_unit]
        assert layouts == ["bucketed", "compare", "bucketed", "sorted", "sorted"], (name, layouts)
    return out


def as_format_version_2(model):
    """A model with its sorted UNIT_FULLY_CONNECTED ops as format_version 2
    wrote them: the ``layout`` option, no layout tensors."""
    from tflm_unit.converter.rewrite import remove_unused
    from tflm_unit.runtime.model import load_graph, pack_model

    graph = load_graph(model)
    for op in graph.operators:
        if op.custom_options.get("layout") == "sorted":
            op_t = graph.model.subgraphs[0].operators[op.index]
            op_t.customOptions = np.frombuffer(flexbuffers.Dumps(dict(op.custom_options, format_version=2)),
                                               dtype=np.uint8)
            op_t.inputs = np.asarray(op.inputs[:4], dtype=np.int32)
    remove_unused(graph.model)
    return pack_model(graph.model)


def converter_models(seed, divisions, max_accuracy_drop=0.02, epochs=2):
    """Models written by tflm_unit.converter: the UnIT paper's CNN and a small
    DS-CNN trained briefly on the bundled digits, converted at T = 0, then
    with thresholds from tflm_unit.unit.calibration.calibrate (calibration
    on training images) for each division mode.  Returns ({name: bytes},
    int8 test inputs, {name: calibration summary})."""
    import tf_keras as keras

    from tflm_unit import datasets, models
    from tflm_unit.converter import apply_thresholds, convert, set_layouts
    from tflm_unit.unit.calibration import calibrate

    ds = datasets.load_default_digits()
    x_train, y_train = ds.x_train[..., None], ds.y_train
    x_calib, y_calib = x_train[:400], y_train[:400]
    out, summaries, x_test = {}, {}, None
    # (builder, epochs): the DS-CNN's BatchNorm moving statistics need more
    # steps than the plain CNN before inference-mode outputs make sense.
    builders = {"paper_cnn": (lambda: models.unit_paper_cnn(keras_module=keras), epochs),
                "ds_cnn": (lambda: models.ds_cnn(filters=8, blocks=2, keras_module=keras), 4 * epochs)}
    for name, (build, n_epochs) in builders.items():
        keras.utils.set_random_seed(seed)
        model = build()
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        model.fit(x_train, y_train, epochs=n_epochs, batch_size=64, verbose=0)
        base = convert(model, x_train[:200], thresholds=0.0, division="shift")
        out[f"converter_{name}_t0"] = base
        out[f"converter_{name}_t0_fast"] = set_layouts(base, "fast")
        if x_test is None:
            x_test = Interpreter(base).quantize_input(ds.x_test[..., None])
        for division in divisions:
            result = calibrate(base, x_calib, y_calib, max_accuracy_drop=max_accuracy_drop,
                               division=division, group_size=2, progress=False, max_samples=200)
            thresholds = {layer.op_index: [float(t) for t in layer.thresholds_real] for layer in result.layers}
            groups = {layer.op_index: layer.group_size for layer in result.layers}
            key = f"converter_{name}_cal_{division}"
            out[key] = apply_thresholds(base, thresholds, division, groups)
            out[key + "_fast"] = set_layouts(out[key], "fast")
            summaries[key] = (f"calibration: accuracy {result.accuracy_dense:.3f} -> {result.accuracy_unit:.3f}, "
                              f"MAC reduction {result.mac_reduction:.1%}")
    return out, x_test, summaries


def wide_fc_models(seed, samples):
    """A dense layer of 300 outputs (the sorted layout's uint16 indices) and
    a classifier, written by tflm_unit.converter with thresholds in groups
    of 150 (the wide layer) and the sorted layout, as format_version 3 and 2.
    Returns ({name: bytes}, int8 inputs)."""
    import tf_keras as keras

    from tflm_unit.converter import apply_thresholds, convert

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.layers.Input((24,)), keras.layers.Dense(300, activation="relu"),
                              keras.layers.Dense(10)])
    x = np.random.default_rng(seed).normal(0, 1, (64, 24)).astype(np.float32)
    base = convert(model, x, thresholds=0.0, division="shift")
    sorted_model = apply_thresholds(base, 0.02, "shift", {0: 150, 1: 5}, layout="sorted")
    return ({"wide_sorted": sorted_model, "wide_v2_sorted": as_format_version_2(sorted_model)},
            Interpreter(base).quantize_input(x[:samples]))


def float_models(seed):
    """A float32 CNN (TFLiteConverter without quantisation) made UnIT by
    tflm_unit.converter.apply_thresholds(allow_float=True): float32
    thresholds, divisions exact and bitmask, T = 0 and T = 0.05."""
    import tensorflow as tf
    import tf_keras as keras

    from tflm_unit.converter import apply_thresholds

    keras.utils.set_random_seed(seed)
    model = keras.Sequential([
        keras.layers.Input((10, 10, 2)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dense(6),
    ])
    float_tflite = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    return {f"float_{division}_t{t}": apply_thresholds(float_tflite, t, division, allow_float=True)
            for division in ("exact", "bitmask") for t in (0.0, 0.05)}


def _encode(values):
    """int8 values as decimals, float32 values as exact hex floats."""
    if values.dtype == np.float32:
        return " ".join(float(v).hex() for v in values.reshape(-1))
    return " ".join(str(int(v)) for v in values.reshape(-1))


def write_samples(path, model_bytes, x, reference=None):
    """Inputs x (a batch) and tflm_unit.runtime's outputs, one per sample
    (required to equal ``reference`` when given)."""
    interp = Interpreter(model_bytes)
    y = interp.run(x).outputs[0]
    if reference is not None:  # T = 0: the builtin model's outputs, bit for bit
        assert np.array_equal(y, reference), path
    executed = sum(layer.macs_executed for layer in interp.run(x[:1]).layers)
    total = sum(layer.macs_total for layer in interp.run(x[:1]).layers)
    with open(path, "w") as f:
        f.write(f"samples {x.shape[0]}\n")
        for i in range(x.shape[0]):
            f.write(f"input {x[i].size} {_encode(x[i])}\n")
            f.write(f"output {y[i].size} {_encode(y[i])}\n")
    return executed, total, y


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out_dir")
    ap.add_argument("--samples", type=int, default=20)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--converter", action="store_true",
                    help="also write models made by tflm_unit.converter (trains two small CNNs)")
    ap.add_argument("--divisions", default="exact,shift,tree,clz")
    ap.add_argument("--float", action="store_true", help="also write float32 UnIT models")
    args = ap.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    rng = np.random.default_rng(args.seed)
    base = build_int8_model(args.seed)
    x = rng.integers(-128, 128, (args.samples, 12, 12, 2)).astype(np.int8)
    models = {"builtin": base}
    for division in ("exact", "shift", "tree", "clz"):
        models[f"unit_t0_{division}"] = rewrite_to_unit(base, division, rng, zero_thresholds=True)
        models[f"unit_trand_{division}"] = rewrite_to_unit(base, division, rng, zero_thresholds=False)
    models.update(layout_models(base, ("exact", "shift", "tree", "clz"), rng))
    models.update({name.replace("layout_", "layout_v2_"): as_format_version_2(model)
                   for name, model in list(models.items()) if name.startswith("layout_")})
    inputs = {name: x for name in models}
    summaries = {}
    if args.converter:
        conv_models, x_test, summaries = converter_models(args.seed, args.divisions.split(","))
        models.update(conv_models)
        inputs.update({name: x_test[:args.samples] for name in conv_models})
        wide, x_wide = wide_fc_models(args.seed, args.samples)
        models.update(wide)
        inputs.update({name: x_wide for name in wide})
    if args.float:
        f_models = float_models(args.seed)
        models.update(f_models)
        x_float = rng.normal(0, 1, (args.samples, 10, 10, 2)).astype(np.float32)
        inputs.update({name: x_float for name in f_models})
    builtin_y = None
    for name, model_bytes in models.items():
        with open(os.path.join(args.out_dir, name + ".tflite"), "wb") as f:
            f.write(model_bytes)
        # T = 0 on the builtin CNN's inputs: the runtime must give the builtin
        # model's outputs (TFLM's builtin run checks those), so the TFLM UnIT
        # run that matches these samples matches TFLM's builtin kernels.
        same_as_builtin = name.startswith(("unit_t0_", "layout_t0_", "layout_v2_t0_"))
        executed, total, y = write_samples(os.path.join(args.out_dir, name + ".samples"), model_bytes,
                                           inputs[name], builtin_y if same_as_builtin else None)
        if name == "builtin":
            builtin_y = y
        print(f"{name}: {len(model_bytes)} bytes, MACs executed {executed}/{total} (first sample)"
              + (f"; {summaries[name]}" if name in summaries else ""))


if __name__ == "__main__":
    main()
