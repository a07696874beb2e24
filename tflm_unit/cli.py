"""The ``tflm-unit`` command line.

Each subcommand is two functions: ``setup_<name>(parser)`` adds its
arguments, ``run_<name>(args) -> dict`` does the work and returns the JSON
object ``--json`` prints (and, optionally, ``text_<name>(result) -> str`` for
people).  Register it in :data:`SUBCOMMANDS` (or with
:func:`register_subcommand`).  Errors a user can fix raise :class:`CliError`
(an :class:`~tflm_unit.errors.OptionError`) or another
:class:`~tflm_unit.errors.TflmUnitError` (or ValueError / OSError): one line
``tflm-unit: error: ...`` on stderr, exit code 2, no output file written.
Warnings (e.g. data clipped by the int8 input) are one line
``tflm-unit: warning: ...`` each on stderr, and a ``warnings`` list in the JSON.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence

from tflm_unit.errors import OptionError

PROG = "tflm-unit"
EXIT_USAGE = 2


class CliError(OptionError):
    """A problem with the user's command line, reported as one line."""


def positive_int(text: str) -> int:
    """argparse type for counts (--limit, --samples, ...): an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive integer (at least 1), got {value}")
    return value


def input_range_type(text: str) -> str:
    """argparse type for --input-range: checked now, parsed by tflm_unit.inputs."""
    from tflm_unit.inputs import parse_input_range

    try:
        parse_input_range(text)
    except OptionError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def add_input_range(parser: argparse.ArgumentParser) -> None:
    """--input-range, for every subcommand that takes data (DESIGN.md §9 "Input scaling")."""
    parser.add_argument("--input-range", type=input_range_type, default=None, metavar="RANGE",
                        help="override the input scaling inferred from the model: 'raw' passes values unchanged; "
                             "'LO,HI' (e.g. 0,1 or -1,1) maps integer data from their type's full range "
                             "(uint8: 0..255) and float data from 0..255 onto [LO, HI]")


def model_path(path: str, what: str = ".tflite") -> str:
    """A model path that exists and is a file (directories only as SavedModels, for convert)."""
    if os.path.isdir(path):
        raise CliError(f"{path} is a directory, not a {what} file" +
                       ("" if what != ".tflite" else " (a SavedModel directory is made a .tflite by tflm-unit convert)"))
    if not os.path.isfile(path):
        raise CliError(f"no such model file: {path}")
    return path


class _Parser(argparse.ArgumentParser):
    """argparse, but usage errors are the same single line as other errors."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise CliError(message)


@dataclass
class Subcommand:
    name: str
    help: str
    setup: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], Dict[str, Any]]
    text: Optional[Callable[[Dict[str, Any]], str]] = None


# ------------------------------------------------------------------ convert


def setup_convert(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help=".keras / .h5 file, SavedModel directory, or int8 .tflite")
    parser.add_argument("--calib-data", metavar="NPZ",
                        help="data (.npz with x_train or x) for int8 quantisation; required unless MODEL is .tflite")
    parser.add_argument("--out", required=True, metavar="OUT.tflite", help="where to write the UnIT model")
    parser.add_argument("--division", choices=("exact", "shift", "tree", "clz", "bitmask"), default=None,
                        help="division approximation (default: the model's, else shift)")
    parser.add_argument("--group-size", type=int, default=None, metavar="G",
                        help="output channels per threshold group (default: one group per layer)")
    # converter.rewrite.LAYOUT_CHOICES + auto (not imported here: the CLI starts without the converter)
    parser.add_argument("--layout", "--fc-layout", dest="layout",
                        choices=("compare", "sorted", "bucketed", "fast", "auto"), default=None,
                        help="kernel layout of the UnIT conv / fully connected ops (DESIGN.md §9): compare "
                             "(a compare per MAC, what every runner reads), sorted (fully connected: weights "
                             "in descending |w| per input), bucketed (conv: inputs bucketed by |x'|), fast "
                             "(each op its zero-cost layout; skipped MACs then cost nothing), auto (per layer "
                             "the fewer MSP430 cycles by the fitted cycle model, priced on --calib-data). "
                             "Zero-cost layouts: host runtime, MSP430 graph and TFLM adapters; bucketed is "
                             "format_version 2, sorted 3 (the layout's arrays written into the file, read from "
                             "flash). Default: "
                             "each op's. --fc-layout is the older name")
    parser.add_argument("--threshold", type=float, default=None, metavar="T",
                        help="real threshold T for every MAC layer (default 0: no skipping)")
    parser.add_argument("--thresholds-json", metavar="FILE",
                        help="JSON object {layer name or op index: T or [T per group]}")
    parser.add_argument("--max-accuracy-drop", type=float, default=None, metavar="X",
                        help="calibrate thresholds to lose at most X accuracy (fraction) on the calibration data")
    parser.add_argument("--num-calibration-samples", type=positive_int, default=100, metavar="N",
                        help="samples of the data used for int8 quantisation (default 100)")
    parser.add_argument("--max-calibration-samples", type=positive_int, default=1000, metavar="N",
                        help="samples used to calibrate thresholds with --max-accuracy-drop (default 1000)")
    add_input_range(parser)
    parser.add_argument("--confidence", type=float, default=None, metavar="P",
                        help="probability that the --max-accuracy-drop holds on unseen data, confirmed on held-out "
                             "calibration samples (default 0.9; lower skips more MACs)")
    parser.add_argument("--confirm-fraction", type=float, default=None, metavar="F",
                        help="share of the calibration samples held out to confirm the budget (default 0.5; "
                             "0: no confirmation, the budget holds on the calibration data only)")


