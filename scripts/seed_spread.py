"""The measures of the authors' 2019 weights at Gumbel-noise seeds 0–2 on the current Keras backend: the spread
behind the tolerances of tests/test_fidelity_2019.py. Needs ../shared beside the repository.

    python scripts/seed_spread.py                       # TensorFlow
    KERAS_BACKEND=jax python scripts/seed_spread.py     # JAX
"""
import json
import sys
import tempfile
from pathlib import Path

from stampnet.backend import name
from stampnet.evaluate import evaluate
from stampnet.legacy import reference_run

REPO = Path(__file__).resolve().parent.parent

ref = REPO.parent / "shared" / "reference" / "stampnet-2019"
if not ref.is_dir():
    sys.exit(f"error: {ref} not found; this check needs the project's ../shared folder (the 2019 weights)")
tmp = Path(tempfile.mkdtemp())
keys = ["cor_loc", "iou", "purity", "avg_total_mse"]
out = {}
for exp in ("simple_shapes_2", "ct_mnist_2"):
    config, weights = reference_run(ref, exp, tmp, mnist_path=REPO.parent / "shared/data/mnist/mnist-subset.npz")
    for seed in (0, 1, 2):
        m = evaluate(config, weights=weights, tau=1e-4, seed=seed)["measures"]
        out[f"{exp} seed {seed}"] = {k: m[k] for k in keys}
        print(name(), exp, seed, {k: round(m[k], 6) for k in keys}, flush=True)
print(json.dumps(out))
