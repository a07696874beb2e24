"""Run a whole (UnIT) ``.tflite`` graph on the host through the C kernel core.

The interpreter prepares every operator once (requantisation multipliers,
activation ranges, padding — the work TFLM's ``Prepare`` does), then executes
the graph in order on a batch, keeping each activation only while a later
operator still reads it.  CONV_2D / DEPTHWISE_CONV_2D / FULLY_CONNECTED and
their UNIT_* custom twins report MACs per layer; thresholds can be replaced
per layer in place (calibration does this thousands of times).
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Union

import numpy as np

from tflm_unit.core import activation_ops as aops
from tflm_unit.core import kernels, ops
from tflm_unit.errors import DataError
from tflm_unit.runtime import fast, operand_counts
from tflm_unit.runtime.model import (
    SORTED_INDEX_INPUT,
    SORTED_WEIGHTS_INPUT,
    ModelFormatError,
    ModelGraph,
    Operator,
    Tensor,
    UnsupportedModelError,
    load_graph,
)

#: tflite::ActivationFunctionType values the kernels clamp for.
_ACTIVATIONS = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6"}
_MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


@dataclass
class SkipSetting:
    """UnIT skipping of one layer: int16 T_q per group (float32 T for float
    models), the group size and the division mode."""

    thresholds: np.ndarray
    group_size: int
    division: str


@dataclass
class LayerStats:
    """MACs of one MAC layer over the batch just run."""

    op_index: int
    op_name: str
    output_name: str
    macs_total: int
    macs_executed: int
    channel_executed: np.ndarray = field(repr=False)
    #: MACs with x' != 0 and w != 0 (in bounds), when ``Interpreter.count_zero_operands`` is set.
    macs_nonzero: Optional[int] = None

    @property
    def mac_reduction(self) -> float:
        return 1.0 - self.macs_executed / self.macs_total if self.macs_total else 0.0

    @property
    def macs_skipped_threshold(self) -> Optional[int]:
        """Non-zero MACs a threshold skipped (0 for the dense kernel, which
        executes zero operands too)."""
        if self.macs_nonzero is None:
            return None
        return max(self.macs_nonzero - self.macs_executed, 0)

    @property
    def macs_skipped_zero(self) -> Optional[int]:
        """Skipped MACs with a zero operand (x' = 0, padding, or w = 0); with
        ``macs_skipped_threshold`` it adds up to macs_total - macs_executed."""
        threshold = self.macs_skipped_threshold
        return None if threshold is None else self.macs_total - self.macs_executed - threshold


@dataclass
class RunResult:
    outputs: List[np.ndarray]
    layers: List[LayerStats]

    @property
    def macs_total(self) -> int:
        return sum(layer.macs_total for layer in self.layers)

    @property
    def macs_executed(self) -> int:
        return sum(layer.macs_executed for layer in self.layers)


# An executable op: reads its inputs from, and writes its outputs into, the
# activation dict; returns LayerStats for MAC layers, else None.
Step = Callable[[Dict[int, np.ndarray]], Optional[LayerStats]]


def _fused_activation(op: Operator, value: int) -> int:
    if value not in _ACTIVATIONS:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): fused activation {value} is not supported "
                                    f"(supported: {', '.join(_ACTIVATIONS.values())})")
    return value


def _require_dtype(op: Operator, tensor: Tensor, allowed: Sequence[type], role: str) -> None:
    if tensor.dtype not in allowed:
        names = "/".join(np.dtype(a).name for a in allowed)
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): {role} '{tensor.name}' is "
                                    f"{tensor.type_name}, expected {names}")


def _batched_shape(shape: tuple, batch: int) -> tuple:
    return (batch,) + tuple(shape[1:]) if shape else shape


def _require_batch_kept(op: Operator, inp: Tensor, out: Tensor) -> None:
    """A step that gives its output the declared shape with the batch
    replaced (_batched_shape) computes the model's answer only if the op
    keeps the leading dimension."""
    if not inp.shape or not out.shape or inp.shape[0] != out.shape[0]:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): input {inp.shape} and output {out.shape} "
                                    f"do not share the leading (batch) dimension the runtime batches along")


class Interpreter:
    """Executes a ``.tflite`` (bytes or path) on the host.

    >>> interp = Interpreter("model.tflite")
    >>> result = interp.run(x_int8_batch)
    >>> result.outputs[0], result.macs_executed
    """

    def __init__(self, model: Union[bytes, str, os.PathLike, ModelGraph]):
        if not isinstance(model, ModelGraph):
            # dynamic-batch exports compute a RESHAPE's shape at run time:
            # fold it to the static shape (the converter's one implementation)
            from tflm_unit.converter.rewrite import fold_dynamic_reshapes
            from tflm_unit.runtime.model import read_model_bytes

            model = load_graph(fold_dynamic_reshapes(read_model_bytes(model)))
        self.graph = model
        #: Also count the MACs with two non-zero operands (LayerStats.macs_nonzero); costs a little time.
        self.count_zero_operands = False
        self._skip: Dict[int, Optional[SkipSetting]] = {}
        self._check_batch_dimension()
        self._check_no_state()
        self._steps: List[Step] = [self._prepare(op) for op in self.graph.operators]
        self._last_use = self._plan_lifetimes()

    # ----------------------------------------------------------- public API

    @property
    def input_details(self) -> List[Tensor]:
        return [self.graph.tensor(i) for i in self.graph.inputs]

    @property
    def output_details(self) -> List[Tensor]:
        return [self.graph.tensor(i) for i in self.graph.outputs]

    def mac_layers(self) -> List[Operator]:
        """The operators that multiply-accumulate (builtin or UNIT_*)."""
        return [op for op in self.graph.operators if self._base_name(op) in _MAC_OPS]

    def skip_setting(self, op_index: int) -> Optional[SkipSetting]:
        return self._skip.get(op_index)

    def set_skip(self, op_index: int, thresholds: Optional[np.ndarray], group_size: Optional[int] = None,
                 division: Optional[str] = None) -> None:
        """Replace a MAC layer's thresholds (None = dense, the builtin kernel)."""
        op = self.graph.operators[op_index]
        if self._base_name(op) not in _MAC_OPS:
            raise ValueError(f"operator {op_index} ({op.name}) has no MACs to skip")
        if thresholds is None:
            self._skip[op_index] = None
            return
        current = self._skip.get(op_index)
        channels = self._output_channels(op)
        group = group_size or (current.group_size if current else channels)
        mode = division or (current.division if current else "exact")
        float_model = self.graph.tensor(op.inputs[0]).dtype == np.float32
        t = np.ascontiguousarray(thresholds, dtype=np.float32 if float_model else np.int16).reshape(-1)
        if channels % group or t.size != channels // group:
            raise ValueError(f"operator {op_index}: {t.size} thresholds do not match {channels} channels "
                             f"in groups of {group}")
        kernels.division_index(mode, float_model)
        self._skip[op_index] = SkipSetting(t, group, mode)

    def quantize_input(self, x: np.ndarray, index: int = 0) -> np.ndarray:
        """Float input → the input tensor's dtype (int8 via its scale / zero point)."""
        tensor = self.input_details[index]
        if tensor.dtype != np.int8 or x.dtype == np.int8:
            return x.astype(tensor.dtype, copy=False)
        return ops.quantize(np.asarray(x, dtype=np.float32), tensor.scalar_scale(), tensor.scalar_zero_point())

    def run(self, inputs: Union[np.ndarray, Sequence[np.ndarray]]) -> RunResult:
        """Run a batch (leading dimension) through the graph."""
        arrays = [inputs] if isinstance(inputs, np.ndarray) else list(inputs)
        if len(arrays) != len(self.graph.inputs):
            raise DataError(f"the model has {len(self.graph.inputs)} inputs, {len(arrays)} given")
        batch = None
        values: Dict[int, np.ndarray] = {}
        for k, (index, x) in enumerate(zip(self.graph.inputs, arrays)):
            tensor = self.graph.tensor(index)
            x = np.asarray(x)
            if x.shape[1:] != tensor.shape[1:]:
                raise DataError(f"input '{tensor.name}' expects shape (N, {', '.join(map(str, tensor.shape[1:]))}), "
                                f"got {x.shape}")
            if x.dtype != tensor.dtype:
                if tensor.dtype == np.int8 and x.dtype.kind == "f":
                    x = self.quantize_input(x, k)
                else:
                    raise DataError(f"input '{tensor.name}' is {tensor.type_name}, got {x.dtype}")
            batch = x.shape[0] if batch is None else batch
            if x.shape[0] != batch:
                raise DataError("all inputs must have the same batch size")
            values[index] = np.ascontiguousarray(x)
        layers: List[LayerStats] = []
        for step_index, step in enumerate(self._steps):
            stats = step(values)
            if stats is not None:
                layers.append(stats)
            for tensor_index in self._last_use.get(step_index, ()):
                values.pop(tensor_index, None)
        return RunResult([values[i] for i in self.graph.outputs], layers)

    def run_from(self, values: Dict[int, np.ndarray], start: int = 0) -> List[LayerStats]:
        """Run operators ``start``, ``start + 1``, ... on ``values`` (tensor
        index → array, updated in place) and keep every activation, so that a
        caller can later resume from the middle of the graph (calibration
        re-runs only the layers after the first threshold it changed)."""
        layers: List[LayerStats] = []
        for step in self._steps[start:]:
            stats = step(values)
            if stats is not None:
                layers.append(stats)
        return layers

    # ------------------------------------------------------------ planning

    def _check_batch_dimension(self) -> None:
        """The graph inputs share a leading (batch) dimension: run() takes a
        batch of N along it (the steps that re-apply a declared shape check
        that they keep it: _require_batch_kept)."""
        batch = None
        for t in self.input_details:
            if not t.shape:
                raise UnsupportedModelError(f"input tensor '{t.name}' is a scalar: the runtime needs a leading "
                                            f"batch dimension")
            batch = t.shape[0] if batch is None else batch
            if t.shape[0] != batch:
                raise UnsupportedModelError(f"input tensor '{t.name}' has shape {t.shape}, whose leading "
                                            f"dimension is not the batch size {batch} of the other inputs")

    def _check_no_state(self) -> None:
        """A variable tensor read before an op writes it would need state kept
        across runs (TFLM's resource variables), which this runtime does not keep."""
        g = self.graph
        variables, written = set(g.variables), set()
        for op in g.operators:
            for i in op.inputs:
                if i in variables and i not in written:
                    raise UnsupportedModelError(f"operator {op.index} ({op.name}) reads variable tensor "
                                                f"'{g.tensor(i).name}' before any op writes it (state kept across "
                                                f"runs is not supported)")
            written.update(op.outputs)

    def _plan_lifetimes(self) -> Dict[int, List[int]]:
        """For each step, the activations no later step reads (freed after it)."""
        last: Dict[int, int] = {}
        for op in self.graph.operators:
            for t in op.inputs:
                if t >= 0 and not self.graph.tensor(t).is_constant:
                    last[t] = op.index
        keep = set(self.graph.outputs)
        plan: Dict[int, List[int]] = {}
        for tensor_index, step_index in last.items():
            if tensor_index not in keep:
                plan.setdefault(step_index, []).append(tensor_index)
        return plan

    @staticmethod
    def _base_name(op: Operator) -> str:
        return op.name[len("UNIT_"):] if op.is_unit else op.name

    def _output_channels(self, op: Operator) -> int:
        return int(self.graph.tensor(op.outputs[0]).shape[-1])

    def _prepare(self, op: Operator) -> Step:
        base = self._base_name(op)
        if op.is_custom and not op.is_unit:
            raise UnsupportedModelError(f"operator {op.index}: custom op '{op.name}' is not supported")
        preparer = _PREPARERS.get(base)
        if preparer is None:
            dtypes = "/".join(sorted({self.graph.tensor(i).type_name for i in op.inputs if i >= 0})) or "no inputs"
            raise UnsupportedModelError(
                f"operator {op.index}: {op.name} ({dtypes}) is not supported by tflm_unit.runtime "
                f"(supported: {', '.join(sorted(_PREPARERS))} and the UNIT_* custom ops)")
        return preparer(self, op)

    # ------------------------------------------------------------ MAC ops

    def _unit_skip_from_model(self, op: Operator, channels: int, float_model: bool) -> Optional[SkipSetting]:
        """The thresholds and options a UNIT_* op carries in the model."""
        if not op.is_unit:
            return None
        opts = op.custom_options
        if len(op.inputs) < 4 or op.inputs[3] < 0:
            raise UnsupportedModelError(f"operator {op.index} ({op.name}) has no thresholds input")
        t_tensor = self.graph.tensor(op.inputs[3])
        expected = np.float32 if float_model else np.int16
        if t_tensor.data is None or t_tensor.dtype != expected:
            raise UnsupportedModelError(f"operator {op.index} ({op.name}): thresholds must be a constant "
                                        f"{np.dtype(expected).name} tensor")
        group = int(opts.get("group_size", channels))
        division = opts.get("division", "exact")
        if isinstance(division, bytes):
            division = division.decode()
        version = int(opts.get("format_version", 1))
        if version > kernels._core.LAYOUT_TENSORS_FORMAT_VERSION:
            raise UnsupportedModelError(f"operator {op.index} ({op.name}): format_version {version} is newer than "
                                        f"this package supports ({kernels._core.LAYOUT_TENSORS_FORMAT_VERSION})")
        if group <= 0 or channels % group or t_tensor.data.size != channels // group:
            raise UnsupportedModelError(f"operator {op.index} ({op.name}): {t_tensor.data.size} thresholds do not "
                                        f"match {channels} output channels in groups of {group}")
        kernels.division_index(division, float_model)
        return SkipSetting(np.ascontiguousarray(t_tensor.data.reshape(-1)), group, division)

    def _conv_options(self, op: Operator) -> dict:
        """Options of a conv/depthwise as a plain dict, builtin or custom."""
        if op.is_unit:
            o = op.custom_options
            return dict(padding=int(o.get("padding", 0)), stride_h=int(o.get("stride_h", 1)),
                        stride_w=int(o.get("stride_w", 1)), dilation_h=int(o.get("dilation_h_factor", 1)),
                        dilation_w=int(o.get("dilation_w_factor", 1)),
                        activation=int(o.get("fused_activation_function", 0)),
                        depth_multiplier=int(o.get("depth_multiplier", 0)))
        o = op.builtin_options
        return dict(padding=int(o.padding), stride_h=int(o.strideH), stride_w=int(o.strideW),
                    dilation_h=int(o.dilationHFactor), dilation_w=int(o.dilationWFactor),
                    activation=int(o.fusedActivationFunction),
                    depth_multiplier=int(getattr(o, "depthMultiplier", 0)))


def layout_problem(graph: ModelGraph, op: Operator, layout: Optional[str] = None) -> Optional[str]:
    """Why the kernel of a UnIT op's ``layout`` option (DESIGN.md §9; or of
    ``layout``) cannot run the op, or None (also for an op without one): the
    zero-cost layouts are int8 only, and the bucketed CONV_2D kernel takes
    input rows of at most 256 byte columns (its scratch rule is 0 otherwise)."""
    if layout is None:
        layout = op.custom_options.get("layout", "compare") if op.is_unit else "compare"
    if layout == "compare":
        return None
    inp, filt, out = (graph.tensor(i) for i in (op.inputs[0], op.inputs[1], op.outputs[0]))
    if filt.dtype != np.int8 or inp.dtype != np.int8:
        return f"the {layout} layout exists for int8 ops only"
    if layout == "bucketed":
        if len(inp.shape) != 4 or len(filt.shape) != 4 or len(out.shape) != 4:
            return "the bucketed layout needs 4-D input, filter and output"
        o = op.custom_options
        params = kernels.ConvParams(int(o["stride_h"]), int(o["stride_w"]), int(o["dilation_h_factor"]),
                                    int(o["dilation_w_factor"]), kernels.PADDINGS[int(o["padding"])])
        shapes = [tuple(max(1, int(d)) for d in t.shape) for t in (inp, filt, out)]
        if kernels.conv_bucketed_scratch_bytes(*shapes, params, True, minimum=True) == 0:
            return (f"the bucketed layout cannot take input rows of width {shapes[0][2]} (the kernel's byte "
                    f"column indices reach 256 padded columns per stride phase)")
    return None


def file_sorted_layout(graph: ModelGraph, op: Operator) -> Optional[kernels.FcSortedLayout]:
    """The sorted layout a format_version-3 UNIT_FULLY_CONNECTED carries as
    constant inputs 4 (weights, int8) and 5 (output indices, uint8 for <= 256
    outputs, else uint16), each [input_depth, groups, group_size + 1]; None
    for an op without them (format_version 1 and 2: readers build the layout
    from the filter).  Checked against the filter before any kernel reads
    it: dtypes, shapes, indices inside their groups, and that it is exactly
    the filter's layout (ModelFormatError naming the op and tensor)."""
    if not op.is_unit or int(op.custom_options.get("format_version", 1)) < kernels._core.LAYOUT_TENSORS_FORMAT_VERSION:
        return None
    where = f"operator {op.index} ({op.name})"
    if len(op.inputs) != SORTED_INDEX_INPUT + 1 or min(op.inputs[SORTED_WEIGHTS_INPUT:]) < 0:
        raise ModelFormatError(f"{where}: format_version 3 needs the sorted layout as inputs {SORTED_WEIGHTS_INPUT} "
                               f"and {SORTED_INDEX_INPUT}, the op has {len(op.inputs)} inputs")
    filt = graph.tensor(op.inputs[1])
    if filt.dtype != np.int8 or filt.data is None or len(filt.shape) != 2:
        raise ModelFormatError(f"{where}: the sorted layout needs a constant int8 2-D filter")
    out_depth, in_depth = (int(d) for d in filt.shape)
    group = int(op.custom_options.get("group_size") or out_depth)
    if group <= 0 or out_depth % group:
        raise ModelFormatError(f"{where}: group_size {group} does not divide the {out_depth} outputs")
    shape = (in_depth, out_depth // group, group + 1)
    index_dtype = np.uint8 if out_depth <= 256 else np.uint16
    arrays = []
    for position, role, dtype in ((SORTED_WEIGHTS_INPUT, "layout weights", np.int8),
                                  (SORTED_INDEX_INPUT, "layout index", index_dtype)):
        t = graph.tensor(op.inputs[position])
        if t.data is None or t.dtype != dtype or tuple(t.shape) != shape:
            raise ModelFormatError(f"{where}: the {role} tensor '{t.name}' must be a constant "
                                   f"{np.dtype(dtype).name} tensor of shape {list(shape)} (input depth, groups, "
                                   f"group size + 1), got {'constant ' if t.data is not None else ''}"
                                   f"{t.type_name} {list(t.shape)}")
        arrays.append(np.ascontiguousarray(t.data).reshape(-1))
    weights, index = arrays
    first = np.broadcast_to((np.arange(shape[1]) * group)[None, :, None], shape).reshape(-1)
    bad = np.flatnonzero((index < first) | (index >= first + group))
    index_name = graph.tensor(op.inputs[SORTED_INDEX_INPUT]).name
    if bad.size:
        at = int(bad[0])
        raise ModelFormatError(f"{where}: the layout index tensor '{index_name}' holds output {int(index[at])} at "
                               f"entry {at}, outside its group [{int(first[at])}, {int(first[at]) + group})")
    layout = kernels.FcSortedLayout(weights, index, group, in_depth, out_depth)
    try:
        kernels.check_fc_sorted_layout(filt.data, layout)
    except kernels.KernelArgumentError as exc:
        raise ModelFormatError(f"{where}: the layout tensors '{graph.tensor(op.inputs[SORTED_WEIGHTS_INPUT]).name}' "
                               f"/ '{index_name}' are not the sorted layout of the filter '{filt.name}' "
                               f"({exc})") from None
    return layout


def requantization_params(op: Operator, inp: Tensor, filt: Tensor, out: Tensor, channels: int):
    """Per-channel (multiplier, shift) as TFLM's Prepare computes them:
    double(s_in) * double(s_w[c]) / double(s_out), then QuantizeMultiplier."""
    if inp.scale.size == 0 or filt.scale.size == 0 or out.scale.size == 0:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): int8 tensors must be quantised")
    w_scales = filt.scale if filt.scale.size == channels else np.repeat(filt.scale[:1], channels)
    if filt.scale.size not in (1, channels):
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): {filt.scale.size} filter scales for "
                                    f"{channels} channels")
    if np.any(filt.zero_point != 0):
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): weights must be symmetric (zero point 0)")
    s_in, s_out = float(inp.scale[0]), float(out.scale[0])
    pairs = [kernels.quantize_multiplier(s_in * float(s) / s_out) for s in w_scales]
    multiplier = np.array([m for m, _ in pairs], dtype=np.int32)
    shift = np.array([s for _, s in pairs], dtype=np.int32)
    return multiplier, shift


