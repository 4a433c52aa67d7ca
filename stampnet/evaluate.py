"""Measure a trained StampNet on its test split: ``python -m stampnet.evaluate TARGET``.

TARGET is a run folder (``runs/ct_mnist_2/3``) or a config.json (ours or a 2019 one). The weights are the
latest in the run's ``trained/`` unless ``--epoch`` or ``--weights`` says otherwise; ``--weights`` also takes
the 2019 Keras 2.2.2 HDF5 files. Prints the measures as a table and writes ``measures.json`` beside the config.
The test-time Gumbel noise is drawn from ``--seed`` (default 0), so the same call gives the same numbers.
It also draws ``figures/typical_canvases.png`` (typical test canvases beside the worst by the run's measures:
empty slots, brightest first, localisation and clusters) and, for Omniglot, ``figures/stamps_vs_kmeans.png``
(``--figures DIR`` elsewhere, ``--no-figures`` none).

``--epochs 10,20,40`` (or ``all``) measures several checkpoints of a run instead — the 2019 notebook's
``custom_weight_epochs`` — prints one row per epoch and writes ``measures_by_epoch.json`` / ``.csv`` and
``figures/quality_by_epoch.png`` (CorLoc, IoU, purity against training canvases) into the run folder.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Optional

from stampnet import ConfigError  # first: quiets TensorFlow's start-up without a GPU (stampnet/tf_noise.py)
from stampnet.baselines import format_kmeans, kmeans_clusterings, kmeans_rows
from stampnet.model import DEFAULT_SEED, predict
from stampnet.runs import LoadedRun, build_run, home_relative, load_run, load_weights
from stampnet.spec import RunSpec, TrainSpec


def test_split(spec: RunSpec, limit: Optional[int] = None, with_train: bool = False):
    """The run's test canvases (the first ``limit`` of them); with ``with_train``, (test, training canvases)."""
    splits = spec.data.load(spec.train.seed)
    test = splits.test.take(slice(0, limit)) if limit else splits.test
    return (test, splits.train.images) if with_train else test


def measure(run: LoadedRun, test, tau=None, matching="greedy", noise=True, batch_size=256, seed=DEFAULT_SEED,
            progress=False, net=None) -> tuple[dict, dict]:
    """(measures, outputs) of the loaded weights of ``run`` on ``test``."""
    from stampnet.metrics import compute_measures
    from stampnet.model import stamps

    from stampnet.data import check_memory

    tau = run.spec.train.test_temperature if tau is None else tau
    check_memory("evaluation", len(test), *test.images.shape[1:3], "--limit (or img_type_parameters.test_size)",
                 factor=3)  # the reconstructions, their float64 copies in the measures
    out = predict(run.model, test.images, tau, batch_size, noise, progress, seed, net)
    out["stamps"] = stamps(run.model)  # (K, S, S): the ink of empty slots, the claims' figures
    has = run.spec.data.carries
    measures = compute_measures(test.images, out["reconstruction"], out["stamp_probs"], out["y_probs"],
                                out["x_probs"], test.labels if has.labels else None,
                                test.coords if has.boxes else None,
                                stamp_size=run.spec.model.stamp_size, matching=matching,
                                one_target=has.one_target, stamps=out["stamps"], intensities=test.intensities,
                                masks=test.masks if has.masks else None)
    measures.update(tau=tau, noise=noise, seed=seed, weights=home_relative(run.weights))
    return measures, out


def measure_recalibrated(run: LoadedRun, test, train_images, precise_bn: int = 0, precise_bn_dropout: bool = False,
                         **kwargs) -> tuple[dict, dict]:
    """:func:`measure`, after ``--precise-bn``: first recompute the loaded weights' BatchNorm statistics without
    dropout on ``precise_bn`` of the run's training canvases (``stampnet.recipe.recompute_batchnorm``, seeded
    by the run's seed), recorded as ``measures["precise_bn"]``. ``precise_bn=0`` measures the weights as they are.
    ``precise_bn_dropout``: the control, the same recomputation with dropout on (as training saw it)."""
    from stampnet.recipe import recompute_batchnorm

    used = recompute_batchnorm(run.model, train_images, precise_bn, seed=run.spec.train.seed,
                               dropout=precise_bn_dropout)
    measures, out = measure(run, test, **kwargs)
    if used:
        measures["precise_bn"] = used  # canvases the statistics were recomputed on
        measures["precise_bn_dropout"] = precise_bn_dropout
    return measures, out


