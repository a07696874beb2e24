"""User journey 2: take an existing Keras model (or int8 .tflite), convert it to UnIT ops,
calibrate the thresholds to an accuracy budget and evaluate it on the host.

    python examples/convert_existing_model.py MODEL(.h5|.keras|.tflite|SavedModel dir) --data data.npz \
        [--max-accuracy-drop 0.01] [--division shift] [--out model_unit.tflite]
"""
import argparse

from tflm_unit import converter, datasets
from tflm_unit.unit.calibration import calibrate
from tflm_unit.unit.evaluation import evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", required=True, help=".npz with x_train/y_train/x_test/y_test")
    parser.add_argument("--max-accuracy-drop", type=float, default=0.01)
    parser.add_argument("--division", default="shift", choices=("exact", "shift", "tree", "clz"))
    parser.add_argument("--calib-samples", type=int, default=1000)
    parser.add_argument("--out", default="model_unit.tflite")
    args = parser.parse_args()

    data = datasets.load_npz(args.data)
    # Calibrate on training data held apart from the test split.
    x_calib, y_calib = data.x_train[-args.calib_samples:], data.y_train[-args.calib_samples:]
    unit = converter.convert(args.model, x_calib, thresholds=0.0, division=args.division)
    result = calibrate(unit, x_calib, y_calib, max_accuracy_drop=args.max_accuracy_drop, division=args.division)
    final = converter.convert(unit, **result.converter_kwargs(), out_path=args.out)
    report = evaluate(final, data.x_test, data.y_test)
    print(f"calibration: accuracy {result.accuracy_dense:.4f} -> {result.accuracy_unit:.4f}, "
          f"MACs -{result.mac_reduction:.1%}")
    print(f"test: accuracy {report['accuracy']:.4f}, MACs executed {report['macs_executed']:,.0f} of "
          f"{report['macs_dense']:,.0f} (-{report['mac_reduction']:.1%}); wrote {args.out}")


if __name__ == "__main__":
    main()
