"""``calibrate``: search on one split, confirm on another, report.

1. The calibration samples are cut into a search split and a disjoint
   confirmation split (``confirm_fraction``; guarantee.py).
2. search.py finds thresholds within ``max_accuracy_drop`` on the search
   split (global scan, joint per-layer search ranked on a sub-batch,
   per-group profiles).
3. The search path, from the dense model to the searched choice, is tested on
   the confirmation split as a fixed sequence: the result is the last point
   whose paired upper confidence bound of the drop is within the budget.
4. The result is re-run on all samples (also counting the MACs skipped by
   zero operands apart from those skipped by thresholds).
"""
from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from tflm_unit.core.kernels import DIVISION_MODES
from tflm_unit.errors import CalibrationError, DataError, OptionError, UnsupportedModelError
from tflm_unit.runtime import LayerStats
from tflm_unit.inputs import ModelLike, float_inputs, load_interpreter, prepare_inputs, prepare_labels
from tflm_unit.unit.calibration import guarantee
from tflm_unit.unit.calibration.cost import time_dense_pass
from tflm_unit.unit.calibration.cycle_model import CycleModel
from tflm_unit.unit.calibration.result import CalibrationResult, LayerThresholds
from tflm_unit.unit.calibration.runner import Point, Runner
from tflm_unit.unit.calibration.search import (Progress, Search, group_size_for, regroup, select,
                                               threshold_grid)
from tflm_unit.unit.thresholds import dequantize_thresholds, quantize_thresholds

STRATEGIES = ("layer", "group", "global")
OBJECTIVES = ("macs", "cycles")
#: The ranking sub-batch: this share of the search split, at least RANK_MIN samples.
RANK_FRACTION = 0.25
RANK_MIN = 128


