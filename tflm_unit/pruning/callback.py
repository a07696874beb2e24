"""The ``DifferentiablePruning`` Keras callback: prune channels during ``fit`` until a budget holds."""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from ..resources import RESOURCE_NAMES, Budget, BudgetError, KerasResourceModel
from ._keras import variable_value, weight_short_name
from .graph import gate_layers

try:  # tf_keras callbacks also work in Keras 3's fit (same hook methods).
    from tf_keras.callbacks import Callback as _CallbackBase
except ImportError:  # pragma: no cover - Keras 3 only installs
    from keras.callbacks import Callback as _CallbackBase


#: Channel rankings a cut can use (see the package docstring).
SALIENCES = ("taylor", "magnitude")


class DifferentiablePruning(_CallbackBase):
    """Prune gated channels during ``model.fit`` until every limit of ``budget`` holds.

    Use on a model from ``tflm_unit.pruning.prepare``. See the package docstring for the
    penalty, salience and schedule. Arguments:

    * ``budget`` — a ``tflm_unit.resources.Budget`` (e.g. ``Budget.for_board("msp430fr5994")``,
      or ``Budget.fraction(macs=0.25)`` for ¼ of the unpruned model's MACs).
    * ``start_step`` / ``end_step`` — the pruning window in optimiser steps (default: from 10 %
      to 60 % of the training steps, so the rest of training fine-tunes the pruned model).
    * ``pruning_events`` — how many times channels are removed in the window.
    * ``refresh_every`` — steps between refreshes of marginal costs and penalty weights.
    * ``initial_penalty`` / ``penalty_growth`` / ``penalty_decay`` / ``min_penalty`` /
      ``max_penalty`` — the adaptive penalty weight λ_r of each limited resource.
    * ``stop_training_when_met`` — end ``fit`` as soon as the budget holds (default: keep
      training without penalty, which recovers accuracy).
    * ``min_channels`` — no group is cut below this many channels.
    * ``coupled_floor`` — a coupled group (several layers share its channels: residual adds,
      depthwise chains) keeps at least this fraction of its full width (and ``min_channels``):
      the residual stream carries every stage, so a 1-channel stream cannot be trained back.
    * ``salience`` — how a cut ranks channels: ``"taylor"`` (default; the loss change a
      channel's removal would cause, first-order, averaged over the steps since the last cut) or
      ``"magnitude"`` (|gate| × normalised weight scale, with the width ratio).
    * ``verbose`` — 1 prints one line per cut event (layers, channels before → after, resources
      vs budget) and one per epoch.
    """

    def __init__(self, budget: Budget, start_step: int | None = None, end_step: int | None = None,
                 pruning_events: int = 10, refresh_every: int = 20, initial_penalty: float = 0.01,
                 penalty_growth: float = 1.2, penalty_decay: float = 0.8, max_penalty: float = 1.0,
                 min_penalty: float = 1e-4, min_channels: int = 1, coupled_floor: float = 0.25,
                 salience: str = "taylor", stop_training_when_met: bool = False, verbose: int = 1) -> None:
        super().__init__()
        if not isinstance(budget, Budget):
            raise TypeError(f"budget must be a tflm_unit.resources.Budget, got {type(budget).__name__}")
        if pruning_events < 1 or refresh_every < 1:
            raise ValueError("pruning_events and refresh_every must be at least 1")
        if int(min_channels) < 1:
            raise ValueError(f"min_channels must be at least 1, got {min_channels}")
        if not 0.0 <= float(coupled_floor) <= 1.0:
            raise ValueError(f"coupled_floor is a fraction of the full width in [0, 1], got {coupled_floor}")
        if salience not in SALIENCES:
            raise ValueError(f"salience must be one of {', '.join(SALIENCES)}, got {salience!r}")
        if start_step is not None and end_step is not None and end_step <= start_step:
            raise ValueError(f"end_step ({end_step}) must be after start_step ({start_step})")
        self.budget = budget
        self.start_step = start_step
        self.end_step = end_step
        self.pruning_events = int(pruning_events)
        self.refresh_every = int(refresh_every)
        self.initial_penalty = float(initial_penalty)
        self.penalty_growth = float(penalty_growth)
        self.penalty_decay = float(penalty_decay)
        self.max_penalty = float(max_penalty)
        self.min_penalty = float(min_penalty)
        self.min_channels = int(min_channels)
        self.coupled_floor = float(coupled_floor)
        self.salience = salience
        self.stop_training_when_met = stop_training_when_met
        self.verbose = verbose
        self.history: list[dict[str, Any]] = []
        self.budget_met_at_step: int | None = None
        self.resource_model: KerasResourceModel | None = None
        #: Wall-clock seconds spent inside this callback's hooks (its share of training time).
        self.seconds_in_callback = 0.0
        # The callback never reads the batch logs: let tf_keras skip converting them to NumPy each step.
        self._supports_tf_logs = True

    # -- set-up ----------------------------------------------------------------------------------

    def on_train_begin(self, logs=None) -> None:
        started = time.perf_counter()
        self.seconds_in_callback = 0.0
        self._begin()
        self.seconds_in_callback += time.perf_counter() - started

    def _begin(self) -> None:
        gates = gate_layers(self.model)
        if not gates:
            raise ValueError("DifferentiablePruning needs a gated model: call tflm_unit.pruning.prepare(model), "
                             "compile the result and fit that")
        self.resource_model = KerasResourceModel(self.model)
        self._gates = gates
        self._group_gates: dict[int, list] = {}
        for gate in gates:
            (group,) = self.resource_model.output_layout(gate.name)
            self._group_gates.setdefault(group, []).append(gate)
        self._floors = self.channel_floors()
        self._initial = self.resource_model.totals(self.current_counts())
        #: The absolute budget (fractions of ``budget`` resolved against the unpruned model).
        self.resolved_budget = self.budget.resolve(self._initial)
        check_budget_feasible(self.resource_model, self.resolved_budget, self._floors)
        self._limits = self.resolved_budget.limits()
        self._penalty = {name: self.initial_penalty for name in self._limits}
        self._step = 0
        self._events_done = 0
        self._done = self.resource_model.evaluate(self.current_counts()).meets(self.resolved_budget)
        if self._done:
            self.budget_met_at_step = 0
        total_steps = None
        if self.params and self.params.get("steps") and self.params.get("epochs"):
            total_steps = int(self.params["steps"]) * int(self.params["epochs"])
        start, end = self.start_step, self.end_step
        if end is None:
            if total_steps is None:
                raise ValueError("Cannot tell how many steps training has (dataset without a length): "
                                 "pass end_step= (and start_step=) to DifferentiablePruning")
            end = max(1, int(0.6 * total_steps))
        if start is None:
            start = min(int(0.1 * total_steps), end - 1) if total_steps else 0
        start = max(0, min(start, end - 1))
        self._start, self._end = start, end
        self._reset_taylor()
        self._event_steps = sorted({start + max(1, round((end - start) * (j + 1) / self.pruning_events))
                                    for j in range(self.pruning_events)})
        self._refresh()

    def channel_floors(self) -> np.ndarray:
        """The fewest channels each group may keep: ``min_channels``, and for coupled groups
        (shared by several gated layers) also ``coupled_floor`` × full width; fixed groups stay full."""
        floors = self.resource_model.full_counts()
        for group in self.resource_model.groups:
            if not group.prunable:
                continue
            floor = self.min_channels
            if len(self._group_gates.get(group.index, ())) > 1:
                floor = max(floor, int(np.ceil(self.coupled_floor * group.full_size)))
            floors[group.index] = min(group.full_size, floor)
        return floors

    # -- reading and writing gate state ------------------------------------------------------------

    def current_counts(self) -> np.ndarray:
        """Channels kept per coupling group (from the gates' masks)."""
        counts = self.resource_model.full_counts()
        for group in self._group_gates:
            counts[group] = self._group_mask(group).sum()
        return counts

    def _group_mask(self, group: int) -> np.ndarray:
        """Channels of a group still kept by all its gates."""
        keep = np.ones(self.resource_model.groups[group].full_size, dtype=bool)
        for gate in self._group_gates[group]:
            keep &= variable_value(gate.mask) > 0.5
        return keep

    def _weight_scale(self, gate) -> np.ndarray:
        """Per-channel weight scale of the layer a gate folds into, normalised to mean 1.

        BatchNorm: |gamma| (the channel's output scale after normalisation); conv/dense: the
        L2 norm of the channel's filter. Normalising per layer keeps layers comparable.
        """
        layer = self.model.get_layer(gate.fold_into)
        weights = {weight_short_name(w): variable_value(w) for w in layer.weights}
        if "moving_mean" in weights:
            scale = np.abs(weights["gamma"]) if "gamma" in weights else np.ones_like(weights["moving_mean"])
        else:
            kind = type(layer).__name__
            if kind == "SeparableConv2D":  # output channels are the pointwise filters'
                kernel = weights["pointwise_kernel"]
            else:
                kernel = weights.get("depthwise_kernel", weights.get("kernel"))
            if kind in ("DepthwiseConv2D", "Conv2DTranspose"):
                kernel = np.moveaxis(kernel, 2, -1)  # [kh, kw, C, 1] / [kh, kw, out, in] -> channel last
            scale = np.sqrt(np.sum(kernel.reshape(-1, kernel.shape[-1]) ** 2, axis=0))
        mean = float(np.mean(scale))
        return scale / mean if mean > 0 else np.ones_like(scale)

    def _group_salience(self, group: int) -> np.ndarray:
        """Channel salience: mean over the group's gates of |gate| × normalised weight scale."""
        values = [np.abs(variable_value(gate.gate)) * self._weight_scale(gate) for gate in self._group_gates[group]]
        return np.mean(values, axis=0)

    def _group_taylor(self, group: int) -> np.ndarray:
        """Loss change a channel's removal would cause (first order, mean over the steps since the
        last reset), summed over the group's gates: removing it removes it from all of them."""
        return np.sum([variable_value(gate.taylor) for gate in self._group_gates[group]], axis=0) \
            / max(1, self._taylor_steps)

    def _reset_taylor(self) -> None:
        for gate in self._gates:
            gate.taylor.assign(np.zeros(gate.taylor.shape, dtype=np.float32))
        self._taylor_steps = 0

    # -- penalty -----------------------------------------------------------------------------------

    def expected_counts(self) -> np.ndarray:
        """Soft channel counts n̂_k = mean over the group's gates of Σ_c m_c |g_c| (≤ full size)."""
        counts = self.current_counts()
        for group, gates in self._group_gates.items():
            soft = np.mean([np.sum(np.abs(variable_value(g.gate)) * variable_value(g.mask)) for g in gates])
            counts[group] = min(float(soft), self.resource_model.groups[group].full_size)
        return counts

    def _soft_targets(self) -> dict[str, float]:
        """Where the expected (soft) usage should be now: the geometric path from the start to
        the budget, reached at ``end_step``."""
        fraction = min(1.0, self._step / max(1, self._end))
        return {name: min(self._initial[name], limit) if self._initial[name] <= limit
                else self._initial[name] * (limit / self._initial[name]) ** fraction
                for name, limit in self._limits.items()}

    def _refresh(self) -> None:
        """Re-linearise the resource model at the current counts and adapt the penalty weights.

        λ_r grows while the expected usage R_r(n̂) is above the scheduled path and shrinks while
        it is below (bounded to [min_penalty, max_penalty]); once the budget holds it decays.
        This keeps the gates shrinking only as fast as the schedule needs, so the penalty never
        overwhelms the task loss.
        """
        counts = self.current_counts()
        costs = self.resource_model.marginal_costs(counts)
        expected = self.resource_model.totals(self.expected_counts())
        targets = self._soft_targets()
        for name in self._limits:
            if self._done:
                self._penalty[name] *= self.penalty_decay
            elif expected[name] > targets[name]:
                self._penalty[name] = min(self.max_penalty, self._penalty[name] * self.penalty_growth)
            else:
                self._penalty[name] = max(self.min_penalty, self._penalty[name] * self.penalty_decay)
        for group, gates in self._group_gates.items():
            coefficient = sum(self._penalty[name] * costs[name][group] / limit for name, limit in self._limits.items())
            for gate in gates:
                gate.penalty_coefficient.assign(float(coefficient) / len(gates))

    # -- pruning -----------------------------------------------------------------------------------

    def _targets(self, event: int) -> dict[str, float]:
        """Resource levels to reach at pruning event ``event`` (1-based): a geometric path."""
        fraction = min(1.0, event / len(self._event_steps))
        targets = {}
        for name, limit in self._limits.items():
            start = self._initial[name]
            targets[name] = limit if start <= limit else start * (limit / start) ** fraction
        return targets

    def _prune_to(self, targets: dict[str, float]) -> int:
        """Remove the channels with least salience per unit of over-target cost until targets hold,
        then give back the removed channels that fit (returns how many stay removed)."""
        model = self.resource_model
        counts = self.current_counts()
        masks = {group: self._group_mask(group) for group in self._group_gates}
        taylor = self.salience == "taylor" and self._taylor_steps > 0
        if taylor:
            salience = {group: self._group_taylor(group) for group in self._group_gates}
        else:  # magnitude, or no training step has been seen yet
            salience = {group: self._group_salience(group) for group in self._group_gates}
        removed: list[tuple[float, int, int]] = []
        while True:
            usage = model.totals(counts)
            over = [name for name in targets if usage[name] > targets[name]]
            if not over:
                break
            costs = model.marginal_costs(counts)
            best = None
            for group in self._group_gates:
                if counts[group] <= self._floors[group]:
                    continue
                weight = sum(costs[name][group] / self._limits[name] for name in over)
                if weight <= 0:
                    continue
                alive = np.flatnonzero(masks[group])
                channel = alive[np.argmin(salience[group][alive])]
                # Magnitudes are not in loss units: a channel of a thin layer carries a larger share of
                # that layer's information, so full/current width keeps greedy cuts from collapsing one
                # layer. The Taylor estimate already is the loss change: loss per unit of cost.
                thinness = 1.0 if taylor else model.groups[group].full_size / counts[group]
                score = salience[group][channel] * thinness / weight
                if best is None or score < best[0]:
                    best = (score, group, channel)
            if best is None:
                break  # nothing left that lowers an over-target resource
            _, group, channel = best
            masks[group][channel] = False
            counts[group] -= 1
            removed.append(best)
        # One at a time, the last cut can overshoot the target by several channels' cost (a
        # coupled channel is dear): give back, most salient per cost first, what still fits.
        for _, group, channel in sorted(removed, reverse=True):
            counts[group] += 1
            usage = model.totals(counts)
            if all(usage[name] <= targets[name] for name in targets):
                masks[group][channel] = True
            else:
                counts[group] -= 1
        for group, gates in self._group_gates.items():
            for gate in gates:
                gate.mask.assign(masks[group].astype(np.float32))
        self._reset_taylor()
        return int(sum(1 for _, group, channel in removed if not masks[group][channel]))

    def on_train_batch_end(self, batch, logs=None) -> None:
        started = time.perf_counter()
        self._step_end()
        self.seconds_in_callback += time.perf_counter() - started

    def _step_end(self) -> None:
        self._step += 1
        self._taylor_steps += 1
        if not self._done and self._events_done < len(self._event_steps) \
                and self._step >= self._event_steps[self._events_done]:
            self._events_done += 1
            before = self.current_counts()
            self._prune_to(self._targets(self._events_done))
            if self.verbose:
                self._print_cuts(before, self.current_counts())
            if self.resource_model.evaluate(self.current_counts()).meets(self.resolved_budget):
                self._done = True
                self.budget_met_at_step = self._step
                if self.stop_training_when_met:
                    self.model.stop_training = True
            self._refresh()
        elif self._step % self.refresh_every == 0:
            self._refresh()

    # -- reporting ---------------------------------------------------------------------------------

    def on_epoch_end(self, epoch, logs=None) -> None:
        report = self.resource_model.evaluate(self.current_counts())
        entry: dict[str, Any] = {"epoch": epoch + 1, "step": self._step, "budget_met": report.meets(self.resolved_budget),
                                 "channels": {self.resource_model.groups[g].name: int(c)
                                              for g, c in enumerate(self.current_counts())
                                              if self.resource_model.groups[g].prunable}}
        for name in RESOURCE_NAMES:
            entry[name] = report.value(name)
            if logs is not None:
                logs[f"pruning_{name}"] = float(report.value(name))
        for name, value in self._penalty.items():
            entry[f"penalty_{name}"] = value
        self.history.append(entry)
        if self.verbose:
            parts = []
            for name in RESOURCE_NAMES:
                limit = self._limits.get(name)
                parts.append(f"{name} {report.value(name):,}" + (f" / {int(limit):,}" if limit else ""))
            state = "budget met" if entry["budget_met"] else "over budget"
            print(f"[DifferentiablePruning] epoch {epoch + 1}: " + ", ".join(parts) + f" ({state})", file=sys.stdout)

    def _print_cuts(self, before: np.ndarray, after: np.ndarray) -> None:
        """One line per cut event: which groups lost channels, and the resources against the budget."""
        model = self.resource_model
        cuts = [f"{model.groups[g].name} {int(before[g])} → {int(after[g])}"
                for g in range(len(before)) if after[g] < before[g]]
        usage = model.totals(after)
        resources = ", ".join(f"{name} {int(usage[name]):,} / {int(limit):,}" for name, limit in self._limits.items())
        print(f"[DifferentiablePruning] step {self._step}, cut {self._events_done}/{len(self._event_steps)}: "
              + ("; ".join(cuts) if cuts else "no channel removed") + f" | {resources}", file=sys.stdout)

    def on_train_end(self, logs=None) -> None:
        if self.verbose and self.budget_met_at_step is None:
            print("[DifferentiablePruning] the budget was not met before training ended; train for more "
                  "steps or pass an earlier end_step", file=sys.stdout)

    @property
    def budget_met(self) -> bool:
        return self.budget_met_at_step is not None


def check_budget_feasible(resource_model: KerasResourceModel, budget: Budget,
                          floors: np.ndarray | None = None) -> None:
    """Raise ``BudgetError`` when even the smallest allowed model (one channel per prunable group,
    or the given per-group ``floors``) exceeds ``budget`` (absolute, or resolved from fractions)."""
    unpruned = resource_model.evaluate(resource_model.full_counts())
    budget = budget.resolve(unpruned)
    smallest_counts = resource_model.min_counts() if floors is None else np.asarray(floors, dtype=np.float64)
    smallest = resource_model.evaluate(smallest_counts)
    violations = smallest.violations(budget)
    if violations:
        details = "; ".join(f"{name}: at least {usage:,} needed, budget {int(limit):,}"
                            for name, (usage, limit) in violations.items())
        floor_note = "" if floors is None else " (at the channel floors: min_channels / coupled_floor)"
        raise BudgetError(
            f"The budget cannot be met even with the fewest channels allowed per prunable layer{floor_note} "
            f"({details}). The fixed parts (input, classifier output, unpruned layers) alone exceed it: raise "
            "the budget, lower the floors, shrink the input, or downsample earlier (strides/pooling).")
