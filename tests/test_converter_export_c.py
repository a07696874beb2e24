"""export_c: the TFLM model array, and the static graph walked by a minimal
host runner (written here, test-only) through the C kernel core — its
outputs must equal tflm_unit.runtime's bit for bit, UnIT thresholds included."""
from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from test_converter import _converted

from tflm_unit.converter import ConversionError, apply_thresholds, export_c
from tflm_unit.runtime import Interpreter

REPO = Path(__file__).resolve().parents[1]
CORE = REPO / "custom_ops" / "core"

RUNNER = r"""
#include <stdio.h>
#include <string.h>
#include "model_graph.h"

static int8_t arena[MODEL_ARENA_BYTES];
static uint8_t scratch[MODEL_SCRATCH_BYTES + 1];

static void dims_of(const unit_graph_tensor_t *t, int32_t d[4]) {
  d[0] = t->shape.n; d[1] = t->shape.h; d[2] = t->shape.w; d[3] = t->shape.c;
}

int main(void) {
  const unit_graph_t *g = &model_graph;
  const unit_graph_tensor_t *in = &g->tensors[g->input], *out = &g->tensors[g->output];
  while (fread(arena + in->offset, 1, in->bytes, stdin) == in->bytes) {
    uint16_t i;
    for (i = 0; i < g->num_ops; i++) {
      const unit_graph_op_t *op = &g->ops[i];
      const unit_graph_tensor_t *a = &g->tensors[op->input], *o = &g->tensors[op->output];
      const int8_t *x = arena + a->offset;
      int8_t *y = arena + o->offset;
      unit_status_t st = UNIT_OK;
      switch (op->kind) {
        case UNIT_GRAPH_CONV_2D:
        case UNIT_GRAPH_DEPTHWISE_CONV_2D: {
          const unit_graph_conv_t *p = (const unit_graph_conv_t *)op->params;
          st = (op->kind == UNIT_GRAPH_CONV_2D ? unit_conv_2d_int8 : unit_depthwise_conv_2d_int8)(
              &p->params, &p->requant, &a->shape, x, &p->filter_shape, p->filter, p->bias, &o->shape, y,
              &p->skip, scratch, sizeof scratch, NULL);
          break;
        }
        case UNIT_GRAPH_FULLY_CONNECTED: {
          const unit_graph_fc_t *p = (const unit_graph_fc_t *)op->params;
          if (p->sorted)
            st = unit_fully_connected_sorted_int8(&p->params, &p->requant, (int32_t)(a->bytes / p->input_depth),
                                                  p->input_depth, p->output_depth, x, p->sorted, p->bias, y,
                                                  &p->skip, scratch, sizeof scratch, NULL);
          else
            st = unit_fully_connected_int8(&p->params, &p->requant, (int32_t)(a->bytes / p->input_depth),
                                           p->input_depth, p->output_depth, x, p->filter, p->bias, y, &p->skip,
                                           scratch, sizeof scratch, NULL);
          break;
        }
        case UNIT_GRAPH_MAX_POOL_2D:
          st = unit_max_pool_2d_int8((const unit_pool_params_t *)op->params, &a->shape, x, &o->shape, y);
          break;
        case UNIT_GRAPH_AVERAGE_POOL_2D:
          st = unit_average_pool_2d_int8((const unit_pool_params_t *)op->params, &a->shape, x, &o->shape, y);
          break;
        case UNIT_GRAPH_RESHAPE:
          memmove(y, x, o->bytes);
          break;
        case UNIT_GRAPH_ADD: {
          int32_t d1[4], d2[4], d3[4];
          const unit_graph_tensor_t *b = &g->tensors[op->input2];
          dims_of(a, d1); dims_of(b, d2); dims_of(o, d3);
          st = unit_add_int8((const unit_add_params_t *)op->params, 4, d1, x, d2, arena + b->offset, d3, y);
          break;
        }
        case UNIT_GRAPH_SOFTMAX:
          st = unit_softmax_int8((const unit_softmax_params_t *)op->params, (int32_t)(o->bytes / o->shape.c),
                                 o->shape.c, x, y);
          break;
        case UNIT_GRAPH_MEAN:
          st = unit_mean_hw_int8((const unit_mean_params_t *)op->params, &a->shape, x, y);
          break;
        case UNIT_GRAPH_REQUANTIZE:
          st = unit_requantize_int8((const unit_requantize_params_t *)op->params, (int32_t)o->bytes, x, y);
          break;
        case UNIT_GRAPH_LUT:
          st = unit_lut_int8((const int8_t *)op->params, (int32_t)o->bytes, x, y);
          break;
        case UNIT_GRAPH_BINARY: {
          const unit_graph_binary_t *p = (const unit_graph_binary_t *)op->params;
          const int8_t *x2 = p->input2_data;
          int32_t d1[4], d2[4] = {p->input2_shape.n, p->input2_shape.h, p->input2_shape.w, p->input2_shape.c}, d3[4];
          dims_of(a, d1); dims_of(o, d3);
          if (x2 == NULL) {
            dims_of(&g->tensors[op->input2], d2);
            x2 = arena + g->tensors[op->input2].offset;
          }
          if (x2 == p->input2_data && p->constant_first)
            st = unit_binary_int8(&p->params, 4, d2, x2, d1, x, d3, y);
          else
            st = unit_binary_int8(&p->params, 4, d1, x, d2, x2, d3, y);
          break;
        }
        default: /* the layout ops and TRANSPOSE_CONV: tests/test_msp430_graph_ops.py */
          st = UNIT_ERR_ARG;
          break;
      }
      if (st != UNIT_OK) return 10 + (int)st;
    }
    fwrite(arena + out->offset, 1, out->bytes, stdout);
  }
  return 0;
}
"""