def _thresholds_from_args(args: argparse.Namespace) -> Any:
    if args.threshold is not None and args.thresholds_json:
        raise CliError("give --threshold or --thresholds-json, not both")
    if args.thresholds_json:
        try:
            with open(args.thresholds_json, encoding="utf-8") as f:
                value = json.load(f)
        except (OSError, json.JSONDecodeError) as exc:
            raise CliError(f"cannot read thresholds from {args.thresholds_json}: {exc}") from None
        if not isinstance(value, dict):
            raise CliError(f"{args.thresholds_json} must hold a JSON object {{layer: threshold}}")
        return value
    return 0.0 if args.threshold is None else args.threshold


def calibrate_for_convert(unit_model: bytes, data: Any, args: argparse.Namespace) -> Dict[str, Any]:
    """``--max-accuracy-drop``: calibrate thresholds on the data file's
    training split (never its test split) and return the keyword arguments of
    :func:`tflm_unit.converter.apply_thresholds` (thresholds, group sizes,
    division, calibration summary)."""
    from tflm_unit.unit.calibration import calibrate

    if data.y_train is None:
        raise CliError(f"--max-accuracy-drop needs labels (y_train or y) in {args.calib_data}")
    division = args.division or "shift"
    options = {name: getattr(args, name) for name in ("confidence", "confirm_fraction")
               if getattr(args, name, None) is not None}
    result = calibrate(unit_model, data.x_train, data.y_train, max_accuracy_drop=args.max_accuracy_drop,
                       division=division, group_size=args.group_size, max_samples=args.max_calibration_samples,
                       progress=not args.json, dataset=os.path.basename(args.calib_data),
                       **options, **_input_range_kwargs(args))
    return result.converter_kwargs()


def _input_range_kwargs(args: argparse.Namespace) -> Dict[str, Any]:
    """``input_range=`` for the API call, only when the option was given (so
    callees that predate it keep working)."""
    value = getattr(args, "input_range", None)
    return {} if value is None else {"input_range": value}


def _convert_source_kind(path: str) -> str:
    """"tflite", "keras" or "saved model" for a convert MODEL argument; CliError otherwise."""
    from tflm_unit.converter.quantize import is_saved_model_dir

    if os.path.isdir(path):
        if is_saved_model_dir(path):
            return "saved model"
        raise CliError(f"{path} is a directory but not a SavedModel (no saved_model.pb): give a .keras / .h5 "
                       f"file, a SavedModel directory or a .tflite file")
    if not os.path.isfile(path):
        raise CliError(f"no such model: {path}")
    return "keras" if path.endswith((".keras", ".h5", ".hdf5")) else "tflite"


