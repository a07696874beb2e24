"""Measured points: one threshold configuration run on one batch.

A :class:`Runner` owns a batch (the search split, a ranking sub-batch of it,
or the confirmation split) and runs configurations through the C kernels,
re-running only the ops from the first layer whose thresholds changed (the
activations before it are reused).  Besides a point's own activations, the
runner keeps a cache of recent runs keyed by threshold-configuration prefix:
the activations entering MAC layer k depend only on the thresholds of the MAC
layers before it, so a candidate whose thresholds up to layer k were run
before (by any earlier configuration, e.g. "raise layer 0" and "raise every
layer" share layer 0's output) starts at layer k.  The cache is bounded in
bytes (``CACHE_BYTES``, oldest runs evicted first); it never changes a result.  Large batches are cut in chunks run on
threads: the extension releases the GIL in every kernel, and integer results
do not depend on how the batch is cut.
"""
from __future__ import annotations

from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np

from tflm_unit.inputs import predictions
from tflm_unit.runtime import Interpreter, LayerStats
from tflm_unit.runtime.model import Operator
from tflm_unit.unit.calibration.cycle_model import CycleModel, LayerWork, layer_work

# op_index -> int16 T_q [groups]; a missing op runs dense (builtin kernel).
Config = Dict[int, np.ndarray]

#: Batches below this many samples per thread are not split.
MIN_CHUNK = 64
#: Activations a runner keeps for configurations that share a prefix (0: no cache).
CACHE_BYTES = 256 * 2 ** 20


@dataclass
class Point:
    """One configuration run on a runner's batch."""

    config: Config
    values: Optional[List[Dict[int, np.ndarray]]]  # every activation, per batch chunk (None once released)
    stats: Dict[int, LayerStats]
    accuracy: float
    disagreement: float  # fraction of top-1 predictions that differ from the dense model
    margin_loss: float  # mean loss of the dense top-1 class's margin, relative to the dense mean margin
    macs_executed: float  # per inference
    cost: float  # objective value per inference (MACs or cycles)
    correct: np.ndarray  # bool [batch]: top-1 prediction == label

    def release(self) -> None:
        """Drop the cached activations (only a path's current point keeps them)."""
        self.values = None

    def record(self) -> dict:
        return dict(accuracy=self.accuracy, disagreement=self.disagreement, margin_loss=self.margin_loss,
                    macs_executed=self.macs_executed, cost=self.cost)


