"""Resources of a Keras model as functions of its per-group channel counts (for pruning)."""

from __future__ import annotations

import dataclasses
from typing import Mapping

import numpy as np

from tflm_unit.errors import UnsupportedLayerError
from tflm_unit.resources.budget import RESOURCE_NAMES
from tflm_unit.resources.keras_graph import (
    ACTIVATION_LAYERS, CHANNEL_MAKING_LAYERS, CONV_LAYERS, DEPTHWISE_LAYERS, ELEMENTWISE_LAYERS, FUSABLE_ACTIVATIONS,
    FUSING_OPS, GLOBAL_POOL_LAYERS, IDENTITY_LAYERS, ONE_D_OPS, PER_CHANNEL_LAYERS, POOL_LAYERS, SEPARABLE_LAYERS,
    SUPPORTED_LAYERS, ChannelGroup, activation_name, model_inputs, shape_of, topological_layers)
from tflm_unit.resources.memory_plan import align_up, peak_live_step, plan_greedy_memory
from tflm_unit.resources.report import LayerResources, ResourceReport


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
            shape = shape_of(tensor)
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
            out_shape = shape_of(output)
            out_spatial = out_shape[:-1] if out_shape else ()
            single_consumer = consumers.get(id(inputs[0]), 0) == 1 and id(inputs[0]) not in output_ids
            fusable_input = single_consumer and producer_kind.get(in_ids[0]) in FUSING_OPS
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
                params = {"kernel": kernel, "activation": activation_name(layer), "has_bias": has_bias}
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
                params = {"kernel": [int(k) for k in config["kernel_size"]], "activation": activation_name(layer),
                          "has_bias": True}
            elif kind == "BatchNormalization":
                if fusable_input and producer_kind[in_ids[0]] in ("conv2d", "depthwise", "dense"):
                    alias_of = in_ids[0]
                    self._ops[op_of_buffer[self._tensors[in_ids[0]].buffer]].params["has_bias"] = True
                else:
                    op_kind = "batchnorm"
            elif kind in IDENTITY_LAYERS:
                alias_of = in_ids[0]
            elif kind in ACTIVATION_LAYERS:
                if activation_name(layer) == "linear" or (
                        fusable_input and activation_name(layer) in FUSABLE_ACTIVATIONS):
                    alias_of = in_ids[0]
            elif kind == "ZeroPadding2D":
                params = {"constant_bytes": 32}  # PAD's paddings: int32[4, 2]
            elif kind in POOL_LAYERS + PER_CHANNEL_LAYERS:
                pass
            elif kind in GLOBAL_POOL_LAYERS:
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
            elif kind in ELEMENTWISE_LAYERS:
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

            if alias_of is None and kind in IDENTITY_LAYERS + ("BatchNormalization",) + ACTIVATION_LAYERS:
                op_kind = op_kind if op_kind != "other" else kind.lower()
            if alias_of is None:
                # TFLite wraps 1-D ops in RESHAPEs (rank 3 <-> 4), and TFLM copies each into its
                # own buffer: one before every 1-D op, one before any other op (except a
                # reshape/flatten, which absorbs it) that reads a 1-D op's output.
                op_inputs = [self._reshape_copy(tensor, f"{layer.name}/reshape{k}", op_of_buffer, producer_kind)
                             if kind in ONE_D_OPS or (self._tensors[tensor].buffer in one_d_buffers
                                                       and kind not in ("Flatten", "Reshape"))
                             else tensor for k, tensor in enumerate(op_inputs)]
            index = self._add_tensor(output.name if hasattr(output, "name") else layer.name,
                                     out_spatial, layout, alias_of)
            tensor_index[id(output)] = index
            self._layer_tensors[layer.name] = (in_ids, index)
            if alias_of is None:
                op_of_buffer[index] = len(self._ops)
                self._ops.append(_Op(name=layer.name, kind=op_kind, inputs=op_inputs, output=index, params=params))
                if kind in ONE_D_OPS:
                    one_d_buffers.add(self._tensors[index].buffer)
                producer_kind[index] = op_kind
                if params.get("activation", "linear") != "linear":
                    producer_kind[index] = "activated"  # TFLite fuses at most one activation
            else:
                producer_kind[index] = producer_kind.get(in_ids[0])
                # A fused activation/BN keeps the producing op's kind only if it can fuse again.
                if kind in ACTIVATION_LAYERS and activation_name(layer) != "linear":
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
        step, alive = peak_live_step(buffers)
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
        peak_step, alive = peak_live_step(self._ram_buffers(vector))
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
