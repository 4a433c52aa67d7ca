"""StampNet's Sacred experiment: ``python <experiment>.py with <overrides>``.

The experiment scripts (``ct_mnist_2.py`` …) import ``ex`` from here, add their 2019 configuration and call
``ex.run_commandline()``. Runs are stored in ``runs/<script>/<id>/`` (config.json, run.json, cout.txt,
metrics.json, trained/, board/, figures/, backup/). The environment variable STAMPNET_RUNS changes ``runs``.

Beside the model's keys the config has:

- ``resume_from=runs/<script>/<id>``: a new run that continues that run's training (its stored config, its
  last epoch's state; see stampnet/train.py). Other overrides on the command line apply on top.
- ``reproduce_from=runs/<script>/<id>``: a new run from scratch with that run's stored config
  (``python -m stampnet.reproduce`` sets it).
- ``mongo_url`` / ``mongo_db``: also record the run in MongoDB (Sacred's MongoObserver, for Omniboard); the
  environment variables STAMPNET_MONGO_URL / STAMPNET_MONGO_DB do the same; Sacred's own ``-m HOST:PORT:DB``
  works too. The file storage under ``runs/`` stays on.
- ``run_parameters.deterministic`` (null = on without a GPU) and ``run_parameters.distribute`` (null or
  "mirrored": data parallel over all GPUs, TensorFlow's MirroredStrategy or JAX's DataParallel).

The Keras backend is chosen by the environment (``KERAS_BACKEND=jax python simple_shapes_2.py with quick``;
TensorFlow by default); the run records it in ``info.json`` (``backend``).
"""
import copy
import os
import shutil
import sys
from pathlib import Path

import stampnet  # noqa: F401  first: quiets TensorFlow's start-up without a GPU (stampnet/tf_noise.py)
from sacred import Experiment  # noqa: E402
from sacred.observers import FileStorageObserver, MongoObserver  # noqa: E402

from stampnet import ConfigError  # noqa: E402
from stampnet.config import DEFAULTS  # noqa: E402
from stampnet.tracking import check_options, mongo_observer, mongo_settings, origin_updates  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent


def _file_storage_dir(run):
    return next((o.dir for o in run.observers if isinstance(o, FileStorageObserver)), None)


class StampExperiment(Experiment):
    """A Sacred experiment that reports a configuration problem as one line (exit code 2), not a traceback.

    Sacred's own options ``-l``, ``-F``, ``-s``, ``-m`` are checked first (``stampnet.tracking.check_options``).
    Its config hook checks the config (``stampnet.runs.preflight``; ``print_config`` and the other commands
    ``stampnet.config.validate``) while Sacred builds the run, before there is a run folder, and adds MongoDB
    when ``mongo_url`` asks; a run that fails on its input before training starts (e.g. a missing data file)
    has its folder removed again. ``resume_from`` / ``reproduce_from`` load a stored config."""

    _unobserved = False  # the run's --unobserved, for the config hook

    def run(self, command_name=None, config_updates=None, named_configs=(), info=None, meta_info=None,
            options=None):
        before, typed = self.current_run, copy.deepcopy(config_updates or {})
        self._unobserved = bool((options or {}).get("--unobserved"))
        try:
            command = dict(self.gather_commands()).get(command_name or self.default_command)
            check_options(options or {}, observed=not self._unobserved and not getattr(command, "unobserved", False))
            config_updates, origin = origin_updates(self.path, config_updates or {}, named_configs)
            if (command_name or self.default_command) == "main":
                _check_runs_root()
            return super().run(command_name, config_updates, named_configs, {**(info or {}), **origin},
                               {**(meta_info or {}), "config_updates": typed},  # as typed, not the stored config
                               options)
        except ConfigError as err:
            run = self.current_run if self.current_run is not before else None
            folder = _file_storage_dir(run) if run is not None else None
            if folder and Path(folder).is_dir() and not (Path(folder) / "trained").exists():
                shutil.rmtree(folder, ignore_errors=True)  # it stopped before training: nothing worth keeping
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        finally:
            self.observers[:] = [o for o in self.observers if not getattr(o, "stampnet_added", False)]


def _experiment_name() -> str:
    main = Path(sys.argv[0]).stem if sys.argv and sys.argv[0].endswith(".py") else ""
    return main or "stamp_network"


def _check_runs_root() -> None:
    """STAMPNET_RUNS (default runs) must be a folder we can make; else one line (exit code 2)."""
    root = os.environ.get("STAMPNET_RUNS", "runs")
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot make the runs folder STAMPNET_RUNS={root!r} ({err.strerror}); set "
                          "STAMPNET_RUNS to a folder you can write, or unset it for runs/") from None


