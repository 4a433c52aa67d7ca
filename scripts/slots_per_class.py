"""How many slots draw, per class, on a run whose canvases hold one object and fewer objects than slots.

The diagnostic behind the README's empty-stamp paragraphs: for each class of the object, the share of test
canvases on which no slot draws (the object is missed), exactly one draws (the claim: the others are empty), or
two or more draw (the object redrawn or split). A slot draws when it puts at least 5 % of the mean object's ink
on the canvas (``stampnet.metrics.drawing_slots``, the rule ``evaluate`` uses). Then each stamp's brightest
pixel, which tells a stamp split in intensity (≈ 0.5) from a full one. Measured as ``stampnet.evaluate`` does
(the latest checkpoint, the run's test τ, noise on, seed 0); nothing is written to the run.

    python scripts/slots_per_class.py runs/simple_shapes_1/<id> [--n 2000]
"""
import argparse
import sys
from pathlib import Path

import numpy as np


from stampnet import ConfigError
from stampnet.evaluate import measure, test_split
from stampnet.runs import load_run
from stampnet.metrics import drawing_slots


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--n", type=int, default=None, help="test canvases measured (default all)")
    args = ap.parse_args(argv)
    try:
        run = load_run(args.run)
        test = test_split(run.spec, args.n)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    if test.coords is None or test.labels is None or test.coords.shape[1] != 1:
        sys.exit("error: this diagnostic needs labelled canvases with one object each, e.g. "
                 "simple_shapes_1.py or t_mnist_1.py runs")
    _, out = measure(run, test)
    drawing = drawing_slots(test.images, test.coords, out["stamps"], out["stamp_probs"])[2]   # (N, M)
    n_drawing, labels = drawing.sum(axis=1), np.asarray(test.labels)[:, 0]                  # (N,) each
    print(f"{run.weights.name}, {len(test)} test canvases, {drawing.shape[1]} slots")
    print(f"{'class':>6} {'canvases':>9} {'none draws':>11} {'one draws':>10} {'two or more':>12}")
    for name, sel in [(str(c), labels == c) for c in np.unique(labels)] + [("all", np.ones_like(labels, bool))]:
        k = n_drawing[sel]
        print(f"{name:>6} {int(sel.sum()):>9} {np.mean(k == 0):>11.4f} {np.mean(k == 1):>10.4f} "
              f"{np.mean(k >= 2):>12.4f}")
    brightest = np.asarray(out["stamps"]).reshape(len(out["stamps"]), -1).max(axis=1)
    print("brightest pixel per stamp:", " ".join(f"{v:.2f}" for v in brightest))


if __name__ == "__main__":
    main()
