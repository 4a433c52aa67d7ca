"""The training state file: it loads whole or not at all, also across the change of how the learning rate is kept."""
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.checkpoints import restore_state, save_state
from stampnet.config import validate
from stampnet.model import build_model
from stampnet.schedules import Schedule, TauSchedule
from tests.tiny import TINY


def _trained(learning_rate=None):
    """A tiny model with an optimizer state as after 90 steps: every optimizer variable set to random values."""
    model = build_model(validate(TINY)["layer_parameters"], learning_rate=learning_rate)
    rng = np.random.default_rng(0)
    for v in model.optimizer.variables:
        v.assign(rng.random(v.shape).astype(v.dtype) if v.name != "iteration" else 90)
    return model


def _decaying():
    return Schedule(TauSchedule(7.0, 0.01, 0.2, 10), 100, 0.002, learning_rate_decay_from=0.5).optimizer_learning_rate()


def test_a_state_with_the_learning_rate_as_a_variable_resumes_into_a_scheduled_optimizer(tmp_path):
    old = _trained()  # the rate in an optimizer variable, as training states were once written
    save_state(old, tmp_path / "state.weights.h5", epoch=3, history=[{}, {}, {}])
    new = build_model(validate(TINY)["layer_parameters"], learning_rate=_decaying())
    epoch, _, _ = restore_state(new, tmp_path / "state.weights.h5", "state")
    assert epoch == 3 and int(new.optimizer.iterations.numpy()) == 90
    kept = [v for v in old.optimizer.variables if v.name != "learning_rate"]
    assert len(kept) == len(new.optimizer.variables) == len(old.optimizer.variables) - 1
    for a, b in zip(kept, new.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(old.weights, new.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_an_optimizer_state_that_does_not_fit_is_an_error_not_a_fresh_optimizer(tmp_path):
    save_state(_trained(learning_rate=_decaying()), tmp_path / "state.weights.h5", epoch=1, history=[{}])
    other = build_model(validate(TINY)["layer_parameters"])  # one variable more: the constant rate
    with pytest.raises(ConfigError, match="does not fit this model.*Skipping variable loading for optimizer"):
        restore_state(other, tmp_path / "state.weights.h5", "state")