def calibrate(model_or_tflite: ModelLike, x_calib: np.ndarray, y_calib: np.ndarray,
              max_accuracy_drop: float = 0.01, division: str = "shift", group_size: Optional[int] = None,
              objective: str = "macs", cycle_model: Optional[CycleModel] = None, seed: int = 0,
              progress: bool = True, strategy: Optional[str] = None, max_samples: Optional[int] = None,
              group_alphas: Sequence[float] = (0.5, 1.0), confidence: float = guarantee.DEFAULT_CONFIDENCE,
              confirm_fraction: float = guarantee.DEFAULT_CONFIRM_FRACTION, dataset: Optional[str] = None,
              threads: Optional[int] = None, measure_cost: bool = False,
              input_range: Optional[Tuple[float, float]] = None) -> CalibrationResult:
    """Choose UnIT thresholds that skip the most MACs (``objective="macs"``)
    or save the most estimated cycles (``"cycles"``, needs ``cycle_model``)
    while the accuracy drop against the unpruned int8 model stays within
    ``max_accuracy_drop`` (a fraction, 0.01 = 1 pp) on data the search never
    saw: with probability ``confidence``, by a paired upper confidence bound on
    a ``confirm_fraction`` of the samples held out from the search
    (guarantee.py).  ``confirm_fraction=0`` is the unconfirmed search (budget
    on the calibration data only, which it overfits).  Too few samples to
    confirm the budget: a CalibrationWarning with the numbers.

    ``strategy``: "layer" (one threshold per layer), "group" (groups of
    ``group_size`` output channels, the default when group_size is given) or
    "global" (one real T for the whole model).  ``max_samples`` draws a random
    subset (``seed``, which also draws the split) of the calibration data.
    ``threads`` (default: the machine's cores, at most 2) run batch chunks in
    parallel; ``measure_cost`` also times one dense pass to report the cost in
    dense passes.  ``input_range`` is passed to the input preparation.  The
    interpreter's own thresholds are restored afterwards.
    """
    started, started_cpu = time.perf_counter(), time.process_time()
    if division not in DIVISION_MODES:
        raise OptionError(f"unknown division mode {division!r}; expected one of {DIVISION_MODES}")
    if objective not in OBJECTIVES:
        raise OptionError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "cycles" and cycle_model is None:
        raise OptionError('objective="cycles" needs a cycle_model with a layer_cycles(work) method')
    cost_model = cycle_model if objective == "cycles" else None
    if strategy is None:
        strategy = "layer" if group_size is None else "group"
    if strategy not in STRATEGIES:
        raise OptionError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "group" and group_size is None:
        raise OptionError('strategy="group" needs a group_size')
    if not 0.0 <= max_accuracy_drop <= 1.0:
        raise OptionError(f"max_accuracy_drop is a fraction in [0, 1], got {max_accuracy_drop}")
    guarantee.check_options(confidence, confirm_fraction)

    range_kw = {} if input_range is None else dict(input_range=input_range)
    interp = load_interpreter(model_or_tflite, representative=float_inputs(x_calib), **range_kw)
    ops = interp.mac_layers()
    if not ops:
        raise UnsupportedModelError("the model has no CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED ops")
    float_layers = [op.index for op in ops if interp.graph.tensor(op.inputs[0]).dtype != np.int8]
    if float_layers:  # float I/O wrappers (QUANTIZE / DEQUANTIZE at the ends) are fine
        raise UnsupportedModelError(f"calibration needs int8 MAC layers; ops {float_layers} are float")
    x_q = prepare_inputs(interp, x_calib, **range_kw)
    labels = prepare_labels(y_calib)
    if len(labels) != len(x_q):
        raise DataError(f"{len(x_q)} inputs but {len(labels)} labels")
    if max_samples is not None and len(x_q) > max_samples:
        chosen = np.sort(np.random.default_rng(seed).choice(len(x_q), size=max_samples, replace=False))
        x_q, labels = x_q[chosen], labels[chosen]
    if len(x_q) < 2:
        raise DataError(f"calibration needs at least 2 samples, got {len(x_q)}")

    channels = {op.index: int(interp.graph.tensor(op.outputs[0]).shape[-1]) for op in ops}
    final_groups = {k: (group_size_for(c, group_size) if strategy == "group" else c) for k, c in channels.items()}
    search_idx, confirm_idx = guarantee.split_indices(len(x_q), confirm_fraction, seed)
    workers = threads if threads is not None else min(2, os.cpu_count() or 1)
    if workers < 1:
        raise OptionError(f"threads must be >= 1, got {threads}")
    saved_skip = {op.index: interp.skip_setting(op.index) for op in ops}
    dense_pass_seconds = dense_pass_cpu_seconds = None
    timing_pass = timing_pass_cpu = 0.0
    if measure_cost:
        t0, t0_cpu = time.perf_counter(), time.process_time()
        dense_pass_seconds, dense_pass_cpu_seconds = time_dense_pass(interp, x_q)
        timing_pass, timing_pass_cpu = time.perf_counter() - t0, time.process_time() - t0_cpu
    bar = Progress(progress)
    pool = ThreadPoolExecutor(workers) if workers > 1 else None
    try:
        def runner(index: np.ndarray) -> Runner:
            return Runner(interp, x_q[index], labels[index], division, dict(channels), cost_model, pool,
                          on_run=bar.advance)

        search_runner = runner(search_idx)
        rank_count = max(RANK_MIN, int(RANK_FRACTION * len(search_idx)))
        ranker = search_runner if rank_count >= 0.8 * len(search_idx) else runner(search_idx[:rank_count])
        search = Search(search_runner, ranker, threshold_grid(), max_accuracy_drop, bar,
                        stop_confidence=confidence if len(confirm_idx) else None)
        if strategy != "global":
            search.fine_ratio = 2.0 ** 0.5  # the joint search refines what the global scan finds
            search.global_until_change = True  # ... and walks on from its first changed prediction
        path, labels_of = _search_paths(search, strategy, final_groups, channels, group_alphas)
        search_runner.group_sizes = final_groups
        ranker.group_sizes = final_groups
        candidates = [regroup(p, final_groups, channels) for p in search.evaluated]
        searched = select(candidates, search)
        result_config = searched.config
        confirmation: List[dict] = []
        confirmed = None
        warnings_out: List[str] = []
        runs = search_runner.runs + (ranker.runs if ranker is not search_runner else 0)
        if len(confirm_idx):
            confirm_runner = runner(confirm_idx)
            confirm_runner.group_sizes = final_groups
            exact = regroup(search_runner.dense, final_groups, channels)
            exact.config = search_runner.uniform(0)
            chain = _chain(candidates, searched, search, exact)
            bar.plan(len(chain) * len(confirm_idx))
            result_config, confirmed, confirmation = _confirm(chain, confirm_runner, max_accuracy_drop, confidence)
            runs += confirm_runner.runs
            warnings_out = _warnings(searched, search_runner, confirmed, result_config, confirm_runner,
                                     max_accuracy_drop, confidence, len(confirm_idx))
        # Re-run the result on every sample (counts zero operands apart from thresholds).
        interp.count_zero_operands = True
        try:
            everything = Runner(interp, x_q, labels, division, final_groups, cost_model, pool, dense=False)
            final = everything.run(result_config)
        finally:
            interp.count_zero_operands = False
        runs += everything.runs
        dense_correct = np.empty(len(x_q), dtype=bool)
        dense_correct[search_idx] = search_runner.dense.correct
        if len(confirm_idx):
            dense_correct[confirm_idx] = confirm_runner.dense.correct
        if result_config is searched.config and not np.array_equal(final.correct[search_idx], searched.correct):
            raise CalibrationError("calibration re-run disagrees with the search (non-deterministic kernels?)")
        records = [dict(p.record(), strategy=labels_of.get(id(p), "")) for p in path]
        result = _result(everything, final, float(np.mean(dense_correct)), division, strategy, group_size, objective, max_accuracy_drop,
                         final_groups, records, dataset)
        result.search_runs = runs
        result.confidence = float(confidence)
        result.confirm_fraction = float(confirm_fraction)
        result.num_search_samples = int(len(search_idx))
        result.num_confirm_samples = int(len(confirm_idx))
        result.searched_drop = float(search_runner.dense.accuracy - searched.accuracy)
        result.searched_mac_reduction = float(1.0 - searched.macs_executed / search_runner.dense.macs_executed) \
            if search_runner.dense.macs_executed else 0.0
        if confirmed is not None:
            result.confirmed_drop = confirmed.drop
            result.confirmed_interval = [confirmed.lower, confirmed.upper]
            result.guaranteed = confirmed.upper <= max_accuracy_drop + 1e-12 or _is_exact(result_config)
        result.confirmation = confirmation
        result.warnings = warnings_out
        for message in warnings_out:
            guarantee.warn(message)
        result.seconds = time.perf_counter() - started - timing_pass
        result.cpu_seconds = time.process_time() - started_cpu - timing_pass_cpu
        result.dense_pass_seconds = dense_pass_seconds
        result.dense_pass_cpu_seconds = dense_pass_cpu_seconds
        return result
    finally:
        bar.close()
        if pool is not None:
            pool.shutdown()
        for op_index, setting in saved_skip.items():
            if setting is None:
                interp.set_skip(op_index, None)
            else:
                interp.set_skip(op_index, setting.thresholds, setting.group_size, setting.division)


