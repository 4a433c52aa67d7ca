"""Keras' other backends. On JAX (and PyTorch, where it is installed), in subprocesses where ``import
tensorflow`` fails, as on the GPU machine: a quick training, a resume that continues exactly, an evaluate, data
parallelism over two CPU devices, every loss term logged. And the same maths everywhere: the 2019 CT-MNIST-2 weights give the same
reconstructions and measures on TensorFlow and JAX (needs ../shared; skipped without it).

CI installs JAX's CPU wheels (.ci/run); without JAX the JAX tests skip with the reason printed.
"""
import importlib.util
import json
import os
import shutil
import textwrap

import numpy as np
import pytest

from stampnet import ConfigError
from tests.conftest import REPO_ROOT, made_once, require_shared, run_experiment, tf_quiet_lines
from tests.tiny import TINY, overrides

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")



def requires(module: str):
    if importlib.util.find_spec(module) is None:
        reason = f"needs {module} (`pip install {module}`), which is not installed here"
        print(f"SKIP: {reason}")
        pytest.skip(reason)


def without_tensorflow(backend: str, folder, **extra) -> dict:
    """Environment for a subprocess on ``backend`` where TensorFlow cannot be imported. JAX's compilation cache
    is ``folder/jax-cache`` (not the user's ~/.cache): a test's second process compiles little of what its
    first did (``stampnet.backend.compilation_cache`` keeps every program)."""
    site = REPO_ROOT / "scripts" / "no_tensorflow"  # its sitecustomize.py blocks the import
    cache = {"JAX_COMPILATION_CACHE_DIR": str(folder / "jax-cache")}
    return {"PYTHONPATH": f"{site}{os.pathsep}{REPO_ROOT}", "KERAS_BACKEND": backend, **cache, **extra}


def run(args, cwd, env, script="simple_shapes_2.py", timeout=1800):
    proc = run_experiment(args, cwd, timeout=timeout, script=script, **env)
    assert proc.returncode == 0, "\n".join(tf_quiet_lines(proc.stderr)[-30:])
    return proc


def losses(run_dir):
    return json.loads((run_dir / "metrics.json").read_text())["loss"]["values"]


def test_tensorflow_is_really_blocked(tmp_path):
    requires("jax")
    env = without_tensorflow("jax", tmp_path)
    code = ("import keras, importlib.util\n"
            "try:\n    import tensorflow\nexcept ImportError:\n    print('blocked', keras.backend.backend())\n")
    (tmp_path / "probe.py").write_text(code)
    proc = run(["probe.py"], tmp_path, env, script=None)
    assert proc.stdout.strip() == "blocked jax"


def test_jax_keeps_compiled_programs_in_the_users_cache_folder(tmp_path):
    requires("jax")
    env = without_tensorflow("jax", tmp_path, JAX_COMPILATION_CACHE_DIR="", XDG_CACHE_HOME=str(tmp_path / "xdg"))
    (tmp_path / "probe.py").write_text("import jax\nfrom stampnet import backend\nprint(backend.compilation_cache())\n"
                                       "print(jax.config.jax_persistent_cache_min_compile_time_secs)\n")
    proc = run(["probe.py"], tmp_path, env, script=None)
    assert proc.stdout.split() == [str(tmp_path / "xdg" / "stampnet" / "jax"), "0.0"]  # every program kept


RESUME = textwrap.dedent("""
    import json, sys
    sys.path.insert(0, {repo!r})
    from stampnet import backend
    from stampnet.evaluate import main as evaluate
    from stampnet.train import train
    from tests.tiny import tiny, with_

    first, parallel, penalties = sys.argv[1], sys.argv[2] == "parallel", json.loads(sys.argv[3])

    def config(**run_parameters):
        cfg = tiny(epochs=3, shuffle=True, **run_parameters)
        for path, value in penalties.items():  # the first run's loss terms
            cfg = with_(cfg, path, value)
        return cfg

    out = {{"replicas": backend.replicas("mirrored")}}
    runs = [("straight", config()), ("resumed", {{**config(), "resume_from": first}})]
    if parallel:
        runs.append(("mirrored", config(distribute="mirrored")))
    for name, cfg in runs:
        logged = {{}}
        train(cfg, name, log_scalar=lambda n, v, s: logged.setdefault(n, []).append(v))
        out[name] = logged["loss"]
        open(name + "/config.json", "w").write(json.dumps(cfg))  # as Sacred would, for evaluate
    print("RESULT " + json.dumps(out), flush=True)
    sys.exit(evaluate(["resumed", "--json", "--limit", "16", "--precise-bn", "32"]))
""")


