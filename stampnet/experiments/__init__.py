"""The experiments' configurations, as data in the package (nanoGPT's ``config/``).

``<name>.py`` holds one experiment: its docstring (what it is) and ``CONFIG``, the 2019 settings its Sacred
experiment starts from (``stampnet.experiment.build``). ``NAMED_CONFIGS`` are the named configs every experiment
takes (``with quick``, ``cpu``, ``fast``). ``python -m stampnet.run <name> with …`` runs one; the top-level
scripts (``python <name>.py with …``) do the same from a checkout.
"""
from __future__ import annotations

import copy
import importlib
import pkgutil
from typing import NamedTuple

from stampnet import ConfigError


class NamedConfig(NamedTuple):
    doc: str
    config: dict


NAMED_CONFIGS = {
    "quick": NamedConfig(
        "A few minutes on 2 CPU cores: short schedule, fast annealing; architecture and data unchanged.",
        {"run_parameters": {"epochs": 6, "steps_per_epoch": 40, "validation_steps": 4, "checkpoint_period": 3,
                            "img_type_parameters": {"test_size": 256}},
         "layer_parameters": {"input_parameters": {"batch_size": 32},
                              "decoder_parameters": {"gumbel_parameters": {"anneal_rate": 0.5}}}}),
    "cpu": NamedConfig(
        "Under an hour on 2 CPU cores: 100 epochs × 128 steps, τ reaching its minimum by epoch ~60 (2019: 800–1000\n"
        "epochs, minimum at epoch ~360–700). Architecture, batch and data unchanged.",
        {"run_parameters": {"epochs": 100, "steps_per_epoch": 128, "validation_steps": 10, "checkpoint_period": 10},
         "layer_parameters": {"decoder_parameters": {"gumbel_parameters": {"anneal_rate": 0.06}}}}),
    "fast": NamedConfig(
        "Aims at the paper's numbers from scratch with ≤ 0.5 M training canvases (60 epochs × 128 steps × 64), a\n"
        "twelfth of the 2019 schedule; architecture, batch, data and evaluation unchanged. τ falls from 7 to 2 over the\n"
        "first half (where the loss falls fastest, as in 2019), then to 1 and stays there; the second half draws hard\n"
        "(straight-through) samples, as evaluation does, with the soft gradient of τ = 1 so that a wrong stamp choice\n"
        "can still be corrected (at τ → 0 the softmax saturates and its gradient vanishes). The learning rate decays\n"
        "over the last 20 %. At the end, the BatchNorm statistics are recomputed without dropout on 8,192 training\n"
        "canvases (the 2019 encoder's BatchNorm layers otherwise keep statistics of dropped-out activations, which\n"
        "evaluation does not see). Once the choices are hard, the used stamps' ink is kept centred in their squares\n"
        "(``centre_penalty`` from the second half), so the slot's square, the paper's box, sits on the object it draws\n"
        "(from the start it merged shapes into shared stamps while they formed). Positions are fractions of training, so\n"
        "``run_parameters.epochs=…`` stretches the whole recipe. Measured: see the README, \"Training faster than\n"
        "2019\".",
        {"run_parameters": {"epochs": 60, "steps_per_epoch": 128, "validation_steps": 10, "checkpoint_period": 10,
                            "precise_bn": 8192},
         "layer_parameters": {
             "learning_rate_decay_from": 0.8, "learning_rate_decay_to": 0.1,
             "decoder_parameters": {"centre_penalty": 10, "centre_penalty_from": 0.5, "gumbel_parameters": {
                 "tau_init": 7, "tau_schedule": [[0, 7], [0.5, 2.0], [0.75, 1.0], [1.0, 1.0]],
                 "straight_through_from": 0.5}}}}),
}


def names() -> tuple[str, ...]:
    """The experiments of the package, sorted."""
    return tuple(sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")))


def module(name: str):
    """The module of experiment ``name``; a ConfigError naming the experiments for an unknown one."""
    if name not in names():
        raise ConfigError(f"unknown experiment {name!r}; choose from {', '.join(names())}")
    return importlib.import_module(f"{__name__}.{name}")


def config(name: str) -> dict:
    """A copy of experiment ``name``'s config (its 2019 settings)."""
    return copy.deepcopy(module(name).CONFIG)