def _prepare_conv_like(interp: Interpreter, op: Operator) -> Step:
    base = interp._base_name(op)
    depthwise = base == "DEPTHWISE_CONV_2D"
    g = interp.graph
    if len(op.inputs) < 2:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}) needs input and filter tensors")
    inp, filt, out = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    bias = g.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    float_model = inp.dtype == np.float32
    act_types = (np.float32,) if float_model else (np.int8,)
    _require_dtype(op, inp, act_types, "input")
    _require_dtype(op, filt, act_types, "filter")
    _require_dtype(op, out, act_types, "output")
    if bias is not None:
        _require_dtype(op, bias, (np.float32,) if float_model else (np.int32,), "bias")
    if filt.data is None:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): the filter must be constant")
    if len(inp.shape) != 4 or len(filt.shape) != 4:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): input and filter must be 4-D")
    opts = interp._conv_options(op)
    activation = _fused_activation(op, opts["activation"])
    channels = int(out.shape[-1])
    depth_multiplier = 1
    if depthwise:
        depth_multiplier = channels // int(inp.shape[-1])
        if depth_multiplier * int(inp.shape[-1]) != channels:
            raise UnsupportedModelError(f"operator {op.index} ({op.name}): output channels {channels} are not a "
                                        f"multiple of input channels {inp.shape[-1]}")
    if opts["padding"] not in (0, 1):
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): unknown padding {opts['padding']}")
    padding = kernels.PADDINGS[opts["padding"]]
    bias_data = None if bias is None else bias.data
    interp._skip[op.index] = interp._unit_skip_from_model(op, channels, float_model)
    fn_name = ("depthwise_conv_2d" if depthwise else "conv_2d") + ("_float" if float_model else "_int8")
    kernel = getattr(kernels, fn_name)
    if float_model:
        lo, hi = aops.float_activation_range(activation)  # TFLM's: +-FLT_MAX, so an overflow clamps
        params = kernels.ConvParams(opts["stride_h"], opts["stride_w"], opts["dilation_h"], opts["dilation_w"],
                                    padding, depth_multiplier, 0, 0, lo, hi)
        extra: tuple = ()
    else:
        multiplier, shift = requantization_params(op, inp, filt, out, channels)
        act_min, act_max = kernels.activation_range_int8(activation, float(out.scale[0]), out.scalar_zero_point())
        params = kernels.ConvParams(opts["stride_h"], opts["stride_w"], opts["dilation_h"], opts["dilation_w"],
                                    padding, depth_multiplier, -inp.scalar_zero_point(), out.scalar_zero_point(),
                                    act_min, act_max)
        extra = (multiplier, shift)
    filter_data = np.ascontiguousarray(filt.data)
    # The model's layout (DESIGN.md §9): `bucketed` is what the MCU runs.  Its
    # outputs and executed-MAC counts are bit-identical to the compare
    # kernel's (int32 sums do not depend on their order), so the host keeps
    # its fast path and runs the C core's bucketed kernel only without it.
    problem = layout_problem(g, op)
    if problem is not None:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): {problem}")
    layout_kw = {"layout": op.custom_options["layout"]} if op.is_unit and "layout" in op.custom_options else {}
    # host fast path (tflm_unit._fast): same results, tiled and threaded
    fast_layer = None if float_model else fast.conv_like_layer(depthwise, filter_data, bias_data, *extra, params)
    zero_value = 0.0 if float_model else inp.scalar_zero_point()

    def step(values: Dict[int, np.ndarray]) -> LayerStats:
        skip = interp._skip.get(op.index)
        x = values[op.inputs[0]]
        args = (x, filter_data, bias_data) + extra + (params,)
        if fast_layer is not None and fast_layer.supports(skip):
            result = fast_layer.run(x, skip)
        elif skip is None:
            result = kernel(*args, **layout_kw)
        else:
            result = kernel(*args, thresholds=skip.thresholds, group_size=skip.group_size, division=skip.division,
                            **layout_kw)
        values[op.outputs[0]] = result.output
        nonzero = None
        if interp.count_zero_operands:
            nonzero = operand_counts.conv_nonzero_macs(x, zero_value, filter_data, params, depthwise)
        return LayerStats(op.index, op.name, out.name, result.macs_total, result.macs_executed,
                          result.channel_executed, nonzero)

    return step


