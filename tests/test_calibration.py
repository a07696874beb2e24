"""UnIT calibration and evaluation on a tiny trained int8 model (synthetic
data, so CI needs no dataset files)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from tflite_oracle import convert_int8, keras

from tflm_unit.runtime import Interpreter
from tflm_unit.unit.calibration import LinearCycleModel, calibrate, prepare_inputs, threshold_grid
from tflm_unit.unit.evaluation import evaluate

NUM_CLASSES = 4


def synthetic_images(n: int, seed: int):
    """8x8 images: a bright 3x3 blob in one of four quadrants (the label),
    a weaker distractor blob and noise."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, NUM_CLASSES, n)
    x = rng.normal(0.15, 0.12, (n, 8, 8, 1))
    corners = [(0, 0), (0, 4), (4, 0), (4, 4)]
    for i in range(n):
        r, c = corners[y[i]]
        r += rng.integers(0, 2)
        c += rng.integers(0, 2)
        x[i, r:r + 3, c:c + 3, 0] += rng.uniform(0.4, 0.9)
        r2, c2 = corners[rng.integers(0, NUM_CLASSES)]
        x[i, r2 + 1:r2 + 3, c2 + 1:c2 + 3, 0] += rng.uniform(0.0, 0.5)
    return np.clip(x, 0.0, 1.0).astype(np.float32), y


@pytest.fixture(scope="module")
def tiny():
    """(int8 .tflite bytes, calibration x, y) of a small conv net.

    Seeded random weights instead of training (training on several threads is
    not bit-reproducible); the labels are the float net's predictions with
    10 % of them replaced at random, so the int8 model is ~90 % accurate and
    pruning costs accuracy the way it does on real data."""
    k = keras()
    rng = np.random.default_rng(7)
    model = k.Sequential([
        k.layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1)),
        k.layers.Conv2D(8, 3, strides=2, activation="relu"),
        k.layers.Flatten(),
        k.layers.Dense(NUM_CLASSES),
    ])
    weights = []
    for w in model.get_weights():
        if w.ndim > 1:
            weights.append(rng.normal(0, 1 / np.sqrt(np.prod(w.shape[:-1])), w.shape).astype(np.float32))
        else:
            weights.append(rng.normal(0, 0.05, w.shape).astype(np.float32))
    model.set_weights(weights)
    x, _ = synthetic_images(400, seed=2)
    logits = model.predict(x, verbose=0)
    weights[-1] = weights[-1] - logits.mean(axis=0)  # balance the classes
    model.set_weights(weights)
    y = model.predict(x, verbose=0).argmax(axis=1)
    noisy = rng.random(len(y)) < 0.1
    y[noisy] = rng.integers(0, NUM_CLASSES, int(noisy.sum()))
    return convert_int8(model, x[:64]), x, y


def accuracy_with(tflite: bytes, result, x, y) -> float:
    """Independent check: a fresh interpreter with the result's thresholds."""
    interp = Interpreter(tflite)
    result.apply(interp)
    out = interp.run(prepare_inputs(interp, x)).outputs[0]
    return float(np.mean(out.reshape(len(x), -1).argmax(1) == y))


def test_dense_model_is_reasonable(tiny):
    tflite, x, y = tiny
    report = evaluate(tflite, x, y, thresholds="dense")
    assert report["accuracy"] > 0.6
    assert report["mac_reduction"] == 0.0


@pytest.mark.parametrize("budget", [0.0, 0.01, 0.05])
def test_budget_holds_on_calibration_data(tiny, budget):
    tflite, x, y = tiny
    result = calibrate(tflite, x, y, max_accuracy_drop=budget, progress=False)
    assert result.accuracy_dense - result.accuracy_unit <= budget + 1e-12
    assert accuracy_with(tflite, result, x, y) == pytest.approx(result.accuracy_unit)
    dense = evaluate(tflite, x, y, thresholds="dense")["accuracy"]
    assert dense == pytest.approx(result.accuracy_dense)