ex = StampExperiment(_experiment_name(), save_git_info=False)
ex.add_config(DEFAULTS)
ex.observers.append(FileStorageObserver(os.path.join(os.environ.get("STAMPNET_RUNS", "runs"), ex.path)))


@ex.config_hook
def preflight_hook(config, command_name, logger):
    """Every check that needs no data (``stampnet.runs.preflight``), before Sacred seeds or makes a folder;
    MongoDB added for this run when the config or the environment names a server. The other commands
    (``print_config`` …) check the config alone (``stampnet.config.validate``)."""
    if command_name != "main":
        from stampnet.config import validate

        validate(config)
        return {}
    from stampnet.runs import preflight

    preflight(config, warn_live=True)
    url, db = mongo_settings(config)
    if url and not ex._unobserved and not any(isinstance(o, MongoObserver) for o in ex.observers):
        observer = mongo_observer(url, db)
        observer.stampnet_added = True  # for this run only
        ex.observers.append(observer)
    return {}
# The source snapshot in runs/<script>/_sources/: the package and the experiment script, for reproduce.
for _source in sorted((REPO_ROOT / "stampnet").rglob("*.py")) + [Path(sys.argv[0]).resolve() if sys.argv else None]:
    if _source is not None and _source.suffix == ".py" and _source.is_file() and REPO_ROOT in _source.parents:
        ex.add_source_file(str(_source))


@ex.named_config
def quick():
    """A few minutes on 2 CPU cores: short schedule, fast annealing; architecture and data unchanged."""
    run_parameters = {"epochs": 6, "steps_per_epoch": 40, "validation_steps": 4, "checkpoint_period": 3,
                      "img_type_parameters": {"test_size": 256}}
    layer_parameters = {"input_parameters": {"batch_size": 32},
                        "decoder_parameters": {"gumbel_parameters": {"anneal_rate": 0.5}}}


@ex.named_config
def cpu():
    """Under an hour on 2 CPU cores: 100 epochs × 128 steps, τ reaching its minimum by epoch ~60 (2019: 800–1000
    epochs, minimum at epoch ~360–700). Architecture, batch and data unchanged."""
    run_parameters = {"epochs": 100, "steps_per_epoch": 128, "validation_steps": 10, "checkpoint_period": 10}
    layer_parameters = {"decoder_parameters": {"gumbel_parameters": {"anneal_rate": 0.06}}}


@ex.named_config
def fast():
    """Aims at the paper's numbers from scratch with ≤ 1 M training canvases (120 epochs × 128 steps × 64), a
    sixth of the 2019 schedule; architecture, batch, data and evaluation unchanged. τ falls from 7 to 2 over the
    first half (where the loss falls fastest, as in 2019), then to 1 and stays there; the second half draws hard
    (straight-through) samples, as evaluation does, with the soft gradient of τ = 1 so that a wrong stamp choice
    can still be corrected (at τ → 0 the softmax saturates and its gradient vanishes). The learning rate decays
    over the last 20 %. At the end, the BatchNorm statistics are recomputed without dropout on 8,192 training
    canvases (the 2019 encoder's BatchNorm layers otherwise keep statistics of dropped-out activations, which
    evaluation does not see). The used stamps' ink is kept centred in their squares (``centre_penalty``), so the
    slot's square, the paper's box, sits on the object it draws. Positions are fractions of training, so ``run_parameters.epochs=…`` stretches the
    whole recipe. Measured: see the README, "Training faster than 2019"."""
    run_parameters = {"epochs": 120, "steps_per_epoch": 128, "validation_steps": 10, "checkpoint_period": 10,
                      "precise_bn": 8192}
    layer_parameters = {
        "learning_rate_decay_from": 0.8, "learning_rate_decay_to": 0.1,
        "decoder_parameters": {"centre_penalty": 10, "gumbel_parameters": {
            "tau_init": 7, "tau_schedule": [[0, 7], [0.5, 2.0], [0.75, 1.0], [1.0, 1.0]],
            "straight_through_from": 0.5}}}


@ex.main
def main(_run, _config):
    from stampnet.backend import versions
    from stampnet.train import train

    _run.info["backend"] = versions()  # which Keras backend trained the run (info.json)
    run_dir = _file_storage_dir(_run)
    if run_dir is None:
        raise ConfigError("no file-storage observer: run without -u/--unobserved so results have a run folder")
    config = {k: v for k, v in _config.items()}
    return train(config, run_dir, log_scalar=_run.log_scalar)


if __name__ == "__main__":
    ex.run_commandline()