def _prepare_fully_connected(interp: Interpreter, op: Operator) -> Step:
    g = interp.graph
    inp, filt, out = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    bias = g.tensor(op.inputs[2]) if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    float_model = inp.dtype == np.float32
    act_types = (np.float32,) if float_model else (np.int8,)
    _require_dtype(op, inp, act_types, "input")
    _require_dtype(op, filt, act_types, "filter")
    _require_dtype(op, out, act_types, "output")
    if bias is not None:
        _require_dtype(op, bias, (np.float32,) if float_model else (np.int32,), "bias")
    if filt.data is None or len(filt.shape) != 2:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): the filter must be a constant 2-D tensor")
    opts = op.custom_options if op.is_unit else None
    if op.is_unit:
        activation = int(opts.get("fused_activation_function", 0))
        weights_format = int(opts.get("weights_format", 0))
        keep_num_dims = bool(opts.get("keep_num_dims", False))
    else:
        o = op.builtin_options
        activation = int(o.fusedActivationFunction) if o is not None else 0
        weights_format = int(o.weightsFormat) if o is not None else 0
        keep_num_dims = bool(o.keepNumDims) if o is not None else False
    _fused_activation(op, activation)
    if weights_format != 0:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): shuffled weights format is not supported")
    units, depth = (int(d) for d in filt.shape)
    if not keep_num_dims:
        _require_batch_kept(op, inp, out)
    interp._skip[op.index] = interp._unit_skip_from_model(op, units, float_model)
    bias_data = None if bias is None else bias.data
    filter_data = np.ascontiguousarray(filt.data)
    out_shape = out.shape
    if float_model:
        lo, hi = aops.float_activation_range(activation)  # TFLM's: +-FLT_MAX, so an overflow clamps
    else:
        multiplier, shift = requantization_params(op, inp, filt, out, units)
        lo, hi = kernels.activation_range_int8(activation, float(out.scale[0]), out.scalar_zero_point())
        in_offset, out_offset = -inp.scalar_zero_point(), out.scalar_zero_point()
    # host fast path (tflm_unit._fast): same results, tiled and threaded
    fast_layer = None if float_model else fast.fully_connected_layer(filter_data, bias_data, multiplier, shift,
                                                                     in_offset, out_offset, lo, hi)
    # The model's weight layout (DESIGN.md §9): `sorted` runs the kernel the
    # MCU runs, on the file's arrays (format_version 3) or, for older files
    # and thresholds set in other groups, on arrays built once per group size.
    problem = layout_problem(g, op)
    if problem is not None:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): {problem}")
    sorted_layout = op.is_unit and opts.get("layout") == "sorted"
    layouts: Dict[int, kernels.FcSortedLayout] = {}
    from_file = file_sorted_layout(g, op) if sorted_layout else None
    if from_file is not None:
        layouts[from_file.group_size] = from_file

    def step(values: Dict[int, np.ndarray]) -> LayerStats:
        skip = interp._skip.get(op.index)
        x = values[op.inputs[0]]
        batch = x.shape[0]
        rows = x.size // depth  # TFLM flattens everything but the last dim
        x2 = x.reshape(rows, depth)
        kw = {} if skip is None else dict(thresholds=skip.thresholds, group_size=skip.group_size,
                                          division=skip.division)
        if sorted_layout and skip is not None:
            if skip.group_size not in layouts:
                layouts[skip.group_size] = kernels.fc_sorted_layout(filter_data, skip.group_size)
            result = kernels.fully_connected_sorted_int8(x2, layouts[skip.group_size], bias_data, multiplier,
                                                         shift, in_offset, out_offset, lo, hi, **kw)
        elif fast_layer is not None and fast_layer.supports(skip):
            result = fast_layer.run(x2, skip)
        elif float_model:
            result = kernels.fully_connected_float(x2, filter_data, bias_data, lo, hi, **kw)
        else:
            result = kernels.fully_connected_int8(x2, filter_data, bias_data, multiplier, shift, in_offset,
                                                  out_offset, lo, hi, **kw)
        y = result.output
        if keep_num_dims:
            y = y.reshape(x.shape[:-1] + (units,))
        else:
            y = y.reshape((batch,) + tuple(out_shape[1:])) if len(out_shape) > 1 else y
        values[op.outputs[0]] = y
        nonzero = None
        if interp.count_zero_operands:
            zero_value = 0.0 if float_model else -in_offset
            nonzero = operand_counts.fully_connected_nonzero_macs(x2, zero_value, filter_data)
        return LayerStats(op.index, op.name, out.name, result.macs_total, result.macs_executed,
                          result.channel_executed, nonzero)

    return step


