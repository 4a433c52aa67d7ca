"""``python -m stampnet.bench``: the command line (see the package's docstring)."""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import stampnet.bench
from stampnet import ConfigError, cli

# The layer_parameters of the experiments whose shapes the benchmark knows by name (simple_shapes_2.py, ct_mnist_2.py).
EXPERIMENTS = {
    "simple_shapes_2": {
        "input_parameters": {"img_rows": 84, "img_cols": 84, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [3, 3]},
        "decoder_parameters": {"nr_of_stamps": 10, "stamp_size": 28, "stamps_per_canvas": 2}},
    "ct_mnist_2": {
        "input_parameters": {"img_rows": 100, "img_cols": 100, "img_channels": 1, "batch_size": 64},
        "encoder_parameters": {"final_conv_kernel": [4, 4]},
        "decoder_parameters": {"nr_of_stamps": 40, "stamp_size": 28, "stamps_per_canvas": 2}},
}
INFER_BATCH = 256  # stampnet.evaluate's


def config_spec(config: str):
    """The ``stampnet.spec.RunSpec`` of an experiment named in :data:`EXPERIMENTS` or of a config.json: its
    config validated once, here."""
    from stampnet.config import read_config, validate
    from stampnet.spec import run_spec

    if config in EXPERIMENTS:
        return run_spec(validate({"layer_parameters": EXPERIMENTS[config]}))
    return run_spec(read_config(config))


def config_arg(text: str) -> list[str]:
    """An argparse type: comma-separated experiment names or config.json files."""
    names = [c for c in text.split(",") if c]
    for c in names:
        if c not in EXPERIMENTS and not Path(c).is_file():
            raise argparse.ArgumentTypeError(f"{c!r} is neither an experiment ({', '.join(EXPERIMENTS)}) nor a "
                                             "config.json file; name one, or give a run's config.json")
    if not names:
        raise argparse.ArgumentTypeError("names no config; give e.g. simple_shapes_2,ct_mnist_2")
    return names


def timed(step, steps: int, warmup: int = 2) -> float:
    """Median seconds of ``step()`` over ``steps`` calls after ``warmup`` untimed ones (tracing, compiling)."""
    for _ in range(warmup):
        step()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(name: str, spec, batch: int | None, conv_batch: int | None, steps: int, peak: float) -> list[dict]:
    """Training canvases/s with each decoder, and inference, of one config (its ``stampnet.spec.RunSpec``); a
    row per measure."""
    import keras

    from stampnet import backend
    from stampnet.bench.flops import TRAIN_FACTOR, mfu, model_flops
    from stampnet.model import build_model, predict

    batch = batch or spec.train.batch_size
    conv_batch = conv_batch or (batch if backend.gpu_count() else 2)
    size, channels = spec.model.image_size, spec.model.channels
    rng = np.random.default_rng(0)
    canvases = (rng.random((max(batch, conv_batch, INFER_BATCH), size, size, channels)) < 0.15).astype("float32")
    rows = []

    def row(measure, b, step_s, flops, factor):
        rows.append({"config": name, "measure": measure, "batch": b, "steps": steps, "step_ms": 1e3 * step_s,
                     "canvases_s": b / step_s, "gflop": factor * flops / 1e9,
                     "mfu": mfu(b / step_s, flops, peak, factor)})
        print(f"  {name}: {measure}, batch {b}: {b / step_s:.4g} canvases/s", file=sys.stderr, flush=True)

    keras.utils.set_random_seed(0)
    for decoder, b, n in (("separable", batch, steps), ("conv", conv_batch, max(1, steps // 5))):
        model = build_model(dataclasses.replace(spec.model, decoder=decoder), jit_compile="auto")
        x = canvases[:b]

        def step():
            loss = model.train_on_batch(x, x)
            if not np.all(np.isfinite(loss)):
                raise FloatingPointError(f"{name}, {decoder} decoder: the loss is {loss}")

        label = "training, separable" if decoder == "separable" else "training, conv (2019)"
        row(label, b, timed(step, n, warmup=1 if decoder == "conv" else 2), model_flops(model)["forward"],
            TRAIN_FACTOR)
        if decoder == "separable":
            x = canvases[:INFER_BATCH]
            infer_s = timed(lambda: predict(model, x, tau=1e-4, batch_size=INFER_BATCH), steps)
            row("inference, separable", INFER_BATCH, infer_s, model_flops(model)["forward"], 1)
        del model
    return rows


def git_commit() -> str | None:
    """This package's commit (``-dirty`` with uncommitted changes), or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=12"], capture_output=True,
                             text=True, timeout=10, cwd=Path(stampnet.bench.__file__).parent)
    except (OSError, subprocess.SubprocessError):
        return None
    return (out.stdout.strip() or None) if out.returncode == 0 else None


def load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (OSError, AttributeError):
        return None


def main(argv=None) -> int:
    parser = cli.ArgumentParser(prog="python -m stampnet.bench", description=stampnet.bench.__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=config_arg, default=list(EXPERIMENTS),
                        help=f"comma-separated experiments ({', '.join(EXPERIMENTS)}) or config.json files "
                             "(default: both experiments)")
    parser.add_argument("--batch", type=cli.positive_int, help="training batch (default: the config's)")
    parser.add_argument("--conv-batch", type=cli.positive_int,
                        help="batch of the conv decoder (default: the training batch on a GPU, 2 on a CPU)")
    parser.add_argument("--steps", type=cli.positive_int, default=10,
                        help="timed steps per measure (default 10; the conv decoder a fifth of them)")
    parser.add_argument("--new-peak", action="store_true",
                        help="measure the machine's peak again (else the one cached at its first measure)")
    parser.add_argument("--save", metavar="PATH", type=cli.writable_file, help="write the record as JSON to PATH")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else list(argv)
    try:
        configs = {name: config_spec(name) for name in args.config}
    except ConfigError as err:
        return cli.fail(f"argument --config: {err}")

    from stampnet import backend
    from stampnet.bench.flops import machine, peak_flops

    start_load = load()
    peak = peak_flops(refresh=args.new_peak)
    print(f"stampnet.bench on {machine()}, {backend.name()}; peak {peak['gflop_s']:.0f} GFLOP/s ({peak['how']})",
          file=sys.stderr, flush=True)
    rows = [r for name, spec in configs.items()
            for r in measure(name, spec, args.batch, args.conv_batch, args.steps, peak["gflop_s"])]
    record = {"command": shlex.join(["python", "-m", "stampnet.bench", *given]), "commit": git_commit(),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "load": [start_load, load()], "backend": backend.versions(), "peak": peak, "rows": rows}
    print(stampnet.bench.table(record))
    if args.save:
        cli.write_text_atomic(args.save, json.dumps(record, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
