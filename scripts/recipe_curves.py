"""Loss and τ against training canvases: runs of ours beside the published 2019 run.

    python scripts/recipe_curves.py runs/simple_shapes_2/3 [more runs] \
        --reference simple_shapes_2.2019-curve.csv --out docs/img/fast_curves.png

``--reference`` takes a 2019 training curve as CSV (columns ``epoch``, ``loss``: one row per epoch).
"""
import argparse
import csv
import json
import sys
from pathlib import Path


from stampnet.config import read_config
from stampnet.figures import curves_by_canvases
from stampnet.schedules import temperature_at


def run_curves(folder: Path) -> dict:
    """A run's per-epoch loss and τ from its metrics.json, against canvases (epoch × steps × batch)."""
    cfg = read_config(folder / "config.json")
    per_epoch = cfg["run_parameters"]["steps_per_epoch"] * cfg["layer_parameters"]["input_parameters"]["batch_size"]
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"canvases": [s * per_epoch for s in metrics["loss"]["steps"]], "loss": metrics["loss"]["values"],
            "tau": metrics["tau"]["values"]}


def reference_curves(csv_path: Path) -> dict:
    """The 2019 run (epochs of 128 × 64 canvases, τ = 7·exp(−0.01·epoch) floored at 0.2)."""
    rows = list(csv.DictReader(csv_path.open()))
    epochs = [int(r["epoch"]) for r in rows]
    return {"canvases": [e * 128 * 64 for e in epochs], "loss": [float(r["loss"]) for r in rows],
            "tau": [temperature_at(e * 128, 7, 0.01, 0.2, 128) for e in epochs]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", help="run folders (runs/<exp>/<id>)")
    parser.add_argument("--labels", help="comma-separated labels for the runs (default: the folder names)")
    parser.add_argument("--reference", help="a 2019 curve CSV to draw beside them")
    parser.add_argument("--max-canvases", type=float, help="cut the reference at this many canvases")
    parser.add_argument("--out", required=True, help="PNG to write")
    args = parser.parse_args(argv)
    labels = args.labels.split(",") if args.labels else [str(r) for r in args.runs]
    curves = {label: run_curves(Path(r)) for label, r in zip(labels, args.runs)}
    if args.reference:
        ref = reference_curves(Path(args.reference))
        if args.max_canvases:
            keep = [i for i, c in enumerate(ref["canvases"]) if c <= args.max_canvases]
            ref = {k: [v[i] for i in keep] for k, v in ref.items()}
        curves["2019 run (800 epochs)"] = ref
    curves_by_canvases(curves, path=args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
