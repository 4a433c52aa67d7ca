"""The schedules of training as plain functions of the step: Gumbel temperature τ and learning-rate factor."""
from __future__ import annotations

import math
from typing import Optional, Sequence


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


def tau_at(step: int, gumbel_parameters: dict, total_steps: int) -> float:
    """τ at ``step`` of a run of ``total_steps``: the knots of ``tau_schedule`` when set, else the 2019 curve."""
    gp = gumbel_parameters
    if gp["tau_schedule"] is not None:
        return tau_from_knots(step / total_steps, gp["tau_schedule"])
    return temperature_at(step, gp["tau_init"], gp["anneal_rate"], gp["min_temperature"], gp["steps_per_epoch"])


def cosine_factor(fraction: float, decay_from: Optional[float], decay_to: float) -> float:
    """Learning-rate factor: 1 until ``decay_from`` (None: never), then a half cosine down to ``decay_to`` at
    the end of training."""
    if decay_from is None or fraction <= decay_from or decay_from >= 1:
        return 1.0
    w = min(1.0, (fraction - decay_from) / (1 - decay_from))
    return decay_to + (1 - decay_to) * 0.5 * (1 + math.cos(math.pi * w))