def _search_paths(search: Search, strategy: str, final_groups: Dict[int, int], channels: Dict[int, int],
                  group_alphas: Sequence[float]) -> Tuple[List[Point], Dict[int, str]]:
    """Run the strategy's searches; returns the path (in order) and a family
    label per point."""
    global_points = search.global_path()
    labels = {id(p): "global" for p in global_points}
    if strategy == "global":
        return global_points, labels
    # One global T is also a per-layer setting: per-layer is never worse.
    layer_points = search.joint_path()
    labels.update({id(p): "layer" for p in layer_points})
    path = global_points + layer_points
    if strategy == "group":
        search.runner.group_sizes = final_groups
        search.ranker.group_sizes = final_groups
        for alpha in group_alphas:
            multipliers = search.group_multipliers(final_groups, alpha)
            group_path = search.global_path(multipliers)
            labels.update({id(p): f"group a={alpha}" for p in group_path})
            path = path + group_path
    return path, labels


def _is_exact(config: Dict[int, np.ndarray]) -> bool:
    """T_q = 0 everywhere: bit-exact with the dense model (drop exactly 0)."""
    return all(not np.any(t) for t in config.values())


def _chain(candidates: List[Point], searched: Point, search: Search, exact: Point) -> List[Point]:
    """The fixed sequence to confirm: points within the budget on the search
    split, from the most expensive to the searched choice, that no cheaper one
    beats on ``search.risk`` (_least_risk_front), at most guarantee.CONFIRM_STEPS of them
    (spread evenly in cost), after T_q = 0."""
    feasible = [p for p in candidates if search.within_budget(p) and p.cost >= searched.cost - 1e-9
                and not _is_exact(p.config)]
    feasible.sort(key=lambda p: (-p.cost, -p.accuracy))
    unique: List[Point] = []
    for p in feasible:
        if unique and all(np.array_equal(p.config[k], unique[-1].config[k]) for k in p.config):
            continue
        unique.append(p)
    if not unique or unique[-1] is not searched and not _is_exact(searched.config):
        unique = [p for p in unique if p is not searched] + ([] if _is_exact(searched.config) else [searched])
    unique = _least_risk_front(unique, search.risk)
    return [exact] + guarantee.fixed_sequence(unique, [p.cost for p in unique]) if unique else [exact]


