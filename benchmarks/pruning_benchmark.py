"""Benchmark: differentiable MCU-aware structured pruning against the obvious alternatives, at
equal total training epochs, over several seeds.

For each (dataset, model family, MAC budget, seed) every method trains for the same ``--epochs``:

* **A unpruned** — the full-width model.
* **B ours** — ``prepare`` → ``fit(DifferentiablePruning(Budget.fraction(macs=f)))`` → ``strip``
  (pruning inside the same epochs, then the callback's fine-tuning).
* **C uniform** — the same family with every width multiplied by the largest α whose model meets
  the budget by the resource model, trained from scratch (the strongest simple baseline).
* **D tfmot** — ``prune_low_magnitude`` (unstructured) to the sparsity that matches B's weight
  count; it zeroes weights but shrinks neither MACs nor the TFLM arena.
* **E MCT** — Sony's ``model-compression-toolkit`` structured pruning at B's weights-memory
  budget, lowered by bisection (3 pruning calls per halving window, down to 1/8 of it) until the MAC
  budget holds too, if it can. MCT
  pins matplotlib < 3.10, so it runs in its own virtual environment: pass
  ``--mct-python VENV/bin/python`` (a venv with ``model-compression-toolkit`` and
  ``tensorflow==2.15.*``: MCT's Keras pruning refuses newer TensorFlow);
  without it E is recorded as not run, with the reason. MCT's default target platform (IMX500)
  prunes whole SIMD groups of 32 channels, which cannot reach a ¼-MAC budget on these 32/64-channel
  nets, so E uses the same IMX500 platform rebuilt with ``simd_size=1`` (single-channel pruning;
  MCT 2.6's ``imx500_tpc.v1_0.generate_tpc`` with every op config ``clone_and_edit(simd_size=1)``).
  MCT prunes a trained model, so it starts from A (``--epochs``) and fine-tunes ``--epochs``/2:
  it gets more epochs than the others.

Every model is converted full-int8 with ``tf.lite.TFLiteConverter``; accuracy is measured on the
int8 file (TFLite interpreter) on the test split, and the MAC budget is checked on the int8 file
with ``tflm_unit.resources.tflite_resources`` (``budget_met_int8`` on every B, C and E row; D is
unstructured and has no MAC budget). ``results.json`` and ``summary.json`` (mean ± sd per method,
B − C and B − E per seed) are rewritten atomically after every run, so a long benchmark that
stops is continued with ``--resume`` (it skips the (model, seed, method, budget) rows it has);
``pruning.png`` is drawn at the end (``--summary-only`` redraws it from the results file).

    python benchmarks/pruning_benchmark.py --dataset fashion_mnist --models cnn4_bn --seeds 3
    python benchmarks/pruning_benchmark.py --dataset cifar10 --models cnn4_bn,resnet8 --train-limit 20000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
from tqdm import tqdm

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")


# ---------------------------------------------------------------------------------------------
# Data and model families (each takes a width multiplier, for baseline C)
# ---------------------------------------------------------------------------------------------


def load_dataset(path: str, train_limit: int | None, test_limit: int | None, seed: int = 0):
    """uint8 images -> float32 in [0, 1], NHWC; a random training subset if ``train_limit``."""
    data = np.load(path)
    x_train, y_train, x_test, y_test = data["x_train"], data["y_train"], data["x_test"], data["y_test"]
    if x_train.ndim == 3:
        x_train, x_test = x_train[..., None], x_test[..., None]
    rng = np.random.default_rng(seed)
    if train_limit and train_limit < len(x_train):
        keep = rng.choice(len(x_train), train_limit, replace=False)
        x_train, y_train = x_train[keep], y_train[keep]
    if test_limit and test_limit < len(x_test):
        x_test, y_test = x_test[:test_limit], y_test[:test_limit]
    return (x_train.astype(np.float32) / 255.0, y_train.astype(np.int64),
            x_test.astype(np.float32) / 255.0, y_test.astype(np.int64))


def _width(channels: int, alpha: float) -> int:
    return max(1, int(round(channels * alpha)))


def cnn4_bn(K, input_shape, classes, alpha: float = 1.0):
    """Four 3x3 convs with BatchNorm in two pooled stages, then a dense classifier."""
    L = K.layers
    layers = [L.Input(input_shape)]
    for index, channels in enumerate((32, 32, 64, 64)):
        layers += [L.Conv2D(_width(channels, alpha), 3, padding="same", use_bias=False, name=f"conv{index + 1}"),
                   L.BatchNormalization(momentum=0.9, name=f"bn{index + 1}"), L.ReLU()]
        if index % 2 == 1:
            layers.append(L.MaxPooling2D())
    layers += [L.Flatten(), L.Dense(classes, name="logits")]
    return K.Sequential(layers, name="cnn4_bn")


def resnet8(K, input_shape, classes, alpha: float = 1.0):
    """ResNet-8 (MLPerf Tiny's image model shape): stem 16, stages 16-32-64 with residual adds, GAP."""
    L = K.layers
    inputs = L.Input(input_shape)
    x = L.Conv2D(_width(16, alpha), 3, padding="same", use_bias=False, name="stem")(inputs)
    x = L.ReLU()(L.BatchNormalization(name="stem_bn")(x))
    for stage, (channels, stride) in enumerate(((16, 1), (32, 2), (64, 2))):
        width = _width(channels, alpha)
        y = L.Conv2D(width, 3, strides=stride, padding="same", use_bias=False, name=f"s{stage}_a")(x)
        y = L.ReLU()(L.BatchNormalization(name=f"s{stage}_a_bn")(y))
        y = L.Conv2D(width, 3, padding="same", use_bias=False, name=f"s{stage}_b")(y)
        y = L.BatchNormalization(name=f"s{stage}_b_bn")(y)
        if stride != 1 or stage == 0 and int(x.shape[-1]) != width:
            x = L.Conv2D(width, 1, strides=stride, use_bias=False, name=f"s{stage}_skip")(x)
            x = L.BatchNormalization(name=f"s{stage}_skip_bn")(x)
        x = L.ReLU()(L.Add()([x, y]))
    x = L.GlobalAveragePooling2D()(x)
    return K.Model(inputs, L.Dense(classes, name="logits")(x), name="resnet8")


MODEL_FAMILIES = {"cnn4_bn": cnn4_bn, "resnet8": resnet8}


# ---------------------------------------------------------------------------------------------
# Conversion and measurement
# ---------------------------------------------------------------------------------------------


def convert_int8(model, calibration: np.ndarray) -> bytes:
    import tensorflow as tf

    shape = (1,) + tuple(model.inputs[0].shape[1:])
    function = tf.function(lambda x: model(x, training=False))
    converter = tf.lite.TFLiteConverter.from_concrete_functions(
        [function.get_concrete_function(tf.TensorSpec(shape, tf.float32))], model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([sample[None]] for sample in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return converter.convert()


def int8_accuracy(tflite: bytes, x: np.ndarray, y: np.ndarray) -> float:
    """Accuracy of the int8 model (TFLite interpreter, one sample at a time)."""
    import tensorflow as tf

    interpreter = tf.lite.Interpreter(model_content=tflite)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    scale, zero_point = inp["quantization"]
    correct = 0
    for sample, label in zip(x, y):
        quantised = np.clip(np.round(sample / scale + zero_point), -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], quantised[None])
        interpreter.invoke()
        correct += int(np.argmax(interpreter.get_tensor(out["index"])[0]) == label)
    return correct / len(y)


def mac_kernels(model):
    """The kernels (multiplicative weights, no biases) of the model's MAC layers."""
    return [w for layer in model.layers for w in layer.get_weights()
            if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense") and w.ndim > 1]


def weight_count(model) -> int:
    return int(sum(w.size for w in mac_kernels(model)))


def measure(model, data, extra: dict) -> dict:
    """int8 test accuracy and the resources of the int8 file (MACs, flash, TFLM arena); ``model``
    is a Keras model or an int8 ``.tflite`` already converted (MCT's, from its own venv)."""
    from tflm_unit import resources

    x_train, _, x_test, y_test = data
    tflite = model if isinstance(model, bytes) else convert_int8(model, x_train[:100])
    from_file = resources.tflite_resources(tflite)
    row = {**extra, "int8_accuracy": int8_accuracy(tflite, x_test, y_test), "macs": from_file.macs,
           "flash_bytes": from_file.flash_bytes, "peak_ram_bytes": resources.tflm_arena_report(tflite)["head"]}
    if not isinstance(model, bytes):
        row.update(weights=weight_count(model), nonzero_weights=nonzero_weights(model))
    return row


def nonzero_weights(model) -> int:
    return int(sum(np.count_nonzero(w) for w in mac_kernels(model)))


# ---------------------------------------------------------------------------------------------
# The methods
# ---------------------------------------------------------------------------------------------


def learning_rate_schedule(K, schedule: str, epochs: int, samples: int, batch_size: int, peak: float = 2e-3):
    """Adam's learning rate: constant, or cosine-decayed to 0 over the run's steps (``--lr-schedule``);
    every method, MCT's fine-tune included, gets this rule over its own epochs."""
    if schedule == "constant":
        return peak
    steps = epochs * int(np.ceil(samples / batch_size))
    return K.optimizers.schedules.CosineDecay(peak, decay_steps=steps)


def compile_model(K, model, args, samples: int):
    rate = learning_rate_schedule(K, args.lr_schedule, args.epochs, samples, args.batch_size)
    model.compile(optimizer=K.optimizers.Adam(rate),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def fit(model, data, epochs, batch_size, callbacks=()) -> float:
    started = time.perf_counter()
    model.fit(data[0], data[1], epochs=epochs, batch_size=batch_size, callbacks=list(callbacks), verbose=0)
    return time.perf_counter() - started


def run_unpruned(K, family, data, args, shape, classes):
    model = family(K, shape, classes)
    compile_model(K, model, args, len(data[0]))
    return model, {"train_seconds": fit(model, data, args.epochs, args.batch_size)}


def run_ours(K, family, data, args, shape, classes, fraction):
    from tflm_unit.pruning import Budget, DifferentiablePruning, prepare, strip

    gated = prepare(family(K, shape, classes))
    compile_model(K, gated, args, len(data[0]))
    callback = DifferentiablePruning(Budget.fraction(macs=fraction), verbose=0)
    seconds = fit(gated, data, args.epochs, args.batch_size, [callback])
    return strip(gated), {"train_seconds": seconds, "budget_met_in_training": callback.budget_met,
                          "budget_macs": callback.resolved_budget.macs, "salience": callback.salience,
                          "channels": callback.history[-1]["channels"] if callback.history else {}}


def uniform_alpha(K, family, shape, classes, budget_macs: int) -> float:
    """The largest width multiplier whose model meets the MAC budget (resource model)."""
    from tflm_unit import resources

    low, high = 0.0, 1.0
    for _ in range(14):
        middle = (low + high) / 2
        if resources.keras_resources(family(K, shape, classes, alpha=middle)).macs <= budget_macs:
            low = middle
        else:
            high = middle
    return low


def run_uniform(K, family, data, args, shape, classes, budget_macs):
    alpha = uniform_alpha(K, family, shape, classes, budget_macs)
    model = family(K, shape, classes, alpha=alpha)
    compile_model(K, model, args, len(data[0]))
    return model, {"alpha": alpha, "train_seconds": fit(model, data, args.epochs, args.batch_size)}


def run_tfmot(K, family, data, args, shape, classes, sparsity):
    import tensorflow_model_optimization as tfmot

    steps = args.epochs * int(np.ceil(len(data[0]) / args.batch_size))
    schedule = tfmot.sparsity.keras.PolynomialDecay(0.0, sparsity, begin_step=int(0.1 * steps),
                                                    end_step=int(0.6 * steps), frequency=50)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(family(K, shape, classes), pruning_schedule=schedule)
    compile_model(K, pruned, args, len(data[0]))
    seconds = fit(pruned, data, args.epochs, args.batch_size, [tfmot.sparsity.keras.UpdatePruningStep()])
    stripped = tfmot.sparsity.keras.strip_pruning(pruned)
    clone = K.models.clone_model(stripped)
    clone.set_weights(stripped.get_weights())
    return clone, {"sparsity": sparsity, "train_seconds": seconds}


MCT_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
import model_compression_toolkit as mct
spec = json.load(open(sys.argv[1]))
sys.path.insert(0, spec["benchmarks_dir"])
from pruning_benchmark import MODEL_FAMILIES, convert_int8, learning_rate_schedule
data = np.load(spec["data"])
model = MODEL_FAMILIES[spec["family"]](tf.keras, tuple(spec["input_shape"]), spec["classes"])
model.load_weights(spec["weights"])  # the trained unpruned model A
def representative():
    for i in range(0, 256, 32):
        yield [data["x_train"][i:i + 32]]
# MCT's default target platform (IMX500) prunes in SIMD groups of 32 channels, too coarse to reach a
# 1/4-MAC budget on 32/64-channel layers: the same platform with simd_size 1 prunes single channels.
from model_compression_toolkit.target_platform_capabilities.tpc_models.imx500_tpc.v1_0 import tpc as imx500
base_config, mixed_precision, default_config = imx500.get_op_quantization_configs()
single = lambda config: config.clone_and_edit(simd_size=1)
platform = imx500.generate_tpc(default_config=single(default_config), base_config=single(base_config),
                               mixed_precision_cfg_list=[single(c) for c in mixed_precision], name="imx500_simd1")
def macs(keras_model):
    # MACs of the Conv2D / Dense layers (all these families have), as the int8 file counts them
    total = 0
    for layer in keras_model.layers:
        if isinstance(layer, tf.keras.layers.Conv2D):
            total += int(np.prod(layer.output.shape[1:3])) * int(np.prod(layer.kernel.shape))
        elif isinstance(layer, tf.keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return total
def prune(weights_memory):
    target = mct.core.ResourceUtilization(weights_memory=weights_memory)
    return mct.pruning.keras_pruning_experimental(model=model, target_resource_utilization=target,
                                                  representative_data_gen=representative,
                                                  target_platform_capabilities=platform)[0]
# MCT limits weights memory only: start at B's; if the result is over the MAC budget, bisect the
# weights memory in [top / 2, top] for the largest whose pruned model meets it (a target below what
# MCT can reach raises: too low), so E meets both of B's budgets.  When nothing in that window meets
# it, the next window [top / 4, top / 2] is searched, and so on, until one meets it, MCT's floor is
# hit or the windows run out; else E keeps the first result (over the MAC budget).
top = spec["weights_memory"]
pruned, calls = prune(top), 1
met = macs(pruned) <= spec["budget_macs"]
for window in range(spec["windows"] if not met else 0):
    low, high, floor_hit = top / 2, top, False
    while calls < 1 + (window + 1) * (spec["max_prune_calls"] - 1):
        middle, calls = (low + high) / 2, calls + 1
        try:
            candidate = prune(middle)
        except Exception as error:  # MCT: "Insufficient memory for the target resource utilization"
            print(f"MCT at weights memory {middle:.0f}: {error}", file=sys.stderr)
            low, floor_hit = middle, True
            continue
        if macs(candidate) <= spec["budget_macs"]:
            low, spec["weights_memory"], pruned, met = middle, middle, candidate, True
        else:
            high = middle
    if met or floor_hit:
        break
    top /= 2
json.dump({"weights_memory": spec["weights_memory"], "mct_prune_calls": calls, "mct_macs": macs(pruned)},
          open(spec["out"] + ".json", "w"))
tf.keras.utils.set_random_seed(spec["seed"])
rate = learning_rate_schedule(tf.keras, spec["lr_schedule"], spec["epochs"], len(data["x_train"]), spec["batch_size"])
pruned.compile(optimizer=tf.keras.optimizers.Adam(rate),
               loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True))
pruned.fit(data["x_train"], data["y_train"], epochs=spec["epochs"], batch_size=spec["batch_size"], verbose=0)
open(spec["out"], "wb").write(convert_int8(pruned, data["x_train"][:100]))
"""


def run_mct(family_name, base, data, args, weights_memory, budget_macs, seed, fine_tune_epochs):
    """E: MCT's structured pruning of the trained unpruned model A to B's weights memory (lowered
    by bisection until the MAC budget holds too), fine-tuning and int8 conversion, in MCT's own
    venv (TensorFlow 2.15); returns the int8 ``.tflite``."""
    if not args.mct_python:
        return None, {"not_run": "no --mct-python given (MCT needs its own venv with TensorFlow 2.15)"}
    with tempfile.TemporaryDirectory() as tmp:
        weights, out = os.path.join(tmp, "a.weights.h5"), os.path.join(tmp, "e.tflite")
        base.save_weights(weights)
        data_path = os.path.join(tmp, "data.npz")
        np.savez(data_path, x_train=data[0], y_train=data[1])
        spec = {"family": family_name, "input_shape": list(data[0].shape[1:]),
                "classes": int(max(data[1].max(), data[3].max()) + 1), "weights": weights, "out": out,
                "data": data_path, "weights_memory": weights_memory, "budget_macs": budget_macs, "seed": seed,
                "max_prune_calls": 4, "windows": 3, "epochs": fine_tune_epochs, "lr_schedule": args.lr_schedule,
                "batch_size": args.batch_size, "benchmarks_dir": os.path.dirname(os.path.abspath(__file__))}
        with open(os.path.join(tmp, "spec.json"), "w") as handle:
            json.dump(spec, handle)
        script = os.path.join(tmp, "mct_run.py")
        with open(script, "w") as handle:
            handle.write(MCT_SCRIPT)
        # MCT's Keras pruning needs TensorFlow <= 2.15 (Keras 2 as tf.keras): no legacy switch there.
        env = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
        done = subprocess.run([args.mct_python, script, os.path.join(tmp, "spec.json")], capture_output=True,
                              text=True, timeout=3600, env=env)
        if done.returncode != 0:
            return None, {"not_run": "MCT failed: " + (done.stderr.strip().splitlines() or ["?"])[-1][:300]}
        with open(out, "rb") as handle, open(out + ".json") as info:
            return handle.read(), json.load(info)


# ---------------------------------------------------------------------------------------------
# Results file (atomic, resumable), summary and plot
# ---------------------------------------------------------------------------------------------

METHODS = ("A_unpruned", "B_ours", "C_uniform", "D_tfmot", "E_mct")


def row_key(row: dict) -> tuple:
    """What identifies a run: a resumed benchmark skips the keys already in the results file."""
    return row["model"], row["seed"], row["method"], row["budget"]


def write_json(path: str, value) -> None:
    """Write via a temporary file and rename, so a crash never leaves a half-written file."""
    temporary = path + ".tmp"
    with open(temporary, "w") as handle:
        json.dump(value, handle, indent=1)
    os.replace(temporary, path)


def _mean_sd(values: list[float]) -> dict:
    return {"mean": float(np.mean(values)), "sd": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
            "n": len(values)}


def _difference(by_seed: dict, first: str, second: str) -> dict:
    """first − second in percentage points, per seed (seed -> pp) and mean ± sd."""
    per_seed = {seed: 100 * (v[first] - v[second]) for seed, v in sorted(by_seed.items())
                if first in v and second in v}
    return {"per_seed": per_seed, **(_mean_sd(list(per_seed.values())) if per_seed else {})}


def summarise(results: list[dict]) -> dict:
    """Per (model, budget): mean ± sd of int8 accuracy and mean resources per method, whether every
    MAC budget was met on the int8 file, and B − C and B − E per seed."""
    summary: dict = {}
    for model, budget in sorted({(row["model"], row["budget"]) for row in results}):
        rows = [row for row in results if row["model"] == model and row["budget"] == budget]
        entry: dict = {}
        for method in METHODS:
            measured = [row for row in rows if row["method"] == method and "int8_accuracy" in row]
            if measured:
                entry[method] = {**_mean_sd([row["int8_accuracy"] for row in measured]),
                                 **{key: int(np.mean([row[key] for row in measured]))
                                    for key in ("macs", "flash_bytes", "peak_ram_bytes")}}
                met = [row["budget_met_int8"] for row in measured if "budget_met_int8" in row]
                if met:
                    entry[method]["budget_met_int8"] = f"{sum(met)}/{len(met)}"
            not_run = [row["not_run"] for row in rows if row["method"] == method and "not_run" in row]
            if not_run:
                entry.setdefault(method, {})["not_run"] = not_run
        by_seed: dict = {}
        for row in rows:
            if "int8_accuracy" in row:
                by_seed.setdefault(row["seed"], {})[row["method"]] = row["int8_accuracy"]
        entry["B_minus_C_pp"] = _difference(by_seed, "B_ours", "C_uniform")
        entry["B_minus_E_pp"] = _difference(by_seed, "B_ours", "E_mct")
        entry["every_mac_budget_met_int8"] = all(row["budget_met_int8"] for row in rows if "budget_met_int8" in row)
        summary[f"{model} {budget}"] = entry
    return summary


def plot(summary: dict, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(summary)
    methods = ["B_ours", "C_uniform", "D_tfmot", "E_mct"]
    figure, axis = plt.subplots(figsize=(max(6.0, 1.9 * len(labels)), 4.2), layout="constrained")
    width = 0.8 / len(methods)
    for k, method in enumerate(methods):
        means = [100 * summary[label].get(method, {}).get("mean", np.nan) for label in labels]
        sds = [100 * summary[label].get(method, {}).get("sd", 0.0) for label in labels]
        positions = np.arange(len(labels)) + (k - 1.5) * width
        # D zeroes weights but runs every MAC: say so, so its bar is not read as meeting the MAC budget
        axis.bar(positions, means, width, yerr=sds, capsize=3,
                 label=method + (" (all MACs run)" if method == "D_tfmot" else ""))
        for position, label, mean, sd in zip(positions, labels, means, sds):
            met = summary[label].get(method, {}).get("budget_met_int8", "")
            if met and met.split("/")[0] != met.split("/")[1]:  # k/n runs met the MAC budget, k < n
                axis.text(position, mean + sd + 0.3, f"MAC budget\nmet {met}", ha="center", va="bottom", fontsize=6)
            if "not_run" in summary[label].get(method, {}) and "mean" not in summary[label][method]:
                axis.text(position, 0.15, f"{method}: not run", rotation=90, ha="center", va="bottom",
                          fontsize=7, transform=axis.get_xaxis_transform())
    unpruned = [100 * summary[label].get("A_unpruned", {}).get("mean", np.nan) for label in labels]
    axis.scatter(np.arange(len(labels)), unpruned, marker="*", s=120, color="black", zorder=3, label="A_unpruned")
    finite = [v for label in labels for m in methods for v in [summary[label].get(m, {}).get("mean")] if v]
    if finite:
        axis.set_ylim(max(0.0, 100 * min(finite) - 8), 100 * max(finite + [np.nanmax(unpruned) / 100]) + 3)
    axis.set_xlim(-0.5, len(labels) - 0.5)  # room for the bars that were not run, too
    axis.set_xticks(np.arange(len(labels)), labels, fontsize=8)
    axis.set_ylabel("int8 test accuracy (%), mean ± sd")
    axis.set_title(title, fontsize=10)
    axis.legend(fontsize=7, ncols=5, loc="lower center")
    axis.grid(axis="y", alpha=0.3)
    from tflm_unit.plots import save

    save(figure, path, dpi=110)  # constrained layout, long titles wrapped to fit


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist", help="name of an .npz in --data-dir")
    parser.add_argument("--data", help="path of the .npz (overrides --dataset/--data-dir)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--models", default="cnn4_bn", help=f"comma-separated: {', '.join(MODEL_FAMILIES)}")
    parser.add_argument("--fractions", default="0.25,0.125", help="MAC budgets as fractions of the unpruned model")
    parser.add_argument("--epochs", type=int, default=8, help="total training epochs of every method")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine",
                        help="Adam at 2e-3, cosine-decayed to 0 over each method's epochs, or constant "
                             "(the protocol of the reported cnn4_bn runs)")
    parser.add_argument("--train-limit", type=int, default=20000, help="random training subset size")
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--methods", default="A,B,C,D,E")
    parser.add_argument("--mct-python", help="python of a venv with model-compression-toolkit (method E)")
    parser.add_argument("--out", default="benchmarks/results/pruning")
    parser.add_argument("--resume", action="store_true",
                        help="keep the rows of --out's results file and skip the (model, seed, method, budget) "
                             "runs it already has; A's trained weights are reloaded from --out for E")
    parser.add_argument("--summary-only", action="store_true", help="only rewrite summary and plot from the results")
    args = parser.parse_args()

    path = args.data or os.path.join(args.data_dir, f"{args.dataset}.npz")
    dataset = os.path.splitext(os.path.basename(path))[0]
    os.makedirs(args.out, exist_ok=True)
    results_path = os.path.join(args.out, f"results_{dataset}.json")
    summary_path = os.path.join(args.out, f"summary_{dataset}.json")
    results: list[dict] = []
    if (args.resume or args.summary_only) and os.path.exists(results_path):
        with open(results_path) as handle:  # a run that did not happen (E failed) is tried again
            results = [row for row in json.load(handle) if args.summary_only or "not_run" not in row]

    def save_results() -> dict:
        write_json(results_path, results)
        summary = summarise(results)
        write_json(summary_path, {"dataset": dataset, "args": vars(args), "summary": summary})
        return summary

    if not args.summary_only:
        run_all(args, path, dataset, results, save_results)
    summary = save_results()
    seeds = sorted({row["seed"] for row in results})
    plot(summary, os.path.join(args.out, f"pruning_{dataset}.png"),
         f"{dataset}: {args.epochs} epochs each ({args.lr_schedule} learning rate), seeds {seeds}, "
         "int8 accuracy on the test split")
    print(json.dumps(summary, indent=1))
    print(f"wrote {results_path}, {summary_path}, pruning_{dataset}.png")


def run_all(args, path: str, dataset: str, results: list[dict], save_results) -> None:
    """Every (model, seed, budget, method) run not yet in ``results``; the results file is
    rewritten after each run, so an interrupted benchmark continues with ``--resume``."""
    import tf_keras as K

    methods = set(args.methods.split(","))
    fractions = [float(f) for f in args.fractions.split(",") if f]
    labels = {fraction: f"1/{round(1 / fraction)} MACs" for fraction in fractions}
    wanted = [(family, seed, method, labels[fraction]) for family in args.models.split(",")
              for seed in range(args.seeds) for fraction in fractions
              for method in METHODS if method == "A_unpruned" or method[0] in methods]
    done = {row_key(row) for row in results}
    progress = tqdm(total=len(wanted), initial=sum(key in done for key in wanted),
                    desc=f"{dataset} pruning benchmark")

    def find(*key) -> dict | None:
        return next((row for row in results if row_key(row) == key), None)

    for family_name in args.models.split(","):
        family = MODEL_FAMILIES[family_name]
        for seed in range(args.seeds):
            if all(key in done for key in wanted if key[:2] == (family_name, seed)):
                continue
            data = load_dataset(path, args.train_limit, args.test_limit, seed)
            shape, classes = data[0].shape[1:], int(max(data[1].max(), data[3].max()) + 1)
            common = {"dataset": dataset, "model": family_name, "seed": seed, "epochs": args.epochs,
                      "lr_schedule": args.lr_schedule,
                      "train_samples": len(data[0]), "test_samples": len(data[2])}
            weights_path = os.path.join(args.out, "models", f"{family_name}_seed{seed}_A.weights.h5")
            base = None

            def unpruned():
                """A trained (or reloaded from ``weights_path``: E needs it after a resume)."""
                nonlocal base
                if base is None:
                    K.utils.set_random_seed(seed)
                    if os.path.exists(weights_path):
                        base = family(K, shape, classes)
                        base.load_weights(weights_path)
                        return base, {"reloaded": weights_path}
                    base, extra = run_unpruned(K, family, data, args, shape, classes)
                    os.makedirs(os.path.dirname(weights_path), exist_ok=True)
                    base.save_weights(weights_path)
                    return base, extra
                return base, {}

            def record(method, label, model, extra, budget_macs=None):
                row = {**common, "method": method, "budget": label, **extra}
                if model is not None:
                    row = measure(model, data, row)
                    if budget_macs is not None:
                        row.update(budget_macs=budget_macs, budget_met_int8=bool(row["macs"] <= budget_macs))
                results.append(row)
                done.add(row_key(row))
                save_results()
                progress.update(1)
                progress.write(json.dumps({k: v for k, v in row.items() if k != "channels"}))
                return row

            for fraction in fractions:
                label = labels[fraction]
                a_row = find(family_name, seed, "A_unpruned", label)
                if a_row is None:
                    earlier = next((row for row in results if row["model"] == family_name and row["seed"] == seed
                                    and row["method"] == "A_unpruned"), None)
                    if earlier is not None:
                        a_row = record("A_unpruned", label, None, {k: v for k, v in earlier.items()
                                                                    if k not in common and k not in ("method", "budget")})
                    else:
                        model, extra = unpruned()
                        a_row = record("A_unpruned", label, model, extra)
                budget_macs = int(fraction * a_row["macs"])

                def pending(method: str) -> bool:
                    return method[0] in methods and (family_name, seed, method, label) not in done

                if pending("B_ours"):
                    K.utils.set_random_seed(seed)
                    record("B_ours", label, *run_ours(K, family, data, args, shape, classes, fraction), budget_macs)
                if pending("C_uniform"):
                    K.utils.set_random_seed(seed)
                    record("C_uniform", label, *run_uniform(K, family, data, args, shape, classes, budget_macs),
                           budget_macs)
                ours = find(family_name, seed, "B_ours", label)
                weights = ours["weights"] if ours and "weights" in ours else fraction * a_row["weights"]
                if pending("D_tfmot"):
                    # unstructured: matched sparsity, no MAC budget (it zeroes weights, MACs stay)
                    K.utils.set_random_seed(seed)
                    record("D_tfmot", label, *run_tfmot(K, family, data, args, shape, classes,
                                                        1 - weights / a_row["weights"]))
                if pending("E_mct"):
                    # MCT counts weights memory in bytes of the float32 model
                    model, extra = run_mct(family_name, unpruned()[0], data, args, 4.0 * weights, budget_macs, seed,
                                           max(1, args.epochs // 2))
                    record("E_mct", label, model, extra, budget_macs)
    progress.close()


if __name__ == "__main__":
    main()
