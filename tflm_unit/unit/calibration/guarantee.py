"""The calibration guarantee (DESIGN.md §9): confirm on samples the search
never saw, with a paired confidence bound on the accuracy drop.

Why a bound on paired differences.  For a confirmation sample i let
d_i = correct_dense_i - correct_unit_i in {-1, 0, 1}; the true accuracy drop
is E[d].  Only the *discordant* samples carry information: n10 (dense right,
UnIT wrong) and n01 (the other way round); the drop estimate is
(n10 - n01) / n.  Its upper bound is the Agresti-Min adjusted Wald bound for
a difference of matched proportions (Agresti & Min 2005, Statistics in
Medicine 24:729): add 1/2 to each of the four cells of the paired table, then
d* + z * sqrt(((n10* + n01*) - (n10* - n01*)^2 / n*) / n*^2) with z the
one-sided normal quantile of ``confidence``.  Unlike the plain Wald bound it
does not collapse to zero width when few predictions change (the usual case:
a good threshold flips a handful of the samples), and it covers as well as the
exact conditional McNemar bound while needing no iteration; the exact bound
conditions on the number of discordant pairs, which is itself random here.

Why a fixed sequence.  The search path is ordered from the dense model to the
searched choice on the search split only.  Walking it from the safe end and
accepting points while each one's bound is within the budget, stopping at the
first that is not, is the fixed-sequence test of Learn-then-Test (Angelopoulos
et al. 2021): the probability that the returned thresholds lose more than the
budget on unseen data is at most 1 - confidence, with no multiple-testing
correction, because the order was fixed before the confirmation samples were
looked at.  Stepping back from the searched point and taking the first that
passes would instead test many points and keep the luckiest.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from statistics import NormalDist
from typing import List, Optional, Sequence, Tuple

import numpy as np

from tflm_unit.errors import OptionError

#: Defaults that keep the promise on unseen data (benchmarks/calibration_guarantee.py).
DEFAULT_CONFIDENCE = 0.9
DEFAULT_CONFIRM_FRACTION = 0.5
#: At most this many points of the search path are tested on the confirmation split.
CONFIRM_STEPS = 6


class CalibrationWarning(UserWarning):
    """The calibration could not confirm what it was asked for (numbers in the message)."""


@dataclass(frozen=True)
class DropBound:
    """Paired accuracy drop on ``n`` confirmation samples and its bounds."""

    n: int
    worse: int  # dense right, UnIT wrong (n10)
    better: int  # dense wrong, UnIT right (n01)
    confidence: float
    drop: float  # (worse - better) / n
    lower: float
    upper: float  # one-sided upper bound at ``confidence``

    def to_dict(self) -> dict:
        return dict(n=self.n, worse=self.worse, better=self.better, confidence=self.confidence,
                    drop=self.drop, lower=self.lower, upper=self.upper)


def check_options(confidence: float, confirm_fraction: float) -> None:
    if not (isinstance(confidence, (int, float)) and 0.5 <= confidence < 1.0):
        raise OptionError(f"confidence is a probability in [0.5, 1), got {confidence!r}")
    if not (isinstance(confirm_fraction, (int, float)) and 0.0 <= confirm_fraction < 1.0):
        raise OptionError(f"confirm_fraction must be in [0, 1) (0: no confirmation split), got {confirm_fraction!r}")


def drop_bound_from_counts(n: int, worse: int, better: int, confidence: float) -> DropBound:
    """Agresti-Min adjusted bounds of the paired drop (module docstring)."""
    if n <= 0:
        raise OptionError("the confirmation split is empty")
    z = NormalDist().inv_cdf(confidence)
    n_adj = n + 2.0
    w, b = worse + 0.5, better + 0.5
    d_adj = (w - b) / n_adj
    variance = max((w + b) - (w - b) ** 2 / n_adj, 0.0) / n_adj ** 2
    margin = z * math.sqrt(variance)
    return DropBound(n=n, worse=int(worse), better=int(better), confidence=float(confidence),
                     drop=(worse - better) / n, lower=d_adj - margin, upper=d_adj + margin)


def paired_drop_bound(dense_correct: np.ndarray, unit_correct: np.ndarray, confidence: float) -> DropBound:
    dense_correct = np.asarray(dense_correct, dtype=bool)
    unit_correct = np.asarray(unit_correct, dtype=bool)
    worse = int(np.sum(dense_correct & ~unit_correct))
    better = int(np.sum(~dense_correct & unit_correct))
    return drop_bound_from_counts(len(dense_correct), worse, better, confidence)


def samples_to_confirm(budget: float, confidence: float, worse_rate: float = 0.0, better_rate: float = 0.0,
                       limit: int = 10 ** 7) -> Optional[int]:
    """The smallest confirmation size whose bound is within ``budget`` when
    the given shares of samples get worse / better (at least one changed
    prediction); None if no size up to ``limit`` is enough."""
    if worse_rate - better_rate >= budget:
        return None
    n = 8
    while n <= limit:
        worse = max(1, int(round(worse_rate * n)))
        if drop_bound_from_counts(n, worse, int(round(better_rate * n)), confidence).upper <= budget:
            # Refine between n/2 and n.
            low = n // 2
            while low + 1 < n:
                mid = (low + n) // 2
                w = max(1, int(round(worse_rate * mid)))
                if drop_bound_from_counts(mid, w, int(round(better_rate * mid)), confidence).upper <= budget:
                    n = mid
                else:
                    low = mid
            return n
        n *= 2
    return None


def split_indices(n: int, confirm_fraction: float, seed: int) -> Tuple[np.ndarray, np.ndarray]:
    """Disjoint (search, confirm) sample indices, each in ascending order."""
    order = np.random.default_rng(seed + 7919).permutation(n)
    confirm_count = int(round(confirm_fraction * n))
    if confirm_fraction > 0 and (confirm_count < 1 or confirm_count >= n):
        raise OptionError(f"confirm_fraction {confirm_fraction} of {n} samples leaves an empty split")
    return np.sort(order[confirm_count:]), np.sort(order[:confirm_count])


def fixed_sequence(points: Sequence, costs: Sequence[float], steps: int = CONFIRM_STEPS) -> List:
    """At most ``steps`` points of a chain sorted by descending cost, spread
    evenly in cost from its first to its last point (the last always kept)."""
    if len(points) <= steps:
        return list(points)
    high, low = costs[0], costs[-1]
    chosen: List = []
    k = 1
    for point, cost in zip(points, costs):
        if k <= steps and cost <= high - (high - low) * k / steps + 1e-9:
            chosen.append(point)
            while k <= steps and cost <= high - (high - low) * k / steps + 1e-9:
                k += 1
    if not chosen or chosen[-1] is not points[-1]:
        chosen.append(points[-1])
    return chosen


def warn(message: str) -> None:
    warnings.warn(message, CalibrationWarning, stacklevel=3)
