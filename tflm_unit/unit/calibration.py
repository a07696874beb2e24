"""UnIT threshold calibration under an accuracy budget.

Goal: integer thresholds T_q per layer (and per group of output channels)
that skip the most MACs (or save the most estimated cycles) while accuracy on
the calibration data stays within ``max_accuracy_drop`` of the unpruned int8
model.  The C kernels run in the loop with the chosen division mode, so the
thresholds are calibrated for the way the firmware will actually divide.

Search (deterministic; see DESIGN.md section 3).  Every configuration is run
jointly on the whole calibration batch through the C kernels; a candidate
re-runs only the ops downstream of the first layer it changes (cached
activations).  Moves are ranked by *objective saved per margin lost*: the
margin loss is the mean shrinkage of the dense model's top-1 score margin, a
smoother signal than accuracy on a few hundred samples.

1. **Global scan.**  One real T for every layer (the UnIT paper's setting),
   raised geometrically from T = 0 (which only skips zero activations / zero
   weights and is bit-exact with the dense model): coarse steps while nothing
   is lost, fine steps (2^(1/4)) near the accuracy cliff.
2. **Joint per-layer search.**  From the last global point before the first
   changed prediction, each step tries raising each layer's T and raising all
   of them together, and takes the move with the best ratio.
3. **Per-group profiles** (``group_size`` given).  Each group of output
   channels is probed alone at a per-layer probe threshold; its sensitivity
   (margin lost per MAC saved) gives a multiplier m_g = (median / own)^alpha,
   so groups whose outputs matter less get larger thresholds.  The global scan
   is repeated with T_q[g] scaled by m_g for a few strengths alpha.
4. **Selection and verification.**  The result is the measured configuration
   (path points and every candidate evaluated) with the best objective whose
   calibration accuracy is within the budget; it is re-run from scratch once
   to confirm what is reported.  Per-group candidates include the per-layer
   ones, and per-layer candidates include the global ones, so per-group >=
   per-layer >= global on the calibration data by construction.

Budget independence: no move is chosen by looking at the budget.  The budget
only decides when a path stops (after ``patience`` points in a row outside it,
or one far outside it) and which measured point is returned, so a larger
budget measures a superset of the same points and never skips fewer MACs.

Cycle objective: pass ``cycle_model`` with a method
``layer_cycles(work: LayerWork) -> float`` giving the cycles of one inference
of one layer (see :class:`LayerWork`); :class:`LinearCycleModel` is a simple
implementation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Protocol, Sequence, Tuple

import numpy as np

from tflm_unit.core.kernels import DIVISION_MODES
from tflm_unit.runtime import Interpreter, LayerStats
from tflm_unit.runtime.model import Operator
from tflm_unit.unit.thresholds import T_Q_MAX, dequantize_thresholds, quantize_thresholds
from tflm_unit.inputs import (  # noqa: F401  (re-exported: the calibration API's inputs)
    ModelLike, float_inputs, load_interpreter, predictions, prepare_inputs, prepare_labels)

# op_index -> int16 T_q [groups]; a missing op runs dense (builtin kernel).
Config = Dict[int, np.ndarray]

STRATEGIES = ("layer", "group", "global")
OBJECTIVES = ("macs", "cycles")


# --------------------------------------------------------------------------- cycle model interface


@dataclass(frozen=True)
class LayerWork:
    """What one MAC layer does in one inference (averaged over a batch).

    ``unit`` is False for the dense builtin kernel (no divisions, nothing
    skipped).  ``divisions`` is the number of threshold quotients computed:
    conv / depthwise: one per non-zero kernel weight; fully connected: one per
    (input activation, group).
    """

    op_name: str  # CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED
    unit: bool
    division: str
    macs_total: float
    macs_executed: float
    divisions: float
    outputs: int
    group_size: int
    num_groups: int

    @property
    def macs_skipped(self) -> float:
        return self.macs_total - self.macs_executed


class CycleModel(Protocol):
    """Anything that estimates the cycles of one layer's inference."""

    def layer_cycles(self, work: LayerWork) -> float: ...