def test_more_budget_never_skips_fewer_macs(tiny):
    tflite, x, y = tiny
    # The search alone is budget independent (the confirmation's steps back are not).
    reductions = [calibrate(tflite, x, y, max_accuracy_drop=b, progress=False, confirm_fraction=0).mac_reduction
                  for b in (0.0, 0.005, 0.02, 0.05, 0.1)]
    assert all(b >= a - 1e-12 for a, b in zip(reductions, reductions[1:])), reductions
    assert reductions[-1] > reductions[0] + 0.1, reductions  # thresholds skip more than zeros do


def test_higher_confidence_is_stricter(tiny):
    tflite, x, y = tiny
    plain = calibrate(tflite, x, y, 0.05, confidence=0.6, progress=False)
    careful = calibrate(tflite, x, y, 0.05, confidence=0.95, progress=False)
    assert careful.mac_reduction <= plain.mac_reduction + 1e-12
    assert careful.confirmed_interval[1] <= 0.05 + 1e-12
    assert careful.summary()["confidence"] == 0.95
    assert careful.guaranteed


def evaluate_predictions(tflite: bytes, result, x) -> np.ndarray:
    interp = Interpreter(tflite)
    if result is not None:
        result.apply(interp)
    return interp.run(prepare_inputs(interp, x)).outputs[0].reshape(len(x), -1).argmax(1)


@pytest.mark.parametrize("division", ["shift", "exact"])
def test_per_group_never_worse_than_per_layer(tiny, division):
    tflite, x, y = tiny
    # By construction on the search data (confirmation off: it could step back differently).
    layer = calibrate(tflite, x, y, max_accuracy_drop=0.02, division=division, progress=False, confirm_fraction=0)
    group = calibrate(tflite, x, y, max_accuracy_drop=0.02, division=division, group_size=2, progress=False,
                      confirm_fraction=0)
    assert group.strategy == "group"
    assert group.mac_reduction >= layer.mac_reduction - 1e-12
    assert group.accuracy_dense - group.accuracy_unit <= 0.02 + 1e-12
    assert [lay.thresholds_int.size for lay in group.layers] == [2, 4, 2]
    assert accuracy_with(tflite, group, x, y) == pytest.approx(group.accuracy_unit)


def test_per_layer_never_worse_than_one_global_threshold(tiny):
    tflite, x, y = tiny
    layer = calibrate(tflite, x, y, max_accuracy_drop=0.02, progress=False, confirm_fraction=0)
    one = calibrate(tflite, x, y, max_accuracy_drop=0.02, strategy="global", progress=False, confirm_fraction=0)
    assert layer.mac_reduction >= one.mac_reduction - 1e-12
    # One real T: the real thresholds of all layers agree to rounding of T_q.
    reals = [lay.thresholds_real[0] for lay in one.layers if lay.thresholds_int[0] > 0]
    units = [lay.thresholds_real[0] / lay.thresholds_int[0] for lay in one.layers if lay.thresholds_int[0] > 0]
    assert max(reals) - min(reals) <= max(units)


def test_deterministic_for_a_seed(tiny):
    tflite, x, y = tiny
    a = calibrate(tflite, x, y, 0.02, group_size=4, max_samples=300, seed=3, progress=False)
    b = calibrate(tflite, x, y, 0.02, group_size=4, max_samples=300, seed=3, progress=False)
    assert a.to_metadata() == b.to_metadata()
    assert a.path == b.path
    assert a.num_samples == 300


def test_cost_in_dense_passes_wall_and_cpu(tiny):
    """measure_cost: both ratios present, positive, and the timing pass is left out of the metadata."""
    tflite, x, y = tiny
    result = calibrate(tflite, x, y, 0.02, progress=False, measure_cost=True)
    timing = result.timing()
    for key in ("seconds", "dense_pass_seconds", "cpu_seconds", "dense_pass_cpu_seconds"):
        assert timing[key] > 0, key
    assert timing["cost_dense_passes"] == pytest.approx(timing["seconds"] / timing["dense_pass_seconds"])
    assert timing["cost_dense_passes_cpu"] == pytest.approx(timing["cpu_seconds"] / timing["dense_pass_cpu_seconds"])
    assert timing["cost_dense_passes"] > 1  # a search runs more than one dense pass
    assert calibrate(tflite, x, y, 0.02, progress=False).timing()["cost_dense_passes"] is None
    assert "cpu_seconds" not in str(result.to_metadata())