def _run_graph(tmp_path: Path, model: bytes, xq: np.ndarray) -> np.ndarray:
    result = export_c(model, tmp_path, name="model")
    for suffix in ("_model_data.h", "_model_data.cc", "_graph.h", "_graph.c"):
        assert (tmp_path / f"model{suffix}").is_file()
    (tmp_path / "runner.c").write_text(RUNNER)
    sources = [str(p) for p in sorted(CORE.glob("*.c"))]
    subprocess.run(["gcc", "-std=c99", "-O1", "-Wall", "-Werror", "-Wno-unused-function", f"-I{CORE}",
                    f"-I{tmp_path}", "-o", str(tmp_path / "runner"), str(tmp_path / "runner.c"),
                    str(tmp_path / "model_graph.c"), *sources, "-lm"], check=True, capture_output=True)
    done = subprocess.run([str(tmp_path / "runner")], input=xq.astype(np.int8).tobytes(), capture_output=True,
                          check=True)
    out = np.frombuffer(done.stdout, dtype=np.int8)
    assert result["graph"]["arena_bytes"] > 0
    return out.reshape(xq.shape[0], -1)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
@pytest.mark.parametrize("name,thresholds,division", [
    ("paper", {"conv1": 0.02, "conv2": 0.01, "fc": 0.05}, "shift"),
    ("dscnn", 0.01, "tree"),
    ("resnet", 0.015, "exact"),
])
@pytest.mark.parametrize("layout", ["compare", "sorted"])
def test_static_graph_runs_bit_exact_with_the_host_runtime(tmp_path, name, thresholds, division, layout):
    from tflm_unit.converter.rewrite import set_layouts

    _, x, base, unit = _converted("tf_keras", name)
    model = set_layouts(apply_thresholds(unit, thresholds, division), layout)
    interp = Interpreter(model)
    xq = interp.quantize_input(x[:8])
    result = interp.run(xq)
    assert result.macs_executed < result.macs_total  # the thresholds really skip
    got = _run_graph(tmp_path, model, xq)
    np.testing.assert_array_equal(got, result.outputs[0].reshape(xq.shape[0], -1))


def test_model_array_is_aligned_and_holds_the_flatbuffer(tmp_path):
    _, _, _, unit = _converted("tf_keras", "paper")
    export_c(unit, tmp_path, name="paper net", graph=False)
    source = (tmp_path / "paper_net_model_data.cc").read_text()
    assert "alignas(16) const unsigned char paper_net_model_data[]" in source
    values = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", source))
    assert values == unit
    assert f"paper_net_model_data_len = {len(unit)};" in source
    assert "extern const unsigned char paper_net_model_data[];" in (tmp_path / "paper_net_model_data.h").read_text()
    assert not (tmp_path / "paper_net_graph.c").exists()
    if shutil.which("g++"):
        subprocess.run(["g++", "-std=c++11", "-Wall", "-Werror", "-c", str(tmp_path / "paper_net_model_data.cc"),
                        "-o", str(tmp_path / "data.o")], check=True, capture_output=True)


def test_unsupported_op_leaves_the_directory_untouched(tmp_path):
    from tflm_unit.runtime.model import pack_model, unpack_model

    _, _, _, unit = _converted("tf_keras", "paper")
    model_t = unpack_model(unit)
    # Relabel the max-pool as L2_POOL_2D: a valid model the static graph does not support.
    from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

    for code in model_t.operatorCodes:
        if code.builtinCode == schema.BuiltinOperator.MAX_POOL_2D:
            code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.L2_POOL_2D
    out = tmp_path / "out"
    # (the layout ops, TRANSPOSE_CONV and constant-first binary ops now run in the static graph)
    with pytest.raises(ConversionError, match=r"\(L2_POOL_2D\) with INT8 inputs is not supported"):
        export_c(pack_model(model_t), out)
    assert not out.exists()


@pytest.mark.skipif(shutil.which("clang-16") is None, reason="needs clang-16 (the MSP430 toolchain)")
def test_static_graph_compiles_for_msp430(tmp_path):
    """16-bit int and pointers: the generated data must still compile cleanly."""
    _, _, _, unit = _converted("tf_keras", "dscnn")
    export_c(apply_thresholds(unit, 0.01), tmp_path, name="model")
    subprocess.run(["clang-16", "--target=msp430", "-std=c99", "-O2", "-ffreestanding", "-Wall", "-Wextra",
                    "-Werror", f"-I{CORE}", f"-I{tmp_path}", "-c", str(tmp_path / "model_graph.c"), "-o",
                    str(tmp_path / "model_graph.o")], check=True, capture_output=True)
    assert (tmp_path / "model_graph.o").stat().st_size > 0
