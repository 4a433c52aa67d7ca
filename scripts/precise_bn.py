"""A run's measures before and after recomputing its BatchNorm statistics without dropout ("precise BN").

The encoder is conv → LeakyReLU → BatchNorm → Dropout (2019), so the BatchNorm layers after the first learn
moving statistics of dropped-out activations, while evaluation runs without dropout: the variance shift of Li
et al. 2019 ("Understanding the disharmony between dropout and batch normalization"). This diagnostic resets
nothing but the BatchNorm moving means and variances (``stampnet.recipe.recompute_batchnorm``: the average of
the batch statistics of ``--batches`` batches of 256 training canvases, every dropout rate 0), then measures
again on the first ``--n`` test canvases exactly as ``stampnet.evaluate`` does (τ = the run's test τ, noise on,
seed 0). Nothing is written to the run. ``python -m stampnet.evaluate RUN --precise-bn 8192`` measures the
same in one pass; ``run_parameters.precise_bn`` (in ``fast``) does it at the end of training.

    python scripts/precise_bn.py runs/simple_shapes_2/<id> [--n 2000] [--batches 60] [--keep-dropout]

``--keep-dropout`` recomputes the statistics with dropout on (as training saw them): the control.
"""
import argparse
import sys
from pathlib import Path


from stampnet import ConfigError
from stampnet.evaluate import measure, test_split
from stampnet.runs import load_run
from stampnet.recipe import recompute_batchnorm

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
    test, train_images = test_split(run.config, args.n, with_train=True)

    def report(label):
        m, _ = measure(run, test)
        print(label, {k: round(float(m[k]), 4) for k in KEYS if k in m}, flush=True)

    report(f"{run.weights.name}, as trained:")
    n = recompute_batchnorm(run.model, train_images, args.batches * 256, seed=0, dropout=args.keep_dropout)
    report(f"BatchNorm statistics recomputed on {n} training canvases " +
           ("with dropout (control):" if args.keep_dropout else "without dropout:"))


if __name__ == "__main__":
    main()
