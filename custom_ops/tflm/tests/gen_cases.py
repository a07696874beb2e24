"""Writes the cases file read by unit_ops_test.cc (KernelRunner test of the
UnIT TFLM adapters against a real TFLM build).

Every case is one UnIT op on random data: the flexbuffer custom_options the
converter writes (DESIGN.md section 5), the tensors with their quantisation,
and the output ``tflm_unit.core.kernels`` computes (the Python API over the
same C core the adapters call).  The requantisation multipliers are computed
here with TFLM's float -> double casts, so a wrong cast in the adapter shows
up as a different output.  Cases named ``reject_*`` must fail in Prepare.
Cases with a ``layout`` (DESIGN.md section 9: ``bucketed`` conv, custom_options
format_version 2; ``sorted`` fully connected, format_version 3 with the
layout's two constant tensors as the converter writes them, and some as
format_version-2 files carry it, the option only) expect the output of the
layout's kernel, which is checked here to equal the compare kernel's.

Usage: python gen_cases.py OUT_FILE [--seed N]
"""
import argparse
import copy

import numpy as np
from flatbuffers import flexbuffers

from tflm_unit.core import kernels

DIVISIONS_INT8 = ("exact", "shift", "tree", "clz")
DIVISIONS_FLOAT = ("exact", "bitmask")
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6 = 0, 1, 2, 3
PADDING = {"SAME": 0, "VALID": 1}  # tflite::Padding


def f32(x):
    return float(np.float32(x))


def real_multiplier(s_in, s_w, s_out, fc_per_tensor=False):
    """The effective scale with TFLM's casts (see unit_ops.cc PrepareRequant)."""
    if fc_per_tensor:
        return float(np.float32(s_in) * np.float32(s_w)) / f32(s_out)
    return f32(s_in) * f32(s_w) / f32(s_out)


def tensor_line(array, dtype, scales=(), zero_points=(), qdim=0):
    if array is None:
        return "tensor none"
    a = np.asarray(array).astype(dtype)
    parts = ["tensor", {np.int8: "int8", np.uint8: "uint8", np.int16: "int16", np.uint16: "uint16",
                        np.int32: "int32", np.float32: "float32"}[dtype]]
    parts += [str(a.ndim)] + [str(d) for d in a.shape]
    parts += [str(len(scales))] + [f32(s).hex() for s in scales]
    parts += [str(len(zero_points))] + [str(int(z)) for z in zero_points]
    parts += [str(qdim), str(a.size)]
    if dtype == np.float32:
        parts += [float(v).hex() for v in a.reshape(-1)]
    else:
        parts += [str(int(v)) for v in a.reshape(-1)]
    return " ".join(parts)


def write_case(out, name, op, dtype, builtin, options, tensors):
    out.write(f"case {name} {op} {dtype}\n")
    out.write("builtin " + " ".join(str(int(v)) for v in builtin) + "\n")
    raw = flexbuffers.Dumps(options)
    out.write(f"options {len(raw)} " + " ".join(str(b) for b in raw) + "\n")
    # input, filter, bias, thresholds, output, then the sorted layout's
    # weights and index ("tensor none" unless format_version 3)
    for line in (list(tensors) + ["tensor none"] * 7)[:7]:
        out.write(line + "\n")
    out.write("end\n")


def with_layout(opts, layout, sorted_version=3):
    """The converter's rule: bucketed is written with format_version 2,
    sorted with 3 (and its layout tensors); compare is the absent option
    (version 1).  ``sorted_version`` 2: a sorted op as older files carry it."""
    if layout != "compare":
        opts["layout"] = layout
        opts["format_version"] = sorted_version if layout == "sorted" else 2
    return opts


def conv_options(op, padding, stride, dilation, act, depth_multiplier, division, group_size,
                 layout="compare"):
    opts = {"padding": PADDING[padding], "stride_w": stride[1], "stride_h": stride[0],
            "dilation_w_factor": dilation[1], "dilation_h_factor": dilation[0],
            "fused_activation_function": act, "division": division,
            "group_size": group_size, "format_version": 1}
    if op == "depthwise":
        opts["depth_multiplier"] = depth_multiplier
    return with_layout(opts, layout)


