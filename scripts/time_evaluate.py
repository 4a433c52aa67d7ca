"""Time the prediction of ``stampnet.evaluate`` on N test canvases: the old eager loop against today's compiled
``predict``, alternating, wall and process CPU seconds (docs/performance.md).

    python scripts/time_evaluate.py [--n 10000] [--rounds 3] [--ref DIR]

Uses the 2019 Simple Shapes-2 config and weights, downloaded once into the Keras cache
(``python -m stampnet.evaluate --pretrained simple_shapes_2`` fetches them) or read from ``--ref DIR``
(``simple_shapes_2.config.json`` and ``simple_shapes_2.weights.800.hdf5``); any Keras backend (KERAS_BACKEND).
"""
import json
import os
import sys
import tempfile
import time


import keras

from stampnet import ConfigError
from stampnet.cli import ArgumentParser, fail
from stampnet.evaluate import test_split
from stampnet.model import predict
from stampnet.runs import build_run, load_weights
from stampnet.legacy import reference_run
from stampnet.model import analysis_model, set_noise, set_temperature


def eager(model, images, tau, batch_size=256):
    """The evaluation's prediction before it was compiled: the analysis model called batch by batch."""
    set_temperature(model, tau)
    set_noise(model, True)
    net = analysis_model(model)
    for start in range(0, len(images), batch_size):
        keras.ops.convert_to_numpy(net(images[start:start + batch_size], training=False)["stamp_probs"])


def main() -> int:
    ap = ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=10000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--ref", help="folder of the 2019 config and weights (default: the Keras cache, downloaded once)")
    args = ap.parse_args()
    try:
        config, weights = reference_run(args.ref, "simple_shapes_2", tempfile.mkdtemp(), test_size=args.n)
    except ConfigError as err:
        return fail(str(err))
    run = build_run(config)
    load_weights(run.model, weights, config)
    images = test_split(run.config).images
    print(f"{len(images)} canvases, backend {keras.backend.backend()}", flush=True)
    for _ in range(args.rounds):
        row = {}
        for name, fn in (("eager", lambda: eager(run.model, images, 1e-4)),
                         ("compiled", lambda: predict(run.model, images, 1e-4))):
            wall, cpu = time.perf_counter(), time.process_time()
            fn()
            row[name] = {"wall_s": round(time.perf_counter() - wall, 2), "cpu_s": round(time.process_time() - cpu, 2)}
        row["load"] = round(os.getloadavg()[0], 1)
        print(json.dumps(row), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
