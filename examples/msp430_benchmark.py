"""User journey 4: measure a UnIT model on a simulated MSP430 (dense vs UnIT cycles per layer,
energy estimate, bit-exact check against the host runtime).

    python examples/msp430_benchmark.py model_unit.tflite --data data.npz [--samples 2] [--no-hwmult]

Needs Debian's clang-16, lld-16, llvm-16, mspdebug and msp430mcu.
"""
import argparse

from tflm_unit import datasets, msp430


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True)
    parser.add_argument("--samples", type=int, default=2)
    parser.add_argument("--no-hwmult", action="store_true")
    args = parser.parse_args()

    if not msp430.toolchain_available():
        raise SystemExit(msp430.missing_toolchain_message())
    data = datasets.load_npz(args.data)
    result = msp430.benchmark_model(args.model, data.x_test, samples=args.samples, hwmult=not args.no_hwmult)
    r = result.to_dict()
    for layer in r["layers"]:
        print(f"{layer['name']:28s} dense {layer['cycles_dense']:>12,}  UnIT {layer['cycles_unit']:>12,}")
    print(f"total: dense {r['cycles_dense']:,} cycles, UnIT {r['cycles_unit']:,} cycles, "
          f"speed-up {r['speedup']:.2f}x, bit-exact {r['bit_exact']}")


if __name__ == "__main__":
    main()
