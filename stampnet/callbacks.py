"""The callbacks of a training run: the schedules set every step (τ and the recipe's), and the per-epoch
reports (progress line, metrics hook). Checkpoints and the resume state are in ``stampnet.checkpoints``.

The schedules are functions of the optimizer's step counter, so a resumed run continues them where it stopped.
"""
from __future__ import annotations

import time
from typing import Callable

import keras

from stampnet import backend
from stampnet.model import gumbel_layers
from stampnet.spec import TauSchedule, TrainSpec


def optimizer_step(model: keras.Model) -> int:
    """The optimizer's step counter, read in the middle of ``fit`` too (see ``stampnet.backend.fit_step``)."""
    return backend.fit_step(model)


class TemperatureSchedule(keras.callbacks.Callback):
    """Sets τ of every Gumbel layer before each training step from the step counter: the 2019 exponential, or
    the recipe's knots over ``total_steps``; logs ``tau`` each epoch.

    ``schedule``: a :class:`~stampnet.spec.TauSchedule`, or the 2019 ``gumbel_parameters`` dict."""

    def __init__(self, schedule: TauSchedule | dict, total_steps: int = 1):
        super().__init__()
        if isinstance(schedule, dict):
            knots = schedule.get("tau_schedule")
            schedule = TauSchedule(schedule["tau_init"], schedule["anneal_rate"], schedule["min_temperature"],
                                   schedule["steps_per_epoch"], None if knots is None else tuple(map(tuple, knots)))
        self.schedule, self.total_steps = schedule, total_steps

    def current(self) -> float:
        return self.schedule.at(optimizer_step(self._model), self.total_steps)

    def on_train_begin(self, logs=None):
        backend.start_fit(self.model)

    def on_train_batch_begin(self, batch, logs=None):
        # self._model, not self.model: on JAX, Keras' Callback.model syncs every variable of the model.
        tau = self.current()
        for layer in gumbel_layers(self._model):
            backend.assign_in_fit(self._model, layer.temperature, tau)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["tau"] = float(keras.ops.convert_to_numpy(gumbel_layers(self.model)[0].temperature))


def schedule_callbacks(spec: TrainSpec) -> list[keras.callbacks.Callback]:
    """τ every step, and the recipe's switches (straight-through, slot-ink penalty, learning-rate decay) where the
    config asks."""
    from stampnet.recipe import LearningRateDecay, SlotInkFrom, StraightThrough

    out: list[keras.callbacks.Callback] = [TemperatureSchedule(spec.tau, spec.total_steps)]
    if spec.straight_through_from is not None:
        out.append(StraightThrough(spec.straight_through_from, spec.total_steps))
    if spec.slot_ink_penalty_from is not None:
        out.append(SlotInkFrom(spec.slot_ink_penalty_from, spec.total_steps))
    if spec.learning_rate_decay_from is not None:
        out.append(LearningRateDecay(spec.learning_rate, spec.learning_rate_decay_from, spec.learning_rate_decay_to,
                                     spec.total_steps))
    return out


class ScalarLogger(keras.callbacks.Callback):
    """Sends every per-epoch log value (loss, val_loss, tau) to ``log_scalar(name, value, step)``."""

    def __init__(self, log_scalar: Callable[[str, float, int], None]):
        super().__init__()
        self.log_scalar = log_scalar

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.log_scalar(name, float(value), epoch + 1)


class EpochLine(keras.callbacks.Callback):
    """One progress line per epoch: epoch, losses, τ (and the recipe's lr, hard), images/s."""

    def __init__(self, epochs: int, images_per_epoch: int):
        super().__init__()
        self.epochs, self.images_per_epoch = epochs, images_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        rate = self.images_per_epoch / max(time.perf_counter() - self._start, 1e-9)
        parts = [f"epoch {epoch + 1}/{self.epochs}"] + [
            f"{k} {float(v):.4g}" for k, v in logs.items() if k in ("loss", "val_loss", "tau", "lr", "hard", "slot_ink")]
        print("  ".join(parts + [f"{rate:.1f} img/s"]), flush=True)
