"""Benchmark: differentiable MCU-aware structured pruning vs unpruned, tfmot and a uniform pruner.

For each (dataset, model family) it trains the unpruned model, then from those weights:

* **this method** — ``prepare`` + ``DifferentiablePruning`` at several budgets (1/2, 1/4, 1/8 of
  the unpruned MACs, flash and peak RAM at once, and the MSP430FR5994 board preset), ``strip``;
* **tfmot** — ``prune_low_magnitude`` at the sparsity matching the 1/4-budget model's weight
  count (unstructured: zeros, so the TFLM file, flash and arena do not shrink);
* **uniform L1 filter pruning** — an in-house, resource-unaware structured baseline (no other
  structured pruner for Keras is installed): every prunable layer keeps the same fraction of
  its highest-L1-norm channels, fraction chosen as large as the 1/4 budget allows, then fine-tuned.

Every model is converted full-int8 with ``tf.lite.TFLiteConverter``; the table reports float and
int8 test accuracy, MACs, flash (constant tensor bytes), the real TFLM arena (non-persistent
section, ``tflite_micro`` interpreter), the ``.tflite`` size, and the training time with the
callback against plain training of the unpruned model. Writes ``results.json`` and one PNG per
dataset into ``--out``.

    python benchmarks/pruning_benchmark.py --dataset mnist --train-limit 12000 --epochs 3
"""

from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
from tqdm import tqdm

DEFAULT_DATA_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "datasets")


# ---------------------------------------------------------------------------------------------
# Data and models
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


def small_cnn(K, input_shape, classes):
    """Two conv blocks + a hidden dense layer (a common MCU image classifier)."""
    L = K.layers
    return K.Sequential([
        L.Input(input_shape),
        L.Conv2D(32, 3, use_bias=False, name="conv1"), L.BatchNormalization(momentum=0.9, name="bn1"), L.ReLU(),
        L.MaxPooling2D(),
        L.Conv2D(64, 3, use_bias=False, name="conv2"), L.BatchNormalization(momentum=0.9, name="bn2"), L.ReLU(),
        L.MaxPooling2D(),
        L.Flatten(),
        L.Dense(64, activation="relu", name="fc1"),
        L.Dense(classes, name="logits"),
    ], name="small_cnn")


def ds_cnn(K, input_shape, classes, width=48, blocks=4):
    """DS-CNN style (as MLPerf Tiny's keyword-spotting model): strided conv + depthwise-separable blocks."""
    L = K.layers
    x = inputs = L.Input(input_shape)
    x = L.Conv2D(width, 3, strides=2, padding="same", use_bias=False, name="stem")(x)
    x = L.ReLU()(L.BatchNormalization(momentum=0.9, name="stem_bn")(x))
    for block in range(blocks):
        x = L.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"dw{block}")(x)
        x = L.ReLU()(L.BatchNormalization(momentum=0.9, name=f"dw{block}_bn")(x))
        x = L.Conv2D(width, 1, use_bias=False, name=f"pw{block}")(x)
        x = L.ReLU()(L.BatchNormalization(momentum=0.9, name=f"pw{block}_bn")(x))
        if block == 1:
            x = L.MaxPooling2D()(x)
    x = L.GlobalAveragePooling2D()(x)
    return K.Model(inputs, L.Dense(classes, name="logits")(x), name="ds_cnn")


MODEL_FAMILIES = {"small_cnn": small_cnn, "ds_cnn": ds_cnn}


# ---------------------------------------------------------------------------------------------
# Measuring a model
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


