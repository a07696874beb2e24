"""Shared test helpers: build small Keras models, convert them to int8 with
TensorFlow's TFLiteConverter, and run them in the `tflite_micro` interpreter
(TFLM's reference kernels, the bit-exactness oracle)."""
from __future__ import annotations

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import List

import numpy as np


def keras():
    import tf_keras

    return tf_keras


def convert_int8(model, representative: np.ndarray, io_int8: bool = True, per_channel: bool = True) -> bytes:
    """Full-integer int8 conversion with a representative dataset."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def gen():
        for i in range(min(len(representative), 64)):
            yield [representative[i : i + 1].astype(np.float32)]

    converter.representative_dataset = gen
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if io_int8:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if not per_channel:
        converter._experimental_disable_per_channel = True
    return converter.convert()


def convert_float(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def run_tflm(model_bytes: bytes, x: np.ndarray) -> List[np.ndarray]:
    """Run each sample of x through TFLM's interpreter (batch 1); returns each
    output stacked over the batch."""
    from tflite_micro.python.tflite_micro import runtime

    from tflm_unit.runtime import load_graph

    n_outputs = len(load_graph(model_bytes).outputs)
    interp = runtime.Interpreter.from_bytes(model_bytes)
    outs: List[List[np.ndarray]] = [[] for _ in range(n_outputs)]
    for i in range(x.shape[0]):
        interp.set_input(x[i : i + 1], 0)
        interp.invoke()
        for k in range(n_outputs):
            outs[k].append(np.array(interp.get_output(k)))
        interp.reset()
    return [np.concatenate(o) for o in outs]


def run_tflite_reference(model_bytes: bytes, x: np.ndarray) -> List[np.ndarray]:
    """Run each sample of x through TensorFlow Lite's reference kernels
    (BUILTIN_REF, the oracle where TFLM lacks an op); returns the first
    output stacked over the batch, in a list like run_tflm."""
    import tensorflow as tf

    interp = tf.lite.Interpreter(model_content=model_bytes,
                                 experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0]["index"], interp.get_output_details()[0]["index"]
    outs = []
    for i in range(len(x)):
        interp.set_tensor(inp, x[i : i + 1])
        interp.invoke()
        outs.append(interp.get_tensor(out).copy())
    return [np.concatenate(outs)]


def quantize_like_input(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """Float data → the model's int8 input (TFLite rounding)."""
    from tflm_unit.runtime import Interpreter

    return Interpreter(model_bytes).quantize_input(x)


def with_dilation(model_bytes: bytes, dilation: int) -> bytes:
    """The converter lowers dilated convs to SPACE_TO_BATCH_ND + CONV_2D +
    BATCH_TO_SPACE_ND, so dilation reaches TFLM's kernel only in a model
    edited through the schema: set the first conv's dilation factors and its
    output shape (VALID padding)."""
    from tflm_unit.runtime.model import pack_model, unpack_model

    model = unpack_model(model_bytes)
    sub = model.subgraphs[0]
    op = sub.operators[0]
    opts = op.builtinOptions
    opts.dilationHFactor = opts.dilationWFactor = dilation
    in_shape = sub.tensors[op.inputs[0]].shape
    k_shape = sub.tensors[op.inputs[1]].shape
    out = sub.tensors[op.outputs[0]]
    h = (in_shape[1] - (k_shape[1] - 1) * dilation - 1) // opts.strideH + 1
    w = (in_shape[2] - (k_shape[2] - 1) * dilation - 1) // opts.strideW + 1
    out.shape = np.array([out.shape[0], h, w, out.shape[3]], dtype=np.int32)
    if out.shapeSignature is not None:
        out.shapeSignature = np.array([-1, h, w, out.shape[3]], dtype=np.int32)
    return pack_model(model)