@dataclass(frozen=True)
class LinearCycleModel:
    """cycles = executed MACs * mac + skipped MACs * skip + divisions *
    division[mode] + outputs * output (UnIT kernels); dense kernels pay
    ``dense_mac`` per MAC and ``output`` per output.  The defaults are
    placeholders in the right order of magnitude for an MSP430 with a
    hardware multiplier; pass measured figures."""

    mac: float = 45.0
    dense_mac: float = 40.0
    skip: float = 12.0
    output: float = 60.0
    division: Tuple[Tuple[str, float], ...] = (("exact", 400.0), ("shift", 60.0), ("tree", 30.0),
                                               ("clz", 20.0))

    def layer_cycles(self, work: LayerWork) -> float:
        if not work.unit:
            return work.macs_total * self.dense_mac + work.outputs * self.output
        per_division = dict(self.division)[work.division]
        return (work.macs_executed * self.mac + work.macs_skipped * self.skip
                + work.divisions * per_division + work.outputs * self.output)


# --------------------------------------------------------------------------- result


@dataclass
class LayerThresholds:
    """Calibrated thresholds of one MAC layer and what they skip on the
    calibration data (MACs per inference)."""

    op_index: int
    op_name: str
    output_name: str
    group_size: int
    thresholds_int: np.ndarray  # int16 [groups], what the kernels compare with
    thresholds_real: np.ndarray  # float64 [groups], T_q * s_x * mean(s_w over the group)
    macs_dense: float
    macs_executed: float

    @property
    def skip_rate(self) -> float:
        return 1.0 - self.macs_executed / self.macs_dense if self.macs_dense else 0.0

    def to_dict(self) -> dict:
        return dict(op_index=self.op_index, op_name=self.op_name, output_name=self.output_name,
                    group_size=self.group_size, thresholds_int=[int(t) for t in self.thresholds_int],
                    thresholds_real=[float(t) for t in self.thresholds_real],
                    macs_dense=float(self.macs_dense), macs_executed=float(self.macs_executed),
                    skip_rate=float(self.skip_rate))


@dataclass
class CalibrationResult:
    """Thresholds per op and group plus the calibration summary.

    ``path`` holds every configuration measured (accuracy and MACs per
    inference), in search order, for Pareto plots.
    """

    division: str
    strategy: str
    group_size: Optional[int]
    objective: str
    max_accuracy_drop: float
    num_samples: int
    accuracy_dense: float
    accuracy_unit: float
    macs_dense: float
    macs_executed: float
    layers: List[LayerThresholds]
    cycles_dense: Optional[float] = None
    cycles_unit: Optional[float] = None
    path: List[dict] = field(default_factory=list, repr=False)
    dataset: Optional[str] = None
    search_runs: int = 0  # batch runs the search needed (full or partial graph)
    confidence: float = 0.0

    @property
    def accuracy_drop(self) -> float:
        return self.accuracy_dense - self.accuracy_unit

    @property
    def mac_reduction(self) -> float:
        return 1.0 - self.macs_executed / self.macs_dense if self.macs_dense else 0.0

    def thresholds_real(self) -> Dict[int, np.ndarray]:
        """op_index -> real thresholds [groups] (the converter's input)."""
        return {layer.op_index: layer.thresholds_real.copy() for layer in self.layers}

    def thresholds_int(self) -> Dict[int, np.ndarray]:
        """op_index -> int16 T_q [groups], exactly what was measured."""
        return {layer.op_index: layer.thresholds_int.copy() for layer in self.layers}

    def group_sizes(self) -> Dict[int, int]:
        return {layer.op_index: layer.group_size for layer in self.layers}

    def apply(self, interpreter: Interpreter) -> None:
        """Set these thresholds on an interpreter of the same model."""
        for layer in self.layers:
            interpreter.set_skip(layer.op_index, layer.thresholds_int, layer.group_size, self.division)

    def summary(self) -> dict:
        """The calibration entry of UNIT_METADATA."""
        out = dict(dataset=self.dataset, num_samples=self.num_samples,
                   max_accuracy_drop=self.max_accuracy_drop, strategy=self.strategy,
                   group_size=self.group_size, objective=self.objective, division=self.division,
                   accuracy_dense=self.accuracy_dense, accuracy_unit=self.accuracy_unit,
                   accuracy_drop=self.accuracy_drop, macs_dense=self.macs_dense,
                   macs_executed=self.macs_executed, mac_reduction=self.mac_reduction, search_runs=self.search_runs,
                   confidence=self.confidence)
        if self.cycles_dense is not None:
            out.update(cycles_dense=self.cycles_dense, cycles_unit=self.cycles_unit)
        return out

    def converter_kwargs(self) -> dict:
        """Keyword arguments for ``tflm_unit.converter.convert`` /
        ``apply_thresholds`` on the int8 model that was calibrated (same op
        indices): real thresholds, group sizes, division, calibration summary."""
        return dict(thresholds=self.thresholds_real(), group_size=self.group_sizes(), division=self.division,
                    calibration=self.summary())

    def to_metadata(self) -> dict:
        """JSON-ready: summary under ``calibration`` and per-op thresholds."""
        return dict(calibration=self.summary(), division=self.division,
                    ops=[layer.to_dict() for layer in self.layers])


