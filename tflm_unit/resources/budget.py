"""Resource budgets: absolute limits, fractions of the unpruned model, board presets."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Mapping, Union

import numpy as np

from tflm_unit.errors import BudgetError
from tflm_unit.resources.report import ResourceReport

if TYPE_CHECKING:
    from tflm_unit.resources.boards import Board

RESOURCE_NAMES = ("macs", "flash_bytes", "peak_ram_bytes")


@dataclasses.dataclass(frozen=True)
class Budget:
    """Upper limits for a deployed model; ``None`` means "no limit on this resource".

    Limits are absolute (MACs, bytes) — ``Budget(macs=2_000_000, peak_ram_bytes=6 * 1024)`` —
    or fractions of the unpruned model, resolved when pruning starts —
    ``Budget.fraction(macs=0.25)``. Both may be combined; the tighter limit wins.
    """

    macs: int | None = None
    flash_bytes: int | None = None
    peak_ram_bytes: int | None = None
    #: ``{resource: fraction of the unpruned model's usage}``, each in (0, 1].
    fractions: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        for name in RESOURCE_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value) or value <= 0:
                raise BudgetError(f"Budget.{name} must be a positive number or None, got {value!r}")
            if value < 1:
                raise BudgetError(f"Budget.{name}={value!r} is an absolute limit ({name} of the whole model); "
                                  f"for a fraction of the unpruned model use Budget.fraction({name}={value!r})")
        fractions = dict(self.fractions or {})
        for name, value in fractions.items():
            if name not in RESOURCE_NAMES:
                raise BudgetError(f"Budget.fraction: unknown resource {name!r} (one of {', '.join(RESOURCE_NAMES)})")
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
                    or not np.isfinite(value) or not 0 < value <= 1:
                raise BudgetError(f"Budget.fraction({name}={value!r}): a fraction of the unpruned model must be in "
                                  f"(0, 1]; for an absolute limit use Budget({name}=...)")
        object.__setattr__(self, "fractions", fractions or None)
        if all(getattr(self, name) is None for name in RESOURCE_NAMES) and not fractions:
            raise BudgetError("Budget needs at least one of macs, flash_bytes, peak_ram_bytes")

    @classmethod
    def fraction(cls, macs: float | None = None, flash_bytes: float | None = None,
                 peak_ram_bytes: float | None = None) -> "Budget":
        """Limits as fractions of the unpruned model (``Budget.fraction(macs=0.25)``: ¼ of its MACs)."""
        given = {"macs": macs, "flash_bytes": flash_bytes, "peak_ram_bytes": peak_ram_bytes}
        return cls(fractions={name: value for name, value in given.items() if value is not None})

    @property
    def is_relative(self) -> bool:
        """Whether some limit is a fraction that needs the unpruned model's usage (``resolve``)."""
        return bool(self.fractions)

    def resolve(self, unpruned: Mapping[str, float] | "ResourceReport") -> "Budget":
        """The absolute budget for a model whose unpruned usage is ``unpruned``
        (a ``ResourceReport`` or ``{resource: usage}``)."""
        if not self.fractions:
            return self
        usage = {name: (unpruned.value(name) if isinstance(unpruned, ResourceReport) else unpruned[name])
                 for name in self.fractions}
        limits = {name: getattr(self, name) for name in RESOURCE_NAMES}
        for name, fraction in self.fractions.items():
            relative = max(1, int(fraction * float(usage[name])))
            limits[name] = relative if limits[name] is None else min(limits[name], relative)
        return Budget(**limits)

    def limits(self) -> dict[str, float]:
        """The absolute limits only, as ``{name: limit}`` (``resolve`` a relative budget first)."""
        if self.fractions:
            raise BudgetError(f"this budget holds fractions of the unpruned model ({self.fractions}); "
                              "resolve it with budget.resolve(unpruned_usage) first")
        return {name: getattr(self, name) for name in RESOURCE_NAMES if getattr(self, name) is not None}

    @classmethod
    def for_board(cls, board: Union[str, "Board"], macs: int | None = None, **reserves: int) -> "Budget":
        """The budget of a board preset (see ``BOARDS``), optionally with a MAC limit."""
        from tflm_unit.resources.boards import get_board  # boards.py builds on Budget

        if isinstance(board, str):
            board = get_board(board)
        return board.budget(macs=macs, **reserves)
