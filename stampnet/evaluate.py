"""Measure a trained StampNet on its test split: ``python -m stampnet.evaluate TARGET``.

TARGET is a run folder (``runs/ct_mnist_2/3``) or a config.json (ours or a 2019 one). The weights are the
latest in the run's ``trained/`` unless ``--epoch`` or ``--weights`` says otherwise; ``--weights`` also takes
the 2019 Keras 2.2.2 HDF5 files. Prints the measures as a table and writes ``measures.json`` beside the config.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from stampnet import ConfigError  # noqa: E402
from stampnet.config import read_config  # noqa: E402


@dataclass
class LoadedRun:
    config: dict
    model: object        # keras.Model
    folder: Path         # where the config lives (results are written here)
    weights: Path


def find_weights(trained_dir: Path, epoch: Optional[int] = None) -> Path:
    """The weights of ``epoch`` (or the latest) in a run's ``trained/`` folder."""
    from stampnet.train import latest_weights

    if epoch is None:
        found = latest_weights(trained_dir)
    else:
        found = next(iter(sorted(Path(trained_dir).glob(f"weights.{epoch:02d}-*.weights.h5"))), None)
    if found is None:
        what = f"epoch {epoch}" if epoch is not None else "any epoch"
        raise ConfigError(f"no weights for {what} in {trained_dir}; train the run first (or let it reach a "
                          "checkpoint), or pass --weights FILE")
    return found


def load_run(target: str | Path, epoch: Optional[int] = None, weights: Optional[str | Path] = None,
             decoder: Optional[str] = None) -> LoadedRun:
    """Rebuild the model of a run folder / config.json and load its weights (ours or 2019's)."""
    from stampnet.legacy import is_legacy_file, load_legacy_weights
    from stampnet.model import build_model

    target = Path(target)
    config_path = target / "config.json" if target.is_dir() else target
    cfg = read_config(config_path)
    if decoder:
        cfg["layer_parameters"]["decoder_parameters"]["decoder"] = decoder
    model = build_model(cfg["layer_parameters"], compile=False)
    weights = Path(weights) if weights else find_weights(config_path.parent / "trained", epoch)
    if not weights.is_file():
        raise ConfigError(f"no weight file at {weights}")
    if is_legacy_file(weights):
        load_legacy_weights(model, weights)
    else:
        try:
            model.load_weights(str(weights))
        except (ValueError, KeyError, OSError) as err:
            raise ConfigError(f"{weights} does not fit the model of {config_path} ({str(err).splitlines()[0]}); "
                              "use the config.json saved with these weights") from None
    return LoadedRun(cfg, model, config_path.parent, weights)


def predict(model, images: np.ndarray, tau: float, batch_size: int = 256, noise: bool = True,
            progress: bool = False) -> dict:
    """The analysis outputs for ``images`` at temperature ``tau`` (Gumbel noise on, as in 2019, unless
    ``noise=False``): reconstruction, stamp_probs, y_probs, x_probs."""
    from tqdm import tqdm

    from stampnet.model import analysis_model, set_noise, set_temperature

    set_temperature(model, tau)
    set_noise(model, noise)
    net = analysis_model(model)
    keys = ("reconstruction", "stamp_probs", "y_probs", "x_probs")
    parts = {k: [] for k in keys}
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="predicting", unit="batch", disable=not progress):
        out = net(images[start:start + batch_size], training=False)
        for k in keys:
            parts[k].append(np.asarray(out[k]))
    return {k: np.concatenate(v) for k, v in parts.items()}


def kmeans_rows(cfg: dict, test, stamp_measures: dict) -> list[dict]:
    """Omniglot: StampNet's clusters beside k-means (same K) on the centred characters and on the canvases."""
    from stampnet.baselines import kmeans_baseline
    from stampnet.data.omniglot import load_characters

    itp, seed = cfg["run_parameters"].get("img_type_parameters") or {}, cfg["seed"]
    K = cfg["layer_parameters"]["decoder_parameters"]["nr_of_stamps"]
    xtr, ytr, xte, yte, _ = load_characters(itp, seed)
    rows = [{"method": "StampNet", **{k: stamp_measures.get(k) for k in ("nmi", "acc", "purity")}}]
    rows.append({"method": "k-means, centred 28x28 characters",
                 **kmeans_baseline(xtr.reshape(len(xtr), -1), ytr, K, seed, xte.reshape(len(xte), -1), yte)})
    canvases = test.images.reshape(len(test), -1)
    rows.append({"method": "k-means, raw canvases", **kmeans_baseline(canvases, test.labels[:, 0], K, seed)})
    return rows