def test_interpreter_thresholds_are_restored(tiny):
    tflite, x, y = tiny
    interp = Interpreter(tflite)
    calibrate(interp, x, y, 0.05, progress=False)
    assert all(interp.skip_setting(op.index) is None for op in interp.mac_layers())


def test_cycles_objective(tiny):
    tflite, x, y = tiny
    model = LinearCycleModel()
    result = calibrate(tflite, x, y, 0.02, objective="cycles", cycle_model=model, division="clz", progress=False)
    assert result.cycles_unit < result.cycles_dense
    assert result.accuracy_dense - result.accuracy_unit <= 0.02 + 1e-12
    with pytest.raises(ValueError):
        calibrate(tflite, x, y, 0.02, objective="cycles", progress=False)


def test_cycles_objective_with_the_msp430_cycle_model(tiny):
    cycle_model = pytest.importorskip("tflm_unit.msp430.cycle_model")
    from tflm_unit.runtime import Interpreter
    from tflm_unit.unit.calibration import LayerWork

    try:
        model = cycle_model.load_cycle_model("hardware")
    except FileNotFoundError:
        pytest.skip("no fitted MSP430 cycle model")
    tflite, x, y = tiny
    result = calibrate(tflite, x, y, 0.02, objective="cycles", cycle_model=model, division="shift", progress=False,
                       confirm_fraction=0)
    assert result.summary()["cycles_unit"] == result.cycles_unit
    # The estimate is the model applied to each calibrated layer's work.  (No claim that it is
    # below the dense one: against the MSP430's output-stationary dense kernels this net's small
    # layers do not pay for a compare-per-MAC walk's set-up, nor its FC layer for the C UnIT FC.)
    graph = Interpreter(tflite).graph
    expected = 0.0
    for layer in result.layers:
        op = graph.operators[layer.op_index]
        name = op.name[len("UNIT_"):] if op.name.startswith("UNIT_") else op.name
        weights = graph.tensor(op.inputs[1]).data
        out_shape = graph.tensor(op.outputs[0]).shape
        groups = int(out_shape[-1]) // layer.group_size
        divisions = (float(weights.shape[1] * groups) if name == "FULLY_CONNECTED"
                     else float(np.count_nonzero(weights)))
        expected += model.layer_cycles(LayerWork(
            op_name=name, unit=True, division="shift", macs_total=layer.macs_dense,
            macs_executed=layer.macs_executed, divisions=divisions, outputs=int(np.prod(out_shape[1:])),
            group_size=layer.group_size, num_groups=groups,
            input_elements=int(np.prod(graph.tensor(op.inputs[0]).shape[1:])),
            output_rows=int(out_shape[1]) if len(out_shape) == 4 else 1,
            walked_weights=_walked_conv_weights(weights, layer) if name == "CONV_2D" else 0.0))
    assert result.cycles_unit == pytest.approx(expected)


