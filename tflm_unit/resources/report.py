"""What the resource model reports: per-layer MACs and flash, totals and the planned peak RAM."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tflm_unit.resources.budget import Budget


@dataclasses.dataclass
class LayerResources:
    """Resources of one layer (Keras) or op (.tflite)."""

    name: str
    op: str
    macs: int
    flash_bytes: int
    #: Bytes of a sorted FULLY_CONNECTED layout (DESIGN.md §9): its weights and output indices.
    #: A format_version-3 file holds them as constant tensors (inside ``flash_bytes``, next to
    #: the filter); an older file holds none of them (see ``layout_ram_bytes``).
    layout_bytes: int = 0
    #: RAM the TFLM adapter allocates persistently to build the layout of a format_version-2
    #: sorted op from its filter (= ``layout_bytes``); 0 for version 3, read from flash.
    layout_ram_bytes: int = 0
    #: RAM scratch of a UNIT_* op's C-core kernel with its layout (unit_kernel_scratch_bytes):
    #: for a whole image, and the least (conv / depthwise: one output row per block).
    scratch_bytes: int = 0
    min_scratch_bytes: int = 0


@dataclasses.dataclass
class ResourceReport:
    """Per-layer MACs and flash plus the whole model's totals and planned peak RAM."""

    layers: list[LayerResources]
    macs: int
    flash_bytes: int
    peak_ram_bytes: int
    #: Execution step (0 = before the first op) with the most live activation bytes, and the
    #: tensors alive then: the ones that pruning must shrink to lower the peak.
    peak_step: int
    peak_tensors: list[str]
    #: The largest UnIT kernel scratch of one op (whole image; ops run one at a time, so one
    #: buffer of this size serves them all): RAM besides the activation arena.
    unit_scratch_bytes: int = 0
    #: Sum of the layers' ``layout_ram_bytes``: persistent RAM (all alive at once) that
    #: format_version-2 sorted layouts cost on TFLM, besides the activation arena.
    layout_ram_bytes: int = 0

    def value(self, resource: str) -> int:
        return int(getattr(self, resource))

    def violations(self, budget: Budget) -> dict[str, tuple[int, float]]:
        """``{resource: (usage, limit)}`` for every limit the usage exceeds."""
        return {name: (self.value(name), limit) for name, limit in budget.limits().items()
                if self.value(name) > limit}

    def meets(self, budget: Budget) -> bool:
        return not self.violations(budget)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)