def evaluate(target, epoch=None, weights=None, tau=None, limit=None, matching="greedy", noise=True,
             batch_size=256, decoder=None, kmeans=None, progress=False, seed=DEFAULT_SEED, precise_bn=0,
             precise_bn_dropout=False) -> dict:
    """Load a run, predict its test split and compute the measures (the 2019 notebook's). Returns a dict
    with ``measures`` (and ``kmeans`` rows for Omniglot), plus ``outputs``, ``test`` and ``run`` for
    figures (the notebook uses them). ``seed``: of the test-time Gumbel noise (None: unseeded).
    ``precise_bn``: first recompute the BatchNorm statistics without dropout on this many training canvases."""
    run = load_run(target, epoch, weights, decoder)
    test, train_images = test_split(run.spec, limit, with_train=True)
    measures, out = measure_recalibrated(run, test, train_images, precise_bn, precise_bn_dropout, tau=tau, matching=matching,
                                         noise=noise, batch_size=batch_size, seed=seed, progress=progress)
    result = {"measures": measures, "outputs": out, "test": test, "run": run}
    if kmeans if kmeans is not None else run.spec.data.carries.kmeans_reference:
        result["kmeans_clusterings"] = kmeans_clusterings(run.spec, test)
        result["kmeans"] = kmeans_rows(measures, result["kmeans_clusterings"], matching)
    return result


def training_canvases(spec: TrainSpec, epoch: int) -> int:
    """Canvases seen in training by the end of ``epoch``: epoch × steps_per_epoch × batch_size."""
    return epoch * spec.images_per_epoch


def parse_epochs(text) -> Optional[list[int]] | str:
    """``"10,20,40"`` → [10, 20, 40]; ``"all"`` (or None) stays as it is; a list of ints passes."""
    if text is None or text == "all":
        return text
    items = text if isinstance(text, (list, tuple)) else str(text).split(",")
    try:
        epochs = [int(str(e).strip()) for e in items if str(e).strip()]
    except ValueError:
        epochs = []
    if not epochs or any(e < 1 for e in epochs):
        raise ConfigError(f"epochs must be 'all' or epochs >= 1 separated by commas, e.g. --epochs 10,20,40; "
                          f"got {text!r}")
    return sorted(set(epochs))


def evaluate_epochs(target, epochs="all", tau=None, limit=None, matching="greedy", noise=True, batch_size=256,
                    decoder=None, seed=DEFAULT_SEED, progress=False, precise_bn=0,
                    precise_bn_dropout=False) -> dict:
    """The measures of several checkpoints of one run (``epochs``: a list, ``"10,20"`` or ``"all"``), each on
    the same test canvases with the same noise (and, with ``precise_bn``, its BatchNorm statistics recomputed
    first, as :func:`evaluate`). ``target``: a run folder / config.json (``decoder`` overrides its decoder), or a
    :class:`~stampnet.runs.LoadedRun` already read (its config and model are used as they are). Returns ``rows``
    (one dict per epoch: epoch, training_canvases, the measures) and ``run``. One model, its predict function
    traced once."""
    from stampnet.runs import checkpoints

    run = target if isinstance(target, LoadedRun) else build_run(target, decoder)
    found = checkpoints(run.folder / "trained")
    epochs = parse_epochs(epochs)
    if epochs in (None, "all"):
        epochs = list(found)
    missing = [e for e in epochs if e not in found]
    if not found or missing:
        have = f"it has epochs {', '.join(map(str, found))}" if found else "it has no checkpoints yet"
        raise ConfigError(f"no checkpoint for epoch(s) {', '.join(map(str, missing or epochs))} in "
                          f"{run.folder / 'trained'} ({have}); choose from those, or --epochs all")
    test, train_images = test_split(run.spec, limit, with_train=True)
    rows = []
    for epoch in epochs:
        run.weights = found[epoch]
        load_weights(run.model, run.weights, run.folder / "config.json")
        measures, _ = measure_recalibrated(run, test, train_images, precise_bn, precise_bn_dropout, tau=tau, matching=matching,
                                           noise=noise, batch_size=batch_size, seed=seed, progress=progress)
        rows.append({"epoch": epoch, "training_canvases": training_canvases(run.spec.train, epoch), **measures})
    return {"rows": rows, "run": run}