def measure(name: str, model, data, extra: dict | None = None) -> dict:
    from tflm_unit import resources

    x_train, _, x_test, y_test = data
    estimate = resources.keras_resources(model)
    tflite = convert_int8(model, x_train[:100])
    arena = resources.tflm_arena_report(tflite)
    from_file = resources.tflite_resources(tflite)
    logits = model.predict(x_test, batch_size=256, verbose=0)
    row = {
        "name": name,
        "float_accuracy": float(np.mean(np.argmax(logits, axis=1) == y_test)),
        "int8_accuracy": int8_accuracy(tflite, x_test, y_test),
        "macs": from_file.macs,
        "flash_bytes": from_file.flash_bytes,
        "peak_ram_bytes": arena["head"],
        "estimated_flash_bytes": estimate.flash_bytes,
        "estimated_peak_ram_bytes": estimate.peak_ram_bytes,
        "tflite_bytes": len(tflite),
        "weights": int(sum(np.prod(w.shape) for layer in model.layers for w in layer.get_weights()
                           if type(layer).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense") and w.ndim > 1)),
    }
    row.update(extra or {})
    return row


# ---------------------------------------------------------------------------------------------
# Training runs
# ---------------------------------------------------------------------------------------------


def compile_model(K, model, learning_rate=1e-3):
    model.compile(optimizer=K.optimizers.Adam(learning_rate),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])


def copy_model(K, model):
    clone = K.models.clone_model(model)
    clone.set_weights(model.get_weights())
    return clone


def timed_fit(model, data, epochs, batch_size, callbacks=()):
    x_train, y_train = data[0], data[1]
    started = time.perf_counter()
    model.fit(x_train, y_train, epochs=epochs, batch_size=batch_size, callbacks=list(callbacks), verbose=0)
    return time.perf_counter() - started


def run_ours(K, base, budget, data, epochs, batch_size):
    from tflm_unit.pruning import DifferentiablePruning, prepare, strip

    gated = prepare(copy_model(K, base))
    compile_model(K, gated)
    callback = DifferentiablePruning(budget, verbose=0)
    seconds = timed_fit(gated, data, epochs, batch_size, [callback])
    return strip(gated), seconds, callback


def run_tfmot(K, base, sparsity, data, epochs, batch_size):
    import tensorflow_model_optimization as tfmot

    schedule = tfmot.sparsity.keras.ConstantSparsity(sparsity, begin_step=0, frequency=50)
    pruned = tfmot.sparsity.keras.prune_low_magnitude(copy_model(K, base), pruning_schedule=schedule)
    compile_model(K, pruned)
    seconds = timed_fit(pruned, data, epochs, batch_size, [tfmot.sparsity.keras.UpdatePruningStep()])
    # strip_pruning re-uses the wrapped layers (two call sites each); clone for a clean graph.
    return copy_model(K, tfmot.sparsity.keras.strip_pruning(pruned)), seconds


def run_uniform_l1(K, base, budget, data, epochs, batch_size):
    """Keep the same fraction of highest-L1 channels in every prunable group, then fine-tune."""
    from tflm_unit.pruning import gate_layers, prepare, strip
    from tflm_unit.resources import KerasResourceModel

    gated = prepare(copy_model(K, base))
    model_resources = KerasResourceModel(gated)
    groups = model_resources.prunable_groups

    def counts_for(fraction):
        counts = model_resources.full_counts()
        for group in groups:
            counts[group.index] = max(1, int(round(fraction * group.full_size)))
        return counts

    low, high = 0.0, 1.0
    for _ in range(30):  # largest uniform fraction that meets the budget
        middle = (low + high) / 2
        if model_resources.evaluate(counts_for(middle)).meets(budget):
            low = middle
        else:
            high = middle
    counts = counts_for(low)
    for group in groups:
        norms = np.zeros(group.full_size)
        for gate in gate_layers(gated):
            if model_resources.output_layout(gate.name) == [group.index]:
                layer = gated.get_layer(gate.fold_into)
                if type(layer).__name__ == "BatchNormalization":
                    norms += np.abs(layer.get_weights()[0])
                else:
                    kernel = layer.get_weights()[0]
                    axis = 2 if type(layer).__name__ == "DepthwiseConv2D" else -1
                    norms += np.abs(np.moveaxis(kernel, axis, -1)).reshape(-1, group.full_size).sum(axis=0)
        keep = np.zeros(group.full_size, dtype=np.float32)
        keep[np.argsort(-norms)[:int(counts[group.index])]] = 1
        for gate in gate_layers(gated):
            if model_resources.output_layout(gate.name) == [group.index]:
                gate.mask.assign(keep)
    small = strip(gated)
    compile_model(K, small)
    seconds = timed_fit(small, data, epochs, batch_size)
    return small, seconds, float(low)


def measure_overhead(K, family_builder, data, budget_factor, repeats, batch_size, input_shape, classes) -> dict:
    """Training time of one epoch: plain model vs gated model + callback, alternated ``repeats``
    times on fresh models (the minimum of each is reported, to damp noise from a shared machine)."""
    from tflm_unit import resources
    from tflm_unit.pruning import DifferentiablePruning, prepare
    from tflm_unit.resources import Budget

    plain_times, pruning_times, callback_times = [], [], []
    for _ in tqdm(range(repeats), desc="overhead"):
        plain = family_builder(K, input_shape, classes)
        compile_model(K, plain)
        plain_times.append(timed_fit(plain, data, 1, batch_size))
        model = family_builder(K, input_shape, classes)
        full = resources.keras_resources(model)
        budget = Budget(macs=full.macs // budget_factor, flash_bytes=full.flash_bytes // budget_factor,
                        peak_ram_bytes=full.peak_ram_bytes // budget_factor)
        gated = prepare(model)
        compile_model(K, gated)
        callback = DifferentiablePruning(budget, verbose=0)
        pruning_times.append(timed_fit(gated, data, 1, batch_size, [callback]))
        callback_times.append(callback.seconds_in_callback)
    return {"plain_epoch_seconds": min(plain_times), "pruning_epoch_seconds": min(pruning_times),
            "overhead": min(pruning_times) / min(plain_times) - 1,
            "callback_seconds": min(callback_times), "all_plain": plain_times, "all_pruning": pruning_times}


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def plot(results: list[dict], path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [("macs", "MACs"), ("peak_ram_bytes", "peak RAM (TFLM arena, bytes)"), ("flash_bytes", "flash (bytes)")]
    families = sorted({row["model"] for row in results})
    figure, axes = plt.subplots(len(families), 3, figsize=(15, 4.2 * len(families)), squeeze=False)
    markers = {"unpruned": "*", "ours": "o", "tfmot": "s", "uniform_l1": "^"}
    for row_index, family in enumerate(families):
        rows = [row for row in results if row["model"] == family]
        for column, (key, label) in enumerate(metrics):
            axis = axes[row_index][column]
            for method, marker in markers.items():
                selected = [row for row in rows if row["method"] == method]
                if selected:
                    axis.scatter([row[key] for row in selected], [100 * row["int8_accuracy"] for row in selected],
                                 marker=marker, s=70, label=method)
                    for row in selected:
                        axis.annotate(row["name"].split(":")[-1], (row[key], 100 * row["int8_accuracy"]), fontsize=7)
            axis.set_xscale("log")
            axis.set_xlabel(label)
            axis.set_ylabel("int8 test accuracy (%)")
            axis.set_title(f"{results[0]['dataset']} / {family}")
            axis.grid(alpha=0.3)
            axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="mnist", help="name of an .npz in --data-dir (mnist, cifar10, ...)")
    parser.add_argument("--data", help="path of the .npz (overrides --dataset/--data-dir)")
    parser.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    parser.add_argument("--models", default="small_cnn,ds_cnn")
    parser.add_argument("--epochs", type=int, default=3, help="epochs of unpruned training and of each pruning run")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--train-limit", type=int, default=None, help="random training subset size")
    parser.add_argument("--test-limit", type=int, default=None)
    parser.add_argument("--factors", default="2,4,8", help="budgets: unpruned resources divided by these")
    parser.add_argument("--board", default="msp430fr5994", help="board preset budget to add ('' for none)")
    parser.add_argument("--out", default="benchmarks/results/pruning")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overhead-repeats", type=int, default=0,
                        help="only measure the callback's training-time overhead (N alternating 1-epoch runs)")
    args = parser.parse_args()

    import tf_keras as K

    from tflm_unit import resources
    from tflm_unit.resources import Budget, BudgetError

    path = args.data or os.path.join(args.data_dir, f"{args.dataset}.npz")
    dataset = os.path.splitext(os.path.basename(path))[0]
    data = load_dataset(path, args.train_limit, args.test_limit, args.seed)
    classes = int(max(data[1].max(), data[3].max()) + 1)
    os.makedirs(args.out, exist_ok=True)
    results: list[dict] = []
    common = {"dataset": dataset, "epochs": args.epochs, "train_samples": len(data[0]), "test_samples": len(data[2])}

    if args.overhead_repeats:
        overhead = {family: measure_overhead(K, MODEL_FAMILIES[family], data, 4, args.overhead_repeats,
                                             args.batch_size, data[0].shape[1:], classes)
                    for family in args.models.split(",")}
        with open(os.path.join(args.out, f"overhead_{dataset}.json"), "w") as handle:
            json.dump({**common, "overhead": overhead}, handle, indent=1)
        print(json.dumps(overhead))
        return

    for family in args.models.split(","):
        K.utils.set_random_seed(args.seed)
        base = MODEL_FAMILIES[family](K, data[0].shape[1:], classes)
        compile_model(K, base)
        base_seconds = timed_fit(base, data, args.epochs, args.batch_size)
        unpruned = measure(f"{family}:unpruned", base, data, {**common, "model": family, "method": "unpruned",
                                                            "train_seconds": base_seconds})
        results.append(unpruned)
        print(json.dumps(unpruned))
        full = resources.keras_resources(base)
        budgets = {f"1/{f}": Budget(macs=full.macs // int(f), flash_bytes=full.flash_bytes // int(f),
                                    peak_ram_bytes=full.peak_ram_bytes // int(f))
                   for f in args.factors.split(",") if f}
        if args.board:
            budgets[args.board] = Budget.for_board(args.board)
        quarter_weights = None
        quarter_budget = budgets.get("1/4")
        for label, budget in tqdm(budgets.items(), desc=f"{dataset}/{family} budgets"):
            try:
                small, seconds, callback = run_ours(K, base, budget, data, args.epochs, args.batch_size)
            except BudgetError as error:
                results.append({**common, "name": f"{family}:ours:{label}", "model": family, "method": "ours",
                                "budget": label, "error": str(error)})
                print(f"{family} {label}: {error}")
                continue
            row = measure(f"{family}:ours:{label}", small, data, {
                **common, "model": family, "method": "ours", "budget": label, "budget_limits": budget.limits(),
                "budget_met": resources.keras_resources(small).meets(budget),
                "budget_met_at_step": callback.budget_met_at_step, "train_seconds": seconds,
                "training_overhead_vs_unpruned": seconds / base_seconds - 1,
                "callback_seconds": callback.seconds_in_callback,
                "callback_share_of_training": callback.seconds_in_callback / seconds,
                "channels": callback.history[-1]["channels"]})
            results.append(row)
            print(json.dumps(row))
            if label == "1/4":
                quarter_weights = row["weights"]
        if quarter_weights is not None:
            sparsity = 1 - quarter_weights / unpruned["weights"]
            pruned, seconds = run_tfmot(K, base, sparsity, data, args.epochs, args.batch_size)
            row = measure(f"{family}:tfmot:{sparsity:.2f}", pruned, data, {
                **common, "model": family, "method": "tfmot", "sparsity": sparsity, "train_seconds": seconds})
            results.append(row)
            print(json.dumps(row))
        if quarter_budget is not None:
            small, seconds, fraction = run_uniform_l1(K, base, quarter_budget, data, args.epochs, args.batch_size)
            row = measure(f"{family}:uniform_l1:1/4", small, data, {
                **common, "model": family, "method": "uniform_l1", "budget": "1/4", "kept_fraction": fraction,
                "train_seconds": seconds})
            results.append(row)
            print(json.dumps(row))
        with open(os.path.join(args.out, f"results_{dataset}.json"), "w") as handle:
            json.dump(results, handle, indent=1)

    plot([row for row in results if "error" not in row], os.path.join(args.out, f"pruning_{dataset}.png"))
    print(f"wrote {args.out}/results_{dataset}.json and pruning_{dataset}.png")


if __name__ == "__main__":
    main()