def run_convert(args: argparse.Namespace) -> Dict[str, Any]:
    from tflm_unit.converter import apply_thresholds, convert
    from tflm_unit.converter.files import write_file_atomic
    from tflm_unit.converter.metadata import read_unit_config
    from tflm_unit.datasets import load_npz

    thresholds = _thresholds_from_args(args)
    kind = _convert_source_kind(args.model)
    out_dir = os.path.dirname(os.path.abspath(args.out))
    if os.path.isdir(args.out):
        raise CliError(f"--out {args.out} is a directory; give the .tflite file to write")
    if not os.path.isdir(out_dir):
        raise CliError(f"output directory does not exist: {out_dir}")
    if args.max_accuracy_drop is not None and not args.calib_data:
        raise CliError("--max-accuracy-drop needs --calib-data")
    data = load_npz(args.calib_data) if args.calib_data else None
    if data is None and kind != "tflite":
        raise CliError(f"--calib-data is required to quantise a {'Keras' if kind == 'keras' else 'SavedModel'} "
                       f"model to int8")
    result = convert(args.model, data, thresholds=thresholds, division=args.division, group_size=args.group_size,
                     num_calibration_samples=args.num_calibration_samples, **_input_range_kwargs(args))
    if args.max_accuracy_drop is not None:
        result = apply_thresholds(result, **calibrate_for_convert(result, data, args))
    if args.layout == "auto":
        from tflm_unit.converter.layouts import AUTO_LAYOUT_SAMPLES, auto_layouts

        if data is None:
            raise CliError("--layout auto needs --calib-data (the layouts are priced on the MACs it executes)")
        result = auto_layouts(result, data.x_train[:AUTO_LAYOUT_SAMPLES], input_range=args.input_range)
    elif args.layout is not None:
        from tflm_unit.converter.rewrite import set_layouts

        result = set_layouts(result, args.layout)
    config = read_unit_config(result)
    scaling = config.get("input_scaling")
    if scaling is None and data is not None:  # a .tflite: how its data are mapped, for the record
        from tflm_unit.inputs import model_inputs
        from tflm_unit.runtime import Interpreter

        scaling = model_inputs(Interpreter(result), data.x_train[:args.max_calibration_samples], args.input_range,
                               what=os.path.basename(args.calib_data))[1].to_dict()
    write_file_atomic(args.out, result)
    return {
        "input_scaling": scaling,
        "out": args.out,
        "bytes": len(result),
        "division": config["division"],
        "group_size": config["group_size"],
        "macs_total": config["macs_total"],
        "ops": [{k: op[k] for k in ("op_index", "op", "layer", "group_size", "thresholds_real", "thresholds_int",
                                    "macs")} for op in config["ops"]],
        "calibration": config.get("calibration") if args.max_accuracy_drop is not None else None,
    }


def text_input_scaling(scaling: Optional[Dict[str, Any]]) -> List[str]:
    """The ``input_scaling`` record as one line of text (none when absent)."""
    if not scaling:
        return []
    line = f"input scaling ({scaling['source']}): {scaling.get('mapping') or ''} — {scaling['reason']}"
    if scaling.get("clipped_fraction"):
        line += f"; {scaling['clipped_fraction']:.2%} of values clipped by the int8 input"
    if scaling.get("int8_float_agreement") is not None:
        line += f"; int8 agrees with float on {scaling['int8_float_agreement']:.1%} of calibration samples"
    return [line]


def text_convert(result: Dict[str, Any]) -> str:
    lines = [f"wrote {result['out']} ({result['bytes']} bytes), division {result['division']}, "
             f"{result['macs_total']} MACs in {len(result['ops'])} UnIT ops"]
    lines += text_input_scaling(result.get("input_scaling"))
    for op in result["ops"]:
        lines.append(f"  op {op['op_index']:3d} {op['op']:24s} {op['layer']:20s} T={op['thresholds_real']} "
                     f"T_q={op['thresholds_int']}")
    cal = result.get("calibration")
    if cal:
        lines.append(_calibration_text(cal))
    return "\n".join(lines)


def _calibration_text(cal: Dict[str, Any]) -> str:
    """The calibration promise in one line: searched and confirmed drops."""
    text = (f"calibration: searched drop {cal.get('searched_drop', 0.0):.2%} on {cal.get('num_search_samples')} "
            f"samples")
    interval = cal.get("confirmed_interval")
    if interval:
        text += (f"; confirmed drop {cal['confirmed_drop']:.2%} on {cal.get('num_confirm_samples')} held-out "
                 f"samples (upper bound {interval[1]:.2%} at confidence {cal.get('confidence')}, budget "
                 f"{cal.get('max_accuracy_drop', 0.0):.2%})")
    text += (f"; MACs skipped {cal.get('mac_reduction', 0.0):.1%} (zero operands "
             f"{cal.get('macs_skipped_zero', 0.0):,.0f}, thresholds {cal.get('macs_skipped_threshold', 0.0):,.0f} "
             f"per inference)")
    return text


# ------------------------------------------------------------------ inspect


def setup_inspect(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help=".tflite file (UnIT or builtin)")


def run_inspect(args: argparse.Namespace) -> Dict[str, Any]:
    from tflm_unit.converter.report import inspect_model

    return inspect_model(model_path(args.model))