def _walked_conv_weights(weights, layer, division="shift") -> float:
    """Non-zero conv weights whose quotient T_q / |w| is below 255 (the ones the kernels walk)."""
    from tflm_unit.core.kernels import divide

    walked = 0
    for channel, row in enumerate(np.abs(weights.reshape(weights.shape[0], -1).astype(np.int32))):
        d = row[row > 0]
        t = np.full(d.shape, int(layer.thresholds_int[channel // layer.group_size]))
        walked += int(np.count_nonzero(divide(t, d, division) < 255))
    return float(walked)


def test_metadata_and_converter_round_trip(tiny):
    """The real thresholds given to the converter run exactly as calibrated."""
    from tflm_unit.converter import apply_thresholds, read_unit_config

    tflite, x, y = tiny
    result = calibrate(tflite, x, y, 0.02, group_size=2, progress=False, dataset="synthetic")
    meta = result.to_metadata()
    json.dumps(meta)
    assert meta["calibration"]["num_samples"] == len(x)
    assert meta["calibration"]["mac_reduction"] == pytest.approx(result.mac_reduction)
    unit_model = apply_thresholds(tflite, **result.converter_kwargs())
    report = evaluate(unit_model, x, y)
    assert report["accuracy"] == pytest.approx(result.accuracy_unit)
    assert report["macs_executed"] == pytest.approx(result.macs_executed)
    stored = read_unit_config(unit_model)
    assert [op["thresholds_int"] for op in stored["ops"]] == [lay.thresholds_int.tolist() for lay in result.layers]
    assert stored["calibration"]["dataset"] == "synthetic"


def test_evaluate_report_and_plot(tiny, tmp_path):
    tflite, x, y = tiny
    result = calibrate(tflite, x, y, 0.05, progress=False)
    png = tmp_path / "skip.png"
    report = evaluate(tflite, x, y, thresholds=result, plot_path=png)
    assert png.stat().st_size > 1000
    assert set(report) >= {"accuracy", "macs_dense", "macs_executed", "mac_reduction", "layers"}
    assert len(report["layers"]) == 3
    for layer in report["layers"]:
        assert set(layer) >= {"macs_dense", "macs_executed", "mac_reduction"}
    assert report["macs_executed"] == pytest.approx(sum(lay["macs_executed"] for lay in report["layers"]))
    assert report["mac_reduction"] == pytest.approx(result.mac_reduction)
    assert evaluate(tflite, x, y, thresholds=result, limit=50)["num_samples"] == 50


def test_threshold_grid():
    grid = threshold_grid()
    assert grid[0] == 0 and grid[-1] == 32767
    assert np.all(np.diff(grid) > 0)


def test_rejects_bad_arguments(tiny):
    tflite, x, y = tiny
    with pytest.raises(ValueError):
        calibrate(tflite, x, y, division="nope", progress=False)
    with pytest.raises(ValueError):
        calibrate(tflite, x, y, strategy="group", progress=False)
    with pytest.raises(ValueError):
        calibrate(tflite, x, y[:-1], progress=False)


@pytest.mark.parametrize("group_size", [None, 4])
def test_activation_cache_gives_the_same_result(tiny, monkeypatch, group_size):
    """Resuming from cached prefix activations (and evicting them) changes no
    threshold, path point or confirmation number; the cache is really used."""
    from tflm_unit.unit.calibration import runner as runner_module

    tflite, x, y = tiny
    runners = []
    original_init = runner_module.Runner.__init__

    def recording_init(self, *args, **kwargs):
        runners.append(self)
        original_init(self, *args, **kwargs)

    monkeypatch.setattr(runner_module.Runner, "__init__", recording_init)
    results = {}
    for name, limit in (("cached", runner_module.CACHE_BYTES), ("evicting", 1), ("uncached", 0)):
        monkeypatch.setattr(runner_module, "CACHE_BYTES", limit)
        runners.clear()
        results[name] = calibrate(tflite, x, y, 0.03, group_size=group_size, seed=1, progress=False)
        hits = sum(r.cache_hits for r in runners)
        if name == "uncached":
            assert hits == 0
        else:
            assert hits > 0, name
    def without_run_count(result):
        metadata = result.to_metadata()
        metadata["calibration"].pop("search_runs")  # the one number the cache changes
        return metadata

    reference = results["uncached"]
    for name in ("cached", "evicting"):
        assert without_run_count(results[name]) == without_run_count(reference), name
        assert results[name].path == reference.path, name
        assert results[name].confirmation == reference.confirmation, name
    assert results["cached"].search_runs < reference.search_runs


def test_joint_search_walks_on_when_the_first_global_threshold_flips_a_prediction(tiny, monkeypatch):
    """Deep nets (a CIFAR ResNet-8) flip a prediction at the smallest global T,
    so the joint search starts at T = 0; its moves must still raise each layer
    (they used to multiply 0 by the step ratio and stop with no threshold skips)."""
    from tflm_unit.unit.calibration import search as search_module

    tflite, x, y = tiny
    original_global, original_joint = search_module.Search.global_path, search_module.Search.joint_path
    paths = []

    def global_path_flipping_at_once(self, multipliers=None):
        path = original_global(self, multipliers)
        if multipliers is None:  # as if the first non-zero global T changed a prediction
            self.global_points = self.global_points[:1]
            self.global_points[0][1].disagreement = 0.5
        return path

    def recording_joint(self):
        path = original_joint(self)
        paths.append(path)
        return path

    monkeypatch.setattr(search_module.Search, "global_path", global_path_flipping_at_once)
    monkeypatch.setattr(search_module.Search, "joint_path", recording_joint)
    result = calibrate(tflite, x, y, max_accuracy_drop=0.1, progress=False, confirm_fraction=0)
    (joint,) = paths
    assert all(not np.any(t) for t in joint[0].config.values())  # it starts at T = 0
    assert len(joint) > 3 and joint[-1].macs_executed < 0.9 * joint[0].macs_executed
    assert result.macs_skipped_threshold > 0


def test_search_stops_where_the_confirmation_would_reject():
    """With a confirmation split, a path ends after ``patience`` points whose
    paired upper bound on the search split exceeds the budget, even when their
    point estimates are within it: 4 of 500 predictions worse is a 0.8 pp drop
    but bounded at 1.35 pp (confidence 0.9), which the confirmation rejects."""
    from types import SimpleNamespace

    from tflm_unit.unit.calibration.runner import Point
    from tflm_unit.unit.calibration.search import Progress, Search

    n = 500
    dense_correct = np.ones(n, dtype=bool)
    runner = SimpleNamespace(dense=SimpleNamespace(correct=dense_correct, accuracy=1.0))

    def point(worse: int) -> Point:
        correct = dense_correct.copy()
        correct[:worse] = False
        return Point({}, None, {}, float(correct.mean()), worse / n, 0.0, 0.0, 0.0, correct)

    unconfirmed = Search(runner, runner, threshold_grid(), 0.01, Progress(False))
    confirmed = Search(runner, runner, threshold_grid(), 0.01, Progress(False), stop_confidence=0.9)
    risky = [point(4)] * 3
    assert all(unconfirmed.within_budget(p) and confirmed.within_budget(p) for p in risky)
    assert unconfirmed.keep_going(risky)
    assert not confirmed.keep_going(risky)
    assert confirmed.keep_going(risky[:2] + [point(1)])  # 1 of 500: bounded at 0.56 pp
    assert not confirmed.keep_going([point(6)] * 3) and not unconfirmed.keep_going([point(6)] * 3)


def test_confirmation_chain_never_puts_a_riskier_point_before_a_cheaper_safer_one():
    """The walk stops at its first rejected point, so a costly point with more
    changed predictions on the search split than a cheaper one is left out."""
    from types import SimpleNamespace

    from tflm_unit.unit.calibration.pipeline import _least_risk_front
    from tflm_unit.unit.calibration.runner import Point
    from tflm_unit.unit.calibration.search import Progress, Search

    n = 500
    dense_correct = np.ones(n, dtype=bool)
    runner = SimpleNamespace(dense=SimpleNamespace(correct=dense_correct, accuracy=1.0))
    search = Search(runner, runner, threshold_grid(), 0.01, Progress(False), stop_confidence=0.9)

    def point(cost: float, worse: int) -> Point:
        correct = dense_correct.copy()
        correct[:worse] = False
        return Point({}, None, {}, float(correct.mean()), worse / n, 0.0, cost, cost, correct)

    by_cost = [point(10, 2), point(9, 3), point(8, 1), point(7, 4)]  # descending cost
    front = _least_risk_front(by_cost, search.risk)
    assert [p.cost for p in front] == [8, 7]
    safe_first = [point(10, 0), point(9, 1), point(8, 2)]
    assert _least_risk_front(safe_first, search.risk) == safe_first
