"""The threshold search on the search split (DESIGN.md section 3).

Every configuration is run jointly on the whole search batch through the C
kernels; a candidate re-runs only the ops from the first MAC layer whose
threshold prefix no earlier run shares (runner.py's activation cache).  Moves are ranked by *objective saved per
margin lost*: the margin loss is the mean shrinkage of the dense model's
top-1 score margin, a smoother signal than accuracy on a few hundred samples.

1. **Global scan.**  One real T for every layer (the UnIT paper's setting),
   raised geometrically from T = 0 (which only skips zero activations / zero
   weights and is bit-exact with the dense model): coarse steps while nothing
   is lost, fine steps (2^(1/4)) near the accuracy cliff.  Before a
   per-layer search (steps 2^(1/2)) the scan skips T = 0 and stops at its
   first changed prediction: the joint search starts just before it, and its
   raise-every-layer move walks the same grid on (cached runs).
2. **Joint per-layer search.**  From the last global point before the first
   changed prediction, each step tries raising each layer's T and raising all
   of them together.  The moves are *ranked* on a sub-batch of the search
   split (the ranker) and only the best one is run on the whole split, so a
   step costs about (layers + 1) * sub-batch + 1 partial runs.  With a
   confirmation split the path stops after ``patience`` points whose paired
   upper bound on the search split exceeds the budget (the confirmation, on a
   split of the same size, would reject them).  Each move has
   its own step ratio, sqrt(2) at first, squared (up to 16) while the move
   costs little margin per doubling of T and square-rooted back near the
   cliff: a deep net whose first global T already flips a prediction (so the
   search starts at T_q ~ 1) reaches its useful thresholds in a few steps.
3. **Per-group profiles** (``group_size`` given).  Each group of output
   channels is probed alone (on the ranker) at a per-layer probe threshold;
   its sensitivity (margin lost per MAC saved) gives a multiplier
   m_g = (median / own)^alpha, computed once, so groups whose outputs matter
   less get larger thresholds.  The global scan is repeated with T_q[g]
   scaled by m_g for a few strengths alpha.
4. **Selection.**  The measured configuration on the path with the best
   objective whose search-split accuracy is within the budget.  Per-group
   candidates include the per-layer ones, and per-layer candidates include
   the global ones, so per-group >= per-layer >= global on the search split
   by construction.  guarantee.py then confirms it on the disjoint split.

Budget independence: no move is chosen by looking at the budget.  The budget
only decides when a path stops (after ``patience`` points in a row outside it,
or one far outside it) and which measured point is returned, so a larger
budget measures a superset of the same points and never skips fewer MACs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from tflm_unit.errors import OptionError
from tflm_unit.runtime.model import Operator
from tflm_unit.unit.calibration.guarantee import paired_drop_bound
from tflm_unit.unit.calibration.runner import Config, Point, Runner, same_thresholds
from tflm_unit.unit.thresholds import T_Q_MAX, quantize_thresholds

#: The joint per-layer search stops after this many steps at the latest.
MAX_JOINT_STEPS = 60


def threshold_grid(ratio: float = math.sqrt(2.0), maximum: int = T_Q_MAX) -> np.ndarray:
    """Integer thresholds 0, 1, 2, 3, 4, 6, 8, 11, ... (geometric, no repeats)."""
    if ratio <= 1.0:
        raise OptionError(f"grid ratio must be > 1, got {ratio}")
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


class Progress:
    """One progress bar (with an ETA) for the whole calibration, counted in
    samples x share of the graph run; stages add their planned work."""

    def __init__(self, enabled: bool, desc: str = "calibrate"):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=0, desc=desc, disable=not enabled, leave=False, unit="sample",
                        unit_scale=True)

    def plan(self, work: float) -> None:
        self.bar.total = (self.bar.total or 0) + work
        self.bar.refresh()

    def advance(self, work: float) -> None:
        total = self.bar.total or 0
        if self.bar.n + work > total:  # a stage ran longer than planned
            self.bar.total = self.bar.n + work
        self.bar.update(work)

    def finish_stage(self, planned_end: float) -> None:
        """A stage stopped early: drop the rest of its plan from the total."""
        if self.bar.n < planned_end:
            self.bar.total = max(self.bar.n, (self.bar.total or 0) - (planned_end - self.bar.n))
            self.bar.refresh()

    def postfix(self, **values) -> None:
        self.bar.set_postfix(**values)

    def close(self) -> None:
        self.bar.close()


@dataclass
class Search:
    """Shared state of one search: runners, grid, budget."""

    runner: Runner  # the whole search split
    ranker: Runner  # a sub-batch of it (may be the same runner) for ranking moves and probes
    grid: np.ndarray
    budget: float
    progress: Progress
    patience: int = 3
    fine_ratio: float = 2.0 ** 0.25  # global-T steps near the accuracy cliff
    coarse_ratio: float = 8.0  # global-T steps while nothing is lost (then back one and fine steps)
    layer_ratio: float = 2.0 ** 0.5  # per-layer moves of the joint search: the first and smallest ratio
    max_layer_ratio: float = 16.0  # ... grown (squared) up to this while a move costs little margin
    accelerate_damage: float = 0.005  # margin loss per doubling of T below which a move's ratio grows
    brake_damage: float = 0.02  # ... and above which it shrinks back (square root)
    lossless_margin: float = 1e-2  # coarse global steps while the margin loss stays below this
    # The plain global scan stops at its first changed prediction (the joint
    # search starts just before it and its raise-every-layer moves walk on).
    global_until_change: bool = False
    refresh_every: int = 4  # the joint search runs every move every this many steps (1: always)
    # With a confirmation split: a path also stops after ``patience`` points in a
    # row whose paired upper bound of the drop on the search split (at the
    # guarantee's confidence) exceeds the budget: the confirmation would reject them.
    stop_confidence: Optional[float] = None
    evaluated: List[Point] = field(default_factory=list)
    global_points: List[Tuple[float, Point]] = field(default_factory=list)  # (real T, point)
    _ratios: Optional[Dict[int, np.ndarray]] = None

    @property
    def accuracy_floor(self) -> float:
        return self.runner.dense.accuracy - self.budget

    def within_budget(self, point: Point) -> bool:
        return point.accuracy >= self.accuracy_floor - 1e-12

    def risk(self, point: Point) -> float:
        """The paired upper bound of the point's drop on the search split at
        ``stop_confidence``: what the confirmation will judge on a split of the same size."""
        return paired_drop_bound(self.runner.dense.correct, point.correct, self.stop_confidence).upper

    def confirmable(self, point: Point) -> bool:
        """Within the budget by ``risk`` (by the point estimate without ``stop_confidence``)."""
        if self.stop_confidence is None:
            return self.within_budget(point)
        return self.risk(point) <= self.budget + 1e-12

    def keep_going(self, recent: Sequence[Point]) -> bool:
        """Whether a path continues: calibration accuracy is noisy, so a path
        stops only after ``patience`` points in a row outside the budget, or
        one far outside it.  With a confirmation split, "outside" is judged by
        the upper bound the confirmation will use (a split of the same size):
        walking on through points it would reject only costs time.  Both
        limits grow with the budget, so a larger budget's path extends a
        smaller one's (never fewer MACs skipped)."""
        if not recent:
            return True
        if recent[-1].accuracy < self.accuracy_floor - (self.budget + 0.02):
            return False
        tail = recent[-self.patience:]
        return len(tail) < self.patience or any(self.confirmable(p) for p in tail)

    # ---- real thresholds -> integer configurations

    def real_grid(self) -> List[float]:
        """0, then real T from the smallest layer's T_q = 1 up to the largest
        layer's T_q = T_Q_MAX, in steps of ``fine_ratio``."""
        units = [self.unit_threshold(op) for op in self.runner.ops]
        low, high = min(units), max(units) * T_Q_MAX
        steps = int(math.ceil(math.log(high / low) / math.log(self.fine_ratio))) + 1
        return [0.0] + [low * self.fine_ratio ** k for k in range(steps)]

    def unit_threshold(self, op: Operator) -> float:
        """The real T that is about T_q = 1 for this layer (input scale x mean weight scale)."""
        s_x, s_w, _ = self._scales(op)
        return s_x * float(np.mean(s_w))

    def raised(self, op: Operator, t: float, ratio: float) -> float:
        """A per-layer move: T times ``ratio``; from T = 0 (the joint search
        starts there when the first global T already changes a prediction)
        the layer's own T_q = 1."""
        return t * ratio if t > 0.0 else self.unit_threshold(op)

    def adapted_ratio(self, ratio: float, margin_loss_added: float) -> float:
        """The next step ratio of a move that just cost ``margin_loss_added``:
        squared (up to ``max_layer_ratio``) while the damage per doubling of T
        is small, square-rooted (down to ``layer_ratio``) when it is large.
        Far below a layer's accuracy cliff the search then takes a few long
        steps instead of many sqrt(2) ones; near it, sqrt(2) steps again.
        Budget independent: only the measured margin loss decides."""
        damage = max(margin_loss_added, 0.0) / math.log2(ratio)
        if damage < self.accelerate_damage:
            return min(ratio * ratio, self.max_layer_ratio)
        if damage > self.brake_damage:
            return max(math.sqrt(ratio), self.layer_ratio)
        return ratio

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

    def global_path(self, multipliers: Optional[Dict[int, np.ndarray]] = None) -> List[Point]:
        """One real T for every layer (times each group's multiplier), raised
        in coarse steps while nothing is lost, then in fine steps."""
        runner = self.runner
        reals = self.real_grid()
        coarse = max(1, int(round(math.log(self.coarse_ratio) / math.log(self.fine_ratio))))
        last_lossless = 0
        backtracked = False
        planned = self.progress.bar.n + self.planned_global_work()
        self.progress.plan(self.planned_global_work())
        path: List[Point] = []
        reals_used: List[float] = []
        current: Optional[Point] = None
        # T = 0 is bit-exact with the dense model: before a joint search it is
        # never the best candidate (select() and the confirmation have it anyway)
        # and the joint search starts from it without this run, so the scan starts
        # at the smallest nonzero T.
        index = 1 if self.global_until_change and multipliers is None else 0
        while index < len(reals):
            config = self.config_for({op.index: reals[index] for op in runner.ops}, multipliers)
            previous = current
            current = runner.run(config, base=previous)
            if previous is not None and previous is not current:
                previous.release()
            path.append(current)
            reals_used.append(reals[index])
            self.evaluated.append(current)
            if not self.keep_going(path):
                if not backtracked and index > last_lossless + 1:
                    # A coarse step landed far outside the budget: walk it again in
                    # fine steps (it stays a candidate, but not on the path).
                    backtracked = True
                    path.pop()
                    reals_used.pop()
                    index = last_lossless + 1
                    continue
                break
            if (self.global_until_change and multipliers is None and current.disagreement > 0.0
                    and (backtracked or index == last_lossless + 1)):
                break
            lossless = current.margin_loss < self.lossless_margin and current.disagreement == 0.0
            if lossless:
                last_lossless = index
            elif not backtracked and index > last_lossless + 1:
                # A coarse step overshot the cliff: walk it again in fine steps.
                backtracked = True
                index = last_lossless + 1
                continue
            index += coarse if lossless and index > 0 and not backtracked else 1
        self.progress.finish_stage(planned)
        if current is not None:
            current.release()
        if multipliers is None:
            self.global_points = list(zip(reals_used, path))
        return path

    def planned_global_work(self) -> float:
        """A guess of the global scan's work for the progress bar: coarse steps
        to the cliff, then ``patience`` + a few fine ones."""
        reals = len(self.real_grid())
        return self.runner.batch * (reals / 4 + self.patience + 6)

    def planned_joint_work(self) -> float:
        steps = 3 * len(self.runner.ops) + 6
        return steps * (self.runner.batch * 0.6 + self.ranker.batch * (len(self.runner.ops) + 1) * 0.6)

    def joint_path(self) -> List[Point]:
        """Greedy per-layer thresholds from the last lossless global-T point:
        each step tries raising every layer's T by ``layer_ratio`` and raising
        all of them together, ranks the moves on the ranker's sub-batch by the
        objective saved per margin lost, and runs the best one on the whole
        search split.  The choice never looks at the budget (only the
        stopping rule does)."""
        runner, ranker = self.runner, self.ranker
        ops = runner.ops
        if not self.global_points:
            self.global_path()
        # Start where the global scan first changes a prediction: every scan,
        # whatever its budget, gets past that point, so the start (and the
        # whole path) does not depend on the budget.
        start_t = 0.0
        for t, point in self.global_points:
            if point.disagreement > 0.0:
                break
            start_t = t
        planned = self.progress.bar.n + self.planned_joint_work()
        self.progress.plan(self.planned_joint_work())
        t_real = {op.index: start_t for op in ops}
        current = runner.run(self.config_for(t_real, None))
        current_rank = current if ranker is runner else ranker.run(current.config)
        path = [current]
        self.evaluated.append(current)
        epsilon = 1e-4
        steps = 0
        keys = [-1] + [op.index for op in ops]  # -1: raise every layer
        stale: Dict[int, float] = {}  # each move's score when it was last run
        ratios = {key: self.layer_ratio for key in keys}  # each move's step (adapted_ratio)
        def rank(refresh: bool):
            """Run the moves (all of them, or lazily by stale score) on the
            ranker; the best (score, T, point, key, ratio it used) and every point run."""
            moves = {-1: {op.index: self.raised(op, t_real[op.index], ratios[-1]) for op in ops}}
            for op in ops:
                moves[op.index] = {**t_real, op.index: self.raised(op, t_real[op.index], ratios[op.index])}
            best = None
            step_points = []
            # Lazy greedy: a move's score rarely grows as the others are taken, so
            # moves run best-stale-score first and stop once no stale score beats
            # the best fresh one; every ``refresh_every`` steps all of them run.
            for key in sorted(keys, key=lambda k: (-stale.get(k, math.inf), keys.index(k))):
                trial = moves[key]
                if not refresh and best is not None and stale.get(key, math.inf) <= best[0]:
                    break
                config = self.config_for(trial, None)
                if all(same_thresholds(config[k], current.config[k]) for k in config):
                    stale[key] = -math.inf
                    continue  # saturated
                candidate = ranker.run(config, base=current_rank)
                step_points.append(candidate)
                gain = current_rank.cost - candidate.cost
                loss = max(candidate.margin_loss - current_rank.margin_loss, 0.0)
                score = gain / (loss + epsilon)
                stale[key] = score
                used = ratios[key]
                ratios[key] = self.adapted_ratio(used, loss)
                if best is None or score > best[0]:
                    best = (score, trial, candidate, key, used)
            return best, step_points

        while self.keep_going(path) and steps < MAX_JOINT_STEPS:
            steps += 1
            best, step_points = rank(self.refresh_every <= 1 or steps % self.refresh_every == 1)
            # A long step that costs much margin is not taken: its ratio has just
            # shrunk (adapted_ratio), so the step is ranked again, down to sqrt(2) steps.
            while best is not None and best[4] > self.layer_ratio and ratios[best[3]] < best[4]:
                for candidate in step_points:
                    candidate.release()
                best, step_points = rank(False)
            if best is None:
                break
            for candidate in step_points:
                if candidate is not best[2]:
                    candidate.release()
            if current_rank is not current:
                current_rank.release()
            chosen = best[2] if ranker is runner else runner.run(best[2].config, base=current)
            current.release()
            t_real, current, current_rank = best[1], chosen, best[2]
            path.append(current)
            self.evaluated.append(current)
            self.progress.postfix(acc=f"{current.accuracy:.4f}", macs=f"{current.macs_executed:.0f}")
        self.progress.finish_stage(planned)
        current.release()
        if current_rank is not current:
            current_rank.release()
        return path

    def group_multipliers(self, group_sizes: Dict[int, int], alpha: float) -> Dict[int, np.ndarray]:
        """m_g per layer from per-group probes (see module docstring)."""
        return {op_index: np.power(ratio, alpha) for op_index, ratio in self._group_ratios(group_sizes).items()}

    def _group_ratios(self, group_sizes: Dict[int, int]) -> Dict[int, np.ndarray]:
        if self._ratios is not None:
            return self._ratios
        ranker = self.ranker
        saved_groups = ranker.group_sizes
        ranker.group_sizes = group_sizes
        try:
            dense = ranker.run(ranker.uniform(0))
            ratios: Dict[int, np.ndarray] = {}
            epsilon = 1e-4
            for op in ranker.ops:
                channels = len(dense.stats[op.index].channel_executed)
                groups = channels // group_sizes[op.index]
                probe = self._probe_threshold(op, dense)
                sensitivity = np.empty(groups)
                for g in range(groups):
                    config = dict(dense.config)
                    t = np.zeros(groups, np.int16)
                    t[g] = probe
                    config[op.index] = t
                    point = ranker.run(config, base=dense)
                    point.release()
                    saved = max(dense.macs_executed - point.macs_executed, 1e-9)
                    sensitivity[g] = (point.margin_loss + epsilon) / saved
                ratio = np.median(sensitivity) / sensitivity
                ratios[op.index] = np.clip(ratio, 0.25, 4.0)
            dense.release()
        finally:
            ranker.group_sizes = saved_groups
        self._ratios = ratios
        return ratios

    def _probe_threshold(self, op: Operator, dense: Point) -> int:
        """The smallest grid threshold (every other point) at which this layer
        alone changes at least 2 % of the predictions (budget independent)."""
        ranker = self.ranker
        groups = dense.config[op.index].size
        for t in self.grid[2::2]:
            config = dict(dense.config)
            config[op.index] = np.full(groups, t, np.int16)
            point = ranker.run(config, base=dense)
            point.release()
            if point.disagreement >= 0.02:
                return int(t)
        return int(self.grid[-1])