def _prepare_reshape(interp: Interpreter, op: Operator) -> Step:
    """RESHAPE / SQUEEZE / EXPAND_DIMS: same bytes, new shape (batch kept)."""
    out = interp.graph.tensor(op.outputs[0])
    inp = interp.graph.tensor(op.inputs[0])
    if inp.dtype != out.dtype:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): input and output types differ")
    _require_batch_kept(op, inp, out)

    def step(values: Dict[int, np.ndarray]) -> None:
        x = values[op.inputs[0]]
        values[op.outputs[0]] = x.reshape(_batched_shape(out.shape, x.shape[0]))
        return None

    return step


def _single_io(interp: Interpreter, op: Operator):
    g = interp.graph
    return g.tensor(op.inputs[0]), g.tensor(op.outputs[0])


def _require_int8(op: Operator, *tensors: Tensor) -> None:
    for t in tensors:
        _require_dtype(op, t, (np.int8,), "tensor")


def _int8_or_float32(op: Operator, *tensors: Tensor) -> bool:
    """The tensors are all int8 or all float32 (the ops that run both);
    True for float32."""
    first = tensors[0]
    _require_dtype(op, first, (np.int8, np.float32), "tensor")
    for t in tensors[1:]:
        _require_dtype(op, t, (first.dtype,), "tensor")
    return first.dtype == np.float32