def evaluate(target, epoch=None, weights=None, tau=None, limit=None, matching="greedy", noise=True,
             batch_size=256, decoder=None, kmeans=None, progress=False) -> dict:
    """Load a run, predict its test split and compute the measures (the 2019 notebook's). Returns a dict
    with ``measures`` (and ``kmeans`` rows for Omniglot), plus ``outputs``, ``test`` and ``run`` for
    figures (the notebook uses them)."""
    from stampnet.data import load_data
    from stampnet.metrics import compute_measures

    run = load_run(target, epoch, weights, decoder)
    cfg = run.config
    rp, lp = cfg["run_parameters"], cfg["layer_parameters"]
    tau = rp["test_temperature"] if tau is None else tau
    test = load_data(rp, lp["input_parameters"], cfg["seed"]).test
    if limit:
        test = test.take(slice(0, limit))
    out = predict(run.model, test.images, tau, batch_size, noise, progress)
    pedestrian = rp["img_type"] == "pedestrian"
    measures = compute_measures(test.images, out["reconstruction"], out["stamp_probs"], out["y_probs"],
                                out["x_probs"], None if pedestrian else test.labels, test.coords,
                                stamp_size=lp["decoder_parameters"]["stamp_size"], matching=matching,
                                pedestrian=pedestrian)
    measures.update(tau=tau, noise=noise, weights=str(run.weights))
    result = {"measures": measures, "outputs": out, "test": test, "run": run}
    if kmeans if kmeans is not None else rp["img_type"] == "omniglot":
        result["kmeans"] = kmeans_rows(cfg, test, measures)
    return result


def format_kmeans(rows: list[dict]) -> str:
    lines = [f"{'method':<36} {'nmi':>7} {'acc':>7} {'purity':>7}"]
    fmt = lambda v: "   n/a" if v is None else f"{v:7.4f}"
    lines += [f"{r['method']:<36} {fmt(r['nmi'])} {fmt(r['acc'])} {fmt(r['purity'])}" for r in rows]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stampnet.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("target", help="run folder (runs/<exp>/<id>) or config.json")
    parser.add_argument("--epoch", type=int, help="use the checkpoint of this epoch (default: latest)")
    parser.add_argument("--weights", help="weight file: ours (.weights.h5) or a 2019 Keras 2.2.2 .hdf5")
    parser.add_argument("--tau", type=float, help="test temperature (default: the run's test_temperature, 1e-4)")
    parser.add_argument("--limit", type=int, help="evaluate only the first N test canvases")
    parser.add_argument("--matching", choices=("greedy", "hungarian"), default="greedy",
                        help="slot-to-object matching: greedy as 2019 (default) or optimal")
    parser.add_argument("--no-noise", action="store_true", help="switch the Gumbel noise off at test time")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--decoder", choices=("separable", "conv"), help="override the decoder implementation")
    parser.add_argument("--kmeans", action=argparse.BooleanOptionalAction, default=None,
                        help="add k-means baselines (default: on for Omniglot)")
    parser.add_argument("--out", help="where to write measures.json (default: in the run folder; not written "
                                      "for a bare config.json unless given)")
    parser.add_argument("--json", action="store_true", help="end stdout with one line of JSON")
    args = parser.parse_args(argv)
    try:
        result = evaluate(args.target, args.epoch, args.weights, args.tau, args.limit, args.matching,
                          not args.no_noise, args.batch_size, args.decoder, args.kmeans, progress=not args.json)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    from stampnet.metrics import format_table

    measures = result["measures"]
    print(format_table(measures))
    report = dict(measures)
    if "kmeans" in result:
        print("\nclustering, StampNet vs k-means (same K, same test characters):")
        print(format_kmeans(result["kmeans"]))
        report["kmeans"] = result["kmeans"]
    out_path = Path(args.out) if args.out else (result["run"].folder / "measures.json"
                                                 if Path(args.target).is_dir() else None)
    if out_path is not None:
        try:
            out_path.write_text(json.dumps(report, indent=2))
            print(f"wrote {out_path}", file=sys.stderr)
        except OSError as err:
            print(f"could not write {out_path} ({err.strerror})", file=sys.stderr)
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
