"""The callbacks of a training run: what follows the step, set before every step (one callback over
:mod:`stampnet.schedules`), and the per-epoch reports (progress line, metrics hook). Checkpoints and the resume
state are in ``stampnet.checkpoints``."""
from __future__ import annotations

import time
from typing import Callable

import keras
import numpy as np

from stampnet import backend
from stampnet.model import gumbel_layers
from stampnet.schedules import Schedule


class StepSchedules(keras.callbacks.Callback):
    """Before every training step, sets what follows the step from the optimizer's step counter
    (:class:`~stampnet.schedules.Schedule`): τ of every Gumbel layer; the straight-through switch of the Gumbel
    layers and the decoder's slot-ink switch where the run has them (when they change). Logs ``tau`` (and
    ``hard``, ``slot_ink`` where used, and ``lr`` where it decays: the optimizer reads it from the same
    schedule) each epoch."""

    def __init__(self, schedule: Schedule):
        super().__init__()
        self.schedule = schedule
        self._targets, self._switched = {}, {}  # switch name -> (rule, variables); -> the state last set

    @classmethod
    def for_gumbel_parameters(cls, gp: dict, total_steps: int = 1, learning_rate: float = 0.002) -> "StepSchedules":
        """τ alone, from a validated ``gumbel_parameters`` dict (the 2019 schedule, or its knots)."""
        from stampnet.spec import tau_schedule

        return cls(Schedule(tau_schedule(gp), total_steps, learning_rate))

    def _switches(self, model: keras.Model) -> dict:
        s, out = self.schedule, {}
        if s.straight_through_from is not None:
            out["hard"] = (s.hard_at, [layer.hard for layer in gumbel_layers(model)])
        if s.slot_ink_penalty_from is not None:
            out["slot_ink"] = (s.slot_ink_at, [model.get_layer("stamp_layer").slot_ink_on])
        if s.centre_penalty_from is not None:
            out["centre"] = (s.centre_at, [model.get_layer("stamp_layer").centre_on])
        return out

    def on_train_begin(self, logs=None):
        backend.start_fit(self.model)
        self._targets, self._switched = self._switches(self._model), {}

    def on_train_batch_begin(self, batch, logs=None):
        # self._model, not self.model: on JAX, Keras' Callback.model syncs every variable of the model.
        model, s = self._model, self.schedule
        step = backend.fit_step(model)
        tau = s.tau_at(step)
        for layer in gumbel_layers(model):
            backend.assign_in_fit(model, layer.temperature, tau)
        for name, (on_at, variables) in self._targets.items():
            on = on_at(step)
            if self._switched.get(name) != on:
                for variable in variables:
                    backend.assign_in_fit(model, variable, 1.0 if on else 0.0)
                self._switched[name] = on

    def on_epoch_end(self, epoch, logs=None):
        if logs is None:
            return
        logs["tau"] = float(keras.ops.convert_to_numpy(gumbel_layers(self.model)[0].temperature))
        for name in self._targets:
            logs[name] = float(bool(self._switched.get(name)))
        if self.schedule.learning_rate_decay_from is not None:  # the rate of the epoch's last step
            logs["lr"] = float(np.float32(self.schedule.learning_rate_at(backend.fit_step(self._model) - 1)))


class ScalarLogger(keras.callbacks.Callback):
    """Sends every per-epoch log value (loss, val_loss, the loss' terms, tau) to ``log_scalar(name, value, step)``."""

    def __init__(self, log_scalar: Callable[[str, float, int], None]):
        super().__init__()
        self.log_scalar = log_scalar

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.log_scalar(name, float(value), epoch + 1)


class EpochLine(keras.callbacks.Callback):
    """One progress line per epoch: epoch, losses, the loss' terms where the model has penalties
    (reconstruction and each penalty, :class:`stampnet.model.StampNet`), τ (and the recipe's lr, hard, slot_ink),
    images/s (and MFU, the share of ``full_mfu`` canvases/s, :mod:`stampnet.bench.flops`)."""

    def __init__(self, epochs: int, images_per_epoch: int, full_mfu: float | None = None):
        super().__init__()
        self.epochs, self.images_per_epoch = epochs, images_per_epoch
        self.mfu = (lambda rate: [f"MFU {100 * rate / full_mfu:.2g} %"]) if full_mfu else (lambda rate: [])
        self._terms = ()

    def on_train_begin(self, logs=None):
        terms = tuple(getattr(self._model, "loss_terms", ()))  # self._model: no variable sync on JAX
        self._terms = terms if len(terms) > 1 else ()           # reconstruction alone is the loss

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        rate = self.images_per_epoch / max(time.perf_counter() - self._start, 1e-9)
        keys = ("loss", "val_loss", *self._terms, "tau", "lr", "hard", "slot_ink")
        parts = [f"epoch {epoch + 1}/{self.epochs}"] + [f"{k} {float(logs[k]):.4g}" for k in keys if k in logs]
        print("  ".join(parts + [f"{rate:.1f} img/s"] + self.mfu(rate)), flush=True)