def same_thresholds(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def _merge_stats(parts: List[List[LayerStats]]) -> Dict[int, LayerStats]:
    merged: Dict[int, LayerStats] = {}
    for layers in parts:
        for s in layers:
            m = merged.get(s.op_index)
            if m is None:
                merged[s.op_index] = LayerStats(s.op_index, s.op_name, s.output_name, s.macs_total,
                                                s.macs_executed, np.array(s.channel_executed), s.macs_nonzero)
                continue
            m.macs_total += s.macs_total
            m.macs_executed += s.macs_executed
            m.channel_executed = m.channel_executed + s.channel_executed
            if m.macs_nonzero is not None and s.macs_nonzero is not None:
                m.macs_nonzero += s.macs_nonzero
    return merged


class Runner:
    """Runs one batch through the interpreter for a threshold configuration."""

    def __init__(self, interpreter: Interpreter, x_q: np.ndarray, labels: np.ndarray, division: str,
                 group_sizes: Dict[int, int], cycle_model: Optional[CycleModel],
                 pool: Optional[ThreadPoolExecutor] = None, on_run: Optional[Callable[[float], None]] = None,
                 dense: bool = True):
        self.interp = interpreter
        self.x_q = x_q
        self.labels = labels
        self.division = division
        self.group_sizes = group_sizes
        self.cycle_model = cycle_model
        self.ops = interpreter.mac_layers()
        self.batch = x_q.shape[0]
        self.runs = 0
        self.pool = pool
        self.on_run = on_run  # called with the share of the graph's ops re-run (progress)
        workers = pool._max_workers if pool is not None else 1  # noqa: SLF001 (ThreadPoolExecutor has no getter)
        chunks = max(1, min(workers, self.batch // MIN_CHUNK))
        bounds = np.linspace(0, self.batch, chunks + 1).astype(int)
        self._chunks = [slice(int(a), int(b)) for a, b in zip(bounds[:-1], bounds[1:])]
        # run id -> (activations after the run, stats, bytes it added); keys -> run id
        self._cache: "OrderedDict[int, Tuple[List[Dict[int, np.ndarray]], Dict[int, LayerStats], int]]" = OrderedDict()
        self._cache_keys: Dict[tuple, int] = {}
        self._cache_bytes = 0
        self._cache_limit = CACHE_BYTES
        self._cache_next = 0
        self.cache_hits = 0
        self._nonzero_weights = {op.index: int(np.count_nonzero(interpreter.graph.tensor(op.inputs[1]).data))
                                 for op in self.ops}
        self.dense_pred: Optional[np.ndarray] = None
        self.dense: Optional[Point] = None
        if dense:  # the reference every point is compared with (skipped for a one-off measurement)
            dense_values, dense_stats = self._run_steps([], None, 0)
            dense_output = self.output(dense_values)
            self.dense_pred = predictions(dense_output)
            self.dense_margins = self._margins(dense_output)
            self.margin_scale = max(float(np.mean(self.dense_margins)), 1e-9)
            self.dense = self._point({}, dense_values, dense_stats)

    def uniform(self, t_layer: int) -> Config:
        """The same T_q for every group of every layer."""
        graph = self.interp.graph
        return {op.index: np.full(int(graph.tensor(op.outputs[0]).shape[-1]) // self.group_sizes[op.index],
                                  t_layer, np.int16) for op in self.ops}

    def _set(self, config: Optional[Config]) -> None:
        for op in self.ops:
            t = None if config is None else config.get(op.index)
            if t is None:
                self.interp.set_skip(op.index, None)
            else:
                self.interp.set_skip(op.index, t, self.group_sizes[op.index], self.division)

    def _run_steps(self, values: List[Dict[int, np.ndarray]], config: Optional[Config], start: int):
        """Run ops ``start``.. on every chunk of the batch (on the pool's threads).
        ``values`` / the result: one activation dict per chunk (tensor index ->
        that chunk's rows), never concatenated: a run copies no activation
        it did not compute."""
        interp = self.interp
        self._set(config)
        if start > 0:
            parts = [dict(part) for part in values]
        else:
            parts = [{interp.graph.inputs[0]: self.x_q[chunk]} for chunk in self._chunks]
        # Activations are kept (not freed) so later candidates can start mid-graph.
        if len(parts) == 1:
            layer_lists = [interp.run_from(parts[0], start)]
        else:
            layer_lists = list(self.pool.map(lambda part: interp.run_from(part, start), parts))
        stats = _merge_stats(layer_lists)
        self.runs += 1
        if self.on_run is not None:
            self.on_run(self.batch * (len(interp.graph.operators) - start) / len(interp.graph.operators))
        return parts, stats

    def output(self, values: List[Dict[int, np.ndarray]]) -> np.ndarray:
        """The graph output of a run, for the whole batch."""
        key = self.interp.graph.outputs[0]
        return values[0][key] if len(values) == 1 else np.concatenate([part[key] for part in values])

    def run(self, config: Config, base: Optional[Point] = None) -> Point:
        """Measure ``config``; reuse the activations of ``base`` (when given)
        or of a cached run up to the first layer whose thresholds differ."""
        start = 0
        prior_values: List[Dict[int, np.ndarray]] = []
        prior_stats: Dict[int, LayerStats] = {}
        if base is not None:
            changed = [op.index for op in self.ops
                       if not same_thresholds(config.get(op.index), base.config.get(op.index))]
            if not changed:
                return base
            if base.values is not None:
                start, prior_values, prior_stats = min(changed), base.values, base.stats
        keys = self._prefix_keys(config)
        for op_index, key in reversed(keys):  # the latest layer whose inputs are cached
            if op_index <= start:
                break
            run_id = self._cache_keys.get(key)
            if run_id is not None:
                self._cache.move_to_end(run_id)
                start, (prior_values, prior_stats, _) = op_index, self._cache[run_id]
                self.cache_hits += 1
                break
        if start >= len(self.interp.graph.operators):  # the whole configuration was run before
            return self._point(config, prior_values, dict(prior_stats))
        values, stats = self._run_steps(prior_values if start > 0 else [], config, start)
        if start > 0:
            stats = {**{k: v for k, v in prior_stats.items() if k < start}, **stats}
        self._remember(keys, start, values, stats, prior_values)
        return self._point(config, values, stats)

    def _prefix_keys(self, config: Config) -> List[Tuple[int, tuple]]:
        """(op index, key) per MAC layer and for the graph's end: the key names
        the thresholds of every MAC layer before that op (what its input depends on)."""
        keys, prefix = [], []
        for op in self.ops:
            keys.append((op.index, tuple(prefix)))
            t = config.get(op.index)
            prefix.append((op.index, self.group_sizes[op.index], None if t is None else (t.dtype.str, t.tobytes())))
        keys.append((len(self.interp.graph.operators), tuple(prefix)))
        return [(op_index, (self.interp.count_zero_operands, key)) for op_index, key in keys]

    def _remember(self, keys, start: int, values: List[Dict[int, np.ndarray]], stats: Dict[int, LayerStats],
                  prior_values: List[Dict[int, np.ndarray]]) -> None:
        """Cache a run: every layer after ``start`` can later resume from it
        (the activations of ops before a layer are the same in the final dicts)."""
        if self._cache_limit <= 0:
            return
        prior = prior_values or [{} for _ in values]
        added = sum(v.nbytes for part, before in zip(values, prior) for k, v in part.items()
                    if before.get(k) is not v)
        run_id = self._cache_next
        self._cache_next += 1
        self._cache[run_id] = (values, stats, added)
        self._cache_bytes += added
        for op_index, key in keys:
            if op_index > start:
                self._cache_keys[key] = run_id
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            old_id, (_, _, old_bytes) = self._cache.popitem(last=False)
            self._cache_bytes -= old_bytes
            for key in [k for k, v in self._cache_keys.items() if v == old_id]:
                del self._cache_keys[key]

    def _point(self, config: Config, values: List[Dict[int, np.ndarray]], stats: Dict[int, LayerStats]) -> Point:
        output = self.output(values)
        pred = predictions(output)
        correct = pred == self.labels
        disagreement = margin_loss = 0.0
        if self.dense_pred is not None:
            disagreement = float(np.mean(pred != self.dense_pred))
            # A smooth damage measure (top-1 flips are too coarse to rank moves).
            margin_loss = float(np.mean(np.maximum(self.dense_margins - self._margins(output), 0.0))) / self.margin_scale
        macs = sum(s.macs_executed for s in stats.values()) / self.batch
        return Point(config, values, stats, float(np.mean(correct)), disagreement, margin_loss, macs,
                     self.cost(config, stats), correct)

    def _margins(self, output: np.ndarray) -> np.ndarray:
        """Score of the dense model's top-1 class minus the best other score."""
        scores = output.reshape(output.shape[0], -1).astype(np.float64)
        rows = np.arange(scores.shape[0])
        top = scores[rows, self.dense_pred]
        others = scores.copy()
        others[rows, self.dense_pred] = -np.inf
        return top - others.max(axis=1)

    def layer_work(self, op: Operator, config: Config, stats: LayerStats) -> LayerWork:
        t = config.get(op.index)
        return layer_work(self.interp.graph, op, stats, self.batch, t is not None, self.division,
                          self.group_sizes[op.index], nonzero_weights=self._nonzero_weights[op.index], thresholds=t)

    def cost(self, config: Config, stats: Dict[int, LayerStats]) -> float:
        if self.cycle_model is None:
            return sum(s.macs_executed for s in stats.values()) / self.batch
        return float(sum(self.cycle_model.layer_cycles(self.layer_work(op, config, stats[op.index]))
                         for op in self.ops))