def text_inspect(result: Dict[str, Any]) -> str:
    lines = [f"{result['file_bytes']} bytes, {'UnIT' if result['unit'] else 'builtin'} model"]
    for kind in ("inputs", "outputs"):
        for t in result[kind]:
            lines.append(f"{kind[:-1]}: {t['name']} {t['shape']} {t['dtype']} scale {t['scale']} "
                         f"zero point {t['zero_point']}")
    lines.append(f"{'op':>4} {'name':24s} {'output shape':18s} {'MACs':>10}  thresholds")
    for op in result["ops"]:
        thresholds = ""
        if op.get("thresholds_int") is not None or op.get("thresholds_real") is not None:
            thresholds = (f"T_q={op.get('thresholds_int')} T={[round(t, 6) for t in op['thresholds_real']]} "
                          f"group {op.get('group_size')} {op.get('division')}")
        if op.get("layout"):
            where = "built in RAM" if op.get("layout_ram_bytes") else "in flash"
            thresholds += (f" layout {op['layout']}" + (f" ({op['layout_bytes']} bytes {where})"
                                                        if op["layout_bytes"] else "")
                           + f" scratch {op['scratch_bytes']} bytes")
        lines.append(f"{op['index']:>4} {op['op']:24s} {str(op['output_shape']):18s} {op['macs']:>10}  {thresholds}")
    lines.append(f"MACs {result['macs_total']}, flash {result['flash_bytes']} bytes (constant tensors), "
                 f"peak RAM ~{result['peak_ram_bytes']} bytes ({result['peak_ram_note']})")
    if result.get("unit_scratch_bytes"):
        lines.append(f"UnIT kernel scratch {result['unit_scratch_bytes']} bytes (largest op, whole image)")
    if result.get("layout_ram_bytes"):
        lines.append(f"sorted layouts built in RAM {result['layout_ram_bytes']} bytes (format_version 2: TFLM "
                     f"persistent arena; `tflm-unit convert MODEL --out NEW --fc-layout sorted` writes version 3, "
                     f"read from flash)")
    config = result.get("unit_metadata")
    if config:
        lines.append(f"UNIT_METADATA: tflm-unit {config.get('package_version')}, division {config.get('division')}, "
                     f"group size {config.get('group_size')}, calibration {config.get('calibration')}, "
                     f"resources {config.get('resources')}")
    return "\n".join(lines)


# ------------------------------------------------------------------ export-c


def setup_export_c(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help=".tflite file")
    parser.add_argument("--out", required=True, metavar="DIR", help="directory for the C sources")
    parser.add_argument("--name", default=None, help="C name prefix (default: the model file's name)")
    parser.add_argument("--no-graph", action="store_true",
                        help="only the TFLM model array, not the static graph for the MSP430 runner")


def run_export_c(args: argparse.Namespace) -> Dict[str, Any]:
    from tflm_unit.converter import export_c

    return export_c(model_path(args.model), args.out, name=args.name, graph=not args.no_graph)


def text_export_c(result: Dict[str, Any]) -> str:
    lines = [f"wrote {path}" for path in result["files"]]
    graph = result.get("graph")
    if graph:
        lines.append(f"static graph: {graph['ops']} ops, {graph['tensors']} tensors, arena {graph['arena_bytes']} "
                     f"bytes, scratch {graph['scratch_bytes']} bytes")
    return "\n".join(lines)


# ------------------------------------------------------------------ eval


def setup_eval(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="int8 (UnIT or builtin) .tflite")
    parser.add_argument("--data", required=True, metavar="NPZ", help="data with x_test/y_test (or x/y)")
    parser.add_argument("--limit", type=positive_int, default=None, metavar="N",
                        help="evaluate the first N samples only")
    parser.add_argument("--plot", metavar="PNG", help="also write per-layer skip-rate bars")
    add_input_range(parser)


def run_eval(args: argparse.Namespace) -> Dict[str, Any]:
    from tflm_unit.datasets import load_npz
    from tflm_unit.unit.evaluation import evaluate

    model = model_path(args.model)
    data = load_npz(args.data)
    if data.y_test is None:
        raise CliError(f"{args.data} has no labels (y_test or y)")
    return evaluate(model, data.x_test, data.y_test, limit=args.limit, plot_path=args.plot,
                    **_input_range_kwargs(args))


def text_eval(result: Dict[str, Any]) -> str:
    lines = [f"accuracy {result['accuracy']:.4f} on {result.get('num_samples', '?')} samples; "
             f"MACs per inference {result['macs_executed']:,.0f} of {result['macs_dense']:,.0f} "
             f"(-{result['mac_reduction']:.1%}: zero operands {result['macs_skipped_zero']:,.0f}, "
             f"thresholds {result['macs_skipped_threshold']:,.0f})"]
    lines += text_input_scaling(result.get("input_scaling"))
    for layer in result["layers"]:
        lines.append(f"  op {layer['op_index']:3d} {layer['op_name']:24s} {layer['macs_executed']:>12,.0f} of "
                     f"{layer['macs_dense']:>12,.0f}  (-{layer['mac_reduction']:.1%}; zero "
                     f"{layer['macs_skipped_zero']:,.0f}, threshold {layer['macs_skipped_threshold']:,.0f})")
    return "\n".join(lines)