def _constant_input(interp: Interpreter, op: Operator, position: int, what: str) -> np.ndarray:
    if len(op.inputs) <= position or op.inputs[position] < 0:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}) has no {what} input")
    t = interp.graph.tensor(op.inputs[position])
    if t.data is None:
        raise UnsupportedModelError(f"operator {op.index} ({op.name}): {what} must be constant")
    return t.data


def _prepare_pool(interp: Interpreter, op: Operator) -> Step:
    inp, out = _single_io(interp, op)
    float_model = _int8_or_float32(op, inp, out)
    o = op.builtin_options
    padding = kernels.PADDINGS[int(o.padding)]
    activation = _fused_activation(op, int(o.fusedActivationFunction))
    window, strides = (int(o.filterHeight), int(o.filterWidth)), (int(o.strideH), int(o.strideW))
    kind = "max" if op.name == "MAX_POOL_2D" else "average"
    if float_model:
        float_pool = ops.max_pool_2d_float if kind == "max" else ops.average_pool_2d_float

        def float_step(values):
            values[op.outputs[0]] = float_pool(values[op.inputs[0]], window, strides, padding, activation)

        return float_step
    pool = ops.max_pool_2d if op.name == "MAX_POOL_2D" else ops.average_pool_2d
    scale, zp = out.scalar_scale(), out.scalar_zero_point()

    def step(values):
        x = values[op.inputs[0]]
        out = None
        if fast.available() and isinstance(x, np.ndarray) and x.dtype == np.int8 and x.ndim == 4:
            params, out_shape = ops.pool_prepare(x.shape, window, strides, padding, scale, zp, activation)
            out = fast.pool_2d(kind, x, params, out_shape)
        if out is None:
            out = pool(x, window, strides, padding, scale, zp, activation)
        values[op.outputs[0]] = out

    return step