def fc_options(act, division, group_size, layout="compare", sorted_version=3):
    return with_layout({"fused_activation_function": act, "weights_format": 0, "keep_num_dims": False,
                        "asymmetric_quantize_inputs": False, "division": division,
                        "group_size": group_size, "format_version": 1}, layout, sorted_version)


def random_thresholds(rng, groups, zero, float_model=False):
    if zero:
        return np.zeros(groups, np.float32 if float_model else np.int16)
    if float_model:
        return rng.uniform(0.0, 0.6, groups).astype(np.float32)
    return rng.integers(0, 3000, groups).astype(np.int16)


def conv_case(rng, out, name, op, dtype, in_shape, kernel, out_c, padding="SAME",
              stride=(1, 1), dilation=(1, 1), act=ACT_NONE, division="exact",
              group_size=1, zero_t=False, bias=True, per_channel=True, mutate=None,
              layout="compare"):
    n, h, w, c_in = in_shape
    kh, kw = kernel
    depthwise = op == "depthwise"
    dm = out_c // c_in if depthwise else 1
    params = dict(stride_h=stride[0], stride_w=stride[1], dilation_h=dilation[0],
                  dilation_w=dilation[1], padding=padding, depth_multiplier=dm)
    groups = out_c // group_size
    builtin = (PADDING[padding], stride[1], stride[0], dilation[1], dilation[0], act, dm)
    opts = conv_options(op, padding, stride, dilation, act, dm, division, group_size, layout)
    f_shape = (1, kh, kw, out_c) if depthwise else (out_c, kh, kw, c_in)
    qdim = 3 if depthwise else 0
    if dtype == "float32":
        x = rng.normal(0, 1, in_shape).astype(np.float32)
        wt = rng.normal(0, 0.5, f_shape).astype(np.float32)
        b = rng.normal(0, 0.5, out_c).astype(np.float32) if bias else None
        t = random_thresholds(rng, groups, zero_t, float_model=True)
        lo, hi = {ACT_NONE: (-np.inf, np.inf), ACT_RELU: (0.0, np.inf),
                  ACT_RELU_N1_TO_1: (-1.0, 1.0), ACT_RELU6: (0.0, 6.0)}[act]
        cp = kernels.ConvParams(act_min=lo, act_max=hi, **params)
        fn = kernels.depthwise_conv_2d_float if depthwise else kernels.conv_2d_float
        y = fn(x, wt, b, cp, thresholds=t, group_size=group_size, division=division).output
        tensors = [tensor_line(x, np.float32), tensor_line(wt, np.float32),
                   tensor_line(b, np.float32), tensor_line(t, np.float32),
                   tensor_line(y, np.float32)]
    else:
        s_in, zp_in = f32(rng.uniform(0.01, 0.05)), int(rng.integers(-20, 20))
        s_out, zp_out = f32(rng.uniform(0.05, 0.2)), int(rng.integers(-10, 10))
        n_scales = out_c if per_channel else 1
        s_w = [f32(v) for v in rng.uniform(0.005, 0.03, n_scales)]
        x = rng.integers(-128, 128, in_shape).astype(np.int8)
        wt = rng.integers(-127, 128, f_shape).astype(np.int8)
        wt.reshape(-1)[rng.random(wt.size) < 0.15] = 0  # some zero weights
        b = rng.integers(-3000, 3000, out_c).astype(np.int32) if bias else None
        t = random_thresholds(rng, groups, zero_t)
        per_c = s_w if per_channel else s_w * out_c
        mult_shift = [kernels.quantize_multiplier(real_multiplier(s_in, s, s_out)) for s in per_c]
        mult = np.array([m for m, _ in mult_shift], np.int32)
        shift = np.array([s for _, s in mult_shift], np.int32)
        lo, hi = kernels.activation_range_int8(act, s_out, zp_out)
        cp = kernels.ConvParams(input_offset=-zp_in, output_offset=zp_out, act_min=lo, act_max=hi,
                                **params)
        fn = kernels.depthwise_conv_2d_int8 if depthwise else kernels.conv_2d_int8
        y = fn(x, wt, b, mult, shift, cp, thresholds=t, group_size=group_size,
               division=division).output
        if layout == "bucketed":
            y_layout = kernels.conv_2d_int8(x, wt, b, mult, shift, cp, thresholds=t,
                                            group_size=group_size, division=division,
                                            layout=layout).output
            assert np.array_equal(y_layout, y), name
        tensors = [tensor_line(x, np.int8, [s_in], [zp_in]),
                   tensor_line(wt, np.int8, s_w, [0] * n_scales, qdim),
                   tensor_line(b, np.int32, [s_in * s for s in per_c], [0] * out_c) if bias
                   else "tensor none",
                   tensor_line(t, np.int16),
                   tensor_line(y, np.int8, [s_out], [zp_out])]
    if mutate:
        opts, tensors = mutate(copy.deepcopy(opts), tensors)
    write_case(out, name, op, dtype, builtin, opts, tensors)


