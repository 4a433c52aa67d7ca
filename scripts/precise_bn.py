"""A run's measures before and after recomputing its BatchNorm statistics without dropout ("precise BN").

The encoder is conv → LeakyReLU → BatchNorm → Dropout (2019), so the BatchNorm layers after the first learn
moving statistics of dropped-out activations, while evaluation runs without dropout: the variance shift of Li
et al. 2019 ("Understanding the disharmony between dropout and batch normalization"). This diagnostic resets
nothing but the BatchNorm moving means and variances: it runs training canvases through the model in training
mode with every dropout rate set to 0 (momentum 0.9, ``--batches`` batches of 256), then measures again on the
first ``--n`` test canvases exactly as ``stampnet.evaluate`` does (τ = the run's test τ, noise on, seed 0).
Nothing is written to the run.

    python scripts/precise_bn.py runs/simple_shapes_2/<id> [--n 2000] [--batches 60] [--keep-dropout]

``--keep-dropout`` recomputes the statistics with dropout on (as training saw them): the control.
"""
import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from stampnet import ConfigError  # noqa: E402
from stampnet.data import load_data  # noqa: E402
from stampnet.evaluate import load_run, measure  # noqa: E402
from stampnet.model import set_noise, set_temperature  # noqa: E402

KEYS = ["cor_loc", "iou", "purity", "nmi", "avg_total_mse", "empty_slot_rate", "unmatched_slot_ink",
        "brightest_first"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--n", type=int, default=2000, help="test canvases measured")
    ap.add_argument("--batches", type=int, default=60, help="training batches of 256 for the statistics")
    ap.add_argument("--keep-dropout", action="store_true", help="the control: statistics with dropout on")
    args = ap.parse_args()
    try:
        run = load_run(args.run)  # the latest checkpoint, as evaluate
    except ConfigError as error:
        sys.exit(f"error: {error}")
    cfg = run.config
    splits = load_data(cfg["run_parameters"], cfg["layer_parameters"]["input_parameters"], cfg["seed"])
    test = splits.test.take(slice(0, args.n))

    def report(label):
        m, _ = measure(run, test)
        print(label, {k: round(float(m[k]), 4) for k in KEYS if k in m}, flush=True)

    report(f"{run.weights.name}, as trained:")
    set_temperature(run.model, 1.0)
    set_noise(run.model, True)
    for layer in run.model.layers:
        if isinstance(layer, keras.layers.Dropout) and not args.keep_dropout:
            layer.rate = 0.0
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    images, rng = splits.train.images, np.random.default_rng(0)
    for _ in range(args.batches):
        run.model(images[rng.choice(len(images), min(256, len(images)), replace=False)], training=True)
    report("BatchNorm statistics recomputed " + ("with dropout (control):" if args.keep_dropout else "without dropout:"))


if __name__ == "__main__":
    main()