def _prepare_add(interp: Interpreter, op: Operator) -> Step:
    g = interp.graph
    a, b, out = g.tensor(op.inputs[0]), g.tensor(op.inputs[1]), g.tensor(op.outputs[0])
    float_model = _int8_or_float32(op, a, b, out)
    activation = _fused_activation(op, int(op.builtin_options.fusedActivationFunction)
                                   if op.builtin_options is not None else 0)
    consts = {i: g.tensor(i).data for i in op.inputs[:2] if g.tensor(i).data is not None}
    if float_model:
        def float_step(values):
            x1 = consts.get(op.inputs[0], values.get(op.inputs[0]))
            x2 = consts.get(op.inputs[1], values.get(op.inputs[1]))
            values[op.outputs[0]] = ops.add_float(x1, x2, activation)

        return float_step
    # host fast path: same-shape inputs by a table of the core's 65536 results
    try:
        table_add = fast.elementwise(lambda p, q: ops.add(
            p, a.scalar_scale(), a.scalar_zero_point(), q, b.scalar_scale(), b.scalar_zero_point(),
            out.scalar_scale(), out.scalar_zero_point(), activation))
    except ValueError:  # bad quantisation: the step below raises it when run, as before
        table_add = None

    def step(values):
        x1 = consts.get(op.inputs[0], values.get(op.inputs[0]))
        x2 = consts.get(op.inputs[1], values.get(op.inputs[1]))
        y = table_add(x1, x2) if table_add is not None else None
        if y is not None:
            values[op.outputs[0]] = y
            return
        values[op.outputs[0]] = ops.add(x1, a.scalar_scale(), a.scalar_zero_point(), x2, b.scalar_scale(),
                                        b.scalar_zero_point(), out.scalar_scale(), out.scalar_zero_point(),
                                        activation)

    return step


