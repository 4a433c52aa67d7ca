"""The measures of the authors' 2019 weights at Gumbel-noise seeds 0–2 on the current Keras backend: the spread
behind the tolerances of tests/test_fidelity_2019.py. Needs ../shared beside the repository.

    python scripts/seed_spread.py                       # TensorFlow
    KERAS_BACKEND=jax python scripts/seed_spread.py     # JAX
"""
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from stampnet.data.cluttered import generate_cluttered_mnist, save_npz_atomic
from stampnet.data.mnist import load_mnist
from stampnet.evaluate import evaluate
from stampnet.backend import name

ref = REPO.parent / "shared" / "reference" / "stampnet-2019"
if not ref.is_dir():
    sys.exit(f"error: {ref} not found; this check needs the project's ../shared folder (the 2019 weights)")
tmp = Path(tempfile.mkdtemp())
keys = ["cor_loc", "iou", "purity", "avg_total_mse"]
out = {}
c = json.loads((ref / "simple_shapes_2.config.json").read_text())
c["run_parameters"]["img_type_parameters"]["test_size"] = 4000
c["run_parameters"].update(steps_per_epoch=1, validation_steps=0)
(tmp / "ss2.json").write_text(json.dumps(c))
mnist = load_mnist(ref.parent.parent / "data/mnist/mnist-subset.npz")
data = save_npz_atomic(tmp / "ct2.npz", generate_cluttered_mnist(mnist, n_digits=2, n_train=64))
c = json.loads((ref / "ct_mnist_2.config.json").read_text())
c["run_parameters"]["img_type_parameters"]["data_path"] = str(data)
c["run_parameters"].update(steps_per_epoch=1, validation_steps=0)
(tmp / "ct2.json").write_text(json.dumps(c))
for exp, cfg, w in [("ss2", "ss2.json", "simple_shapes_2.weights.800.hdf5"), ("ct2", "ct2.json", "ct_mnist_2.weights.1000.hdf5")]:
    for seed in (0, 1, 2):
        m = evaluate(tmp / cfg, weights=ref / w, tau=1e-4, seed=seed)["measures"]
        out[f"{exp} seed {seed}"] = {k: m[k] for k in keys}
        print(name(), exp, seed, {k: round(m[k], 6) for k in keys}, flush=True)
print(json.dumps(out))
