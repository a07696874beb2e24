"""``tflm-unit msp430 MODEL.tflite --data NPZ [--samples N] [--hwmult|--no-hwmult]
[--division D ...] [--json]``: dense against UnIT on the simulated MSP430.

Follows the pattern of ``tflm_unit.cli`` (setup / run / text functions);
:data:`SUBCOMMAND` is what ``tflm_unit.cli.SUBCOMMANDS`` registers, and
:func:`add_parser` adds it to any argparse subparsers object.
"""
from __future__ import annotations

import argparse
from typing import Any, Dict

DIVISIONS = ("exact", "shift", "tree", "clz")
MEMORY_MAPS = ("fr5994", "large-ram")
HELP = "cycles per layer on a simulated MSP430: dense vs UnIT, energy estimate, bit-exact check"


def setup_msp430(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("model", help="UnIT int8 .tflite (from tflm-unit convert)")
    parser.add_argument("--data", required=True, metavar="NPZ",
                        help=".npz with x_test (or x): the first --samples inputs are run")
    from tflm_unit.cli import add_input_range, positive_int

    parser.add_argument("--samples", type=positive_int, default=4, metavar="N",
                        help="inputs to run in the simulator (default 4; each takes seconds)")
    parser.add_argument("--hwmult", dest="hwmult", action="store_true", default=True,
                        help="hardware multiplier build (default)")
    parser.add_argument("--no-hwmult", dest="hwmult", action="store_false",
                        help="software shift-add multiply build")
    parser.add_argument("--division", action="append", choices=DIVISIONS + ("all",), default=None,
                        help="division mode(s) for the UnIT build, repeatable, or 'all' "
                             "(default: the model's own); thresholds are kept")
    parser.add_argument("--memory-map", choices=MEMORY_MAPS, default="fr5994",
                        help="fr5994: the MSP430FR5994 (8 KiB RAM, default); large-ram: the simulator with "
                             "24 KiB RAM for models whose activations do not fit")
    add_input_range(parser)


def run_msp430(args: argparse.Namespace) -> Dict[str, Any]:
    from tflm_unit.cli import model_path
    from tflm_unit.datasets import load_npz
    from tflm_unit.inputs import model_inputs, positive_count
    from tflm_unit.msp430.benchmark import benchmark_model
    from tflm_unit.msp430.memory_map import MSP430FR5994, SIMULATOR_LARGE_RAM
    from tflm_unit.runtime import Interpreter

    samples = positive_count(args.samples, "--samples")
    divisions = None
    if args.division:
        divisions = list(DIVISIONS) if "all" in args.division else list(dict.fromkeys(args.division))
    model = model_path(args.model)
    data = load_npz(args.data)
    # The data as the model's int8 input, scaled as the model expects (tflm_unit.inputs); int8 passes on unchanged.
    xq, scaling = model_inputs(Interpreter(model), data.x_test[:samples], getattr(args, "input_range", None),
                               what=args.data)
    memory_map = SIMULATOR_LARGE_RAM if args.memory_map == "large-ram" else MSP430FR5994
    result = benchmark_model(model, xq, samples=samples, hwmult=args.hwmult, divisions=divisions,
                             memory_map=memory_map)
    return dict(result.to_dict(), input_scaling=scaling.to_dict())


def text_msp430(result: Dict[str, Any]) -> str:
    from tflm_unit.cli import text_input_scaling

    lines = [f"MSP430 ({result['multiplier']} multiply), {result['samples']} sample(s), "
             f"UnIT division {result['division']}; mean cycles per inference",
             *text_input_scaling(result.get("input_scaling")),
             f"{'layer':16s} {'op':18s} {'dense':>12s} {'UnIT':>12s} {'speed-up':>8s} {'MACs run':>16s}"]
    for layer in result["layers"]:
        speedup = layer["cycles_dense"] / layer["cycles_unit"] if layer["cycles_unit"] else 0.0
        macs = f"{layer['macs_executed']:.0f}/{layer['macs']:.0f}" if layer["macs"] else ""
        lines.append(f"{layer['name'][:16]:16s} {layer['op'][:18]:18s} {layer['cycles_dense']:12.0f} "
                     f"{layer['cycles_unit']:12.0f} {speedup:8.2f} {macs:>16s}")
    lines.append(f"{'total':35s} {result['cycles_dense']:12.0f} {result['cycles_unit']:12.0f} "
                 f"{result['speedup']:8.2f} {result['macs_executed']:.0f}/{result['macs_dense']:.0f}")
    lines.append(f"energy estimate: dense {result['energy_uj_dense']:.1f} uJ, UnIT {result['energy_uj_unit']:.1f} uJ "
                 f"({result['energy_model']['source']})")
    for mode, variant in result["divisions"].items():
        if mode != result["division"]:
            lines.append(f"division {mode}: {variant['cycles_unit']:.0f} cycles, speed-up {variant['speedup']:.2f}, "
                         f"bit_exact {variant['bit_exact']}")
    lines.append(f"bit_exact (all outputs equal tflm_unit.runtime): {result['bit_exact']}")
    sizes = result["sizes"]
    lines.append(f"firmware: code {sizes['code']} B, constants {sizes['constants']} B, RAM {sizes['ram']} B, "
                 f"stack used {sizes['stack_used']} B")
    return "\n".join(lines)


def _subcommand():
    from tflm_unit.cli import Subcommand

    return Subcommand("msp430", HELP, setup_msp430, run_msp430, text_msp430)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``msp430`` subcommand to an argparse subparsers object (for
    CLIs other than tflm_unit.cli's registry)."""
    parser = subparsers.add_parser("msp430", help=HELP, description=HELP)
    setup_msp430(parser)
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.set_defaults(subcommand=_subcommand())
    return parser


def __getattr__(name: str) -> Any:
    # SUBCOMMAND is built lazily: tflm_unit.cli imports this module while it is being defined.
    if name == "SUBCOMMAND":
        return _subcommand()
    raise AttributeError(name)