def _prepare_softmax(interp: Interpreter, op: Operator) -> Step:
    inp, out = _single_io(interp, op)
    float_model = _int8_or_float32(op, inp, out)
    beta = float(op.builtin_options.beta) if op.builtin_options is not None else 1.0
    if float_model:
        if not np.isfinite(beta) or beta <= 0.0:
            raise UnsupportedModelError(f"operator {op.index} (SOFTMAX): float32 beta {beta} is not a positive "
                                        f"finite number")

        def float_step(values):
            values[op.outputs[0]] = ops.softmax_float(values[op.inputs[0]], beta)

        return float_step
    ops.softmax_prepare(inp.scalar_scale(), beta, out.scalar_scale(), out.scalar_zero_point())  # validates

    def step(values):
        values[op.outputs[0]] = ops.softmax(values[op.inputs[0]], inp.scalar_scale(), beta, out.scalar_scale(),
                                            out.scalar_zero_point())

    return step


def _prepare_mean(interp: Interpreter, op: Operator) -> Step:
    inp, out = _single_io(interp, op)
    float_model = _int8_or_float32(op, inp, out)
    axes = sorted({int(a) % len(inp.shape) for a in np.ravel(_constant_input(interp, op, 1, "axes"))})
    if 0 in axes:
        raise UnsupportedModelError(f"operator {op.index} (MEAN): a mean over the batch axis is not supported")
    keep_dims = bool(op.builtin_options.keepDims) if op.builtin_options is not None else False
    if float_model:
        def float_step(values):
            values[op.outputs[0]] = ops.mean_float(values[op.inputs[0]], axes, keep_dims)

        return float_step

    def step(values):
        values[op.outputs[0]] = ops.mean(values[op.inputs[0]], axes, inp.scalar_scale(), inp.scalar_zero_point(),
                                         out.scalar_scale(), out.scalar_zero_point(), keep_dims)

    return step


