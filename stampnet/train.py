"""Training a StampNet: data → model → fit with callbacks → weights, metrics and figures in a run folder.

Used by the Sacred experiment in ``stamp_network.py``; free of Sacred itself (``log_scalar`` is a hook).

Resuming: after every epoch :class:`ResumeState` writes ``backup/state.weights.h5`` (weights, optimizer state
with its step counter — hence τ —, the random generators' states, the epoch and the per-epoch logs so far), by
write-then-rename. ``config["resume_from"] = <run folder>`` restores that state into a new run, which then
continues at the next epoch with the same data order (the data of epoch e depends on (seed, e) only).
"""
from __future__ import annotations

import json
import math
import os
import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import h5py
import keras
import numpy as np
import tensorflow as tf

from stampnet import ConfigError
from stampnet.config import validate
from stampnet.data import load_data
from stampnet.data.pipeline import as_dataset, epoch_dataset, split_train_validation
from stampnet.model import TemperatureSchedule, build_model
from stampnet.recipe import recipe_callbacks

STATE_FILE = "state.weights.h5"   # in <run>/backup/
STATE_GROUP = "stampnet_resume"  # the HDF5 group (beside Keras' own) with epoch, history and seed states


class TrainingDiverged(ConfigError, FloatingPointError):
    """The loss became NaN/inf; the message names the last good checkpoint and the fix."""


class ScalarLogger(keras.callbacks.Callback):
    """Sends every per-epoch log value (loss, val_loss, tau) to ``log_scalar(name, value, step)``."""

    def __init__(self, log_scalar: Callable[[str, float, int], None]):
        super().__init__()
        self.log_scalar = log_scalar

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.log_scalar(name, float(value), epoch + 1)


class EpochLine(keras.callbacks.Callback):
    """One progress line per epoch: epoch, losses, τ, images/s."""

    def __init__(self, epochs: int, images_per_epoch: int):
        super().__init__()
        self.epochs, self.images_per_epoch = epochs, images_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        rate = self.images_per_epoch / max(time.perf_counter() - self._start, 1e-9)
        parts = [f"epoch {epoch + 1}/{self.epochs}"] + [
            f"{k} {v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss", "tau", "lr", "hard")]
        print("  ".join(parts + [f"{rate:.1f} img/s"]), flush=True)


def _finite(logs) -> bool:
    return all(math.isfinite(float(v)) for v in (logs or {}).values())


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves the weights every ``period`` epochs to ``pattern`` (formatted with epoch and the logs).

    Written to a temporary file, then renamed: a kill never leaves a half-written checkpoint. An epoch whose
    loss is NaN/inf is not saved, so the last checkpoint stays a good one."""

    def __init__(self, pattern: Path, period: int):
        super().__init__()
        self.pattern, self.period = Path(pattern), period

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.period == 0 and _finite(logs):
            save_weights_atomic(self.model, self.pattern.parent / self.pattern.name.format(epoch=epoch + 1, **(logs or {})))


class ResumeState(keras.callbacks.Callback):
    """After every epoch with a finite loss, saves the whole training state to ``backup_dir/state.weights.h5``
    (atomically): what :func:`restore_state` needs to continue the run exactly. ``history`` is the list of
    per-epoch logs before this fit (from a resumed run); this epoch's logs are appended."""

    def __init__(self, backup_dir: Path, history: Optional[list] = None):
        super().__init__()
        self.path = Path(backup_dir) / STATE_FILE
        self.history = list(history or [])

    def on_epoch_end(self, epoch, logs=None):
        if not _finite(logs):
            return
        self.history = self.history[:epoch] + [{k: float(v) for k, v in (logs or {}).items()}]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_state(self.model, self.path, epoch + 1, self.history)


def save_weights_atomic(model: keras.Model, path: Path, extra: Optional[Callable[[h5py.File], None]] = None) -> None:
    """``model.save_weights(path)`` via a temporary file and a rename; ``extra(h5file)`` may add to the file
    before the rename."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        model.save_weights(str(tmp))
        if extra is not None:
            with h5py.File(tmp, "a") as f:
                extra(f)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _seed_states(model: keras.Model) -> list:
    """The state variables of the model's random generators (Gumbel noise, dropout), in creation order.
    Keras' weight files leave them out; a resumed run needs them to draw the same noise."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def save_state(model: keras.Model, path: Path, epoch: int, history: list) -> None:
    """The resumable training state: weights + optimizer (Keras' file) and a group with the epoch, the
    per-epoch logs and the random generators' states."""

    def extra(f):
        group = f.create_group(STATE_GROUP)
        group.attrs["epoch"] = epoch
        group.attrs["history"] = json.dumps(history)
        for i, v in enumerate(_seed_states(model)):
            group[f"seed_state_{i:03d}"] = keras.ops.convert_to_numpy(v)

    save_weights_atomic(model, path, extra)


