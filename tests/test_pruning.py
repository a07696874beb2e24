"""Structured pruning: prepare, strip, the DifferentiablePruning callback, both Keras flavours."""

import os
import subprocess
import sys
import textwrap

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import numpy as np
import pytest

from tflm_unit import resources
from tflm_unit.pruning import Budget, BudgetError, DifferentiablePruning, gate_layers, prepare, strip
from tflm_unit.resources import KerasResourceModel, UnsupportedLayerError


@pytest.fixture
def K(keras_flavour):
    return keras_flavour


def residual_model(K):
    L = K.layers
    inp = L.Input((10, 10, 2))
    x = L.Conv2D(12, 3, padding="same", use_bias=False, name="stem")(inp)
    x = L.BatchNormalization(name="stem_bn")(x)
    x = L.ReLU()(x)
    y = L.Conv2D(10, 3, padding="same", activation="relu", name="expand")(x)
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(y)
    y = L.Conv2D(12, 1, name="project")(y)
    x = L.ReLU()(L.Add()([x, y]))
    x = L.MaxPooling2D()(x)
    z = L.Conv2D(6, 3, padding="same", activation="relu", name="side")(x)
    x = L.Concatenate()([x, z])
    x = L.Flatten()(x)
    x = L.Dense(16, activation="relu", name="fc")(x)
    return K.Model(inp, L.Dense(3, name="logits")(x))


def synthetic_data(n=192, seed=0):
    """A learnable 3-class task: which quadrant of the image is brightest."""
    rng = np.random.default_rng(seed)
    x = rng.random((n, 10, 10, 2)).astype(np.float32) * 0.5
    y = rng.integers(0, 3, n)
    for i, label in enumerate(y):
        r, c = divmod(int(label), 2)
        x[i, r * 5:(r + 1) * 5, c * 5:(c + 1) * 5, :] += 0.5
    return x, y


def randomise_gates(gated, rng):
    resource_model = KerasResourceModel(gated)
    masks = {}
    for group in resource_model.prunable_groups:
        keep = np.zeros(group.full_size, dtype=np.float32)
        keep[rng.choice(group.full_size, size=int(rng.integers(1, group.full_size)), replace=False)] = 1
        masks[group.index] = keep
    for gate in gate_layers(gated):
        (group,) = resource_model.output_layout(gate.name)
        gate.mask.assign(masks[group])
        gate.gate.assign(rng.uniform(-1.5, 1.5, gate.gate.shape).astype(np.float32))
    return resource_model, masks


def test_prepare_keeps_function_and_places_gates(K):
    K.utils.set_random_seed(0)
    model = residual_model(K)
    gated = prepare(model)
    x, _ = synthetic_data(8)
    np.testing.assert_allclose(gated(x, training=False), model(x, training=False), rtol=1e-5, atol=1e-5)
    folds = {gate.name: gate.fold_into for gate in gate_layers(gated)}
    assert folds == {"stem_bn_gate": "stem_bn", "expand_gate": "expand", "dw_gate": "dw",
                     "project_gate": "project", "side_gate": "side", "fc_gate": "fc"}
    assert gated.get_layer("expand").get_config()["activation"] == "linear"
    assert gated.get_layer("expand_activation").get_config()["activation"] == "relu"
    with pytest.raises(ValueError, match="already prepared"):
        prepare(gated)


def test_strip_equals_gated_and_is_smaller(K):
    K.utils.set_random_seed(1)
    rng = np.random.default_rng(1)
    gated = prepare(residual_model(K))
    for layer in gated.layers:  # make BatchNorm statistics non-trivial
        if type(layer).__name__ == "BatchNormalization":
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape) for w in layer.get_weights()])
    resource_model, masks = randomise_gates(gated, rng)
    small = strip(gated)
    x, _ = synthetic_data(16, seed=2)
    expected = np.asarray(gated(x, training=False))
    np.testing.assert_allclose(small(x, training=False), expected, rtol=1e-4, atol=1e-5 * np.abs(expected).max())
    assert not gate_layers(small)
    stem = resource_model.group_of_layer("stem").index
    expand = resource_model.group_of_layer("expand").index
    assert small.get_layer("stem").get_config()["filters"] == masks[stem].sum()
    assert small.get_layer("project").get_config()["filters"] == masks[stem].sum()  # coupled by the Add
    assert small.get_layer("expand").get_config()["filters"] == masks[expand].sum()
    assert resources.keras_resources(small).macs < resources.keras_resources(gated).macs