def _least_risk_front(points: List[Point], risk_of: Callable[[Point], float]) -> List[Point]:
    """The points (sorted by descending cost) that no cheaper point beats on
    risk (the paired upper bound of the drop on the search split): along the
    chain the risk then only grows, so the walk does not stop at a costly,
    risky point before a cheaper, safer one."""
    kept: List[Point] = []
    least = np.inf
    for point in reversed(points):  # cheapest first
        risk = risk_of(point)
        if risk < least - 1e-12:
            kept.append(point)
            least = risk
    return kept[::-1]


def _confirm(chain: List[Point], runner: Runner, budget: float, confidence: float):
    """Walk the chain on the confirmation split; keep the last point before the
    first whose upper bound exceeds the budget (T_q = 0 needs no test)."""
    accepted_config = chain[0].config
    accepted_bound = guarantee.drop_bound_from_counts(runner.batch, 0, 0, confidence)
    dense_correct = runner.dense.correct
    tested: List[dict] = []
    previous: Optional[Point] = None
    for point in chain[1:]:
        measured = runner.run(point.config, base=previous)
        if previous is not None and previous is not measured:
            previous.release()
        previous = measured
        bound = guarantee.paired_drop_bound(dense_correct, measured.correct, confidence)
        passed = bound.upper <= budget + 1e-12
        tested.append(dict(search_accuracy=point.accuracy, search_macs_executed=point.macs_executed,
                           confirm_macs_executed=measured.macs_executed, passed=passed, **bound.to_dict()))
        if not passed:
            break
        accepted_config, accepted_bound = point.config, bound
    if previous is not None:
        previous.release()
    return accepted_config, accepted_bound, tested


