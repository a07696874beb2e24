"""MCU resource model: MACs, flash and peak RAM of a network as TFLM runs it.

Used by structured pruning (``tflm_unit.pruning``), by the converter report and by ``inspect``.
Two entry points:

* ``tflite_resources(model)`` — a converted ``.tflite`` (bytes or a path): per-op MACs, flash and
  the peak RAM that TFLM's greedy memory planner needs for the activation tensors.
* ``KerasResourceModel(model)`` — a Keras model (tf_keras or Keras 3) analysed once, then evaluated
  cheaply for any per-layer channel counts (``evaluate(counts)``), with the channel *coupling groups*
  that structured pruning must respect and the marginal cost of one channel per group.

Formulas (int8 model, batch 1; ``Ho, Wo`` output spatial size, ``kh, kw`` kernel size):

* MACs — Conv2D ``Ho·Wo·kh·kw·Ci·Co`` (Conv1D ``Lo·k·Ci·Co``); DepthwiseConv2D ``Ho·Wo·kh·kw·C``;
  SeparableConv2D its depthwise plus its 1x1 part ``Ho·Wo·(kh·kw·Ci + Ci·Co)``; Conv2DTranspose
  ``Hi·Wi·kh·kw·Ci·Co`` (every input pixel scattered); Dense ``Ci·Co``; every other op counts 0
  (pooling, adds and reshapes are cheap next to these).
* RAM extras the converter and TFLM add — SeparableConv2D's intermediate tensor (Ci channels), the
  RESHAPE copies TFLite puts around 1-D ops, TRANSPOSE_CONV's int32 scratch of the whole output.
* Flash — the bytes the constant tensors occupy in the ``.tflite``: int8 weights (1 byte each) plus
  int32 biases (4 bytes per output channel); a UNIT_FULLY_CONNECTED with the sorted layout
  (DESIGN.md §9) stores ``Ci·(Co + groups)`` weights plus as many uint8/uint16 output indices
  instead of its ``Ci·Co`` filter. TFLite's full-int8 conversion always gives Conv2D,
  DepthwiseConv2D and Dense an int32 bias (BatchNorm folds into it), so the Keras model counts one
  even for ``use_bias=False``. A BatchNorm that cannot be folded becomes MUL+ADD with two int8
  per-channel constants (2·C bytes). Quantisation parameters (per-channel scales) and the
  flatbuffer's own structure are not counted.
* Peak RAM — every non-constant tensor is a buffer of ``align16(elements)`` bytes that lives from the
  op that writes it to the last op that reads it (graph inputs from time 0, graph outputs to the
  end). Buffers are placed the way TFLM's ``GreedyMemoryPlanner`` places them: in decreasing size
  (ties keep tensor order), each at the lowest offset where it does not overlap any already placed
  buffer that is alive at the same time; the peak is the highest end offset. On the Keras side, a
  layer that TFLite fuses into the op before it (BatchNorm after a conv, ReLU/ReLU6 after a conv,
  Dense or Add, Dropout, pruning gates) adds no tensor of its own.

The Keras estimate assumes the model is converted full-int8 with int8 input and output (no
QUANTIZE/DEQUANTIZE ops) and executed in Keras layer order; then it equals what TFLM allocates
(the tests check this against the ``tflite_micro`` interpreter). TFLM's persistent "tail"
(interpreter structures, per-channel quantisation data) is not part of the peak-RAM figure; use
``tflm_arena_report`` to see it.

Coupling groups (Keras): every Conv1D/Conv2D/Conv2DTranspose/SeparableConv2D/Dense output starts
its own group of channels; a
DepthwiseConv2D (depth_multiplier 1) keeps its input's group; layers feeding one elementwise op
(``Add``, ``Multiply``, ...) are merged into one group (they must keep the same channels); a
Flatten makes the following Dense see each channel H·W times; Concatenate joins the groups side by
side. Groups that reach the model input or a model output are fixed (not prunable).

For pruning, the marginal cost of one more channel in group k is ``∂R/∂n_k``: exact for MACs and
flash (they are at most quadratic in the counts, so a central difference of ±½ is exact); for peak
RAM it is the number of elements per channel summed over the tensors alive at the peak step (the
step with the most live bytes), since only shrinking those tensors lowers the peak.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import tempfile
from typing import Any, Mapping, Sequence, Union

import numpy as np

from tflm_unit.errors import BudgetError, UnsupportedLayerError  # noqa: F401  (re-exported here)

#: TFLM aligns every planned buffer to this many bytes (``MicroArenaBufferAlignment()``).
ARENA_ALIGNMENT = 16

RESOURCE_NAMES = ("macs", "flash_bytes", "peak_ram_bytes")




# ---------------------------------------------------------------------------------------------
# Budgets and boards
# ---------------------------------------------------------------------------------------------


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
        if isinstance(board, str):
            board = get_board(board)
        return board.budget(macs=macs, **reserves)


@dataclasses.dataclass(frozen=True)
class Board:
    """An MCU board: its memories and how much of them the model's tensors may use.

    ``ram_reserve_bytes`` is kept free for the stack, the TFLM interpreter's persistent structures
    and the application; ``flash_reserve_bytes`` for code (TFLM kernels are ~20-60 KB).
    """

    name: str
    core: str
    sram_bytes: int
    flash_bytes: int
    ram_reserve_bytes: int
    flash_reserve_bytes: int
    source: str

    def budget(self, macs: int | None = None, ram_reserve_bytes: int | None = None,
               flash_reserve_bytes: int | None = None) -> Budget:
        ram_reserve = self.ram_reserve_bytes if ram_reserve_bytes is None else ram_reserve_bytes
        flash_reserve = self.flash_reserve_bytes if flash_reserve_bytes is None else flash_reserve_bytes
        return Budget(macs=macs, flash_bytes=self.flash_bytes - flash_reserve,
                      peak_ram_bytes=self.sram_bytes - ram_reserve)


#: Board presets. Figures from the vendors' datasheets named in ``source``.
BOARDS: dict[str, Board] = {
    "msp430fr5994": Board(
        name="MSP430FR5994", core="MSP430X 16-bit, 16 MHz", sram_bytes=8 * 1024,
        flash_bytes=256 * 1024, ram_reserve_bytes=2 * 1024, flash_reserve_bytes=32 * 1024,
        source="TI MSP430FR599x datasheet (SLASE54): 256 KB FRAM, 8 KB SRAM (+4 KB LEA RAM, "
               "not counted). Reserve: 2 KB stack/runtime, 32 KB code."),
    "stm32f446re": Board(
        name="STM32F446RE (NUCLEO-F446RE)", core="Cortex-M4F, 180 MHz", sram_bytes=128 * 1024,
        flash_bytes=512 * 1024, ram_reserve_bytes=16 * 1024, flash_reserve_bytes=96 * 1024,
        source="ST STM32F446xC/E datasheet (DS10693): 512 KB flash, 128 KB SRAM (112+16 KB). "
               "Reserve: 16 KB stack/TFLM persistent, 96 KB TFLM+application code."),
    "stm32f746ng": Board(
        name="STM32F746NG (32F746GDISCOVERY)", core="Cortex-M7, 216 MHz", sram_bytes=320 * 1024,
        flash_bytes=1024 * 1024, ram_reserve_bytes=32 * 1024, flash_reserve_bytes=128 * 1024,
        source="ST STM32F745xx/STM32F746xx datasheet (DS10916): 1 MB flash, 320 KB SRAM "
               "(incl. 64 KB DTCM). Reserve: 32 KB stack/TFLM persistent, 128 KB code."),
}


def get_board(name: str) -> Board:
    """A board preset by (case-insensitive) name."""
    key = name.lower().replace("-", "").replace("_", "")
    for board_key, board in BOARDS.items():
        if key == board_key or key == board.name.lower():
            return board
    raise KeyError(f"Unknown board {name!r}; known boards: {', '.join(BOARDS)}. "
                   "For another board build a Budget(flash_bytes=..., peak_ram_bytes=...) yourself.")


# ---------------------------------------------------------------------------------------------
# Reports
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class LayerResources:
    """Resources of one layer (Keras) or op (.tflite)."""

    name: str
    op: str
    macs: int
    flash_bytes: int
    #: Bytes of a sorted FULLY_CONNECTED layout (DESIGN.md §9) inside ``flash_bytes``: the
    #: weights and output indices the runners build from the filter and store instead of it.
    layout_bytes: int = 0


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


# ---------------------------------------------------------------------------------------------
# TFLM greedy memory planner (re-implemented from its documented behaviour)
# ---------------------------------------------------------------------------------------------


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


def _peak_live_step(buffers: Sequence[tuple[int, int, int]]) -> tuple[int, list[int]]:
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


# ---------------------------------------------------------------------------------------------
# .tflite files
# ---------------------------------------------------------------------------------------------

# Bytes per element of each TensorType (FLOAT32=0, FLOAT16=1, INT32=2, UINT8=3, INT64=4, BOOL=6,
# INT16=7, COMPLEX64=8, INT8=9, FLOAT64=10, COMPLEX128=11, UINT64=12, RESOURCE/VARIANT (unused),
# UINT32=15, UINT16=16, INT4=17 counted as one byte as TFLM unpacks it, BFLOAT16=18).
_TFLITE_TYPE_BYTES = {0: 4, 1: 2, 2: 4, 3: 1, 4: 8, 6: 1, 7: 2, 8: 8, 9: 1, 10: 8, 11: 16,
                      12: 8, 13: 4, 14: 2, 15: 4, 16: 2, 17: 1, 18: 2}


def _op_name(model_t, op) -> str:
    from tflm_unit.runtime.model import opcode_name

    return opcode_name(model_t.operatorCodes[op.opcodeIndex])[0]


def reference_kernel_scratch_bytes(op: str, input_type: int, output_elements: int, input_rank: int,
                                   second_input_elements: int) -> list[int]:
    """Scratch buffers (bytes) TFLM's reference kernels request from the arena for one op.

    MEAN/SUM on int8/int16 inputs keep an int32 sum per output element plus, like REDUCE_MAX,
    one int per input dimension and per reduced axis (what the ``tflite-micro`` interpreter
    allocates, checked in the tests). Conv, depthwise, fully connected, pooling, add and the
    other ops used here need none with the reference kernels (optimised kernel libraries such as
    CMSIS-NN request more).
    """
    quantised = input_type in (9, 7)  # INT8, INT16
    if op in ("MEAN", "SUM") and quantised:
        return [4 * output_elements, 4 * input_rank, 4 * second_input_elements]
    if op == "REDUCE_MAX":
        return [4 * input_rank, 4 * second_input_elements]
    return []


def sorted_fc_layout_bytes(op_name: str, custom_options, filter_shape: Sequence[int]) -> int:
    """Bytes of the sorted layout of a UNIT_FULLY_CONNECTED whose custom options say
    ``layout: sorted`` (0 otherwise): input_depth * (outputs + groups) entries of one int8
    weight and a uint8 (<= 256 outputs) or uint16 output index each."""
    from tflm_unit.runtime.model import decode_custom_options

    if op_name != "UNIT_FULLY_CONNECTED" or len(filter_shape) != 2:
        return 0
    options = decode_custom_options(custom_options, f"{op_name} custom options")
    if options.get("layout") != "sorted":
        return 0
    outputs, depth = int(filter_shape[0]), int(filter_shape[1])
    group = int(options.get("group_size", outputs))
    if group <= 0 or outputs % group:
        return 0
    return depth * (outputs + outputs // group) * (1 + (1 if outputs <= 256 else 2))


def tflite_resources(model: Union[bytes, bytearray, str, os.PathLike]) -> ResourceReport:
    """MACs per op, flash (constant tensor bytes) and TFLM-planned peak RAM of a ``.tflite``.

    Understands CONV_2D, DEPTHWISE_CONV_2D, FULLY_CONNECTED and their UnIT custom versions
    (``UNIT_*``) for MACs; every op's constant inputs count towards flash (each buffer once).
    Only the first subgraph is planned (models with control flow are not supported).
    """
    from tflm_unit.runtime.model import (ModelFormatError, _to_str, check_model_structure, read_model_bytes,
                                         unpack_model)

    if not isinstance(model, (bytes, bytearray, memoryview, str, os.PathLike)):
        raise TypeError(f"tflite_resources expects .tflite bytes or a file path, got {type(model).__name__}")
    model_t = unpack_model(read_model_bytes(model))  # ModelFormatError (a ValueError) if not a model
    check_model_structure(model_t)  # every index below is in range
    graph = model_t.subgraphs[0]
    tensors = graph.tensors

    def shape(index: int) -> list[int]:  # an absent shape is a scalar's
        return [int(d) for d in tensors[index].shape] if tensors[index].shape is not None else []

    def tensor_bytes(index: int) -> int:
        tensor = tensors[index]
        elements = int(np.prod(shape(index), dtype=object))
        return elements * _TFLITE_TYPE_BYTES.get(int(tensor.type), 4)

    def constant_bytes(index: int) -> int:
        buffers = model_t.buffers or []
        buffer = buffers[tensors[index].buffer] if tensors[index].buffer < len(buffers) else None
        if buffer is None:
            return 0
        if buffer.data is not None and len(buffer.data):
            return len(buffer.data)
        return int(getattr(buffer, "size", 0) or 0)

    layers: list[LayerResources] = []
    seen_buffers: set[int] = set()
    operators = graph.operators or []
    for op_index, op in enumerate(operators):
        name = _op_name(model_t, op)
        inputs = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        outputs = [i for i in (op.outputs if op.outputs is not None else []) if i >= 0]
        macs = 0
        base = name[len("UNIT_"):] if name.startswith("UNIT_") else name
        if base in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED") and len(inputs) >= 2 and outputs:
            out_shape, filter_shape = shape(outputs[0]), shape(inputs[1])
            if len(filter_shape) != (2 if base == "FULLY_CONNECTED" else 4):
                raise ModelFormatError(f"operator {op_index} ({name}): filter shape {filter_shape} has the wrong "
                                       f"rank")
            if base == "CONV_2D":  # filter [Co, kh, kw, Ci]
                macs = int(np.prod(out_shape, dtype=object)) * int(np.prod(filter_shape[1:], dtype=object))
            elif base == "DEPTHWISE_CONV_2D":  # filter [1, kh, kw, C]
                macs = int(np.prod(out_shape, dtype=object)) * filter_shape[1] * filter_shape[2]
            else:  # filter [out, in]
                macs = int(np.prod(out_shape, dtype=object)) * filter_shape[1]
        flash = 0
        for index in inputs:
            size = constant_bytes(index)
            if size and tensors[index].buffer not in seen_buffers:
                seen_buffers.add(tensors[index].buffer)
                flash += size
        layout = sorted_fc_layout_bytes(name, op.customOptions, [int(d) for d in tensors[inputs[1]].shape]) \
            if name == "UNIT_FULLY_CONNECTED" and len(inputs) >= 2 else 0
        if layout:  # the layout replaces the int8 filter
            flash += layout - int(np.prod(tensors[inputs[1]].shape))
        tensor_name = _to_str(tensors[outputs[0]].name) if outputs else ""
        layers.append(LayerResources(name=f"{op_index}:{tensor_name}", op=name, macs=macs, flash_bytes=flash,
                                     layout_bytes=layout))

    # Lifetimes exactly as TFLM's allocation-info builder marks them.
    first = {}
    last = {}
    graph_inputs = list(graph.inputs if graph.inputs is not None else [])
    graph_outputs = list(graph.outputs if graph.outputs is not None else [])
    for index in graph_inputs + graph_outputs:
        first[index] = 0
        last[index] = 0
    for step, op in enumerate(operators, start=1):
        for index in (op.outputs if op.outputs is not None else []):
            if index < 0:
                continue
            first[index] = step
            last[index] = step
        for index in (op.inputs if op.inputs is not None else []):
            if index >= 0:
                last[index] = step
    for index in graph_outputs:
        last[index] = len(operators)

    buffers, names = [], []
    for index in sorted(first):
        tensor = tensors[index]
        if constant_bytes(index) or tensor.isVariable:
            continue
        size = tensor_bytes(index)
        if size == 0:
            continue
        buffers.append((align_up(size), first[index], last[index]))
        tensor_name = _to_str(tensor.name)
        names.append(tensor_name)
    # Scratch buffers that TFLM's reference kernels request, planned after the tensors.
    for step, op in enumerate(operators, start=1):
        outputs = [i for i in (op.outputs if op.outputs is not None else []) if i >= 0]
        inputs = [i for i in (op.inputs if op.inputs is not None else []) if i >= 0]
        if not outputs or not inputs:
            continue
        for size in reference_kernel_scratch_bytes(
                _op_name(model_t, op), int(tensors[inputs[0]].type),
                int(np.prod(shape(outputs[0]), dtype=object)), len(shape(inputs[0])),
                int(np.prod(shape(inputs[1]), dtype=object)) if len(inputs) > 1 else 0):
            buffers.append((align_up(size), step, step))
            names.append(f"scratch:{step}")
    _, arena = plan_greedy_memory(buffers)
    peak_step, alive = _peak_live_step(buffers)
    return ResourceReport(layers=layers, macs=sum(layer.macs for layer in layers),
                          flash_bytes=sum(layer.flash_bytes for layer in layers),
                          peak_ram_bytes=arena, peak_step=peak_step,
                          peak_tensors=[names[i] for i in alive])


@contextlib.contextmanager
def capture_c_output():
    """Capture what C code writes to file descriptors 1 and 2 (TFLM's MicroPrintf uses stderr)."""
    import sys

    sys.stdout.flush()
    sys.stderr.flush()
    saved = {fd: os.dup(fd) for fd in (1, 2)}
    with tempfile.TemporaryFile(mode="w+b") as capture:
        result: dict[str, str] = {}
        for fd in (1, 2):
            os.dup2(capture.fileno(), fd)
        try:
            yield result
        finally:
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            capture.seek(0)
            result["text"] = capture.read().decode(errors="replace")


def tflm_arena_report(model: Union[bytes, bytearray, str, os.PathLike], arena_size: int = 1 << 22) -> dict[str, int]:
    """Allocate ``model`` in the real TFLM interpreter and return its arena usage in bytes.

    Keys: ``total``, ``head`` (the non-persistent section: the planned activation buffers and
    scratch buffers — what ``tflite_resources().peak_ram_bytes`` estimates) and ``tail``
    (persistent: interpreter structures, quantisation data). Parsed from TFLM's
    ``RecordingMicroAllocator`` report (``Interpreter.print_allocations``).
    """
    from tflite_micro.python.tflite_micro import runtime

    if isinstance(model, (str, os.PathLike)):
        with open(model, "rb") as handle:
            model = handle.read()
    interpreter = runtime.Interpreter.from_bytes(bytes(model), arena_size=arena_size)
    with capture_c_output() as captured:
        interpreter.print_allocations()
    text = captured["text"]
    report = {}
    for key in ("total", "head", "tail"):
        match = re.search(rf"Arena allocation {key} (\d+) bytes", text)
        if match is None:
            raise RuntimeError(f"Could not read the TFLM arena '{key}' size from:\n{text}")
        report[key] = int(match.group(1))
    return report


# ---------------------------------------------------------------------------------------------
# Keras models
# ---------------------------------------------------------------------------------------------

CONV_LAYERS = ("Conv2D", "Conv1D")
TRANSPOSED_CONV_LAYERS = ("Conv2DTranspose",)
SEPARABLE_LAYERS = ("SeparableConv2D",)
DEPTHWISE_LAYERS = ("DepthwiseConv2D",)
DENSE_LAYERS = ("Dense",)
#: Layers whose output channels are a new coupling group (prunable unless fixed).
CHANNEL_MAKING_LAYERS = CONV_LAYERS + TRANSPOSED_CONV_LAYERS + SEPARABLE_LAYERS + DENSE_LAYERS
PRUNABLE_LAYERS = CHANNEL_MAKING_LAYERS + DEPTHWISE_LAYERS
_IDENTITY_LAYERS = ("Dropout", "SpatialDropout1D", "SpatialDropout2D", "GaussianNoise", "GaussianDropout",
                    "AlphaDropout", "ActivityRegularization", "ChannelGate")
_ACTIVATION_LAYERS = ("Activation", "ReLU", "Softmax", "LeakyReLU", "ELU")
_POOL_LAYERS = ("MaxPooling2D", "AveragePooling2D", "ZeroPadding2D", "Cropping2D", "UpSampling2D",
                "MaxPooling1D", "AveragePooling1D", "ZeroPadding1D", "Cropping1D", "UpSampling1D")
_GLOBAL_POOL_LAYERS = ("GlobalAveragePooling2D", "GlobalMaxPooling2D", "GlobalAveragePooling1D",
                       "GlobalMaxPooling1D")
_ELEMENTWISE_LAYERS = ("Add", "Subtract", "Multiply", "Maximum", "Minimum", "Average")
_PER_CHANNEL_LAYERS = ("Rescaling",)
SUPPORTED_LAYERS = (PRUNABLE_LAYERS + ("InputLayer", "BatchNormalization", "Flatten", "Reshape", "Concatenate")
                    + _IDENTITY_LAYERS + _ACTIVATION_LAYERS + _POOL_LAYERS + _GLOBAL_POOL_LAYERS
                    + _ELEMENTWISE_LAYERS + _PER_CHANNEL_LAYERS)
#: 1-D layers TFLite runs as their 2-D op on a RESHAPEd (expanded) copy of the input.
_ONE_D_OPS = ("Conv1D", "MaxPooling1D", "AveragePooling1D")
_FUSABLE_ACTIVATIONS = ("linear", "relu", "relu6")
_FUSING_OPS = ("conv2d", "depthwise", "dense", "transpose_conv", "elementwise")


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _shape_of(tensor) -> tuple[int, ...]:
    """A symbolic tensor's shape without the batch dimension, as ints."""
    shape = tuple(tensor.shape)[1:]
    if any(dim is None for dim in shape):
        raise UnsupportedLayerError(f"Tensor {getattr(tensor, 'name', tensor)} has an unknown dimension "
                                    f"{tuple(tensor.shape)}; give the model a fixed input shape")
    return tuple(int(dim) for dim in shape)


def _activation_name(layer) -> str:
    """The activation a layer applies, as a name ('linear' when none)."""
    kind = type(layer).__name__
    config = layer.get_config()
    if kind == "ReLU":
        max_value = config.get("max_value")
        slope = config.get("negative_slope", 0.0) or 0.0
        threshold = config.get("threshold", 0.0) or 0.0
        if slope or threshold:
            return "leaky_relu"
        if max_value is None:
            return "relu"
        return "relu6" if float(max_value) == 6.0 else "relu_clipped"
    activation = config.get("activation", "linear")
    if isinstance(activation, dict):  # Keras 3 may serialise functions as dicts
        activation = activation.get("config", activation.get("class_name", "custom"))
    name = getattr(activation, "__name__", activation)
    return str(name) if name is not None else "linear"


def model_inputs(model) -> list:
    """The model's symbolic inputs; a clear error when it was built without an ``Input``."""
    try:
        inputs = model.inputs
    except (AttributeError, ValueError):
        inputs = None
    if not inputs:
        raise UnsupportedLayerError(f"Model {model.name!r} has no inputs yet; build it on a keras Input "
                                    "(e.g. Sequential([Input(shape), ...])) before analysing or pruning it")
    return list(inputs)


def topological_layers(model) -> list[tuple[Any, list, Any]]:
    """``[(layer, input_tensors, output_tensor)]`` of a functional/Sequential model in execution order.

    Works for tf_keras and Keras 3 models built on an ``Input``. Raises for nested models,
    shared layers and multi-output layers, which the pruning tools do not handle.
    """
    known = {id(tensor) for tensor in model_inputs(model)}
    pending = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind == "InputLayer":
            continue
        if hasattr(layer, "layers") and hasattr(layer, "inputs"):
            raise UnsupportedLayerError(f"Layer {layer.name!r} is a nested model; flatten it into the outer "
                                        "functional model (call its layers directly) before pruning")
        if len(getattr(layer, "_inbound_nodes", [])) > 1:
            raise UnsupportedLayerError(f"Layer {layer.name!r} ({kind}) is called more than once (shared "
                                        "weights, or it also belongs to another model, e.g. after tfmot's "
                                        "strip_pruning); give each call its own layer, or rebuild the model with "
                                        "keras.models.clone_model(model) and copy the weights")
        try:
            inputs = _as_list(layer.input)
            output = layer.output
        except (AttributeError, ValueError) as error:
            raise UnsupportedLayerError(f"Layer {layer.name!r} ({kind}) is not connected in the model: {error}")
        if isinstance(output, (list, tuple)):
            if len(output) != 1:
                raise UnsupportedLayerError(f"Layer {layer.name!r} ({kind}) has several outputs; not supported")
            output = output[0]
        pending.append((layer, inputs, output))
    ordered = []
    while pending:
        remaining = []
        for entry in pending:
            if all(id(tensor) in known for tensor in entry[1]):
                ordered.append(entry)
                known.add(id(entry[2]))
            else:
                remaining.append(entry)
        if len(remaining) == len(pending):
            names = ", ".join(layer.name for layer, _, _ in remaining)
            raise UnsupportedLayerError(f"Could not order layers {names}: their inputs are not produced "
                                        "inside the model")
        pending = remaining
    return ordered


@dataclasses.dataclass
class ChannelGroup:
    """Channels that structured pruning must keep or remove together.

    ``layers`` are the Conv2D/DepthwiseConv2D/Dense layers whose output channels are this group.
    """

    index: int
    name: str
    layers: list[str]
    full_size: int
    prunable: bool


@dataclasses.dataclass
class _Tensor:
    name: str
    spatial: tuple[int, ...]
    layout: list[int]  # raw group ids, one per block of channels along the last axis
    buffer: int  # id of the RAM buffer holding it (aliases share their producer's buffer)


@dataclasses.dataclass
class _Op:
    name: str
    kind: str
    inputs: list[int]
    output: int
    params: dict


class KerasResourceModel:
    """MACs, flash and peak RAM of a Keras model as functions of its per-group channel counts.

    ``counts`` everywhere is either ``None`` (the model as built), an array with one count per
    group (``self.groups`` order), or a mapping from group index or member layer name to a count.
    """

    def __init__(self, model) -> None:
        self.model_name = model.name
        self._parent: list[int] = []
        self._group_size: list[int] = []
        self._group_layers: list[list[str]] = []
        self._fixed_raw: set[int] = set()
        self._tensors: list[_Tensor] = []
        self._ops: list[_Op] = []
        self._layer_tensors: dict[str, tuple[list[int], int]] = {}  # layer -> (input ids, output id)
        self._build(model)
        self._finalize()

    # -- graph analysis --------------------------------------------------------------------------

    def _new_group(self, size: int, owner: str | None) -> int:
        self._parent.append(len(self._parent))
        self._group_size.append(size)
        self._group_layers.append([owner] if owner else [])
        return len(self._parent) - 1

    def _find(self, group: int) -> int:
        while self._parent[group] != group:
            self._parent[group] = self._parent[self._parent[group]]
            group = self._parent[group]
        return group

    def _union(self, a: int, b: int) -> None:
        root_a, root_b = self._find(a), self._find(b)
        if root_a != root_b:
            if self._group_size[root_a] != self._group_size[root_b]:
                raise UnsupportedLayerError("Tried to couple channel groups of different sizes "
                                            f"({self._group_size[root_a]} vs {self._group_size[root_b]})")
            self._parent[root_b] = root_a
            self._group_layers[root_a].extend(self._group_layers[root_b])

    def _add_tensor(self, name: str, spatial: tuple[int, ...], layout: list[int], alias_of: int | None) -> int:
        buffer = len(self._tensors) if alias_of is None else self._tensors[alias_of].buffer
        self._tensors.append(_Tensor(name=name, spatial=spatial, layout=layout, buffer=buffer))
        return len(self._tensors) - 1

    def _reshape_copy(self, tensor: int, name: str, op_of_buffer: dict, producer_kind: dict) -> int:
        """A RESHAPE op copying ``tensor`` into a new buffer (same channels); returns the copy."""
        source = self._tensors[tensor]
        copy = self._add_tensor(name, source.spatial, list(source.layout), None)
        op_of_buffer[copy] = len(self._ops)
        rank = len(source.spatial) + 2  # the new shape: int32[rank ± 1]
        self._ops.append(_Op(name=name, kind="reshape", inputs=[tensor], output=copy,
                             params={"constant_bytes": 4 * (rank + 1)}))
        producer_kind[copy] = "reshape"
        return copy

    def _build(self, model) -> None:
        tensor_index: dict[int, int] = {}
        for tensor in model_inputs(model):
            shape = _shape_of(tensor)
            if not shape:
                raise UnsupportedLayerError("Model inputs must have a channel axis")
            group = self._new_group(shape[-1], None)
            self._fixed_raw.add(group)
            history = getattr(tensor, "_keras_history", None)
            name = history[0].name if history is not None else "input"
            tensor_index[id(tensor)] = self._add_tensor(name, shape[:-1], [group], None)

        entries = topological_layers(model)
        consumers: dict[int, int] = {}
        for _, inputs, _ in entries:
            for tensor in inputs:
                consumers[id(tensor)] = consumers.get(id(tensor), 0) + 1
        output_ids = {id(tensor) for tensor in model.outputs}
        producer_kind: dict[int, str] = {}  # tensor index -> kind of the op that wrote its buffer
        one_d_buffers: set[int] = set()  # buffers written by a 1-D op (kept in TFLite's 4-D form)
        op_of_buffer: dict[int, int] = {}  # buffer id -> index of the op writing it

        for layer, inputs, output in entries:
            kind = type(layer).__name__
            if kind not in SUPPORTED_LAYERS:
                raise UnsupportedLayerError(
                    f"Layer {layer.name!r} of type {kind} is not supported by the MCU resource model and "
                    f"structured pruning. Supported: {', '.join(sorted(set(SUPPORTED_LAYERS)))}. Replace it "
                    "with supported layers, or remove it before pruning and add it back afterwards.")
            in_ids = [tensor_index[id(tensor)] for tensor in inputs]
            first_in = self._tensors[in_ids[0]]
            out_shape = _shape_of(output)
            out_spatial = out_shape[:-1] if out_shape else ()
            single_consumer = consumers.get(id(inputs[0]), 0) == 1 and id(inputs[0]) not in output_ids
            fusable_input = single_consumer and producer_kind.get(in_ids[0]) in _FUSING_OPS
            alias_of: int | None = None
            params: dict = {}
            layout = list(first_in.layout)
            op_kind = "other"

            op_inputs = in_ids
            if kind in CHANNEL_MAKING_LAYERS:
                config = layer.get_config()
                if kind in CONV_LAYERS and int(config.get("groups", 1)) != 1:
                    raise UnsupportedLayerError(f"Layer {layer.name!r}: grouped {kind} (groups="
                                                f"{config['groups']}) is not supported; use groups=1")
                if kind in SEPARABLE_LAYERS and int(config.get("depth_multiplier", 1)) != 1:
                    raise UnsupportedLayerError(
                        f"Layer {layer.name!r}: SeparableConv2D with depth_multiplier={config['depth_multiplier']} "
                        "is not supported; use depth_multiplier=1 (widen with the pointwise filters)")
                if kind == "Dense" and len(first_in.spatial) != 0:
                    raise UnsupportedLayerError(f"Layer {layer.name!r}: Dense on a rank-{len(first_in.spatial) + 2}"
                                                " input is not supported; Flatten or pool before it")
                layout = [self._new_group(out_shape[-1], layer.name)]
                op_kind = {"Dense": "dense", "Conv2DTranspose": "transpose_conv"}.get(kind, "conv2d")
                kernel = [int(k) for k in config.get("kernel_size", (1, 1))]
                # TFLite always gives int8 convolutions an int32 bias; Dense and TRANSPOSE_CONV
                # only when the layer has one.
                has_bias = op_kind == "conv2d" or bool(config.get("use_bias", True))
                params = {"kernel": kernel, "activation": _activation_name(layer), "has_bias": has_bias}
                if op_kind == "transpose_conv":
                    # TFLM's reference TRANSPOSE_CONV accumulates the whole output in int32 scratch.
                    params["scratch"] = "transpose_conv"
                if kind in SEPARABLE_LAYERS:
                    # TFLite runs it as DEPTHWISE_CONV_2D into an intermediate tensor (its own RAM
                    # buffer, input channels wide), then a 1x1 CONV_2D.
                    middle = self._add_tensor(f"{layer.name}/depthwise", out_spatial, list(first_in.layout), None)
                    op_of_buffer[middle] = len(self._ops)
                    self._ops.append(_Op(name=f"{layer.name}/depthwise", kind="depthwise", inputs=in_ids,
                                         output=middle, params={"kernel": kernel, "activation": "linear",
                                                                "has_bias": True}))
                    producer_kind[middle] = "depthwise"
                    op_inputs = [middle]
                    params["kernel"] = [1] * len(kernel)
            elif kind in DEPTHWISE_LAYERS:
                config = layer.get_config()
                if int(config.get("depth_multiplier", 1)) != 1:
                    raise UnsupportedLayerError(f"Layer {layer.name!r}: DepthwiseConv2D with depth_multiplier="
                                                f"{config['depth_multiplier']} is not supported; use 1 and "
                                                "a 1x1 Conv2D to widen")
                op_kind = "depthwise"
                for group in layout:
                    self._group_layers[self._find(group)].append(layer.name)
                params = {"kernel": [int(k) for k in config["kernel_size"]], "activation": _activation_name(layer),
                          "has_bias": True}
            elif kind == "BatchNormalization":
                if fusable_input and producer_kind[in_ids[0]] in ("conv2d", "depthwise", "dense"):
                    alias_of = in_ids[0]
                    self._ops[op_of_buffer[self._tensors[in_ids[0]].buffer]].params["has_bias"] = True
                else:
                    op_kind = "batchnorm"
            elif kind in _IDENTITY_LAYERS:
                alias_of = in_ids[0]
            elif kind in _ACTIVATION_LAYERS:
                if _activation_name(layer) == "linear" or (
                        fusable_input and _activation_name(layer) in _FUSABLE_ACTIVATIONS):
                    alias_of = in_ids[0]
            elif kind == "ZeroPadding2D":
                params = {"constant_bytes": 32}  # PAD's paddings: int32[4, 2]
            elif kind in _POOL_LAYERS + _PER_CHANNEL_LAYERS:
                pass
            elif kind in _GLOBAL_POOL_LAYERS:
                # MEAN / REDUCE_MAX axes: int32[2]; their reference kernels also want scratch.
                params = {"constant_bytes": 8, "scratch": "mean" if "Average" in kind else "max"}
            elif kind == "Flatten":
                params = {"constant_bytes": 8}  # RESHAPE's new shape: int32[2]
                repeat = int(np.prod(first_in.spatial)) if first_in.spatial else 1
                layout = list(first_in.layout) * repeat
            elif kind == "Reshape":
                if any(self._find(g) not in self._fixed_raw for g in first_in.layout):
                    for group in first_in.layout:  # a general reshape mixes channels: keep them all
                        self._fixed_raw.add(self._find(group))
                layout = [self._new_group(out_shape[-1], None)]
                self._fixed_raw.add(layout[0])
                params = {"constant_bytes": 4 * (len(out_shape) + 1)}
            elif kind in _ELEMENTWISE_LAYERS:
                op_kind = "elementwise"
                for other in in_ids[1:]:
                    other_layout = self._tensors[other].layout
                    if len(other_layout) != len(layout):
                        raise UnsupportedLayerError(f"Layer {layer.name!r} ({kind}) combines inputs with "
                                                    "different channel structure (e.g. broadcasting); not supported")
                    for a, b in zip(layout, other_layout):
                        self._union(a, b)
            elif kind == "Concatenate":
                axis = layer.get_config().get("axis", -1)
                if axis not in (-1, len(out_shape)):
                    raise UnsupportedLayerError(f"Layer {layer.name!r}: Concatenate on axis {axis} is not "
                                                "supported; concatenate on the channel axis (-1)")
                layout = [group for index in in_ids for group in self._tensors[index].layout]

            if alias_of is None and kind in _IDENTITY_LAYERS + ("BatchNormalization",) + _ACTIVATION_LAYERS:
                op_kind = op_kind if op_kind != "other" else kind.lower()
            if alias_of is None:
                # TFLite wraps 1-D ops in RESHAPEs (rank 3 <-> 4), and TFLM copies each into its
                # own buffer: one before every 1-D op, one before any other op (except a
                # reshape/flatten, which absorbs it) that reads a 1-D op's output.
                op_inputs = [self._reshape_copy(tensor, f"{layer.name}/reshape{k}", op_of_buffer, producer_kind)
                             if kind in _ONE_D_OPS or (self._tensors[tensor].buffer in one_d_buffers
                                                       and kind not in ("Flatten", "Reshape"))
                             else tensor for k, tensor in enumerate(op_inputs)]
            index = self._add_tensor(output.name if hasattr(output, "name") else layer.name,
                                     out_spatial, layout, alias_of)
            tensor_index[id(output)] = index
            self._layer_tensors[layer.name] = (in_ids, index)
            if alias_of is None:
                op_of_buffer[index] = len(self._ops)
                self._ops.append(_Op(name=layer.name, kind=op_kind, inputs=op_inputs, output=index, params=params))
                if kind in _ONE_D_OPS:
                    one_d_buffers.add(self._tensors[index].buffer)
                producer_kind[index] = op_kind
                if params.get("activation", "linear") != "linear":
                    producer_kind[index] = "activated"  # TFLite fuses at most one activation
            else:
                producer_kind[index] = producer_kind.get(in_ids[0])
                # A fused activation/BN keeps the producing op's kind only if it can fuse again.
                if kind in _ACTIVATION_LAYERS and _activation_name(layer) != "linear":
                    producer_kind[index] = "activated"
        self._graph_inputs = [tensor_index[id(tensor)] for tensor in model.inputs]
        self._graph_outputs = [tensor_index[id(tensor)] for tensor in model.outputs]
        for tensor in self._graph_outputs:
            for group in self._tensors[tensor].layout:
                self._fixed_raw.add(self._find(group))

    def _finalize(self) -> None:
        roots = sorted({self._find(g) for g in range(len(self._parent))})
        fixed_roots = {self._find(g) for g in self._fixed_raw}
        self._root_to_group = {root: index for index, root in enumerate(roots)}
        self.groups: list[ChannelGroup] = []
        for index, root in enumerate(roots):
            layers = list(dict.fromkeys(self._group_layers[root]))
            name = layers[0] if layers else ("input" if root in fixed_roots else f"group{index}")
            self.groups.append(ChannelGroup(index=index, name=name, layers=layers,
                                            full_size=self._group_size[root], prunable=root not in fixed_roots))
        self._full = np.array([group.full_size for group in self.groups], dtype=np.float64)
        self._layer_to_group = {}
        for group in self.groups:
            for layer in group.layers:
                self._layer_to_group.setdefault(layer, group.index)

        n_groups = len(self.groups)

        def multiplicity(layout: list[int]) -> np.ndarray:
            vector = np.zeros(n_groups)
            for group in layout:
                vector[self._root_to_group[self._find(group)]] += 1
            return vector

        self._channel_vectors = [multiplicity(tensor.layout) for tensor in self._tensors]
        # Buffer lifetimes: graph inputs from 0, op i (1-based) writes/reads at step i, outputs to end.
        first: dict[int, int] = {}
        last: dict[int, int] = {}
        for tensor in self._graph_inputs:
            first[self._tensors[tensor].buffer] = 0
            last[self._tensors[tensor].buffer] = 0
        for step, op in enumerate(self._ops, start=1):
            buffer = self._tensors[op.output].buffer
            first.setdefault(buffer, step)
            last[buffer] = max(last.get(buffer, step), step)
            for tensor in op.inputs:
                input_buffer = self._tensors[tensor].buffer
                last[input_buffer] = max(last.get(input_buffer, step), step)
        for tensor in self._graph_outputs:
            last[self._tensors[tensor].buffer] = len(self._ops)
        self._buffers = sorted(first)
        self._buffer_lifetimes = [(first[b], last[b]) for b in self._buffers]
        self._buffer_elements = [int(np.prod(self._tensors[b].spatial)) if self._tensors[b].spatial else 1
                                 for b in self._buffers]
        # Scratch buffers of reference kernels, alive during their op only: (step, op).
        self._scratch = [(step, op) for step, op in enumerate(self._ops, start=1) if "scratch" in op.params]

    def _scratch_buffers(self, counts: np.ndarray) -> list[tuple[int, int, int]]:
        """See ``reference_kernel_scratch_bytes``: MEAN an int32 per output channel, and both MEAN
        and REDUCE_MAX an int per input dimension (4) and per reduced axis (2)."""
        result = []
        for step, op in self._scratch:
            if op.params["scratch"] == "transpose_conv":
                elements = int(np.prod(self._tensors[op.output].spatial))
                channels = float(self._channel_vectors[op.output] @ counts)
                result.append((align_up(int(round(4 * elements * channels))), step, step))
                continue
            if op.params["scratch"] == "mean":
                channels = float(self._channel_vectors[op.output] @ counts)
                result.append((align_up(int(round(4 * channels))), step, step))
            result.extend([(align_up(16), step, step), (align_up(8), step, step)])
        return result

    # -- public API ------------------------------------------------------------------------------

    @property
    def prunable_groups(self) -> list[ChannelGroup]:
        return [group for group in self.groups if group.prunable]

    def group_of_layer(self, layer_name: str) -> ChannelGroup:
        """The coupling group of a Conv2D/DepthwiseConv2D/Dense layer's output channels."""
        if layer_name not in self._layer_to_group:
            raise KeyError(f"{layer_name!r} is not a Conv2D/DepthwiseConv2D/Dense layer of {self.model_name!r}")
        return self.groups[self._layer_to_group[layer_name]]

    def _compact_layout(self, tensor: int) -> list[int]:
        return [self._root_to_group[self._find(group)] for group in self._tensors[tensor].layout]

    def output_layout(self, layer_name: str) -> list[int]:
        """Group index of each block of channels along the last axis of a layer's output.

        A Flatten output repeats its input's groups once per spatial position; a Concatenate
        output lists its inputs' groups side by side.
        """
        return self._compact_layout(self._layer_tensors[layer_name][1])

    def input_layouts(self, layer_name: str) -> list[list[int]]:
        """``output_layout`` of each input of a layer."""
        return [self._compact_layout(tensor) for tensor in self._layer_tensors[layer_name][0]]

    def full_counts(self) -> np.ndarray:
        return self._full.copy()

    def min_counts(self) -> np.ndarray:
        """One channel in every prunable group; fixed groups at full size."""
        return np.array([1.0 if group.prunable else group.full_size for group in self.groups])

    def counts_vector(self, counts=None) -> np.ndarray:
        """Normalise ``counts`` (None, array, or {group index or layer name: count}) to an array."""
        if counts is None:
            return self.full_counts()
        if isinstance(counts, Mapping):
            vector = self.full_counts()
            for key, value in counts.items():
                group = self.groups[key] if isinstance(key, (int, np.integer)) else self.group_of_layer(key)
                vector[group.index] = value
            counts = vector
        vector = np.asarray(counts, dtype=np.float64)
        if vector.shape != self._full.shape:
            raise ValueError(f"Expected {len(self.groups)} channel counts (one per group), got shape {vector.shape}")
        for group in self.groups:
            value = vector[group.index]
            if not group.prunable and value != group.full_size:
                raise ValueError(f"Group {group.name!r} is fixed (model input/output) at {group.full_size} "
                                 f"channels; got {value}")
            if value < 0 or value > group.full_size:
                raise ValueError(f"Group {group.name!r}: channel count {value} outside [0, {group.full_size}]")
        return vector

    def _layer_costs(self, counts: np.ndarray) -> list[LayerResources]:
        layers = []
        for op in self._ops:
            out_channels = float(self._channel_vectors[op.output] @ counts)
            in_channels = float(self._channel_vectors[op.inputs[0]] @ counts)
            out_elements = int(np.prod(self._tensors[op.output].spatial)) if self._tensors[op.output].spatial else 1
            macs = flash = 0.0
            kernel_area = int(np.prod(op.params["kernel"])) if "kernel" in op.params else 1
            if op.kind == "conv2d":
                macs = out_elements * kernel_area * in_channels * out_channels
                flash = kernel_area * in_channels * out_channels + 4 * out_channels
            elif op.kind == "transpose_conv":
                # every input pixel scatters kh·kw·Co products per input channel
                in_spatial = self._tensors[op.inputs[0]].spatial
                in_elements = int(np.prod(in_spatial)) if in_spatial else 1
                macs = in_elements * kernel_area * in_channels * out_channels
                flash = kernel_area * in_channels * out_channels + (4 * out_channels if op.params["has_bias"] else 0)
            elif op.kind == "depthwise":
                macs = out_elements * kernel_area * out_channels
                flash = kernel_area * out_channels + 4 * out_channels
            elif op.kind == "dense":
                macs = in_channels * out_channels
                flash = in_channels * out_channels + (4 * out_channels if op.params["has_bias"] else 0)
            elif op.kind == "batchnorm":
                flash = 2 * out_channels
            flash += op.params.get("constant_bytes", 0)
            layers.append(LayerResources(name=op.name, op=op.kind, macs=macs, flash_bytes=flash))
        return layers

    def _ram_buffers(self, counts: np.ndarray) -> list[tuple[int, int, int]]:
        result = []
        for buffer, (first, last), elements in zip(self._buffers, self._buffer_lifetimes, self._buffer_elements):
            size = int(round(elements * float(self._channel_vectors[buffer] @ counts)))
            result.append((align_up(size), first, last))
        return result + self._scratch_buffers(counts)

    def evaluate(self, counts=None) -> ResourceReport:
        """Resources of the model with ``counts`` channels per group (see class docstring)."""
        vector = self.counts_vector(counts)
        layers = self._layer_costs(vector)
        for layer in layers:
            layer.macs = int(round(layer.macs))
            layer.flash_bytes = int(round(layer.flash_bytes))
        buffers = self._ram_buffers(vector)
        _, arena = plan_greedy_memory(buffers)
        step, alive = _peak_live_step(buffers)
        return ResourceReport(layers=layers, macs=sum(layer.macs for layer in layers),
                              flash_bytes=sum(layer.flash_bytes for layer in layers), peak_ram_bytes=arena,
                              peak_step=step, peak_tensors=[self._tensors[self._buffers[i]].name
                                                            if i < len(self._buffers) else "scratch" for i in alive])

    def totals(self, counts=None) -> dict[str, float]:
        """``{resource: value}`` — a fast version of ``evaluate`` for optimisation loops."""
        vector = self.counts_vector(counts)
        layers = self._layer_costs(vector)
        _, arena = plan_greedy_memory(self._ram_buffers(vector))
        return {"macs": sum(layer.macs for layer in layers),
                "flash_bytes": sum(layer.flash_bytes for layer in layers), "peak_ram_bytes": float(arena)}

    def marginal_costs(self, counts=None) -> dict[str, np.ndarray]:
        """``{resource: d(resource)/d(count of group k)}`` for every group, at ``counts``.

        MACs and flash: exact derivatives (central difference of ±½ channel on a polynomial of
        degree ≤ 2). Peak RAM: elements per channel summed over the tensors alive at the peak step.
        Fixed groups get 0.
        """
        vector = np.asarray(self.counts_vector(counts), dtype=np.float64)
        costs = {name: np.zeros(len(self.groups)) for name in RESOURCE_NAMES}
        for group in self.groups:
            if not group.prunable:
                continue
            up, down = vector.copy(), vector.copy()
            up[group.index] += 0.5
            down[group.index] -= 0.5
            layers_up, layers_down = self._layer_costs(up), self._layer_costs(down)
            costs["macs"][group.index] = sum(l.macs for l in layers_up) - sum(l.macs for l in layers_down)
            costs["flash_bytes"][group.index] = (sum(l.flash_bytes for l in layers_up)
                                                 - sum(l.flash_bytes for l in layers_down))
        peak_step, alive = _peak_live_step(self._ram_buffers(vector))
        for buffer_position in alive:
            if buffer_position >= len(self._buffers):
                continue  # a scratch buffer: charged below
            buffer = self._buffers[buffer_position]
            costs["peak_ram_bytes"] += self._buffer_elements[buffer_position] * self._channel_vectors[buffer]
        for step, op in self._scratch:
            if step == peak_step and op.params["scratch"] == "mean":
                costs["peak_ram_bytes"] += 4 * self._channel_vectors[op.output]
        for group in self.groups:
            if not group.prunable:
                costs["peak_ram_bytes"][group.index] = 0.0
        return costs


def keras_resources(model, counts=None) -> ResourceReport:
    """Resources of a Keras model (optionally with other channel counts, see KerasResourceModel)."""
    return KerasResourceModel(model).evaluate(counts)