# Two loss terms beyond the reconstruction. The JAX tests' one command-line run has them: the loss-term test
# reads it, the training test resumes and repeats it.
PENALTIES = {"layer_parameters.decoder_parameters.overlap_penalty": 0.5,
             "layer_parameters.decoder_parameters.gumbel_parameters.usage_balance": 3.0}


def first_run(folder, backend: str, parallel: bool = False, penalties: dict = None) -> None:
    """Without TensorFlow, by the command line in ``folder``: a tiny run of 2 epochs with shuffle (and
    ``penalties``), its BatchNorm statistics recomputed at the end; its stdout in ``folder/first.out``. With
    ``parallel`` on two XLA host devices, as the process that repeats it (so it finds these compiled steps)."""
    env = without_tensorflow(backend, folder)
    if parallel:
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    proc = run(["with", *overrides(TINY), "run_parameters.shuffle=True", "run_parameters.epochs=2",
                "run_parameters.precise_bn=32", *(f"{path}={value!r}" for path, value in (penalties or {}).items())],
               folder, env)
    (folder / "first.out").write_text(proc.stdout)


@pytest.fixture(scope="session")
def jax_run(tmp_path_factory):
    """JAX's command-line run (``first_run`` with PENALTIES, on two host devices), made once per test session:
    the folder holding runs/, first.out and the JAX compilation cache jax-cache/ that run filled."""
    requires("jax")
    return made_once(tmp_path_factory, "jax_run", lambda folder: first_run(folder, "jax", True, PENALTIES))


def train_resume_evaluate(tmp_path, backend: str, parallel: bool = False, penalties: dict = None, made=None):
    """Without TensorFlow: the tiny run of ``first_run`` (made in ``tmp_path``, or a copy of the one in ``made``);
    then in one process (compiled once) the same run for 3 epochs straight and the first resumed to 3 (from the
    backup state: training's statistics), and with ``parallel`` the straight run again with data parallelism
    over two XLA host devices; then evaluate the resumed run with --precise-bn. That process uses the first's
    JAX compilation cache, where the first left it (the folder is part of a program's key)."""
    if made is None:
        made = tmp_path
        first_run(tmp_path, backend, parallel, penalties)
    else:
        shutil.copytree(made / "runs", tmp_path / "runs")  # the resumed run is written beside the first
    env = without_tensorflow(backend, made)
    if parallel:  # in both processes: the same devices, so the second finds the first's compiled steps
        env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=2"
    assert "BatchNorm statistics recomputed without dropout on 32 training canvases" in (
        made / "first.out").read_text()
    first = tmp_path / "runs" / "simple_shapes_2" / "1"
    assert json.loads((first / "info.json").read_text())["backend"]["backend"] == backend
    assert (first / "backup" / "state.weights.h5").is_file() and any((first / "trained").glob("weights.02-*"))
    assert (first / "figures" / "stamps.png").stat().st_size > 0
    assert any((first / "board" / "train").iterdir())  # TensorBoard scalars without tf.summary
    (tmp_path / "resume.py").write_text(RESUME.format(repo=str(REPO_ROOT)))
    proc = run(["resume.py", str(first), "parallel" if parallel else "single", json.dumps(penalties or {})], tmp_path,
               env, script=None)
    result = json.loads(next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))[7:])
    measures = json.loads(proc.stdout.strip().splitlines()[-1])
    return losses(first), result, measures


def test_jax_trains_resumes_evaluates_and_runs_data_parallel_without_tensorflow(jax_run, tmp_path):
    """distribute=mirrored on JAX is keras.distribution.DataParallel, here over 2 CPU devices (XLA's host device
    count): it follows the single-device losses closely, as MirroredStrategy does on TensorFlow. The run has the
    two PENALTIES: every loss term continues exactly too."""
    requires("jax")
    assert any((jax_run / "jax-cache").iterdir())  # compiled steps kept for the next process (and run)
    first, result, measures = train_resume_evaluate(tmp_path, "jax", parallel=True, penalties=PENALTIES,
                                                    made=jax_run)
    straight, resumed = result["straight"], result["resumed"]
    assert straight[:2] == first          # the same seed gives the same losses (determinism)
    assert resumed == straight            # the resumed run continues exactly
    assert 0 <= measures["cor_loc"] <= 1 and measures["n_images"] == 16 and measures["precise_bn"] == 32
    assert result["replicas"] == 2
    parallel = result["mirrored"]
    assert len(parallel) == 3 and all(np.isfinite(parallel))
    for a, b in zip(straight, parallel):
        assert abs(a - b) <= 0.02 * abs(a), (straight, parallel)