def _warnings(searched: Point, search_runner: Runner, confirmed: "guarantee.DropBound", result_config,
              confirm_runner: Runner, budget: float, confidence: float, n_confirm: int) -> List[str]:
    """Say when the data are too few to confirm the budget (with the numbers)."""
    out = []
    one_flip = guarantee.drop_bound_from_counts(n_confirm, 1, 0, confidence).upper
    if one_flip > budget:
        need = guarantee.samples_to_confirm(budget, confidence)
        out.append(f"{n_confirm} confirmation samples cannot confirm a {budget:.2%} budget at confidence "
                   f"{confidence}: one changed prediction already bounds the drop at {one_flip:.2%}"
                   + (f"; about {need} confirmation samples are needed" if need else ""))
        return out
    dense_macs = search_runner.dense.macs_executed
    searched_saving = dense_macs - searched.macs_executed
    if searched.config is result_config or searched_saving <= 0:
        return out
    measured = confirm_runner.run(result_config)
    result_saving = confirm_runner.dense.macs_executed - measured.macs_executed
    measured.release()
    if result_saving < 0.5 * searched_saving * confirm_runner.dense.macs_executed / max(dense_macs, 1e-9):
        n_search = search_runner.batch
        worse = float(np.mean(search_runner.dense.correct & ~searched.correct))
        better = float(np.mean(~search_runner.dense.correct & searched.correct))
        need = guarantee.samples_to_confirm(budget, confidence, worse, better)
        out.append(f"the confirmation kept less than half of the searched savings: the search's choice loses "
                   f"{search_runner.dense.accuracy - searched.accuracy:.2%} on {n_search} search samples, but "
                   f"its drop could only be bounded by {budget:.2%} at confidence {confidence} with "
                   + (f"about {need} confirmation samples" if need else "far more confirmation samples")
                   + f" ({n_confirm} given; confirmed drop {confirmed.drop:.2%}, upper bound {confirmed.upper:.2%})")
    return out


def _result(runner: Runner, point: Point, accuracy_dense: float, division: str, strategy: str, group_size: Optional[int],
            objective: str, budget: float, group_sizes: Dict[int, int], path: List[dict],
            dataset: Optional[str]) -> CalibrationResult:
    graph = runner.interp.graph
    layers = []
    n = runner.batch
    for op in runner.ops:
        stats = point.stats[op.index]
        t_q = point.config[op.index].astype(np.int16)
        s_x = graph.tensor(op.inputs[0]).scalar_scale()
        s_w = graph.tensor(op.inputs[1]).scale
        channels = len(stats.channel_executed)
        group = group_sizes[op.index]
        t_real = dequantize_thresholds(t_q, s_x, s_w, group, num_channels=channels)
        # The converter re-quantises the real values: they must give back T_q.
        if not np.array_equal(quantize_thresholds(t_real, s_x, s_w, group, num_channels=channels), t_q):
            raise CalibrationError(f"op {op.index}: real thresholds do not round-trip to the measured T_q")
        layers.append(LayerThresholds(op.index, op.name, stats.output_name, group, t_q, t_real,
                                      stats.macs_total / n, stats.macs_executed / n,
                                      macs_skipped_zero=stats.macs_skipped_zero / n,
                                      macs_skipped_threshold=stats.macs_skipped_threshold / n))
    cycles_dense = cycles_unit = None
    if runner.cycle_model is not None:
        dense_stats = {op.index: LayerStats(op.index, op.name, "", point.stats[op.index].macs_total,
                                            point.stats[op.index].macs_total, point.stats[op.index].channel_executed)
                       for op in runner.ops}
        cycles_dense, cycles_unit = runner.cost({}, dense_stats), point.cost
    return CalibrationResult(division=division, strategy=strategy, group_size=group_size, objective=objective,
                             max_accuracy_drop=budget, num_samples=n, accuracy_dense=accuracy_dense,
                             accuracy_unit=point.accuracy, macs_dense=sum(layer.macs_dense for layer in layers),
                             macs_executed=point.macs_executed, layers=layers, cycles_dense=cycles_dense,
                             cycles_unit=cycles_unit, path=path, dataset=dataset)
