"""TFLM's greedy memory planner, re-implemented from its documented behaviour."""

from __future__ import annotations

from typing import Sequence

#: TFLM aligns every planned buffer to this many bytes (``MicroArenaBufferAlignment()``).
ARENA_ALIGNMENT = 16


def align_up(size: int, alignment: int = ARENA_ALIGNMENT) -> int:
    return (int(size) + alignment - 1) // alignment * alignment


def plan_greedy_memory(buffers: Sequence[tuple[int, int, int]]) -> tuple[list[int], int]:
    """Place ``(size, first_used, last_used)`` buffers like TFLM's GreedyMemoryPlanner.

    Biggest first; equal sizes in reverse input order (TFLM fills its sort array from the back,
    then sorts stably); each buffer goes into the first gap, in offset order,
    between already placed buffers whose lifetimes overlap its own (inclusive). Returns the
    offsets (in input order) and the arena size (highest end offset).
    """
    order = sorted(range(len(buffers)), key=lambda i: (-buffers[i][0], -i))
    offsets = [0] * len(buffers)
    placed: list[int] = []  # buffer ids sorted by offset
    for buffer_id in order:
        size, first, last = buffers[buffer_id]
        candidate = 0
        for other in placed:
            other_size, other_first, other_last = buffers[other]
            if other_first > last or first > other_last:
                continue  # not alive at the same time
            if offsets[other] - candidate >= size:
                break  # the gap before this buffer is big enough
            candidate = max(candidate, offsets[other] + other_size)
        offsets[buffer_id] = candidate
        position = 0
        while position < len(placed) and offsets[placed[position]] <= candidate:
            position += 1
        placed.insert(position, buffer_id)
    arena = max((offsets[i] + buffers[i][0] for i in range(len(buffers))), default=0)
    return offsets, arena


def peak_live_step(buffers: Sequence[tuple[int, int, int]]) -> tuple[int, list[int]]:
    """The execution step with the most live bytes and the buffer ids alive then."""
    if not buffers:
        return 0, []
    last_step = max(last for _, _, last in buffers)
    best_step, best_bytes = 0, -1
    for step in range(last_step + 1):
        live = sum(size for size, first, last in buffers if first <= step <= last)
        if live > best_bytes:
            best_step, best_bytes = step, live
    alive = [i for i, (_, first, last) in enumerate(buffers) if first <= best_step <= last]
    return best_step, alive