def test_torch_trains_resumes_and_evaluates_without_tensorflow(tmp_path):
    requires("torch")
    first, result, measures = train_resume_evaluate(tmp_path, "torch")
    resumed, straight = result["resumed"], result["straight"]
    assert len(resumed) == 3 and all(np.isfinite(resumed))
    assert resumed[:2] == first
    assert resumed == straight  # exact: dropout's global torch generator is put back just before the first step
    assert 0 <= measures["cor_loc"] <= 1 and measures["precise_bn"] == 32


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_loss_term_is_logged_without_tensorflow(tmp_path, backend, request):
    """A run with two penalties by the command line: metrics.json and TensorBoard hold the reconstruction and
    each term (and their val_ twins) every epoch, and they add up to the loss."""
    requires(backend)
    if backend == "jax":  # the JAX training test's run (2 epochs): the first epoch is read here
        where = request.getfixturevalue("jax_run")
    else:
        where = tmp_path
        run(["with", *overrides(TINY), "run_parameters.epochs=1",
             *(f"{path}={value!r}" for path, value in PENALTIES.items())], tmp_path,
            without_tensorflow(backend, tmp_path))
    folder = where / "runs" / "simple_shapes_2" / "1"
    metrics = {k: v["values"] for k, v in json.loads((folder / "metrics.json").read_text()).items()}
    terms = ("overlap_penalty", "usage_balance")
    assert {"reconstruction", *terms, "val_reconstruction", *(f"val_{k}" for k in terms)} <= set(metrics)
    assert not {"overdraw_penalty", "slot_ink_penalty", "centre_penalty"} & set(metrics)
    assert min(metrics[k][0] for k in terms) > 0
    for prefix in ("", "val_"):
        total = metrics[prefix + "reconstruction"][0] + sum(metrics[prefix + k][0] for k in terms)
        assert metrics[prefix + "loss"][0] == pytest.approx(total, rel=1e-6)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tags = EventAccumulator(str(folder / "board" / "validation")).Reload().Tags()   # the val_ twins
    assert {"epoch_reconstruction", "epoch_overlap_penalty", "epoch_usage_balance"} <= {*tags["tensors"], *tags["scalars"]}


def test_distribute_names_the_backends_that_offer_it(monkeypatch):
    from stampnet import backend

    monkeypatch.setattr(backend, "name", lambda: "torch")
    with pytest.raises(ConfigError, match="TensorFlow .*MirroredStrategy.* and JAX .*DataParallel"):
        backend.distribution("mirrored", 8)


# --- The 2019 weights on TensorFlow (this process) and JAX (a subprocess without TensorFlow) ---

LIMIT = N_RECON = 256  # canvases evaluated on each backend and compared (all of their reconstructions)
EVALUATE = textwrap.dedent("""
    import json, sys
    import numpy as np
    from stampnet.evaluate import evaluate

    config, weights, out = sys.argv[1:4]
    result = evaluate(config, weights=weights, tau=1e-4, limit={limit}, noise=False)
    np.save(out + ".npy", result["outputs"]["reconstruction"][:{n}])
    measures = {{k: v for k, v in result["measures"].items() if isinstance(v, (int, float))}}
    open(out + ".json", "w").write(json.dumps(measures))
""").format(limit=LIMIT, n=N_RECON)


def test_2019_weights_same_reconstructions_and_measures_on_tensorflow_and_jax(tmp_path):
    requires("jax")
    from stampnet.evaluate import evaluate
    from stampnet.legacy import reference_run

    config, weights = reference_run(require_shared("reference/stampnet-2019"), "ct_mnist_2", tmp_path,
                                    mnist_path=require_shared("data/mnist/mnist-subset.npz"))
    (tmp_path / "evaluate_jax.py").write_text(EVALUATE)
    run(["evaluate_jax.py", str(config), str(weights), str(tmp_path / "jax")], tmp_path,
        without_tensorflow("jax", tmp_path), script=None)
    ours = evaluate(config, weights=weights, tau=1e-4, limit=LIMIT, noise=False)

    jax_recon = np.load(tmp_path / "jax.npy")
    assert jax_recon.shape == (N_RECON, 100, 100, 1)
    assert np.abs(jax_recon - ours["outputs"]["reconstruction"][:N_RECON]).max() <= 1e-4
    jax_measures = json.loads((tmp_path / "jax.json").read_text())
    for key in ("cor_loc", "iou", "purity", "nmi", "acc"):
        assert jax_measures[key] == pytest.approx(ours["measures"][key], abs=2e-3), key
    assert jax_measures["avg_total_mse"] == pytest.approx(ours["measures"]["avg_total_mse"], rel=1e-4)
