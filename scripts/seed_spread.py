"""The measures of the authors' 2019 weights at Gumbel-noise seeds 0–2 on the current Keras backend: the spread
behind the tolerances of tests/test_fidelity_2019.py.

    python scripts/seed_spread.py                       # TensorFlow
    KERAS_BACKEND=jax python scripts/seed_spread.py     # JAX
    python scripts/seed_spread.py --reference DIR --mnist PATH

The weights and configs come from the Keras cache (downloaded once, as ``python -m stampnet.evaluate
--pretrained`` does) unless ``--reference DIR`` holds them (``<exp>.config.json``, ``<exp>.weights.<epoch>.hdf5``);
the CT-MNIST-2 test split is regenerated from ``--mnist PATH`` (an ``mnist.npz`` in Keras' layout) or
``keras.datasets.mnist``.
"""
import json
import sys
import tempfile

from stampnet import ConfigError
from stampnet.backend import name
from stampnet.cli import ArgumentParser, fail
from stampnet.evaluate import evaluate
from stampnet.legacy import reference_run


def main() -> int:
    ap = ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", help="folder of the 2019 configs and weights (default: the Keras cache)")
    ap.add_argument("--mnist", help="MNIST for the CT-MNIST-2 test split (default: keras.datasets.mnist)")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp()
    keys = ["cor_loc", "iou", "purity", "avg_total_mse"]
    out = {}
    for exp in ("simple_shapes_2", "ct_mnist_2"):
        try:
            config, weights = reference_run(args.reference, exp, tmp, mnist_path=args.mnist)
        except ConfigError as err:
            return fail(str(err))
        for seed in (0, 1, 2):
            m = evaluate(config, weights=weights, tau=1e-4, seed=seed)["measures"]
            out[f"{exp} seed {seed}"] = {k: m[k] for k in keys}
            print(name(), exp, seed, {k: round(m[k], 6) for k in keys}, flush=True)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