# ------------------------------------------------------------------ sources


def setup_sources(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="directory to copy the firmware sources into")


def run_sources(args: argparse.Namespace) -> Dict[str, Any]:
    from tflm_unit import sources

    copied = sources.copy_sources(args.out)
    return {"out": os.fspath(args.out), "include_dir": os.fspath(args.out),
            "files": sorted(os.path.relpath(os.fspath(f), args.out) for f in copied)}


def text_sources(result: Dict[str, Any]) -> str:
    return (f"copied {len(result['files'])} files to {result['out']} "
            f"(include root for \"tflm/unit_ops.h\"; TFLM make: EXTERNAL_DIR={result['out']})")


# ------------------------------------------------------------------ registry and main

SUBCOMMANDS: List[Subcommand] = [
    Subcommand("convert", "Keras / SavedModel / int8 .tflite -> UnIT int8 .tflite", setup_convert, run_convert,
               text_convert),
    Subcommand("eval", "accuracy and MACs executed (overall and per layer) of a .tflite on the host",
               setup_eval, run_eval, text_eval),
    Subcommand("inspect", "ops, options, thresholds, metadata, MACs, flash and peak RAM of a .tflite",
               setup_inspect, run_inspect, text_inspect),
    Subcommand("export-c", "C sources: the model array for TFLM and the static graph for the MSP430 runner",
               setup_export_c, run_export_c, text_export_c),
    Subcommand("sources", "copy the C/C++ sources, BUILD and Makefile_internal.inc for a TFLM firmware build",
               setup_sources, run_sources, text_sources),
]


#: Subcommands defined next to their feature, as (module, attribute holding a Subcommand);
#: imported when the parser is built so ``import tflm_unit.cli`` stays light.
FEATURE_SUBCOMMANDS = (("tflm_unit.msp430.cli", "SUBCOMMAND"), ("tflm_unit.demo", "SUBCOMMAND"))


def register_subcommand(subcommand: Subcommand) -> None:
    """Add (or replace) a subcommand."""
    SUBCOMMANDS[:] = [s for s in SUBCOMMANDS if s.name != subcommand.name] + [subcommand]


def _load_feature_subcommands() -> None:
    import importlib

    for module_name, attribute in FEATURE_SUBCOMMANDS:
        subcommand = getattr(importlib.import_module(module_name), attribute)
        if all(s.name != subcommand.name for s in SUBCOMMANDS):
            SUBCOMMANDS.append(subcommand)


def build_parser() -> argparse.ArgumentParser:
    _load_feature_subcommands()
    parser = _Parser(prog=PROG, description="MCU-aware pruning and UnIT inference-time pruning for TFLM")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for sub in SUBCOMMANDS:
        child = subparsers.add_parser(sub.name, help=sub.help, description=sub.help)
        sub.setup(child)
        child.add_argument("--json", action="store_true", help="print one JSON object on stdout")
        child.set_defaults(subcommand=sub)
    return parser


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 600 else text[:597] + "..."


def _is_user_warning(caught: warnings.WarningMessage) -> bool:
    """Warnings meant for the user (tflm_unit's), not library deprecation noise."""
    from tflm_unit.inputs import InputRangeWarning

    return issubclass(caught.category, InputRangeWarning) or (
        issubclass(caught.category, UserWarning) and "tflm_unit" in (caught.filename or ""))


def main(argv: Optional[Sequence[str]] = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    caught: List[warnings.WarningMessage] = []
    try:
        args = build_parser().parse_args(argv)
        if getattr(args, "subcommand", None) is None:
            raise CliError(f"choose a command: {', '.join(s.name for s in SUBCOMMANDS)} (see {PROG} --help)")
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", UserWarning)
            result = args.subcommand.run(args)
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except KeyboardInterrupt:
        print(f"{PROG}: error: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, never a traceback
        if os.environ.get("TFLM_UNIT_DEBUG"):
            raise
        print(f"{PROG}: error: {_one_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    messages = list(dict.fromkeys(_one_line(w.message) for w in caught if _is_user_warning(w)))
    for message in messages:
        print(f"{PROG}: warning: {message}", file=sys.stderr)
    if messages and isinstance(result, dict):
        result = dict(result, warnings=messages)
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        sub: Subcommand = args.subcommand
        print(sub.text(result) if sub.text else json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
