"""The config boundary and the training feed: the 2019 dict validated once into frozen named values; one
steps_per_epoch; the legacy loss key; the NumPy feed's order; TensorBoard scalars without tf.summary."""
import dataclasses
import json

import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.config import validate
from stampnet.data.pipeline import epoch_batches, epoch_order, tf_epoch_dataset
from stampnet.spec import ModelSpec, from_config
from tests.conftest import require_shared
from tests.tiny import TINY, tiny


def test_specs_are_frozen_named_values():
    model, train = from_config(TINY)
    assert (model.image_size, model.slots, model.n_stamps, model.stamp_size, model.coord_size) == (32, 2, 4, 8, 25)
    assert model.conv_layer_sizes == (8, 8) and model.final_conv_kernel == (8, 8)
    assert (train.epochs, train.steps_per_epoch, train.batch_size, train.total_steps) == (2, 4, 8, 8)
    assert train.schedule.tau.at(0, train.total_steps) == 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.slots = 3
    assert ModelSpec.from_layer_parameters(TINY["layer_parameters"]) == model


def test_tau_follows_the_runs_steps_per_epoch_unless_set():
    cfg = validate({"run_parameters": {"steps_per_epoch": 7}})
    assert cfg["layer_parameters"]["decoder_parameters"]["gumbel_parameters"]["steps_per_epoch"] == 7
    own = validate({"run_parameters": {"steps_per_epoch": 7},
                    "layer_parameters": {"decoder_parameters": {"gumbel_parameters": {"steps_per_epoch": 128}}}})
    assert own["layer_parameters"]["decoder_parameters"]["gumbel_parameters"]["steps_per_epoch"] == 128
    _, train = from_config({"run_parameters": {"steps_per_epoch": 7}})
    assert train.schedule.tau.at(7, 1) == pytest.approx(7 * np.exp(-0.01))  # one epoch of the run = one τ epoch


def test_2019_configs_load_unchanged():
    ref = require_shared("reference/stampnet-2019")
    for name in ("ct_mnist_2", "simple_shapes_2"):
        raw = json.loads((ref / f"{name}.config.json").read_text())
        cfg = validate(raw)
        gp = cfg["layer_parameters"]["decoder_parameters"]["gumbel_parameters"]
        assert gp["steps_per_epoch"] == raw["layer_parameters"]["decoder_parameters"]["gumbel_parameters"][
            "steps_per_epoch"]
        assert "loss" not in cfg["layer_parameters"]  # the 2019 "mse" is accepted and dropped


def test_loss_key_other_than_mse_is_refused():
    assert "loss" not in validate({"layer_parameters": {"loss": "mse"}})["layer_parameters"]
    with pytest.raises(ConfigError, match="layer_parameters.loss"):
        validate({"layer_parameters": {"loss": "binary_crossentropy"}})


def test_jit_compile_takes_auto():
    assert from_config({"run_parameters": {"jit_compile": "auto"}})[1].jit_compile == "auto"
    with pytest.raises(ConfigError, match="jit_compile"):
        validate({"run_parameters": {"jit_compile": "yes"}})


def test_epoch_order_depends_on_seed_and_epoch_only():
    images = np.arange(24, dtype=np.float32).reshape(24, 1, 1, 1)
    run = epoch_batches(images, 4, shuffle=True, seed=5)
    first_two = [next(run)[0].ravel().tolist() for _ in range(12)]  # 2 epochs of 6 batches
    resumed = epoch_batches(images, 4, shuffle=True, seed=5, first_epoch=1)
    assert [next(resumed)[0].ravel().tolist() for _ in range(6)] == first_two[6:]
    assert sorted(sum(first_two[:6], [])) == list(range(24))             # an epoch is a permutation
    assert first_two[:6] != first_two[6:]                                  # another one each epoch
    assert not np.array_equal(epoch_order(24, True, 5, 0), epoch_order(24, True, 6, 0))
    plain = epoch_batches(images, 4, shuffle=False, seed=5)
    x, y = next(plain)
    assert x is y and x.ravel().tolist() == [0, 1, 2, 3]


def test_tensorflow_feed_gives_the_numpy_feeds_batches():
    """TensorFlow trains on a tf.data pipeline (faster there); it must be the same batches in the same order,
    resumed mid-run too, and end exactly after the last epoch."""
    pytest.importorskip("tensorflow", reason="the tf.data feed needs TensorFlow")
    images = np.arange(24, dtype=np.float32).reshape(24, 1, 1, 1)
    for shuffle, first in [(True, 0), (True, 1), (False, 0)]:
        numpy_feed = epoch_batches(images, 4, shuffle=shuffle, seed=5, first_epoch=first)
        tf_batches = [x.numpy().ravel().tolist() for x, _ in tf_epoch_dataset(images, 4, shuffle, 5, first, 3)]
        assert tf_batches == [next(numpy_feed)[0].ravel().tolist() for _ in range(6 * (3 - first))]


def test_epoch_scalars_write_tensorboard_events(tmp_path):
    from stampnet.backend import EpochScalars

    board = EpochScalars(tmp_path)
    board.on_epoch_end(0, {"loss": 3.0, "val_loss": 2.0, "tau": 1.5})
    board.on_train_end()
    assert any((tmp_path / "train").glob("events.out.tfevents.*"))
    assert any((tmp_path / "validation").glob("events.out.tfevents.*"))


def test_run_callbacks_keep_the_recipe(tmp_path):
    from stampnet.callbacks import StepSchedules
    from stampnet.spec import from_config
    from stampnet.train import run_callbacks

    cfg = tiny()
    cfg["layer_parameters"]["learning_rate_decay_from"] = 0.5
    cfg["layer_parameters"]["decoder_parameters"]["gumbel_parameters"]["straight_through_from"] = 0.5
    callbacks = run_callbacks(from_config(cfg)[1], tmp_path, "w.h5", [])
    assert isinstance(callbacks[0], StepSchedules) and not any(isinstance(c, StepSchedules) for c in callbacks[1:])
    schedule = callbacks[0].schedule
    assert schedule.learning_rate_decay_from == 0.5 and schedule.straight_through_from == 0.5