def test_training_meets_budget_and_logs(K, capsys):
    K.utils.set_random_seed(2)
    x, y = synthetic_data()
    model = residual_model(K)
    full = resources.keras_resources(model)
    budget = Budget(macs=full.macs // 4, peak_ram_bytes=full.peak_ram_bytes // 2)
    gated = prepare(model)
    gated.compile(optimizer=K.optimizers.Adam(0.01),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    callback = DifferentiablePruning(budget, refresh_every=2, pruning_events=4)
    history = gated.fit(x, y, epochs=4, batch_size=32, callbacks=[callback], verbose=0)

    assert callback.budget_met and callback.budget_met_at_step <= 0.6 * 4 * 6 + 1
    assert [entry["epoch"] for entry in callback.history] == [1, 2, 3, 4]
    assert callback.history[-1]["budget_met"] and not callback.history[0]["channels"] == {}
    assert "pruning_macs" in history.history
    assert "epoch 4" in capsys.readouterr().out
    small = strip(gated)
    report = resources.keras_resources(small)
    assert report.meets(budget), report.violations(budget)
    np.testing.assert_allclose(small(x[:8], training=False), gated(x[:8], training=False), rtol=1e-4, atol=1e-4)
    assert np.isfinite(history.history["loss"]).all()


def test_penalty_is_added_to_the_loss(K):
    K.utils.set_random_seed(3)
    x, y = synthetic_data(64)
    model = residual_model(K)
    gated = prepare(model)
    gated.compile(optimizer="sgd", loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = DifferentiablePruning(Budget(macs=resources.keras_resources(model).macs // 2), start_step=50,
                                     end_step=60, verbose=0)
    gated.fit(x, y, epochs=1, batch_size=64, callbacks=[callback], verbose=0)
    coefficients = {gate.name: float(gate.penalty_coefficient.numpy()) for gate in gate_layers(gated)}
    assert all(value > 0 for value in coefficients.values()), coefficients
    gated(x[:4], training=True)
    penalty = float(sum(np.asarray(loss) for loss in gated.losses))
    expected = sum(coefficients[g.name] * np.abs(g.gate.numpy() * g.mask.numpy()).sum() for g in gate_layers(gated))
    assert penalty == pytest.approx(expected, rel=1e-4)


def test_least_salient_channels_are_pruned(K):
    """With learning frozen, the channels whose gates are small are the ones removed."""
    L = K.layers
    model = K.Sequential([L.Input((8, 8, 1)), L.Conv2D(8, 3, name="c1"), L.ReLU(), L.Flatten(),
                          L.Dense(2, name="out")])
    gated = prepare(model)
    kernel, bias = gated.get_layer("c1").get_weights()
    gated.get_layer("c1").set_weights([np.ones_like(kernel), bias])  # equal filter norms
    gate = gate_layers(gated)[0]
    gate.gate.assign(np.array([1, 0.1, 1, 1, 0.2, 1, 0.15, 1], dtype=np.float32))
    gated.compile(optimizer=K.optimizers.SGD(learning_rate=0.0),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
    full = resources.keras_resources(model).macs  # c1 6*6*9*8 + out 288*2; one c1 channel = 324 + 72
    assert full == 3168
    callback = DifferentiablePruning(Budget(macs=full - 3 * 396), pruning_events=1, salience="magnitude", verbose=0)
    x, y = np.random.default_rng(0).random((32, 8, 8, 1)).astype(np.float32), np.zeros(32, dtype=int)
    gated.fit(x, y, epochs=2, batch_size=8, callbacks=[callback], verbose=0)
    np.testing.assert_array_equal(gate.mask.numpy(), [1, 0, 1, 1, 0, 1, 0, 1])
    assert callback.budget_met


def test_taylor_importance_matches_gradient_tape_and_drives_cuts(K):
    """The gates accumulate (Σ y·∂L/∂y)² per channel, as a GradientTape computes it; the cut removes
    the channels the classifier ignores (zero importance) although their gates and filters are large."""
    import tensorflow as tf

    L = K.layers
    model = K.Sequential([L.Input((8, 8, 1)), L.Conv2D(8, 3, name="c1"), L.ReLU(), L.Flatten(),
                          L.Dense(2, name="out")])
    gated = prepare(model)
    gate = gate_layers(gated)[0]
    kernel, bias = gated.get_layer("out").get_weights()
    ignored = [1, 4, 6]
    kernel.reshape(36, 8, 2)[:, ignored, :] = 0  # Flatten order: position-major, channel-minor
    gated.get_layer("out").set_weights([kernel, bias])
    loss = K.losses.SparseCategoricalCrossentropy(from_logits=True)
    gated.compile(optimizer=K.optimizers.SGD(learning_rate=0.0), loss=loss)
    rng = np.random.default_rng(0)
    x, y = rng.random((16, 8, 8, 1)).astype(np.float32), rng.integers(0, 2, 16)

    c1 = gated.get_layer("c1")
    with tf.GradientTape() as tape:
        pre = c1(x)
        tape.watch(pre)
        gated_out = pre * gate.gate * gate.mask
        logits = gated.get_layer("out")(tf.reshape(tf.nn.relu(gated_out), (16, -1)))
        value = loss(y, logits)
    expected = np.sum((gated_out * tape.gradient(value, gated_out)).numpy(), axis=(0, 1, 2)) ** 2
    gated.fit(x, y, epochs=1, batch_size=16, verbose=0)  # one step, no callback: nothing resets
    np.testing.assert_allclose(gate.taylor.numpy(), expected, rtol=1e-4, atol=1e-9)
    assert np.all(expected[ignored] == 0) and np.all(np.delete(expected, ignored) > 0)

    full = resources.keras_resources(model).macs
    callback = DifferentiablePruning(Budget(macs=full - 3 * 396), pruning_events=1, verbose=0)
    gated.fit(x, y, epochs=2, batch_size=4, callbacks=[callback], verbose=0)
    np.testing.assert_array_equal(np.flatnonzero(gate.mask.numpy() == 0), ignored)
    assert callback.budget_met and callback.salience == "taylor"


def test_unmeetable_budget_is_a_clear_error(K):
    x, y = synthetic_data(32)
    gated = prepare(residual_model(K))
    gated.compile(optimizer="sgd", loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(BudgetError, match="fewest channels allowed per prunable layer.*peak_ram_bytes"):
        gated.fit(x, y, epochs=1, callbacks=[DifferentiablePruning(Budget(peak_ram_bytes=100))], verbose=0)


def test_fraction_budgets_and_fractions_given_as_absolute():
    report = {"macs": 10_000, "flash_bytes": 4_000, "peak_ram_bytes": 900}
    assert Budget.fraction(macs=0.25).resolve(report) == Budget(macs=2_500)
    # absolute and relative together: the tighter limit wins
    both = Budget(macs=2_000, peak_ram_bytes=800, fractions={"macs": 0.25, "peak_ram_bytes": 0.5})
    assert both.resolve(report) == Budget(macs=2_000, peak_ram_bytes=450)
    assert Budget(macs=123).resolve(report) == Budget(macs=123)
    with pytest.raises(BudgetError, match=r"absolute limit.*Budget.fraction\(macs=0.25\)"):
        Budget(macs=0.25)
    for bad in (0, 1.5, -0.1, float("nan")):
        with pytest.raises(BudgetError, match="fraction"):
            Budget.fraction(macs=bad)
    with pytest.raises(BudgetError, match="unknown resource"):
        Budget(fractions={"energy": 0.5})
    with pytest.raises(BudgetError, match="resolve"):
        Budget.fraction(flash_bytes=0.5).limits()


def test_coupled_group_keeps_its_floor_and_cuts_are_reported(K, capsys):
    """A tight MAC budget on a residual net: the residual group (stem + project, joined by Add)
    never goes below coupled_floor x its width, and every cut event prints one line."""
    K.utils.set_random_seed(4)
    x, y = synthetic_data(128)
    model = residual_model(K)
    gated = prepare(model)
    gated.compile(optimizer=K.optimizers.Adam(0.01),
                  loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
    callback = DifferentiablePruning(Budget.fraction(macs=0.35), refresh_every=2, pruning_events=3,
                                     coupled_floor=0.5, min_channels=2)
    gated.fit(x, y, epochs=3, batch_size=32, callbacks=[callback], verbose=0)
    resource_model = KerasResourceModel(gated)
    counts = callback.current_counts()
    stem = resource_model.group_of_layer("stem")
    assert resource_model.group_of_layer("project").index == stem.index and stem.full_size == 12
    assert counts[stem.index] >= 6, counts
    for group in resource_model.prunable_groups:
        assert counts[group.index] >= 2, (group.name, counts)
    assert callback.budget_met, callback.history[-1]
    assert callback.resolved_budget.macs == int(0.35 * resources.keras_resources(model).macs)
    assert resources.keras_resources(strip(gated)).meets(callback.resolved_budget)
    out = capsys.readouterr().out
    cut_lines = [line for line in out.splitlines() if "cut " in line and "→" in line]
    assert cut_lines and "macs " in cut_lines[0] and " / " in cut_lines[0], out


def test_callback_needs_prepared_model(K):
    x, y = synthetic_data(32)
    model = residual_model(K)
    model.compile(optimizer="sgd", loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
    with pytest.raises(ValueError, match="prepare"):
        model.fit(x, y, epochs=1, callbacks=[DifferentiablePruning(Budget(macs=10))], verbose=0)
    with pytest.raises(TypeError, match="Budget"):
        DifferentiablePruning({"macs": 10})


def test_prepare_rejects_unsupported_layer(K):
    L = K.layers
    model = K.Sequential([L.Input((8, 8, 1)), L.Conv2D(4, 3), L.LayerNormalization(name="norm"),
                          L.Flatten(), L.Dense(2)])
    with pytest.raises(UnsupportedLayerError, match="'norm' of type LayerNormalization"):
        prepare(model)


MIRRORED_SCRIPT = textwrap.dedent("""
    import os, sys
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    import numpy as np
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    sys.path.insert(0, sys.argv[1])
    import test_pruning as t
    from tflm_unit import resources
    from tflm_unit.pruning import Budget, DifferentiablePruning, prepare, strip
    import tf_keras, keras
    x, y = t.synthetic_data(128)
    for K in (tf_keras, keras):
        K.utils.set_random_seed(0)
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        model = t.residual_model(K)
        budget = Budget(macs=resources.keras_resources(model).macs // 3)
        with strategy.scope():
            gated = prepare(model)
            gated.compile(optimizer="adam", loss=K.losses.SparseCategoricalCrossentropy(from_logits=True))
        callback = DifferentiablePruning(budget, refresh_every=2, pruning_events=3, verbose=0)
        gated.fit(x, y, epochs=3, batch_size=32, callbacks=[callback], verbose=0)
        small = strip(gated)
        assert callback.budget_met, callback.history
        assert resources.keras_resources(small).meets(budget)
        np.testing.assert_allclose(small(x[:4], training=False), gated(x[:4], training=False), rtol=1e-4, atol=1e-4)
        print("OK", K.__name__)
""")


@pytest.mark.slow
def test_mirrored_strategy_two_logical_cpus():
    """The gates and the callback under tf.distribute.MirroredStrategy (fresh process: devices)."""
    tests_dir = os.path.dirname(os.path.abspath(__file__))
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="2")
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(tests_dir), env.get("PYTHONPATH", "")])
    result = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, tests_dir], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert "OK tf_keras" in result.stdout and "OK keras" in result.stdout


def test_cut_gives_back_what_fits(K):
    """One cut event ends at the target without waste: every channel it removed, put back alone,
    would exceed the target (greedy one-at-a-time cuts of dear channels otherwise overshoot:
    without the give-back, 'expand' has room for a channel at both targets here)."""
    K.utils.set_random_seed(4)
    gated = prepare(residual_model(K))
    for fraction in (0.7, 0.5):
        for gate in gate_layers(gated):
            gate.mask.assign(np.ones(gate.mask.shape, dtype=np.float32))
        callback = DifferentiablePruning(Budget.fraction(macs=0.3), start_step=0, end_step=10,
                                         salience="magnitude", verbose=0)
        callback.set_model(gated)
        callback.set_params({})
        callback._begin()
        model = callback.resource_model
        target = {"macs": fraction * callback._initial["macs"]}
        assert callback._prune_to(target) > 0
        counts = callback.current_counts()
        assert model.totals(counts)["macs"] <= target["macs"]
        for group in callback._group_gates:
            if counts[group] < model.full_counts()[group]:
                grown = counts.copy()
                grown[group] += 1
                assert model.totals(grown)["macs"] > target["macs"], (fraction, model.groups[group].name)