def fc_case(rng, out, name, dtype, in_shape, out_c, act=ACT_NONE, division="exact",
            group_size=1, zero_t=False, bias=True, per_channel=False, mutate=None,
            layout="compare", sorted_version=3, layout_mutate=None):
    """``layout_mutate(weights, index)``: returns the layout tensors' arrays
    (shape [depth, groups, group_size + 1]) a format_version-3 case carries."""
    depth = int(np.prod(in_shape[1:]))
    batches = in_shape[0]
    groups = out_c // group_size
    builtin = (0, 1, 1, 1, 1, act, 0)
    opts = fc_options(act, division, group_size, layout, sorted_version)
    if dtype == "float32":
        x = rng.normal(0, 1, in_shape).astype(np.float32)
        wt = rng.normal(0, 0.5, (out_c, depth)).astype(np.float32)
        b = rng.normal(0, 0.5, out_c).astype(np.float32) if bias else None
        t = random_thresholds(rng, groups, zero_t, float_model=True)
        lo, hi = {ACT_NONE: (-np.inf, np.inf), ACT_RELU: (0.0, np.inf),
                  ACT_RELU_N1_TO_1: (-1.0, 1.0), ACT_RELU6: (0.0, 6.0)}[act]
        y = kernels.fully_connected_float(x.reshape(batches, depth), wt, b, lo, hi, thresholds=t,
                                          group_size=group_size, division=division).output
        tensors = [tensor_line(x, np.float32), tensor_line(wt, np.float32),
                   tensor_line(b, np.float32), tensor_line(t, np.float32),
                   tensor_line(y, np.float32)]
    else:
        s_in, zp_in = f32(rng.uniform(0.01, 0.05)), int(rng.integers(-20, 20))
        s_out, zp_out = f32(rng.uniform(0.05, 0.3)), int(rng.integers(-10, 10))
        n_scales = out_c if per_channel else 1
        s_w = [f32(v) for v in rng.uniform(0.005, 0.03, n_scales)]
        x = rng.integers(-128, 128, in_shape).astype(np.int8)
        x.reshape(-1)[rng.random(x.size) < 0.1] = zp_in  # some activations at the zero point
        wt = rng.integers(-127, 128, (out_c, depth)).astype(np.int8)
        b = rng.integers(-3000, 3000, out_c).astype(np.int32) if bias else None
        t = random_thresholds(rng, groups, zero_t)
        per_c = s_w if per_channel else s_w * out_c
        mult_shift = [kernels.quantize_multiplier(
            real_multiplier(s_in, s, s_out, fc_per_tensor=not per_channel)) for s in per_c]
        mult = np.array([m for m, _ in mult_shift], np.int32)
        shift = np.array([s for _, s in mult_shift], np.int32)
        lo, hi = kernels.activation_range_int8(act, s_out, zp_out)
        y = kernels.fully_connected_int8(x.reshape(batches, depth), wt, b, mult, shift, -zp_in, zp_out,
                                         lo, hi, thresholds=t, group_size=group_size,
                                         division=division).output
        layout_lines = []
        if layout == "sorted":
            sorted_layout = kernels.fc_sorted_layout(wt, group_size)
            y_layout = kernels.fully_connected_sorted_int8(
                x.reshape(batches, depth), sorted_layout, b, mult, shift,
                -zp_in, zp_out, lo, hi, thresholds=t, group_size=group_size, division=division).output
            assert np.array_equal(y_layout, y), name
            if sorted_version >= 3:
                shape = (depth, groups, group_size + 1)
                weights, index = sorted_layout.weights.reshape(shape), sorted_layout.index.reshape(shape)
                if layout_mutate:
                    weights, index = layout_mutate(weights.copy(), index.copy())
                layout_lines = [tensor_line(weights, np.int8), tensor_line(index, index.dtype.type)]
        tensors = [tensor_line(x, np.int8, [s_in], [zp_in]),
                   tensor_line(wt, np.int8, s_w, [0] * n_scales, 0),
                   tensor_line(b, np.int32, [f32(np.float32(s_in) * np.float32(s)) for s in per_c],
                               [0] * out_c) if bias else "tensor none",
                   tensor_line(t, np.int16),
                   tensor_line(y, np.int8, [s_out], [zp_out])] + layout_lines
    if mutate:
        opts, tensors = mutate(copy.deepcopy(opts), tensors)
    write_case(out, name, "fc", dtype, builtin, opts, tensors)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    with open(args.out, "w") as out:
        # int8, T = 0 (also compared with TFLM's builtin kernels) and random T.
        for zero_t in (True, False):
            tag = "t0" if zero_t else "trand"
            for div in DIVISIONS_INT8:
                conv_case(rng, out, f"conv_same_{tag}_{div}", "conv", "int8", (1, 7, 6, 5), (3, 3), 8,
                          division=div, group_size=2, zero_t=zero_t, act=ACT_RELU)
                conv_case(rng, out, f"conv_valid_s2_{tag}_{div}", "conv", "int8", (2, 9, 8, 3), (3, 2), 6,
                          padding="VALID", stride=(2, 2), division=div, group_size=6, zero_t=zero_t)
                conv_case(rng, out, f"conv_dil2_relu6_{tag}_{div}", "conv", "int8", (1, 8, 8, 4), (3, 3), 4,
                          dilation=(2, 2), act=ACT_RELU6, division=div, group_size=1, zero_t=zero_t)
                conv_case(rng, out, f"conv_nobias_pertensor_{tag}_{div}", "conv", "int8", (1, 6, 6, 2),
                          (5, 5), 4, bias=False, per_channel=False, division=div, group_size=4,
                          zero_t=zero_t)
                conv_case(rng, out, f"dw_same_m1_{tag}_{div}", "depthwise", "int8", (1, 7, 7, 6), (3, 3), 6,
                          division=div, group_size=3, zero_t=zero_t, act=ACT_RELU)
                conv_case(rng, out, f"dw_valid_m2_s2_{tag}_{div}", "depthwise", "int8", (1, 9, 8, 3),
                          (3, 3), 6, padding="VALID", stride=(2, 1), division=div, group_size=1,
                          zero_t=zero_t)
                fc_case(rng, out, f"fc_pertensor_{tag}_{div}", "int8", (2, 40), 10, division=div,
                        group_size=5, zero_t=zero_t)
                fc_case(rng, out, f"fc_perchannel_relu_{tag}_{div}", "int8", (1, 64), 12, act=ACT_RELU,
                        per_channel=True, division=div, group_size=1, zero_t=zero_t)
                fc_case(rng, out, f"fc_4d_nobias_{tag}_{div}", "int8", (1, 3, 3, 4), 6, bias=False,
                        division=div, group_size=6, zero_t=zero_t)
        # int8 with the zero-cost layouts: bucketed conv (format_version 2),
        # sorted fully connected (format_version 3, the layout tensors read in
        # place; uint8 and, past 256 outputs, uint16 indices; and as version 2,
        # built by the adapter).
        for zero_t in (True, False):
            tag = "t0" if zero_t else "trand"
            for div in DIVISIONS_INT8:
                b = dict(division=div, zero_t=zero_t, layout="bucketed")
                conv_case(rng, out, f"bconv_same_{tag}_{div}", "conv", "int8", (1, 7, 6, 5), (3, 3), 8,
                          group_size=2, act=ACT_RELU, **b)
                conv_case(rng, out, f"bconv_valid_s2_{tag}_{div}", "conv", "int8", (2, 9, 8, 3), (3, 2), 6,
                          padding="VALID", stride=(2, 2), group_size=6, **b)
                conv_case(rng, out, f"bconv_dil2_relu6_{tag}_{div}", "conv", "int8", (1, 8, 8, 4), (3, 3), 4,
                          dilation=(2, 2), act=ACT_RELU6, group_size=1, **b)
                conv_case(rng, out, f"bconv_nobias_pertensor_s3_{tag}_{div}", "conv", "int8", (1, 11, 10, 2),
                          (5, 5), 4, stride=(3, 2), bias=False, per_channel=False, group_size=4, **b)
                conv_case(rng, out, f"bconv_wide_{tag}_{div}", "conv", "int8", (1, 4, 120, 2), (3, 3), 4,
                          group_size=2, **b)
                s = dict(division=div, zero_t=zero_t, layout="sorted")
                fc_case(rng, out, f"sfc_pertensor_{tag}_{div}", "int8", (2, 40), 10, group_size=5, **s)
                fc_case(rng, out, f"sfc_perchannel_relu_{tag}_{div}", "int8", (1, 64), 12, act=ACT_RELU,
                        per_channel=True, group_size=1, **s)
                fc_case(rng, out, f"sfc_4d_nobias_{tag}_{div}", "int8", (1, 3, 3, 4), 6, bias=False,
                        group_size=6, **s)
                fc_case(rng, out, f"sfc_index16_{tag}_{div}", "int8", (3, 4), 300, per_channel=True,
                        group_size=150, **s)
                # version 3 needs no arena for the layout: 16 x 302 entries x 3
                # bytes would not fit KernelRunner's 10 000-byte arena
                fc_case(rng, out, f"sfc_index16_deep_{tag}_{div}", "int8", (1, 16), 300, per_channel=True,
                        group_size=150, **s)
                v2 = dict(s, sorted_version=2)  # the option only: the adapter builds the layout
                fc_case(rng, out, f"sfc_v2_pertensor_{tag}_{div}", "int8", (2, 40), 10, group_size=5, **v2)
                # small depth: KernelRunner's arena is 10 000 bytes, a version-2
                # layout (4 x 302 weights, as many uint16 indices) is persistent there
                fc_case(rng, out, f"sfc_v2_index16_{tag}_{div}", "int8", (3, 4), 300, per_channel=True,
                        group_size=150, **v2)
        # float32 models: the core's float kernels.
        for zero_t in (True, False):
            tag = "t0" if zero_t else "trand"
            for div in DIVISIONS_FLOAT:
                conv_case(rng, out, f"fconv_{tag}_{div}", "conv", "float32", (1, 6, 6, 3), (3, 3), 4,
                          division=div, group_size=2, zero_t=zero_t, act=ACT_RELU)
                conv_case(rng, out, f"fdw_{tag}_{div}", "depthwise", "float32", (1, 6, 6, 2), (3, 3), 4,
                          padding="VALID", division=div, group_size=4, zero_t=zero_t)
                fc_case(rng, out, f"ffc_{tag}_{div}", "float32", (2, 20), 8, division=div, group_size=4,
                        zero_t=zero_t)

        # Prepare must reject these.
        def bad_group(opts, tensors):
            opts["group_size"] = 3  # does not divide 8
            return opts, tensors

        def bad_division(opts, tensors):
            opts["division"] = "bitmask"  # a float-only mode on an int8 model
            return opts, tensors

        def bad_version(opts, tensors):
            opts["format_version"] = 4
            return opts, tensors

        def layout_version1(opts, tensors):
            opts["layout"] = "bucketed"  # a layout needs format_version 2
            return opts, tensors

        def unknown_layout(opts, tensors):
            opts["layout"] = "tiled"
            opts["format_version"] = 2
            return opts, tensors

        def wrong_kind_layout(opts, tensors):
            opts["layout"] = "sorted"  # a fully connected layout on a conv
            opts["format_version"] = 2
            return opts, tensors

        def layout_not_string(opts, tensors):
            opts["layout"] = 1
            opts["format_version"] = 2
            return opts, tensors

        def missing_stride(opts, tensors):
            del opts["stride_w"]
            return opts, tensors

        def bad_threshold_count(opts, tensors):
            tensors[3] = tensor_line(np.zeros(3, np.int16), np.int16)
            return opts, tensors

        def thresholds_float(opts, tensors):
            tensors[3] = tensor_line(np.zeros(4, np.float32), np.float32)
            return opts, tensors

        def bad_activation(opts, tensors):
            opts["fused_activation_function"] = 4  # TANH
            return opts, tensors

        def int16_input(opts, tensors):
            tensors[0] = tensor_line(np.zeros((1, 5, 5, 2), np.int16), np.int16, [0.01], [0])
            return opts, tensors

        def bad_bias_size(opts, tensors):
            tensors[2] = tensor_line(np.zeros(7, np.int32), np.int32, [0.0001] * 7, [0] * 7)
            return opts, tensors

        def bad_padding(opts, tensors):
            opts["padding"] = 2
            return opts, tensors

        for name, mutate in [("reject_group_size", bad_group), ("reject_division", bad_division),
                             ("reject_int16_input", int16_input), ("reject_bias_size", bad_bias_size),
                             ("reject_padding", bad_padding),
                             ("reject_format_version", bad_version),
                             ("reject_missing_stride", missing_stride),
                             ("reject_threshold_count", bad_threshold_count),
                             ("reject_threshold_type", thresholds_float),
                             ("reject_activation", bad_activation),
                             ("reject_layout_version1", layout_version1),
                             ("reject_layout_unknown", unknown_layout),
                             ("reject_layout_sorted_conv", wrong_kind_layout),
                             ("reject_layout_not_string", layout_not_string)]:
            conv_case(rng, out, name, "conv", "int8", (1, 5, 5, 2), (3, 3), 8, group_size=2,
                      mutate=mutate)
        # Layouts the op kind or data type has not.
        conv_case(rng, out, "reject_layout_depthwise", "depthwise", "int8", (1, 5, 5, 2), (3, 3), 4,
                  group_size=2, mutate=lambda o, t: (with_layout(o, "bucketed"), t))
        fc_case(rng, out, "reject_layout_bucketed_fc", "int8", (1, 16), 4, group_size=2,
                mutate=lambda o, t: (with_layout(o, "bucketed"), t))
        fc_case(rng, out, "reject_layout_float_fc", "float32", (1, 16), 4, group_size=2,
                mutate=lambda o, t: (with_layout(o, "sorted"), t))
        conv_case(rng, out, "reject_layout_float_conv", "conv", "float32", (1, 5, 5, 2), (3, 3), 4,
                  group_size=2, mutate=lambda o, t: (with_layout(o, "bucketed"), t))
        conv_case(rng, out, "reject_version3_conv", "conv", "int8", (1, 5, 5, 2), (3, 3), 4, group_size=2,
                  mutate=lambda o, t: (dict(with_layout(o, "bucketed"), format_version=3), t))
        # Sorted layout tensors (format_version 3) that are missing, of the
        # wrong type or shape, or not the filter's layout.
        sfc = dict(group_size=2, layout="sorted")

        def index_outside_group(weights, index):
            index[0, 0, 0] = 3  # group 0 holds outputs 0 and 1
            return weights, index

        def weight_not_filters(weights, index):
            weights[0, 0, 0] = -weights[0, 0, 0]  # same |w|: sorted, not the filter's
            return weights, index

        def weight_left_out(weights, index):
            weights[1, 1, :] = 0  # input 1's group 1: its weights dropped
            return weights, index

        def flat_shape(weights, index):
            return weights.reshape(weights.shape[0], -1), index.reshape(index.shape[0], -1)

        def wide_index(weights, index):
            return weights, index.astype(np.uint16)  # 4 outputs: uint8 indices

        for name, layout_mutate in [("reject_sorted_index_outside_group", index_outside_group),
                                    ("reject_sorted_weight_not_filters", weight_not_filters),
                                    ("reject_sorted_weight_left_out", weight_left_out),
                                    ("reject_sorted_shape", flat_shape),
                                    ("reject_sorted_index_type", wide_index)]:
            fc_case(rng, out, name, "int8", (1, 16), 4, layout_mutate=layout_mutate, **sfc)
        fc_case(rng, out, "reject_sorted_v3_without_tensors", "int8", (1, 16), 4, sorted_version=2,
                mutate=lambda o, t: (dict(o, format_version=3), t), **sfc)
        fc_case(rng, out, "reject_sorted_v2_with_tensors", "int8", (1, 16), 4,
                mutate=lambda o, t: (dict(o, format_version=2), t), **sfc)
        # Input rows too wide for the bucketed kernel's byte column indices.
        conv_case(rng, out, "reject_bucketed_too_wide", "conv", "int8", (1, 3, 300, 1), (3, 3), 2,
                  group_size=2, mutate=lambda o, t: (with_layout(o, "bucketed"), t))


if __name__ == "__main__":
    main()