def _prepare_pad(interp: Interpreter, op: Operator) -> Step:
    inp, out = _single_io(interp, op)
    float_model = _int8_or_float32(op, inp, out)
    paddings = _constant_input(interp, op, 1, "paddings").reshape(-1, 2).tolist()
    constant = op.name == "PADV2" and len(op.inputs) > 2 and op.inputs[2] >= 0
    if float_model:
        # pure data movement: NumPy's pad is exact (shape rules as the int8 kernel's)
        if not 1 <= len(inp.shape) <= 5 or len(paddings) != len(inp.shape) or min(map(min, paddings)) < 0:
            raise UnsupportedModelError(f"operator {op.index} ({op.name}): paddings {paddings} do not fit a "
                                        f"1..5-D input {inp.shape} (one non-negative pair per dim)")
        fill = np.float32(np.ravel(_constant_input(interp, op, 2, "constant value"))[0]) if constant else 0.0

        def float_step(values):
            values[op.outputs[0]] = np.pad(values[op.inputs[0]], paddings, constant_values=fill)

        return float_step
    if constant:
        pad_value = int(np.ravel(_constant_input(interp, op, 2, "constant value"))[0])
    else:
        pad_value = out.scalar_zero_point()

    def step(values):
        values[op.outputs[0]] = ops.pad(values[op.inputs[0]], paddings, pad_value)

    return step


def _prepare_concatenation(interp: Interpreter, op: Operator) -> Step:
    g = interp.graph
    inputs = [g.tensor(i) for i in op.inputs]
    out = g.tensor(op.outputs[0])
    float_model = _int8_or_float32(op, out, *inputs)
    o = op.builtin_options
    _fused_activation(op, int(o.fusedActivationFunction))
    if int(o.fusedActivationFunction) != 0:
        raise UnsupportedModelError(f"operator {op.index} (CONCATENATION): fused activations are not supported")
    axis = int(o.axis)
    if float_model:
        # pure data movement: NumPy's concatenate is exact
        def float_step(values):
            arrays = [t.data if t.data is not None else values[t.index] for t in inputs]
            values[op.outputs[0]] = np.concatenate(arrays, axis=axis)

        return float_step

    def step(values):
        arrays = [t.data if t.data is not None else values[t.index] for t in inputs]
        values[op.outputs[0]] = ops.concatenation(arrays, axis, [t.scalar_scale() for t in inputs],
                                                  [t.scalar_zero_point() for t in inputs], out.scalar_scale(),
                                                  out.scalar_zero_point())

    return step


def _prepare_quantize(interp: Interpreter, op: Operator) -> Step:
    inp, out = _single_io(interp, op)
    _require_int8(op, out)
    if inp.dtype == np.float32:
        def step(values):
            values[op.outputs[0]] = ops.quantize(values[op.inputs[0]], out.scalar_scale(), out.scalar_zero_point())
    elif inp.dtype == np.int8:
        def step(values):
            values[op.outputs[0]] = ops.requantize(values[op.inputs[0]], inp.scalar_scale(), inp.scalar_zero_point(),
                                                   out.scalar_scale(), out.scalar_zero_point())
    else:
        raise UnsupportedModelError(f"operator {op.index} (QUANTIZE): input type {inp.type_name} is not supported")
    return step


def _prepare_dequantize(interp: Interpreter, op: Operator) -> Step:
    inp, out = _single_io(interp, op)
    _require_int8(op, inp)
    _require_dtype(op, out, (np.float32,), "output")

    def step(values):
        values[op.outputs[0]] = ops.dequantize(values[op.inputs[0]], inp.scalar_scale(), inp.scalar_zero_point())

    return step


_PREPARERS: Dict[str, Callable[[Interpreter, Operator], Step]] = {
    "CONV_2D": _prepare_conv_like,
    "DEPTHWISE_CONV_2D": _prepare_conv_like,
    "FULLY_CONNECTED": _prepare_fully_connected,
    "RESHAPE": _prepare_reshape,
    "SQUEEZE": _prepare_reshape,
    "EXPAND_DIMS": _prepare_reshape,
    "MAX_POOL_2D": _prepare_pool,
    "AVERAGE_POOL_2D": _prepare_pool,
    "ADD": _prepare_add,
    "SOFTMAX": _prepare_softmax,
    "MEAN": _prepare_mean,
    "PAD": _prepare_pad,
    "PADV2": _prepare_pad,
    "CONCATENATION": _prepare_concatenation,
    "QUANTIZE": _prepare_quantize,
    "DEQUANTIZE": _prepare_dequantize,
}


def register_op(name: str, preparer: Callable[[Interpreter, Operator], Step]) -> None:
    """Add (or replace) the preparer of a builtin op."""
    _PREPARERS[name] = preparer