def _epoch_columns() -> tuple:
    from stampnet.metrics import MEASURES, measure_keys

    return ("epoch", "training_canvases", *measure_keys(m for m in MEASURES if m.by_epoch))


EPOCH_COLUMNS = _epoch_columns()  # the measures declared ``by_epoch`` (stampnet.metrics.MEASURES)


def epoch_columns(rows: list[dict]) -> list[str]:
    return [c for c in EPOCH_COLUMNS if any(r.get(c) is not None for r in rows)]


def format_epochs(rows: list[dict]) -> str:
    """One line per checkpoint: epoch, training canvases and the main measures."""
    from stampnet.metrics import format_value

    columns = epoch_columns(rows)
    cells = [[format_value(c, r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths))]
    lines += ["  ".join(v.rjust(w) for v, w in zip(row, widths)) for row in cells]
    return "\n".join(lines)


def epochs_csv(rows: list[dict]) -> str:
    columns = epoch_columns(rows)
    lines = [",".join(columns)]
    lines += [",".join("" if r.get(c) is None else repr(r[c]) if isinstance(r[c], float) else str(r[c])
                       for c in columns) for r in rows]
    return "\n".join(lines) + "\n"


def save_epochs(rows: list[dict], folder: Path) -> list[Path]:
    """measures_by_epoch.json (every measure), measures_by_epoch.csv (the table's columns) and
    figures/quality_by_epoch.png in ``folder`` (made if it does not exist)."""
    from stampnet.cli import write_text_atomic
    from stampnet.figures import quality_by_epoch

    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    written = [write_text_atomic(folder / "measures_by_epoch.json", json.dumps(rows, indent=2)),
               write_text_atomic(folder / "measures_by_epoch.csv", epochs_csv(rows))]
    quality_by_epoch(rows, path=folder / "figures" / "quality_by_epoch.png")
    return written + [folder / "figures" / "quality_by_epoch.png"]


