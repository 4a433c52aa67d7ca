"""Where a run's stamps draw inside their square: the diagnostic for a low CorLoc beside a good reconstruction.

CorLoc and IoU compare the true box with the square of the matched slot (its upper-left corner and the stamp
size). A stamp may learn its object off-centre and the slot then sits off by as much, the object still drawn
where it is: the box misses, the reconstruction does not. For every object matched to a slot (the pedestrian of
interest on pedestrian runs; greedy matching as ``evaluate``) this prints

- the offset of the slot's upper-left corner from the true one (median |dy|, |dx|, and the CorLoc it gives);
- the offset of the drawn ink's centre (the slot plus its stamp's ink centroid) from the true box centre, and the
  CorLoc of squares centred on the ink instead ("ink-centred": a diagnostic, not the paper's measure);
- the most used stamps with their ink centroids relative to the stamp centre,

and draws both offset clouds to ``--out`` (default ``<run>/figures/stamp_offsets.png``). Measured as
``stampnet.evaluate`` does (the run's final weights or ``--weights``, the test τ, noise on, seed 0).

    python scripts/stamp_offsets.py runs/pedestrian/<id> [--limit 2000] [--weights FILE] [--out PNG]
"""
import argparse
import sys
from pathlib import Path

import numpy as np

from stampnet import ConfigError
from stampnet.evaluate import measure, test_split
from stampnet.figures import offset_clouds
from stampnet.metrics import box_iou, ink_centroids, match_slots, predict_slots
from stampnet.runs import load_run


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--weights", type=Path, help="a weight file (default the run's final weights)")
    ap.add_argument("--limit", type=int, default=None, help="test canvases measured (default all)")
    ap.add_argument("--out", type=Path, help="the figure (default <run>/figures/stamp_offsets.png)")
    args = ap.parse_args(argv)
    try:
        run = load_run(args.run, weights=args.weights)
        test = test_split(run.spec, args.limit)
    except ConfigError as error:
        sys.exit(f"error: {error}")
    if test.coords is None:
        sys.exit("error: this run's test canvases have no true positions; nothing to compare the slots with")
    _, out = measure(run, test)
    size = run.spec.model.stamp_size
    pedestrian = run.spec.data.carries.one_target
    pred, classes = predict_slots(out["stamp_probs"], out["y_probs"], out["x_probs"])       # (N, M, 2), (N, M)
    true = np.asarray(test.coords, np.int64).reshape(len(pred), -1, 2)[:, :1 if pedestrian else None]  # (N, n, 2)
    slot = match_slots(true, pred)                                                          # (N, n)
    hit = slot >= 0
    n_idx = np.broadcast_to(np.arange(len(pred))[:, None], slot.shape)[hit]
    placed, stamp = pred[n_idx, slot[hit]], classes[n_idx, slot[hit]]                       # (P, 2), (P,)
    true = true[hit]                                                                        # (P, 2)
    centroids = ink_centroids(np.asarray(out["stamps"]))                                    # (K, 2)
    corner = placed - true                                          # slot's upper-left from the true one
    ink = placed + centroids[stamp] - true                          # drawn ink centre from the true box centre
    canvas = test.images.shape[1:3]
    cor_loc = np.mean(box_iou(true, placed, size, canvas) >= 0.5)
    ink_cor_loc = np.mean(box_iou(true, np.rint(true + ink), size, canvas) >= 0.5)
    print(f"{run.weights.name}: {len(pred)} test canvases, {len(true)} matched objects, stamps of {size}×{size}")
    print(f"slot corner from the true corner: median |dy| {np.median(abs(corner[:, 0])):.1f}, "
          f"|dx| {np.median(abs(corner[:, 1])):.1f} px; mean dy {corner[:, 0].mean():+.1f}, dx {corner[:, 1].mean():+.1f}; "
          f"CorLoc {cor_loc:.4f}")
    print(f"drawn ink centre from the true box centre: median |dy| {np.median(abs(ink[:, 0])):.1f}, "
          f"|dx| {np.median(abs(ink[:, 1])):.1f} px; ink-centred CorLoc {ink_cor_loc:.4f}")
    used = np.bincount(stamp, minlength=len(centroids))
    print("most used stamps (matched slots): stamp, uses, ink centroid dy/dx from the stamp centre")
    for k in used.argsort()[::-1][:8]:
        if used[k]:
            print(f"  {k:>3} {used[k]:>6}   {centroids[k, 0]:+6.1f} {centroids[k, 1]:+6.1f}")

    target = args.out or run.folder / "figures" / "stamp_offsets.png"
    offset_clouds({f"slot corner (CorLoc {cor_loc:.2f})": corner,
                   f"drawn ink centre (ink-centred {ink_cor_loc:.2f})": ink},
                  f"{run.folder.parent.name}/{run.folder.name}, {run.weights.name}: offsets from the true object, "
                  f"stamps {size}×{size}", path=target)
    print(f"figure: {target}")


if __name__ == "__main__":
    main()