def resume_source(folder: str | Path) -> tuple[Path, str]:
    """The file to resume from in run ``folder``: (path, kind) with kind "state" (backup/state.weights.h5,
    exact) or "checkpoint" (the latest trained/ checkpoint of a run without a state file: weights and
    optimizer, not the random generators). Raises ConfigError when there is neither."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"resume_from={str(folder)!r} is not a folder; give a run folder such as "
                          "runs/simple_shapes_2/3")
    if (folder / "backup" / STATE_FILE).is_file():
        return folder / "backup" / STATE_FILE, "state"
    checkpoint = latest_weights(folder / "trained")
    if checkpoint is not None:
        return checkpoint, "checkpoint"
    raise ConfigError(f"{folder} has nothing to resume from (no backup/{STATE_FILE}, no trained/ checkpoint): "
                      f"it stopped before its first epoch ended; start it afresh with "
                      f"`python -m stampnet.reproduce {folder}`")


def resume_epoch(source: Path, kind: str) -> int:
    """The number of epochs done at a resume source."""
    if kind == "checkpoint":
        return checkpoint_epoch(source)
    try:
        with h5py.File(source, "r") as f:
            return int(f[STATE_GROUP].attrs["epoch"])
    except (OSError, KeyError) as err:
        raise ConfigError(f"{source} is not a readable training state ({err}); delete it to resume from the "
                          "run's latest trained/ checkpoint instead") from None


def restore_state(model: keras.Model, source: Path, kind: str) -> tuple[int, list]:
    """Load a resume source into ``model`` (compiled, built); returns (epochs done, per-epoch logs)."""
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(str(source))
    except (ValueError, KeyError, OSError) as err:
        raise ConfigError(f"{source} does not fit this model ({str(err).splitlines()[0]}); resume with the "
                          "run's own config (do not override the architecture together with resume_from)") from None
    if kind == "checkpoint":
        return resume_epoch(source, kind), []
    with h5py.File(source, "r") as f:
        group = f[STATE_GROUP]
        epoch, history = int(group.attrs["epoch"]), json.loads(group.attrs["history"])
        saved = [group[k][()] for k in sorted(k for k in group.keys() if k.startswith("seed_state_"))]
    states = _seed_states(model)
    if len(saved) != len(states):
        raise ConfigError(f"{source} holds {len(saved)} random-generator states, the model has {len(states)}; "
                          "resume with the run's own config")
    for variable, value in zip(states, saved):
        variable.assign(value)
    return epoch, history


def checkpoint_epoch(path: Path) -> int:
    """The epoch of a checkpoint named weights.<epoch>-<val_loss>.weights.h5."""
    return int(Path(path).name.split(".")[1].split("-")[0])


def latest_weights(trained_dir: Path) -> Optional[Path]:
    """The weights file of the highest epoch in ``trained/`` (names weights.<epoch>-<val_loss>.weights.h5)."""
    files = sorted(Path(trained_dir).glob("weights.*.weights.h5"), key=checkpoint_epoch)
    return files[-1] if files else None


def preflight(config: dict) -> dict:
    """Every check that needs no data and no model: the config, the run options and the resume source.
    ``stamp_network`` calls it before Sacred creates the run folder, so a bad config leaves no files."""
    cfg = validate(config)
    if cfg["resume_from"]:
        done, epochs = resume_epoch(*resume_source(cfg["resume_from"])), cfg["run_parameters"]["epochs"]
        if done >= epochs:
            raise ConfigError(f"{cfg['resume_from']} already trained {done} of {epochs} epochs; to train further "
                              f"add run_parameters.epochs=<more than {done}>")
    return cfg


def set_determinism(deterministic: Optional[bool]) -> bool:
    """Switch TF's op determinism on (True, or None on a machine without GPUs) or off; returns the choice."""
    on = not tf.config.list_physical_devices("GPU") if deterministic is None else bool(deterministic)
    if on:
        tf.config.experimental.enable_op_determinism()
    else:  # TF has no public switch back (it matters only when one process trains several times)
        from tensorflow.python.framework import config as tf_config

        tf_config.disable_op_determinism()
    return on


def make_strategy(distribute: Optional[str], batch_size: int) -> tf.distribute.Strategy:
    """The tf.distribute strategy: the default one, or MirroredStrategy over all GPUs (all logical CPUs
    when there is no GPU). The global batch ``batch_size`` is split over the replicas."""
    if distribute is None:
        return tf.distribute.get_strategy()
    devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
    strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    if batch_size % strategy.num_replicas_in_sync:
        raise ConfigError(f"batch_size {batch_size} does not split over {strategy.num_replicas_in_sync} replicas; "
                          f"set layer_parameters.input_parameters.batch_size to a multiple of "
                          f"{strategy.num_replicas_in_sync}")
    return strategy


