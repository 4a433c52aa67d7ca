"""Checkpoints and the resume state of a run: what is written during training, and how a run continues (their
names and the resume source are read by the Keras-free :mod:`stampnet.runs`).

Every file is written to a temporary name and renamed, so a kill never leaves a half-written one.

- ``trained/weights.<epoch>-<val_loss>.weights.h5``: the weights every ``checkpoint_period`` epochs
  (:class:`PeriodicCheckpoint`) and at the end.
- ``backup/state.weights.h5``: after every epoch (:class:`ResumeState`) the whole training state — weights,
  optimizer state with its step counter (hence τ and every schedule), the random generators' states, the epoch
  and the per-epoch logs so far. ``resume_from=<run folder>`` restores it into a new run, which then continues
  at the next epoch with the same data order (the data of epoch e depends on (seed, e) only).
"""
from __future__ import annotations

import json
import math
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Callable, Optional

import h5py
import numpy as np
import keras

from stampnet import ConfigError, backend
from stampnet.runs import STATE_FILE, STATE_GROUP, resume_epoch


def finite(logs) -> bool:
    return all(math.isfinite(float(v)) for v in (logs or {}).values())


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves the weights every ``period`` epochs to ``pattern`` (formatted with epoch and the logs).

    Written to a temporary file, then renamed: a kill never leaves a half-written checkpoint. An epoch whose
    loss is NaN/inf is not saved, so the last checkpoint stays a good one."""

    def __init__(self, pattern: Path, period: int):
        super().__init__()
        self.pattern, self.period = Path(pattern), period

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.period == 0 and finite(logs):
            save_weights_atomic(self.model, self.pattern.parent / self.pattern.name.format(epoch=epoch + 1, **(logs or {})))


class ResumeState(keras.callbacks.Callback):
    """After every epoch with a finite loss, saves the whole training state to ``backup_dir/state.weights.h5``
    (atomically): what :func:`restore_state` needs to continue the run exactly. ``history`` is the list of
    per-epoch logs before this fit (from a resumed run); this epoch's logs are appended. ``global_rng`` (from
    :func:`restore_state`) is put back just before the first step: PyTorch's data loader draws from the global
    generator when fit starts, which an uninterrupted run did before its first epoch, not between epochs."""

    def __init__(self, backup_dir: Path, history: Optional[list] = None, global_rng=None):
        super().__init__()
        self.path = Path(backup_dir) / STATE_FILE
        self.history = list(history or [])
        self.global_rng = global_rng

    def on_train_batch_begin(self, batch, logs=None):
        if self.global_rng is not None:
            backend.set_global_rng_state(self.global_rng)
            self.global_rng = None

    def on_epoch_end(self, epoch, logs=None):
        if not finite(logs):
            return
        self.history = self.history[:epoch] + [{k: float(v) for k, v in (logs or {}).items()}]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        save_state(self.model, self.path, epoch + 1, self.history)


def save_weights_atomic(model: keras.Model, path: Path, extra: Optional[Callable[[h5py.File], None]] = None) -> None:
    """``model.save_weights(path)`` via a temporary file and a rename; ``extra(h5file)`` may add to the file
    before the rename."""
    from stampnet.cli import atomic_path

    with atomic_path(path) as tmp:
        model.save_weights(str(tmp))
        if extra is not None:
            with h5py.File(tmp, "a") as f:
                extra(f)


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
        rng = backend.global_rng_state()
        if rng is not None:
            group["global_rng_state"] = rng

    save_weights_atomic(model, path, extra)


def load_weights_strict(model: keras.Model, source: Path) -> None:
    """``model.load_weights(source)``, but a saved optimizer state that does not fit raises ValueError (Keras
    only warns and trains on from a fresh optimizer).

    A file written while a decaying learning rate was an optimizer variable (the optimizer's second, now read
    from a schedule: :meth:`stampnet.schedules.Schedule.optimizer_learning_rate`) is read without that
    variable: the schedule gives the same rate at the same step."""
    optimizer = model.optimizer
    with h5py.File(source, "r") as f:
        saved = f.get("optimizer/vars")
        legacy_rate = (optimizer is not None and saved is not None
                       and len(saved) == len(optimizer.variables) + 1 and len(saved) > 1
                       and saved["1"].shape == () and all(v.name != "learning_rate" for v in optimizer.variables))
    with tempfile.TemporaryDirectory() as tmp, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if legacy_rate:
            copy = Path(tmp) / source.name
            shutil.copyfile(source, copy)
            with h5py.File(copy, "a") as f:
                variables, n = f["optimizer/vars"], len(f["optimizer/vars"])
                del variables["1"]
                for i in range(2, n):
                    variables.move(str(i), str(i - 1))
            source = copy
        model.load_weights(str(source))
    for warning in caught:
        if "Skipping variable loading for optimizer" in str(warning.message):
            raise ValueError(str(warning.message).strip())
        warnings.warn_explicit(warning.message, warning.category, warning.filename, warning.lineno)


def restore_state(model: keras.Model, source: Path, kind: str) -> tuple[int, list, Optional[np.ndarray]]:
    """Load a resume source into ``model`` (compiled, built); returns (epochs done, per-epoch logs, the global
    generator's state for :class:`ResumeState` to put back, or None)."""
    try:
        load_weights_strict(model, source)
    except (ValueError, KeyError, OSError) as err:
        raise ConfigError(f"{source} does not fit this model ({str(err).splitlines()[0]}); resume with the "
                          "run's own config (do not override the architecture together with resume_from)") from None
    if kind == "checkpoint":
        return resume_epoch(source, kind), [], None
    with h5py.File(source, "r") as f:
        group = f[STATE_GROUP]
        epoch, history = int(group.attrs["epoch"]), json.loads(group.attrs["history"])
        saved = [group[k][()] for k in sorted(k for k in group.keys() if k.startswith("seed_state_"))]
        rng = group["global_rng_state"][()] if "global_rng_state" in group else None
    states = _seed_states(model)
    if len(saved) != len(states):
        raise ConfigError(f"{source} holds {len(saved)} random-generator states, the model has {len(states)}; "
                          "resume with the run's own config")
    for variable, value in zip(states, saved):
        variable.assign(value)
    return epoch, history, rng
