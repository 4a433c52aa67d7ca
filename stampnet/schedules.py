"""Every value of training that follows the step — the Gumbel temperature τ, the straight-through switch, the
slot-ink switch and the learning rate — as pure functions of the optimizer's step counter, so a resumed run
continues them where it stopped. Positions are fractions of the run's steps (epochs × steps_per_epoch).

Who reads them: the optimizer reads the learning rate itself (:meth:`Schedule.optimizer_learning_rate`, a Keras
``LearningRateSchedule``); one callback (:class:`stampnet.callbacks.StepSchedules`) sets the model's τ and
switches before every step."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import keras
import numpy as np


def temperature_at(step, tau_init: float, anneal_rate: float, min_temperature: float,
                   steps_per_epoch: int) -> float:
    """The 2019 schedule: τ = max(tau_init · exp(−anneal_rate · step / steps_per_epoch), min_temperature)."""
    return max(tau_init * math.exp(-anneal_rate * step / steps_per_epoch), min_temperature)


def tau_from_knots(fraction: float, knots: Sequence[Sequence[float]]) -> float:
    """τ at ``fraction`` of training: log-linear between knots ``[[f, τ], …]`` (f ascending), flat outside."""
    if fraction <= knots[0][0]:
        return float(knots[0][1])
    for (f0, t0), (f1, t1) in zip(knots, knots[1:]):
        if fraction <= f1:
            w = (fraction - f0) / (f1 - f0) if f1 > f0 else 1.0
            return float(math.exp((1 - w) * math.log(t0) + w * math.log(t1)))
    return float(knots[-1][1])


def cosine_factor(fraction: float, decay_from: Optional[float], decay_to: float) -> float:
    """Learning-rate factor: 1 until ``decay_from`` (None: never), then a half cosine down to ``decay_to`` at
    the end of training."""
    if decay_from is None or fraction <= decay_from or decay_from >= 1:
        return 1.0
    w = min(1.0, (fraction - decay_from) / (1 - decay_from))
    return decay_to + (1 - decay_to) * 0.5 * (1 + math.cos(math.pi * w))


@dataclass(frozen=True)
class TauSchedule:
    """The Gumbel temperature over training: the 2019 exponential, or log-linear ``knots`` (recipe)."""

    tau_init: float
    anneal_rate: float
    min_temperature: float
    steps_per_epoch: int             # of the τ curve: the run's unless the config sets its own
    knots: Optional[tuple] = None    # ((fraction of training, τ), …)

    def at(self, step: int, total_steps: int) -> float:
        if self.knots is not None:
            return tau_from_knots(step / total_steps, self.knots)
        return temperature_at(step, self.tau_init, self.anneal_rate, self.min_temperature, self.steps_per_epoch)


@dataclass(frozen=True)
class Schedule:
    """The values of one run that follow the step. ``None`` starts mean "never" (the 2019 training)."""

    tau: TauSchedule
    total_steps: int
    learning_rate: float
    learning_rate_decay_from: Optional[float] = None
    learning_rate_decay_to: float = 0.1
    straight_through_from: Optional[float] = None
    slot_ink_penalty_from: Optional[float] = None
    centre_penalty_from: Optional[float] = None

    def fraction(self, step: int) -> float:
        return step / self.total_steps

    def _from(self, start: Optional[float], step: int) -> bool:
        """Whether a switch that acts from fraction ``start`` of training (None: never) is on at ``step``."""
        return start is not None and self.fraction(step) >= start

    def tau_at(self, step: int) -> float:
        return self.tau.at(step, self.total_steps)

    def hard_at(self, step: int) -> bool:
        """Straight-through (hard forward, soft gradient) from ``straight_through_from`` on."""
        return self._from(self.straight_through_from, step)

    def slot_ink_at(self, step: int) -> bool:
        """The slot-ink penalty acts from ``slot_ink_penalty_from`` on."""
        return self._from(self.slot_ink_penalty_from, step)

    def centre_at(self, step: int) -> bool:
        """The centring penalty acts from ``centre_penalty_from`` on."""
        return self._from(self.centre_penalty_from, step)

    def learning_rate_at(self, step: int) -> float:
        return self.learning_rate * cosine_factor(self.fraction(step), self.learning_rate_decay_from,
                                                  self.learning_rate_decay_to)

    def optimizer_learning_rate(self):
        """What the optimizer is given: the constant learning rate (Keras keeps it in a variable), or where it
        decays a :class:`StepwiseLearningRate` of :meth:`learning_rate_at`."""
        if self.learning_rate_decay_from is None:
            return self.learning_rate
        return StepwiseLearningRate([self.learning_rate_at(step) for step in range(self.total_steps + 1)])


class StepwiseLearningRate(keras.optimizers.schedules.LearningRateSchedule):
    """A learning rate given step by step: ``values[min(step, len(values) − 1)]``, in the graph on every backend.

    The values are those of :meth:`Schedule.learning_rate_at`, computed once in float64 and rounded to float32:
    the same numbers on every backend (Keras' ``CosineDecay`` computes in float32 in the graph, one ulp away at
    most steps of the decay, so a run would no longer repeat one trained before)."""

    def __init__(self, values: Sequence[float]):
        self.values = np.asarray(values, np.float32)  # (total steps + 1,)

    def __call__(self, step):
        index = keras.ops.minimum(keras.ops.cast(step, "int32"), len(self.values) - 1)
        return keras.ops.take(keras.ops.convert_to_tensor(self.values), index)

    def get_config(self):
        return {"values": self.values.tolist()}
