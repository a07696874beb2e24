"""Differentiable MCU-aware structured (channel) pruning for Keras, in the tfmot shape.

After Liberis & Lane, "Differentiable Network Pruning for Microcontrollers" (arXiv 2110.08350):
the MCU's resource usage is a differentiable function of layer widths, added to the task loss;
channel salience decides which channels go; pruning is interleaved with training; the user only
gives a budget. The paper's exact formulas were not available; this is the design used here::

    gated = prepare(model)                          # per-channel gates, same function
    gated.compile(...)
    gated.fit(..., callbacks=[DifferentiablePruning(Budget.for_board("msp430fr5994"))])
    small = strip(gated)                            # physically smaller, same function

**Gates.** Every prunable Conv2D/DepthwiseConv2D/Dense output gets ``y = x · g · m`` (``g``
trainable, starts at 1; ``m`` ∈ {0, 1} the pruning mask), after its BatchNorm if one follows and
before its activation. Channels that must change together (a coupling group from
``tflm_unit.resources``: residual adds, depthwise in/out) share one mask.

**Expected channel count** of group k: ``n̂_k = mean over the group's gate layers of Σ_c m_c |g_c|``
— equal to the real count while gates are 1, and falling as gates shrink.

**Resource penalty.** For each limited resource r (MACs, flash, peak RAM) with budget B_r the
resource model is linearised at the current hard counts n every ``refresh_every`` steps:
``R_r(n̂) ≈ R_r(n) + Σ_k c_rk (n̂_k − n_k)`` with marginal costs ``c_rk = ∂R_r/∂n_k``
(exact for MACs and flash; for peak RAM only tensors alive at the peak step are charged, so
layers that do not set the peak are not pushed). The loss becomes

    L = L_task + Σ_r λ_r · Σ_k c_rk · n̂_k / B_r

i.e. a cost-weighted L1 on the gates: each gate of group k gets the coefficient
``Σ_r λ_r c_rk / B_r`` (split over the group's gate layers). **Adaptive weight:** at every refresh
the expected usage ``R_r(n̂)`` is compared with the scheduled path
``P_r(t) = R_r(0) · (B_r / R_r(0))^min(1, t / end_step)``: λ_r ← min(λ_max, λ_r · growth) while
``R_r(n̂) > P_r(t)``, else λ_r ← max(λ_min, λ_r · decay). The gates therefore shrink just as fast as
the schedule needs (a fixed or ever-growing λ makes the L1 term dominate and drives every gate to
0, collapsing the network). Once every budget holds λ_r ← λ_r · decay at each refresh, so the
rest of training fine-tunes without pressure.

**Salience and schedule.** Pruning happens at ``pruning_events`` evenly spaced steps between
``start_step`` and ``end_step``; at event j of J the target is the geometric path
``T_r = R_r(0) · (B_r / R_r(0))^(j/J)``, and channels are removed one at a time until every
resource is at its target (so at the last event the budget holds), each time the channel with the
least **loss per unit of cost that still matters**: ``s_c / Σ_{r over target} (c_rk / B_r)``;
then the event's removed channels are given back, highest score first, while every target still
holds (one-at-a-time cuts of dear channels would otherwise overshoot the target, wasting budget).
The default salience (``salience="taylor"``) is in loss units: the first-order estimate of the
loss change the channel's removal would cause, ``s_c = mean over the steps since the last cut of
(Σ_{batch, positions} y_c · ∂L/∂y_c)²`` at the gate's output y (Molchanov et al., "Importance
Estimation for Neural Network Pruning", CVPR 2019), summed over the group's gate layers because a
coupled channel leaves all of them at once. It sees what the classifier actually uses (a large
filter whose output nothing downstream reads scores 0), and it needs no per-layer normalisation,
so a channel of a layer that is already thin is dear because the loss depends on it, not by rule.
``salience="magnitude"`` ranks by ``|g_c| · w_c`` (mean over the group's gate layers), ``w_c`` the
channel's weight scale normalised to mean 1 within its layer — BatchNorm ``|γ_c|`` when the gate
follows a BatchNorm, else the filter's L2 norm (network slimming / magnitude filter pruning) —
times the width ratio N_k / n_k (full over current channels), which makes the last channels of a
thinned layer dearer so that no layer collapses to a 1-channel bottleneck. Either way the
cost-weighted penalty first erodes the gates of channels the task loss does not defend in
expensive layers, so the cut removes what the soft phase already made small.
Pruning stops as soon as the whole budget holds. No group is cut below its **floor**:
``min_channels`` (default 1), and for a coupled group (several gated layers share its channels —
the residual stream of a ResNet, a depthwise chain) also ``ceil(coupled_floor · N_k)`` (default
¼ of its full width), because a residual stream cut to a channel or two cannot be trained back. A
budget that cannot hold even at the floors raises ``BudgetError`` at the start of ``fit``. Every
cut event prints one line (groups cut, channels before → after, resources vs budget).

**Budgets** are absolute (``Budget(macs=2_000_000)``), board presets (``Budget.for_board``) or
fractions of the unpruned model (``Budget.fraction(macs=0.25)``), resolved when ``fit`` starts;
a value below 1 given as an absolute limit is an error that points to ``Budget.fraction``.

**Strip.** Masks select the kept channels; ``g · m`` folds into the conv/dense kernel and bias or
into BatchNorm's gamma and beta, and the inputs of downstream layers are sliced accordingly.

Works with tf_keras and Keras 3 models (Sequential or functional, branches, residual adds) and
under ``tf.distribute`` strategies (call ``prepare`` inside ``strategy.scope()``).
"""

from ..resources import Board, Budget, BudgetError, UnsupportedLayerError, get_board
from .callback import DifferentiablePruning, check_budget_feasible
from .graph import gate_layers, group_keep_masks, prepare, strip

__all__ = [
    "Board",
    "Budget",
    "BudgetError",
    "DifferentiablePruning",
    "UnsupportedLayerError",
    "check_budget_feasible",
    "gate_layers",
    "get_board",
    "group_keep_masks",
    "prepare",
    "strip",
]