def base_op_name(op: Operator) -> str:
    return op.name[len("UNIT_"):] if op.name.startswith("UNIT_") else op.name


# --------------------------------------------------------------------------- measured points


@dataclass
class _Point:
    """One configuration run on the calibration batch."""

    config: Config
    values: Optional[Dict[int, np.ndarray]]  # every activation (None once released)
    stats: Dict[int, LayerStats]
    accuracy: float
    disagreement: float  # fraction of top-1 predictions that differ from the dense model
    margin_loss: float  # mean loss of the dense top-1 class's margin, relative to the dense mean margin
    macs_executed: float  # per inference
    cost: float  # objective value per inference (MACs or cycles)

    def release(self) -> None:
        """Drop the cached activations (only the path's current point keeps them)."""
        self.values = None

    def record(self) -> dict:
        return dict(accuracy=self.accuracy, disagreement=self.disagreement, margin_loss=self.margin_loss,
                    macs_executed=self.macs_executed, cost=self.cost)


class _Runner:
    """Runs the calibration batch through the interpreter for a threshold
    configuration, re-running only the ops from the first changed layer."""

    def __init__(self, interpreter: Interpreter, x_q: np.ndarray, labels: np.ndarray, division: str,
                 group_sizes: Dict[int, int], cycle_model: Optional[CycleModel]):
        self.interp = interpreter
        self.x_q = x_q
        self.labels = labels
        self.division = division
        self.group_sizes = group_sizes
        self.cycle_model = cycle_model
        self.ops = interpreter.mac_layers()
        self.batch = x_q.shape[0]
        self.runs = 0
        self._nonzero_weights = {op.index: int(np.count_nonzero(interpreter.graph.tensor(op.inputs[1]).data))
                                 for op in self.ops}
        self._saved_skip = {op.index: interpreter.skip_setting(op.index) for op in self.ops}
        dense_values, dense_stats = self._run_steps({}, None, 0)
        dense_output = dense_values[interpreter.graph.outputs[0]]
        self.dense_pred = predictions(dense_output)
        self.dense_margins = self._margins(dense_output)
        self.margin_scale = max(float(np.mean(self.dense_margins)), 1e-9)
        self.dense = self._point({}, dense_values, dense_stats)

    def uniform(self, t_layer: int) -> Config:
        """The same T_q for every group of every layer."""
        return {op.index: np.full(len(self.dense.stats[op.index].channel_executed) // self.group_sizes[op.index],
                                  t_layer, np.int16) for op in self.ops}

    def restore(self) -> None:
        """Put back the thresholds the interpreter had before calibration."""
        for op_index, setting in self._saved_skip.items():
            if setting is None:
                self.interp.set_skip(op_index, None)
            else:
                self.interp.set_skip(op_index, setting.thresholds, setting.group_size, setting.division)

    def _run_steps(self, values: Dict[int, np.ndarray], config: Optional[Config], start: int):
        interp = self.interp
        for op in self.ops:
            t = None if config is None else config.get(op.index)
            if t is None:
                interp.set_skip(op.index, None)
            else:
                interp.set_skip(op.index, t, self.group_sizes[op.index], self.division)
        values = dict(values)
        if start == 0:
            values = {interp.graph.inputs[0]: self.x_q}
        # Activations are kept (not freed) so later candidates can start mid-graph.
        stats: Dict[int, LayerStats] = {layer.op_index: layer for layer in interp.run_from(values, start)}
        self.runs += 1
        return values, stats

    def run(self, config: Config, base: Optional[_Point] = None) -> _Point:
        """Measure ``config``; when ``base`` is given, reuse its activations up
        to the first layer whose thresholds differ."""
        start = 0
        if base is not None:
            changed = [op.index for op in self.ops if not _same(config.get(op.index), base.config.get(op.index))]
            if not changed:
                return base
            start = min(changed) if base.values is not None else 0
        values, stats = self._run_steps(base.values if base is not None and start > 0 else {}, config, start)
        if base is not None and start > 0:
            stats = {**{k: v for k, v in base.stats.items() if k < start}, **stats}
        return self._point(config, values, stats)

    def _point(self, config: Config, values: Dict[int, np.ndarray], stats: Dict[int, LayerStats]) -> _Point:
        output = values[self.interp.graph.outputs[0]]
        pred = predictions(output)
        accuracy = float(np.mean(pred == self.labels))
        disagreement = float(np.mean(pred != self.dense_pred))
        # A smooth damage measure (top-1 flips are too coarse to rank moves).
        margin_loss = float(np.mean(np.maximum(self.dense_margins - self._margins(output), 0.0))) / self.margin_scale
        macs = sum(s.macs_executed for s in stats.values()) / self.batch
        return _Point(config, values, stats, accuracy, disagreement, margin_loss, macs, self.cost(config, stats))

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
        channels = len(stats.channel_executed)
        group = self.group_sizes[op.index]
        name = base_op_name(op)
        if t is None:
            divisions = 0.0
        elif name == "FULLY_CONNECTED":
            depth = int(self.interp.graph.tensor(op.inputs[1]).shape[1])
            divisions = float(depth * (channels // group))
        else:
            divisions = float(self._nonzero_weights[op.index])
        outputs = int(np.prod(self.interp.graph.tensor(op.outputs[0]).shape[1:]))
        return LayerWork(op_name=name, unit=t is not None, division=self.division,
                         macs_total=stats.macs_total / self.batch, macs_executed=stats.macs_executed / self.batch,
                         divisions=divisions, outputs=outputs, group_size=group, num_groups=channels // group)

    def cost(self, config: Config, stats: Dict[int, LayerStats]) -> float:
        if self.cycle_model is None:
            return sum(s.macs_executed for s in stats.values()) / self.batch
        return float(sum(self.cycle_model.layer_cycles(self.layer_work(op, config, stats[op.index]))
                         for op in self.ops))


def _same(a: Optional[np.ndarray], b: Optional[np.ndarray]) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and bool(np.array_equal(a, b))


def threshold_grid(ratio: float = math.sqrt(2.0), maximum: int = T_Q_MAX) -> np.ndarray:
    """Integer thresholds 0, 1, 2, 3, 4, 6, 8, 11, ... (geometric, no repeats)."""
    if ratio <= 1.0:
        raise ValueError(f"grid ratio must be > 1, got {ratio}")
    values = [0]
    k = 0
    while True:
        v = int(round(ratio ** k))
        k += 1
        if v > maximum:
            break
        if v > values[-1]:
            values.append(v)
    if values[-1] != maximum:
        values.append(maximum)
    return np.array(values, dtype=np.int64)


# --------------------------------------------------------------------------- search


@dataclass
class _Search:
    """Shared state of one calibration: runner, grid, budget."""

    runner: _Runner
    grid: np.ndarray
    budget: float
    progress: bool
    confidence: float = 0.0
    patience: int = 3
    fine_ratio: float = 2.0 ** 0.25  # global-T steps near the accuracy cliff
    coarse_ratio: float = 2.0  # global-T steps while nothing is lost
    layer_ratio: float = 2.0 ** 0.5  # per-layer moves of the joint search
    lossless_margin: float = 1e-2  # coarse global steps while the margin loss stays below this
    evaluated: List[_Point] = field(default_factory=list)
    global_points: List[Tuple[float, _Point]] = field(default_factory=list)  # (real T, point)

    @property
    def accuracy_floor(self) -> float:
        return self.runner.dense.accuracy - self.budget

    def within_budget(self, point: _Point) -> bool:
        """Accuracy drop (plus ``confidence`` standard errors of it) within
        the budget.  The standard error of a paired accuracy difference is
        about sqrt(changed predictions / N); a margin guards against picking,
        among many measured points, one that fits the calibration noise."""
        margin = self.confidence * math.sqrt(point.disagreement / self.runner.batch)
        return point.accuracy - margin >= self.accuracy_floor - 1e-12

    def keep_going(self, recent: Sequence[_Point]) -> bool:
        """Whether a path continues: calibration accuracy is noisy, so a path
        stops only after ``patience`` points in a row outside the budget, or
        one far outside it.  Both limits grow with the budget, so a larger
        budget's path extends a smaller one's (never fewer MACs skipped)."""
        if not recent:
            return True
        if recent[-1].accuracy < self.accuracy_floor - (self.budget + 0.02):
            return False
        tail = recent[-self.patience:]
        return len(tail) < self.patience or any(self.within_budget(p) for p in tail)

    # ---- real thresholds -> integer configurations

    def real_grid(self) -> List[float]:
        """0, then real T from the smallest layer's T_q = 1 up to the largest
        layer's T_q = T_Q_MAX, in steps of ``fine_ratio``."""
        units = [self._scales(op)[0] * float(np.mean(self._scales(op)[1])) for op in self.runner.ops]
        low, high = min(units), max(units) * T_Q_MAX
        steps = int(math.ceil(math.log(high / low) / math.log(self.fine_ratio))) + 1
        return [0.0] + [low * self.fine_ratio ** k for k in range(steps)]

    def _scales(self, op: Operator) -> Tuple[float, np.ndarray, int]:
        graph = self.runner.interp.graph
        return (graph.tensor(op.inputs[0]).scalar_scale(), graph.tensor(op.inputs[1]).scale,
                int(graph.tensor(op.outputs[0]).shape[-1]))

    def config_for(self, t_real: Dict[int, float], multipliers: Optional[Dict[int, np.ndarray]]) -> Config:
        """Per-layer real T -> int16 T_q per group (quantize_thresholds, then
        each group's multiplier)."""
        config = {}
        for op in self.runner.ops:
            s_x, s_w, channels = self._scales(op)
            t_q = quantize_thresholds(t_real[op.index], s_x, s_w, self.runner.group_sizes[op.index],
                                      num_channels=channels)
            if multipliers is not None:
                t_q = np.clip(np.round(t_q * multipliers[op.index]), 0, T_Q_MAX).astype(np.int16)
            config[op.index] = t_q
        return config

    # ---- searches

    def global_path(self, multipliers: Optional[Dict[int, np.ndarray]] = None, label: str = "global T"
                    ) -> List[_Point]:
        """One real T for every layer (times each group's multiplier), raised
        in coarse steps while nothing is lost, then in fine steps."""
        runner = self.runner
        reals = self.real_grid()
        coarse = max(1, int(round(math.log(self.coarse_ratio) / math.log(self.fine_ratio))))
        path: List[_Point] = []
        reals_used: List[float] = []
        current: Optional[_Point] = None
        index = 0
        bar = _progress_bar(self.progress, total=len(reals), desc=f"scan {label}")
        try:
            while index < len(reals):
                config = self.config_for({op.index: reals[index] for op in runner.ops}, multipliers)
                previous = current
                current = runner.run(config, base=previous)
                if previous is not None and previous is not current:
                    previous.release()
                path.append(current)
                reals_used.append(reals[index])
                self.evaluated.append(current)
                bar.update(1)
                if not self.keep_going(path):
                    break
                lossless = current.margin_loss < self.lossless_margin and current.disagreement == 0.0
                index += coarse if lossless and index > 0 else 1
        finally:
            bar.close()
        if current is not None:
            current.release()
        if multipliers is None:
            self.global_points = list(zip(reals_used, path))
        return path

    def joint_path(self, label: str = "per-layer") -> List[_Point]:
        """Greedy per-layer thresholds from the last lossless global-T point:
        each step tries raising every layer's T by ``layer_ratio`` and raising
        all of them together, measures each jointly, and takes the move with
        the most objective saved per margin lost.  The choice never looks at
        the budget (only the stopping rule does)."""
        runner = self.runner
        ops = runner.ops
        if not self.global_points:
            self.global_path()
        # Start where the global scan first changes a prediction: every scan,
        # whatever its budget, gets past that point, so the start (and the
        # whole path) does not depend on the budget.
        start_t = self.real_grid()[1]
        for t, point in self.global_points:
            if point.disagreement > 0.0:
                break
            start_t = t
        t_real = {op.index: start_t for op in ops}
        current = runner.run(self.config_for(t_real, None))
        path = [current]
        self.evaluated.append(current)
        epsilon = 1e-4
        bar = _progress_bar(self.progress, total=None, desc=f"search {label}")
        try:
            while self.keep_going(path):
                moves: List[Tuple[str, Dict[int, float]]] = [
                    ("all", {k: v * self.layer_ratio for k, v in t_real.items()})]
                for op in ops:
                    moves.append((str(op.index), {**t_real, op.index: t_real[op.index] * self.layer_ratio}))
                best: Optional[Tuple[float, Dict[int, float], _Point]] = None
                step_points = []
                for _, trial in moves:
                    config = self.config_for(trial, None)
                    if all(_same(config[k], current.config[k]) for k in config):
                        continue  # saturated
                    candidate = runner.run(config, base=current)
                    self.evaluated.append(candidate)
                    step_points.append(candidate)
                    gain = current.cost - candidate.cost
                    loss = max(candidate.margin_loss - current.margin_loss, 0.0)
                    score = gain / (loss + epsilon)
                    if best is None or score > best[0]:
                        best = (score, trial, candidate)
                if best is None:
                    break
                for candidate in step_points:
                    if candidate is not best[2]:
                        candidate.release()
                current.release()
                t_real, current = best[1], best[2]
                path.append(current)
                bar.update(1)
                bar.set_postfix(acc=f"{current.accuracy:.4f}", macs=f"{current.macs_executed:.0f}")
        finally:
            bar.close()
        current.release()
        return path

    def group_multipliers(self, group_sizes: Dict[int, int], alpha: float) -> Dict[int, np.ndarray]:
        """m_g per layer from per-group probes (see module docstring)."""
        return {op_index: np.power(ratio, alpha) for op_index, ratio in self._group_ratios(group_sizes).items()}

    def _group_ratios(self, group_sizes: Dict[int, int]) -> Dict[int, np.ndarray]:
        if getattr(self, "_ratios", None) is not None:
            return self._ratios
        runner = self.runner
        dense = runner.run(runner.uniform(0))
        ratios: Dict[int, np.ndarray] = {}
        epsilon = 1e-4
        for op in runner.ops:
            channels = len(dense.stats[op.index].channel_executed)
            groups = channels // group_sizes[op.index]
            probe = self._probe_threshold(op, dense)
            sensitivity = np.empty(groups)
            for g in range(groups):
                config = dict(dense.config)
                t = np.zeros(groups, np.int16)
                t[g] = probe
                config[op.index] = t
                point = runner.run(config, base=dense)
                point.release()
                saved = max(dense.macs_executed - point.macs_executed, 1e-9)
                sensitivity[g] = (point.margin_loss + epsilon) / saved
            ratio = np.median(sensitivity) / sensitivity
            ratios[op.index] = np.clip(ratio, 0.25, 4.0)
        dense.release()
        self._ratios = ratios
        return ratios

    def _probe_threshold(self, op: Operator, dense: _Point) -> int:
        """The smallest grid threshold (every other point) at which this layer
        alone changes at least 2 % of the predictions (budget independent)."""
        runner = self.runner
        groups = dense.config[op.index].size
        for t in self.grid[2::2]:
            config = dict(dense.config)
            config[op.index] = np.full(groups, t, np.int16)
            point = runner.run(config, base=dense)
            point.release()
            if point.disagreement >= 0.02:
                return int(t)
        return int(self.grid[-1])


def _progress_bar(enabled: bool, total: int, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, disable=not enabled, leave=False)


def _group_size_for(channels: int, requested: Optional[int]) -> int:
    """The largest divisor of ``channels`` not above ``requested`` (None: all)."""
    if requested is None or requested >= channels:
        return channels
    if requested < 1:
        raise ValueError(f"group_size must be >= 1, got {requested}")
    return max(d for d in range(1, requested + 1) if channels % d == 0)


def calibrate(model_or_tflite: ModelLike, x_calib: np.ndarray, y_calib: np.ndarray,
              max_accuracy_drop: float = 0.01, division: str = "shift", group_size: Optional[int] = None,
              objective: str = "macs", cycle_model: Optional[CycleModel] = None, seed: int = 0,
              progress: bool = True, strategy: Optional[str] = None, max_samples: Optional[int] = None,
              group_alphas: Sequence[float] = (0.5, 1.0), confidence: float = 0.0,
              dataset: Optional[str] = None) -> CalibrationResult:
    """Choose UnIT thresholds that skip the most MACs (``objective="macs"``)
    or save the most estimated cycles (``"cycles"``, needs ``cycle_model``)
    while calibration accuracy stays within ``max_accuracy_drop`` (a fraction,
    0.01 = 1 pp) of the unpruned int8 model.

    ``strategy``: "layer" (one threshold per layer), "group" (groups of
    ``group_size`` output channels, the default when group_size is given) or
    "global" (one real T for the whole model).  ``max_samples`` draws a random
    subset (``seed``) of the calibration data.  ``confidence`` > 0 keeps that
    many standard errors of the measured accuracy drop inside the budget (the
    search compares hundreds of configurations on the same samples, so the
    best one within the budget tends to fit their noise; 1.0 is a sensible
    choice when the test-split drop matters more than the last MACs).  The interpreter's own
    thresholds are restored afterwards.
    """
    if division not in DIVISION_MODES:
        raise ValueError(f"unknown division mode {division!r}; expected one of {DIVISION_MODES}")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    if objective == "cycles" and cycle_model is None:
        raise ValueError('objective="cycles" needs a cycle_model with a layer_cycles(work) method')
    if objective == "macs":
        cycle_model_for_cost = None
    else:
        cycle_model_for_cost = cycle_model
    if strategy is None:
        strategy = "layer" if group_size is None else "group"
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy == "group" and group_size is None:
        raise ValueError('strategy="group" needs a group_size')
    if confidence < 0:
        raise ValueError(f"confidence must be >= 0, got {confidence}")
    if not 0.0 <= max_accuracy_drop <= 1.0:
        raise ValueError(f"max_accuracy_drop is a fraction in [0, 1], got {max_accuracy_drop}")

    interp = load_interpreter(model_or_tflite, representative=float_inputs(x_calib))
    if interp.input_details[0].dtype != np.int8:
        raise ValueError("calibration needs a full-integer (int8) model")
    x_q = prepare_inputs(interp, x_calib)
    labels = prepare_labels(y_calib)
    if len(labels) != len(x_q):
        raise ValueError(f"{len(x_q)} inputs but {len(labels)} labels")
    if max_samples is not None and len(x_q) > max_samples:
        chosen = np.sort(np.random.default_rng(seed).choice(len(x_q), size=max_samples, replace=False))
        x_q, labels = x_q[chosen], labels[chosen]

    ops = interp.mac_layers()
    if not ops:
        raise ValueError("the model has no CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED ops")
    channels = {op.index: int(interp.graph.tensor(op.outputs[0]).shape[-1]) for op in ops}
    layer_groups = dict(channels)
    final_groups = {k: (_group_size_for(c, group_size) if strategy == "group" else c) for k, c in channels.items()}

    runner = _Runner(interp, x_q, labels, division, layer_groups, cycle_model_for_cost)
    try:
        search = _Search(runner, threshold_grid(), max_accuracy_drop, progress, confidence=confidence)
        if strategy == "global":
            path = search.global_path()
            candidates = list(search.evaluated)
            path_label = {id(p): "global" for p in path}
        else:
            # One global T is also a per-layer setting: per-layer is never worse.
            global_points = search.global_path()
            layer_points = search.joint_path()
            path = global_points + layer_points
            path_label = {id(p): "global" for p in global_points}
            path_label.update({id(p): "layer" for p in layer_points})
            # Per-layer configs in the grouped layout: same integers, same execution.
            candidates = [_regroup(p, final_groups, channels) for p in search.evaluated]
            if strategy == "group":
                runner.group_sizes = final_groups
                for alpha in group_alphas:
                    multipliers = search.group_multipliers(final_groups, alpha)
                    start = len(search.evaluated)
                    group_path = search.global_path(multipliers, f"per-group a={alpha}")
                    path_label.update({id(p): f"group a={alpha}" for p in group_path})
                    path = path + group_path
                    candidates += search.evaluated[start:]
        runner.group_sizes = final_groups
        best = _select(candidates, search)
        verified = runner.run(best.config)  # from scratch: confirms the reported accuracy
        if verified.accuracy != best.accuracy or verified.macs_executed != best.macs_executed:
            raise RuntimeError("calibration re-run disagrees with the search (non-deterministic kernels?)")
        records = [dict(p.record(), strategy=path_label.get(id(p), "")) for p in path]
        result = _result(runner, verified, division, strategy, group_size, objective, max_accuracy_drop,
                         final_groups, records, dataset)
        result.confidence = confidence
        return result
    finally:
        runner.restore()


def _regroup(point: _Point, group_sizes: Dict[int, int], channels: Dict[int, int]) -> _Point:
    """A per-layer point with each layer's single T_q repeated per group."""
    config = {}
    for k, t in point.config.items():
        groups = channels[k] // group_sizes[k]
        config[k] = np.full(groups, t[0], np.int16) if t.size == 1 else t
    return _Point(config, point.values, point.stats, point.accuracy, point.disagreement, point.margin_loss,
                  point.macs_executed, point.cost)


def _select(points: Sequence[_Point], search: _Search) -> _Point:
    """Lowest cost within budget; ties -> higher accuracy, then search order."""
    feasible = [p for p in points if search.within_budget(p)]
    if not feasible:  # T_q = 0 is bit-exact, so this only happens with a negative budget
        return search.runner.run(search.runner.uniform(0))
    best = feasible[0]
    for p in feasible[1:]:
        if p.cost < best.cost - 1e-9 or (abs(p.cost - best.cost) <= 1e-9 and p.accuracy > best.accuracy):
            best = p
    return best


def _result(runner: _Runner, point: _Point, division: str, strategy: str, group_size: Optional[int],
            objective: str, budget: float, group_sizes: Dict[int, int], path: List[dict],
            dataset: Optional[str]) -> CalibrationResult:
    graph = runner.interp.graph
    layers = []
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
            raise RuntimeError(f"op {op.index}: real thresholds do not round-trip to the measured T_q")
        layers.append(LayerThresholds(op.index, op.name, stats.output_name, group, t_q, t_real,
                                      stats.macs_total / runner.batch, stats.macs_executed / runner.batch))
    dense = runner.dense
    cycles_dense = cycles_unit = None
    if runner.cycle_model is not None:
        cycles_dense, cycles_unit = dense.cost, point.cost
    return CalibrationResult(division=division, strategy=strategy, group_size=group_size, objective=objective,
                             max_accuracy_drop=budget, num_samples=runner.batch, accuracy_dense=dense.accuracy,
                             accuracy_unit=point.accuracy, macs_dense=dense.macs_executed,
                             macs_executed=point.macs_executed, layers=layers, cycles_dense=cycles_dense,
                             cycles_unit=cycles_unit, path=path, dataset=dataset, search_runs=runner.runs)
