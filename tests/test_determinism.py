"""Same seed → the same losses, epoch for epoch, on CPU (TF op determinism on, the default without a GPU);
another seed → other losses."""
import pytest

from stampnet.train import set_determinism, train
from tests.tiny import tiny

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")


def losses(run_dir, seed=None, **run_parameters):
    logged = {}
    cfg = tiny(**{"epochs": 2, "shuffle": True, **run_parameters})
    if seed is not None:
        cfg["seed"] = seed
    train(cfg, run_dir, log_scalar=lambda name, value, step: logged.setdefault(name, []).append(value))
    return logged


def test_same_seed_same_losses(tmp_path):
    first, second = losses(tmp_path / "a"), losses(tmp_path / "b")
    assert first["loss"] == second["loss"] and first["val_loss"] == second["val_loss"]   # bit for bit
    assert first["tau"] == second["tau"]
    assert first["reconstruction"] == first["loss"]   # the 2019 loss has no other term (logged beside it)
    assert first["val_reconstruction"] == first["val_loss"]
    other = losses(tmp_path / "c", seed=12345, epochs=1)
    assert other["loss"][0] != first["loss"][0]                                          # the seed matters


def test_deterministic_default_is_on_without_gpu():
    import tensorflow as tf

    assert set_determinism(None) is (not tf.config.list_physical_devices("GPU"))
    assert set_determinism(False) is False
    assert set_determinism(True) is True