def main(argv=None) -> int:
    from stampnet import cli

    parser = cli.ArgumentParser(prog="python -m stampnet.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", nargs="?", help="run folder (runs/<exp>/<id>) or config.json")
    parser.add_argument("--pretrained", metavar="EXP",
                        help="measure the authors' published 2019 weights of EXP (ct_mnist_1, ct_mnist_2, "
                             "pedestrian, simple_shapes_2, t_mnist_2), downloaded once into the Keras cache")
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--epoch", type=cli.positive_int, help="use the checkpoint of this epoch (default: latest)")
    which.add_argument("--weights", help="weight file: ours (.weights.h5) or a 2019 Keras 2.2.2 .hdf5")
    which.add_argument("--epochs", metavar="E1,E2,…|all",
                       help="measure these checkpoints (or all), write measures_by_epoch.json/.csv and "
                            "figures/quality_by_epoch.png")
    parser.add_argument("--tau", type=cli.positive_float,
                        help="test temperature (default: the run's test_temperature, 1e-4)")
    parser.add_argument("--limit", type=cli.positive_int, help="evaluate only the first N test canvases")
    parser.add_argument("--matching", choices=("greedy", "hungarian"), default="greedy",
                        help="slot-to-object matching: greedy as 2019 (default) or optimal")
    parser.add_argument("--no-noise", action="store_true", help="switch the Gumbel noise off at test time")
    parser.add_argument("--seed", type=cli.seed, default=DEFAULT_SEED,
                        help=f"seed of the test-time Gumbel noise (default {DEFAULT_SEED}: repeatable)")
    parser.add_argument("--batch-size", type=cli.positive_int, default=256)
    parser.add_argument("--precise-bn", type=cli.positive_int, metavar="N", default=0,
                        help="first recompute the BatchNorm statistics without dropout on N training canvases "
                             "(e.g. 8192; the weights file is not changed). Runs trained with "
                             "run_parameters.precise_bn already carry them")
    parser.add_argument("--precise-bn-dropout", action="store_true",
                        help="with --precise-bn: the control, the statistics recomputed with dropout on (as "
                             "training saw them)")
    parser.add_argument("--decoder", choices=("separable", "conv"), help="override the decoder implementation")
    parser.add_argument("--kmeans", action=argparse.BooleanOptionalAction, default=None,
                        help="add k-means baselines (default: on for Omniglot)")
    parser.add_argument("--out", help="where to write measures.json (with --epochs: the folder for the "
                                      "measures_by_epoch files; default: the run folder; nothing is written for a "
                                      "bare config.json unless given)")
    parser.add_argument("--figures", metavar="DIR",
                        help="where to write typical_canvases.png (typical and worst test canvases) and, for "
                             "Omniglot, stamps_vs_kmeans.png (default: the run folder's figures/; nothing for a "
                             "bare config.json unless given)")
    parser.add_argument("--no-figures", action="store_true", help="write no figures")
    parser.add_argument("--json", action="store_true", help="end stdout with one line of JSON")
    args = parser.parse_args(argv)
    if (args.target is None) == (args.pretrained is None):
        parser.error("give a run folder / config.json, or --pretrained EXP (not both)")
    if args.precise_bn_dropout and not args.precise_bn:
        parser.error("--precise-bn-dropout is the control of --precise-bn N; give both")
    if args.pretrained is not None and (args.weights or args.epoch or args.epochs):
        parser.error("--pretrained brings its own weights; leave out --weights, --epoch and --epochs")
    if args.out is not None:
        if args.epochs is not None and (Path(args.out).is_file() or not Path(args.out).parent.is_dir()):
            parser.error(f"argument --out: with --epochs give a folder (made if new) inside an existing one, "
                         f"not {args.out!r}")
        if args.epochs is None:
            try:
                cli.writable_file(args.out)
            except argparse.ArgumentTypeError as err:
                parser.error(f"argument --out: {err}")
    options = dict(tau=args.tau, limit=args.limit, matching=args.matching, noise=not args.no_noise,
                   batch_size=args.batch_size, decoder=args.decoder, seed=args.seed, progress=not args.json,
                   precise_bn=args.precise_bn, precise_bn_dropout=args.precise_bn_dropout)
    try:
        if args.pretrained is not None:
            from stampnet.pretrained import fetch

            args.target, args.weights = fetch(args.pretrained)
        if args.epochs is not None:
            result = evaluate_epochs(args.target, parse_epochs(args.epochs), **options)
        else:
            result = evaluate(args.target, args.epoch, args.weights, kmeans=args.kmeans, **options)
    except ConfigError as err:
        return cli.fail(str(err))
    default_folder = result["run"].folder if Path(args.target).is_dir() else None
    if args.epochs is not None:
        rows = result["rows"]
        print(format_epochs(rows))
        folder = Path(args.out) if args.out else default_folder
        if folder is not None:
            for path in save_epochs(rows, folder):
                print(f"wrote {path}", file=sys.stderr)
        if args.json:
            print(json.dumps(rows))
        return 0
    from stampnet.metrics import format_table

    measures = result["measures"]
    print(format_table(measures))
    report = dict(measures)
    if "kmeans" in result:
        print("\nclustering, StampNet vs k-means (same K, same test characters):")
        print(format_kmeans(result["kmeans"]))
        report["kmeans"] = result["kmeans"]
    figures_dir = Path(args.figures) if args.figures else (default_folder / "figures" if default_folder else None)
    if figures_dir is not None and not args.no_figures:
        try:
            from stampnet.figures import save_claim_figures

            for path in save_claim_figures(result, figures_dir, args.matching):
                print(f"wrote {path}", file=sys.stderr)
        except OSError as err:
            return cli.fail(f"could not write the figures into {figures_dir} ({err.strerror}); choose another "
                            "--figures folder or pass --no-figures")
    out_path = Path(args.out) if args.out else (default_folder / "measures.json" if default_folder else None)
    if out_path is not None:
        try:
            cli.write_text_atomic(out_path, json.dumps(report, indent=2))
            print(f"wrote {out_path}", file=sys.stderr)
        except OSError as err:
            return cli.fail(f"could not write {out_path} ({err.strerror}); choose another --out")
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