def train(config: dict, run_dir: str | Path, log_scalar: Optional[Callable] = None,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Train the model that ``config`` describes; everything lands in ``run_dir``. Returns final losses.

    ``config["resume_from"]`` (a run folder) continues that run's training state in ``run_dir``;
    ``callbacks`` are added to Keras' fit (tests use it)."""
    cfg = preflight(config)
    rp, lp = cfg["run_parameters"], cfg["layer_parameters"]
    seed, batch = cfg["seed"], lp["input_parameters"]["batch_size"]
    run_dir = Path(run_dir)
    trained, board, figures = run_dir / "trained", run_dir / "board", run_dir / "figures"
    set_determinism(rp["deterministic"])
    keras.utils.set_random_seed(seed)  # model init, dropout, Gumbel noise

    # The data first: a missing or bad data file stops the run before it writes anything.
    splits = load_data(rp, lp["input_parameters"], seed)
    train_part, val_part = split_train_validation(splits.train, rp["steps_per_epoch"], rp["validation_steps"],
                                                  batch, shuffle=rp["shuffle"], seed=seed)
    val_ds = as_dataset(val_part.images, batch) if rp["validation_steps"] else None

    if rp.get("mixed_precision"):
        keras.mixed_precision.set_global_policy(rp["mixed_precision"])
    with make_strategy(rp["distribute"], batch).scope():
        model = build_model(lp, jit_compile=rp["jit_compile"])
        start_epoch, past = 0, []
        if cfg["resume_from"]:
            source, kind = resume_source(cfg["resume_from"])
            start_epoch, past = restore_state(model, source, kind)
            exact = "" if kind == "state" else " (from a checkpoint: the random generators start afresh)"
            print(f"resuming {cfg['resume_from']} after epoch {start_epoch}{exact}", flush=True)
    epochs, period = rp["epochs"], rp["checkpoint_period"]
    trained.mkdir(parents=True, exist_ok=True)
    if log_scalar is not None:  # the earlier epochs, so this run's metrics have no gap
        for epoch, logs in enumerate(past, start=1):
            for name, value in logs.items():
                log_scalar(name, value, epoch)
    train_ds = epoch_dataset(train_part.images, batch, rp["shuffle"], seed, first_epoch=start_epoch)

    name = "weights.{epoch:02d}-{val_loss:.2f}.weights.h5" if val_ds is not None else "weights.{epoch:02d}-{loss:.2f}.weights.h5"
    all_callbacks = [
        TemperatureSchedule(lp["decoder_parameters"]["gumbel_parameters"], epochs * rp["steps_per_epoch"]),
        *recipe_callbacks(lp, epochs * rp["steps_per_epoch"]),
        keras.callbacks.TerminateOnNaN(),
        ResumeState(run_dir / "backup", past),
        PeriodicCheckpoint(trained / name, period),
        keras.callbacks.TensorBoard(str(board), write_graph=False, profile_batch=0),
        EpochLine(epochs, rp["steps_per_epoch"] * batch),
    ]
    if log_scalar is not None:
        all_callbacks.append(ScalarLogger(log_scalar))
    history = model.fit(train_ds, epochs=epochs, initial_epoch=start_epoch, steps_per_epoch=rp["steps_per_epoch"],
                        validation_data=val_ds, validation_steps=rp["validation_steps"] or None,
                        callbacks=all_callbacks + list(callbacks), verbose=0, shuffle=False)
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    final_epoch = start_epoch + len(history.history["loss"])
    if not _finite(logs):
        last = latest_weights(trained)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint of this run had a finite loss"
        resume = (f" (then go on from the last good epoch: `with resume_from={run_dir} layer_parameters.learning_rate=…`)"
                  if (run_dir / "backup" / STATE_FILE).is_file() else "")
        raise TrainingDiverged(f"training diverged at epoch {final_epoch} (loss {logs.get('loss')}); {kept}; lower "
                               f"layer_parameters.learning_rate (now {lp['learning_rate']}) or check the data for "
                               f"NaN/inf{resume}")
    final = trained / name.format(epoch=final_epoch, **logs)
    if not final.exists():
        save_weights_atomic(model, final)
    curves = {k: [h[k] for h in past if k in h] + [float(x) for x in v] for k, v in history.history.items()}
    save_figures(model, cfg, splits.test, figures, curves)
    return {**logs, "epochs": final_epoch, "weights": str(final)}


def save_figures(model: keras.Model, cfg: dict, test, figures_dir: Path, history: Optional[dict] = None) -> None:
    """Stamp grid, a few test inputs with predicted boxes beside their reconstructions, training curves."""
    from stampnet import figures
    from stampnet.metrics import predict_slots
    from stampnet.model import analysis_model, set_temperature, stamps

    rp, dec = cfg["run_parameters"], cfg["layer_parameters"]["decoder_parameters"]
    n = min(rp["n_figure_images"], len(test))
    if n == 0:
        return
    set_temperature(model, rp["test_temperature"])
    out = analysis_model(model).predict(test.images[:n], verbose=0)
    coords, classes = predict_slots(out["stamp_probs"], out["y_probs"], out["x_probs"])
    usage = np.bincount(classes.ravel(), minlength=dec["nr_of_stamps"])
    figures.stamp_grid(stamps(model), usage=usage, path=figures_dir / "stamps.png")
    figures.reconstructions(test.images[:n], out["reconstruction"], coords, dec["stamp_size"],
                            pred_classes=classes, true_coords=None if test.coords is None else test.coords[:n],
                            path=figures_dir / "reconstructions.png")
    if history:
        curves = {k: {"steps": list(range(1, len(v) + 1)), "values": [float(x) for x in v]} for k, v in history.items()}
        figures.training_curves(curves, path=figures_dir / "training_curves.png")
