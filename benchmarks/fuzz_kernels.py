"""Seeded corpus of kernel-call records for the C core's sanitizer replay.

Writes valid int8 conv / depthwise / fully connected calls (their expected
outputs from the NumPy reference, tflm_unit.unit.reference) and mutations of
them (out-of-range, overflowing, inconsistent shapes and parameters) in the
text format custom_ops/core/tests/replay_calls.c reads, then (``--run``)
builds the replay driver under ASan + UBSan and replays the corpus: every
valid record must return UNIT_OK with the reference's output, every invalid
one a non-zero status, with no sanitizer report.

    python benchmarks/fuzz_kernels.py --count 20000 --seed 1 --run [--json out.json]

Whether a mutated call is valid is decided here from the rules the core
documents (custom_ops/core/unit_core.h), written independently of the C.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tflm_unit.core.kernels import ConvParams  # noqa: E402
from tflm_unit.unit import reference  # noqa: E402

INT32_MAX = 2**31 - 1
INT32_MIN = -2**31
MAX_BUFFER = 1 << 16
TESTS_DIR = ROOT / "custom_ops" / "core" / "tests"
FIELDS = ("in_shape", "f_shape", "o_shape")
PARAMS = ("stride_h", "stride_w", "dilation_h", "dilation_w", "pad_h", "pad_w", "depth_multiplier",
          "input_offset", "output_offset", "act_min", "act_max", "group_size", "division")


# ------------------------------------------------------------------ valid calls


def _base_call(rng: np.random.Generator, op: str) -> Dict:
    """A random valid call with its expected output."""
    n = int(rng.integers(1, 3))
    zp_in, zp_out = int(rng.integers(-128, 128)), int(rng.integers(-128, 128))
    act_lo = int(rng.integers(-128, 0)) if rng.random() < 0.3 else -128
    act_hi = int(rng.integers(0, 128)) if rng.random() < 0.3 else 127
    division = int(rng.integers(0, 4))
    if op == "F":
        depth, channels = int(rng.integers(1, 20)), int(rng.integers(1, 9))
        x = rng.integers(-128, 128, size=(n, depth), dtype=np.int8)
        w = rng.integers(-127, 128, size=(channels, depth), dtype=np.int8)
        in_shape, f_shape, o_shape = [n, 1, 1, depth], [channels, 1, 1, depth], [n, 1, 1, channels]
        geometry = dict(stride_h=1, stride_w=1, dilation_h=1, dilation_w=1, pad_h=0, pad_w=0,
                        depth_multiplier=1)
        padding = "VALID"
    else:
        h, w_in, c = (int(rng.integers(1, 9)) for _ in range(3))
        kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        params = ConvParams(stride_h=int(rng.integers(1, 3)), stride_w=int(rng.integers(1, 3)),
                            dilation_h=int(rng.integers(1, 3)), dilation_w=int(rng.integers(1, 3)),
                            padding=str(rng.choice(["SAME", "VALID"])),
                            depth_multiplier=int(rng.integers(1, 3)) if op == "D" else 1)
        out_h = reference.compute_out_size(params.padding, h, kh, params.stride_h, params.dilation_h)
        out_w = reference.compute_out_size(params.padding, w_in, kw, params.stride_w, params.dilation_w)
        if out_h <= 0 or out_w <= 0:
            return _base_call(rng, op)
        channels = c * params.depth_multiplier if op == "D" else int(rng.integers(1, 7))
        x = rng.integers(-128, 128, size=(n, h, w_in, c), dtype=np.int8)
        w_shape = (1, kh, kw, channels) if op == "D" else (channels, kh, kw, c)
        w = rng.integers(-127, 128, size=w_shape, dtype=np.int8)
        pad_h = reference.compute_padding(params.stride_h, params.dilation_h, h, kh, out_h) \
            if params.padding == "SAME" else 0
        pad_w = reference.compute_padding(params.stride_w, params.dilation_w, w_in, kw, out_w) \
            if params.padding == "SAME" else 0
        in_shape, f_shape, o_shape = list(x.shape), list(w.shape), [n, out_h, out_w, channels]
        geometry = dict(stride_h=params.stride_h, stride_w=params.stride_w, dilation_h=params.dilation_h,
                        dilation_w=params.dilation_w, pad_h=pad_h, pad_w=pad_w,
                        depth_multiplier=params.depth_multiplier)
        padding = params.padding
    scales = rng.uniform(1e-4, 2e-2, size=channels)
    mult, shift = reference.quantize_multiplier(scales)
    bias = rng.integers(-5000, 5000, size=channels).astype(np.int32) if rng.random() < 0.8 else None
    group = int(rng.choice([g for g in range(1, channels + 1) if channels % g == 0]))
    thresholds = (rng.integers(0, 3000, size=channels // group).astype(np.int16)
                  if rng.random() < 0.7 else None)
    call = dict(op=op, padding=padding, in_shape=in_shape, f_shape=f_shape, o_shape=o_shape, **geometry,
                input_offset=-zp_in, output_offset=zp_out, act_min=act_lo, act_max=act_hi,
                group_size=group if thresholds is not None else 0, division=division,
                input=x.reshape(-1), filter=w.reshape(-1), bias=bias, multiplier=np.asarray(mult),
                shift=np.asarray(shift), thresholds=thresholds)
    call["expected"] = _reference_output(call, x, w)
    return call


def _reference_output(call: Dict, x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """The NumPy reference's output of a call whose geometry is TFLite's."""
    division = reference_division(call["division"])
    kwargs = dict(thresholds=call["thresholds"], group_size=call["group_size"] or None, division=division)
    if call["op"] == "F":
        result = reference.fully_connected_int8(x, w, call["bias"], call["multiplier"], call["shift"],
                                                call["input_offset"], call["output_offset"], call["act_min"],
                                                call["act_max"], **kwargs)
    else:
        params = ConvParams(stride_h=call["stride_h"], stride_w=call["stride_w"],
                            dilation_h=call["dilation_h"], dilation_w=call["dilation_w"],
                            padding=call["padding"],
                            depth_multiplier=call["depth_multiplier"], input_offset=call["input_offset"],
                            output_offset=call["output_offset"], act_min=call["act_min"],
                            act_max=call["act_max"])
        fn = reference.depthwise_conv_2d_int8 if call["op"] == "D" else reference.conv_2d_int8
        result = fn(x, w, call["bias"], call["multiplier"], call["shift"], params, **kwargs)
    return result.output.reshape(-1)


def reference_division(index: int) -> str:
    return ("exact", "shift", "tree", "clz")[index]


# ------------------------------------------------------------------ validity (the documented rules)


def _spatial_ok(in_size: int, k: int, stride: int, dilation: int, pad: int, out: int) -> bool:
    effective = (k - 1) * dilation + 1
    span = (out - 1) * stride
    if effective > INT32_MAX or span > INT32_MAX:
        return False
    if pad >= effective or span - pad >= in_size:
        return False
    if span + effective > INT32_MAX or in_size + pad + (stride if out > 1 else 1) > INT32_MAX:
        return False
    return span + effective - in_size <= 2 * pad + 1


def _count(shape) -> int:
    return int(np.prod([int(d) for d in shape], dtype=object))


def expected_valid(c: Dict) -> bool:
    """Whether the core must accept the call (unit_core.h's rules)."""
    if not shapes_valid(c):
        return False
    channels = c["o_shape"][3]
    if any(m < 0 for m in c["multiplier"][:channels]) or any(not -31 <= s <= 30 for s in c["shift"][:channels]):
        return False
    if c["thresholds"] is not None:
        g = c["group_size"]
        if g <= 0 or channels % g != 0 or c["division"] not in (0, 1, 2, 3):
            return False
    return True


def shapes_valid(c: Dict) -> bool:
    """The rules the core checks before it reads any per-channel array:
    sizes, geometry, offsets, clamp and the filter layout."""
    ints = [*c["in_shape"], *c["f_shape"], *c["o_shape"], *(c[k] for k in PARAMS)]
    if any(not INT32_MIN <= v <= INT32_MAX for v in ints):
        return False
    i_s, f_s, o_s = c["in_shape"], c["f_shape"], c["o_shape"]
    channels = o_s[3]
    if c["op"] == "F":
        batches, depth = i_s[0], i_s[3]
        if batches <= 0 or depth <= 0 or channels <= 0:
            return False
        if batches * depth > INT32_MAX or channels * depth > INT32_MAX or batches * channels > INT32_MAX:
            return False
    else:
        if min(*i_s, *f_s, *o_s) <= 0 or min(c["stride_h"], c["stride_w"], c["dilation_h"], c["dilation_w"]) <= 0:
            return False
        if c["pad_h"] < 0 or c["pad_w"] < 0 or o_s[0] != i_s[0]:
            return False
        if any(_count(s) > INT32_MAX for s in (i_s, f_s, o_s)):
            return False
        if not (_spatial_ok(i_s[1], f_s[1], c["stride_h"], c["dilation_h"], c["pad_h"], o_s[1])
                and _spatial_ok(i_s[2], f_s[2], c["stride_w"], c["dilation_w"], c["pad_w"], o_s[2])):
            return False
        row_stride = c["stride_h"] if o_s[1] > 1 else 1
        col_stride = c["stride_w"] if o_s[2] > 1 else 1
        if row_stride * i_s[2] * i_s[3] > INT32_MAX or col_stride * i_s[3] > INT32_MAX:
            return False
    if not -127 <= c["input_offset"] <= 128 or not -128 <= c["output_offset"] <= 127:
        return False
    if not -128 <= c["act_min"] <= c["act_max"] <= 127:
        return False
    if c["op"] == "C" and (f_s[3] != i_s[3] or o_s[3] != f_s[0]):
        return False
    if c["op"] == "D":
        if c["depth_multiplier"] <= 0 or f_s[0] != 1 or i_s[3] * c["depth_multiplier"] != f_s[3] \
                or o_s[3] != f_s[3]:
            return False
    return True


# ------------------------------------------------------------------ mutations


def _mutate(rng: np.random.Generator, call: Dict) -> Dict:
    """One or two random field mutations of a valid call (expected output dropped)."""
    c = {k: (list(v) if isinstance(v, list) else v) for k, v in call.items()}
    c["multiplier"], c["shift"] = np.array(c["multiplier"]), np.array(c["shift"])
    c["expected"] = None
    extremes = [0, -1, 1, 2, -2**31, 2**31 - 1, 2**30, 65536, 32767, 128, -128, 127, 255, 256]
    for _ in range(int(rng.integers(1, 3))):
        kind = int(rng.integers(0, 6))
        if kind == 0:  # a shape entry
            field = FIELDS[int(rng.integers(0, 3))]
            i = int(rng.integers(0, 4))
            c[field][i] = int(rng.choice(extremes + [c[field][i] + 1, c[field][i] - 1]))
        elif kind == 1:  # a geometry / offset / clamp parameter
            key = PARAMS[int(rng.integers(0, 11))]
            c[key] = int(rng.choice(extremes + [c[key] + 1, c[key] - 1]))
        elif kind == 2:  # requantisation
            arr = c["shift"] if rng.random() < 0.6 else c["multiplier"]
            arr[int(rng.integers(0, len(arr)))] = int(rng.choice([100, 31, -32, -2**31, 2**31 - 1, -1, 30, -31]))
        elif kind == 3:  # skip
            if c["thresholds"] is None:
                c["thresholds"] = np.ones(1, dtype=np.int16)
                c["group_size"] = c["o_shape"][3]
            if rng.random() < 0.5:
                c["group_size"] = int(rng.choice([0, -1, 7, 2**31 - 1, c["group_size"] + 1]))
            else:
                c["division"] = int(rng.choice([4, -1, 99, 2**31 - 1]))
        elif kind == 4:  # activation swapped
            c["act_min"], c["act_max"] = c["act_max"], c["act_min"] - 1
        else:  # bias: any int32 is valid (accumulation wraps)
            c["bias"] = np.full(c["o_shape"][3] if 0 < c["o_shape"][3] < 4096 else 1,
                                int(rng.choice([2**31 - 1, -2**31])), dtype=np.int64)
    return c


def _buffers_fit(c: Dict) -> bool:
    """A record the core may accept must hold every buffer the call reads."""
    i_s, f_s, o_s = c["in_shape"], c["f_shape"], c["o_shape"]
    if c["op"] == "F":
        need = (i_s[0] * i_s[3], o_s[3] * i_s[3], i_s[0] * o_s[3])
    else:
        need = (_count(i_s), _count(f_s), _count(o_s))
    return (len(c["input"]) >= need[0] and len(c["filter"]) >= need[1]
            and (c["bias"] is None or len(c["bias"]) >= o_s[3]) and len(c["multiplier"]) >= o_s[3]
            and (c["thresholds"] is None or c["group_size"] <= 0
                 or len(c["thresholds"]) >= o_s[3] // c["group_size"]))


# ------------------------------------------------------------------ corpus


def _record(c: Dict, valid: bool) -> str:
    def arr(values) -> str:
        if values is None:
            return "0"
        values = [int(v) for v in np.asarray(values).reshape(-1)]
        return " ".join([str(len(values))] + [str(v) for v in values])
    head = [c["op"], "1" if valid else "0", *(str(v) for f in FIELDS for v in c[f]),
            *(str(c[k]) for k in PARAMS)]
    body = [arr(c["input"]), arr(c["filter"]), arr(c["bias"]), arr(c["multiplier"]), arr(c["shift"]),
            arr(c["thresholds"]), arr(c["expected"])]
    return " ".join(head + body)


def generate(count: int, seed: int) -> tuple:
    """(record lines, counts): about a third valid, the rest mutated."""
    rng = np.random.default_rng(seed)
    lines: List[str] = []
    counts = {"valid": 0, "invalid": 0, "mutated_but_valid": 0, "skipped": 0}
    while len(lines) < count:
        base = _base_call(rng, str(rng.choice(["C", "D", "F"])))
        lines.append(_record(base, True))
        counts["valid"] += 1
        for _ in range(2):
            if len(lines) >= count:
                break
            m = _mutate(rng, base)
            if shapes_valid(m) and not _buffers_fit(m):
                # the claimed sizes pass, so the core may read the buffers at
                # those sizes: a record smaller than its claim breaks the
                # caller's side of the contract, not the core's
                counts["skipped"] += 1
                continue
            valid = expected_valid(m)
            counts["mutated_but_valid" if valid else "invalid"] += 1
            lines.append(_record(m, valid))
    return lines, counts


def build_driver() -> Path:
    subprocess.run(["make", "-s", "-C", str(TESTS_DIR), "build/replay_calls"], check=True)
    return TESTS_DIR / "build" / "replay_calls"


def replay(corpus: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, ASAN_OPTIONS="detect_leaks=1", UBSAN_OPTIONS="print_stacktrace=1")
    return subprocess.run([str(build_driver()), str(corpus)], capture_output=True, text=True, env=env)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=3000, help="records to write (> 0)")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--out", type=Path, help="corpus file (default: a temporary file)")
    parser.add_argument("--run", action="store_true", help="build the ASan/UBSan driver and replay")
    parser.add_argument("--json", type=Path, help="write the counts as JSON here")
    args = parser.parse_args(argv)
    if args.count <= 0:
        parser.error("--count must be > 0")
    start = time.time()
    lines, counts = generate(args.count, args.seed)
    out = args.out or Path(tempfile.mkstemp(suffix=".calls")[1])
    out.write_text("\n".join(lines) + "\n")
    result = {"records": len(lines), "seed": args.seed, "corpus": str(out), **counts,
              "generate_seconds": round(time.time() - start, 1)}
    if args.run:
        start = time.time()
        proc = replay(out)
        result.update(replay_exit=proc.returncode, replay=proc.stdout.strip(),
                      sanitizer_reports=proc.stderr.count("ERROR: AddressSanitizer")
                      + proc.stderr.count("runtime error") + proc.stderr.count("LeakSanitizer"),
                      replay_seconds=round(time.time() - start, 1))
        if proc.returncode != 0:
            sys.stderr.write(proc.stderr[-4000:])
    if args.out is None:  # a temporary corpus is not left behind
        out.unlink()
        result["corpus"] = None
    print(json.dumps(result, indent=1))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0 if not args.run or result["replay_exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