def group_size_for(channels: int, requested: Optional[int]) -> int:
    """The largest divisor of ``channels`` not above ``requested`` (None: all)."""
    if requested is None or requested >= channels:
        return channels
    if requested < 1:
        raise OptionError(f"group_size must be >= 1, got {requested}")
    return max(d for d in range(1, requested + 1) if channels % d == 0)


def regroup(point: Point, group_sizes: Dict[int, int], channels: Dict[int, int]) -> Point:
    """A per-layer point with each layer's single T_q repeated per group."""
    config = {}
    for k, t in point.config.items():
        groups = channels[k] // group_sizes[k]
        config[k] = np.full(groups, t[0], np.int16) if t.size == 1 else t
    return Point(config, point.values, point.stats, point.accuracy, point.disagreement, point.margin_loss,
                 point.macs_executed, point.cost, point.correct)


def select(points: Sequence[Point], search: Search) -> Point:
    """Lowest cost within budget; ties -> higher accuracy, then search order."""
    feasible = [p for p in points if search.within_budget(p)]
    if not feasible:  # T_q = 0 is bit-exact, so this only happens with a negative budget
        return search.runner.run(search.runner.uniform(0))
    best = feasible[0]
    for p in feasible[1:]:
        if p.cost < best.cost - 1e-9 or (abs(p.cost - best.cost) <= 1e-9 and p.accuracy > best.accuracy):
            best = p
    return best
