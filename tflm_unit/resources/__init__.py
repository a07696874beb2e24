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
  (DESIGN.md §9) written as format_version 3 also stores its layout as two constant tensors,
  ``Ci·(Co + groups)`` int8 weights plus as many uint8/uint16 output indices (``layout_bytes``),
  next to its ``Ci·Co`` filter; a format_version-2 file stores only the filter and the TFLM
  adapter builds the layout in its persistent arena (``layout_ram_bytes``: RAM, not flash). A
  ``bucketed`` UNIT_CONV_2D stores nothing extra: its lists are built in RAM on every call. TFLite's
  full-int8 conversion always gives Conv2D,
  DepthwiseConv2D and Dense an int32 bias (BatchNorm folds into it), so the Keras model counts one
  even for ``use_bias=False``. A BatchNorm that cannot be folded becomes MUL+ADD with two int8
  per-channel constants (2·C bytes). Quantisation parameters (per-channel scales) and the
  flatbuffer's own structure are not counted.
* UnIT kernel scratch — ``unit_kernel_scratch_bytes``: per UNIT_* op the C core's scratch rule for the
  kernel its ``layout`` selects (conv / depthwise int32 accumulators for the whole image, or one output
  row per block at the least, plus one channel's quotients; the bucketed conv also two bytes per input
  element of the rows a block reads and one sentinel per row, channel and stride phase; fully connected
  the groups' quotients, or the sorted layout's accumulators); the report's ``unit_scratch_bytes`` is the
  largest (one buffer serves every op), the figure export-c's static graph reserves. It is RAM besides
  the activation arena below.
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

Files: ``budget`` (Budget), ``boards`` (Board presets), ``report`` (ResourceReport),
``memory_plan`` (TFLM's greedy planner), ``tflite_model`` (``tflite_resources``), ``tflm_arena``
(the real interpreter's arena), ``keras_graph`` (layer kinds, execution order), ``keras_model``
(``KerasResourceModel``).
"""


from tflm_unit.errors import BudgetError, UnsupportedLayerError
from tflm_unit.resources.boards import BOARDS, Board, get_board
from tflm_unit.resources.budget import RESOURCE_NAMES, Budget
from tflm_unit.resources.keras_graph import (
    CHANNEL_MAKING_LAYERS, CONV_LAYERS, DENSE_LAYERS, DEPTHWISE_LAYERS, PRUNABLE_LAYERS, SEPARABLE_LAYERS,
    SUPPORTED_LAYERS, TRANSPOSED_CONV_LAYERS, ChannelGroup, model_inputs, topological_layers)
from tflm_unit.resources.keras_model import KerasResourceModel, keras_resources
from tflm_unit.resources.memory_plan import ARENA_ALIGNMENT, align_up, plan_greedy_memory
from tflm_unit.resources.report import LayerResources, ResourceReport
from tflm_unit.resources.tflite_model import (reference_kernel_scratch_bytes, sorted_fc_layout_bytes, tflite_resources,
                                              unit_kernel_scratch_bytes)
from tflm_unit.resources.tflm_arena import capture_c_output, tflm_arena_report

__all__ = [
    "ARENA_ALIGNMENT", "BOARDS", "Board", "Budget", "BudgetError", "CHANNEL_MAKING_LAYERS", "CONV_LAYERS",
    "ChannelGroup", "DENSE_LAYERS", "DEPTHWISE_LAYERS", "KerasResourceModel", "LayerResources", "PRUNABLE_LAYERS",
    "RESOURCE_NAMES", "ResourceReport", "SEPARABLE_LAYERS", "SUPPORTED_LAYERS", "TRANSPOSED_CONV_LAYERS",
    "UnsupportedLayerError", "align_up", "capture_c_output", "get_board", "keras_resources", "model_inputs",
    "plan_greedy_memory", "reference_kernel_scratch_bytes", "sorted_fc_layout_bytes", "tflite_resources",
    "tflm_arena_report", "topological_layers", "unit_kernel_scratch_bytes",
]
