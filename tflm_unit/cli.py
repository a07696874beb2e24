"""The ``tflm-unit`` command line."""
import sys


def main(argv=None) -> int:
    raise SystemExit("tflm-unit: no subcommands yet")


if __name__ == "__main__":
    sys.exit(main())
