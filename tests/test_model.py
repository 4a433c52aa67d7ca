"""The assembled model: layer shapes, the 2019 weight layout, τ schedule, stamp constraint, learning."""
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.config import validate
from stampnet.callbacks import StepSchedules
from stampnet.model import analysis_model, build_model, hard_reconstruct, head_model, stamps
from stampnet.train import train
from tests.tiny import TINY, tiny


def test_output_shapes_and_2019_layout():
    cfg = validate({"layer_parameters": {"input_parameters": {"img_rows": 100, "img_cols": 100},
                                         "encoder_parameters": {"final_conv_kernel": [4, 4]},
                                         "decoder_parameters": {"nr_of_stamps": 40}}})
    model = build_model(cfg["layer_parameters"])
    out = analysis_model(model)(np.zeros((2, 100, 100, 1), "float32"))
    assert tuple(out["reconstruction"].shape) == (2, 100, 100, 1)
    assert tuple(out["stamp_probs"].shape) == (2, 2, 40)
    assert tuple(out["y_probs"].shape) == (2, 2, 73)
    assert tuple(out["coord_maps"].shape) == (2, 2, 73, 73)
    # The 2019 weight shapes of every role.
    assert tuple(model.get_layer("encoder_1_conv").kernel.shape) == (3, 3, 1, 16)
    assert tuple(model.get_layer("latent_conv").kernel.shape) == (4, 4, 128, 256)
    assert tuple(model.get_layer("stamp_encoding").kernel.shape) == (1, 1, 256, 128)
    assert tuple(model.get_layer("pre_softmax_y").kernel.shape) == (1, 1, 128, 146)
    assert tuple(model.get_layer("pre_softmax_stamp").kernel.shape) == (1, 1, 128, 80)
    assert model.get_layer("pre_softmax_y_bn").momentum == pytest.approx(0.8)
    assert tuple(model.get_layer("stamp_layer").kernel.shape) == (28, 28, 40, 1)
    assert stamps(model).shape == (40, 28, 28)


def test_encoder_must_reach_one_by_one():
    with pytest.raises(ConfigError, match="final_conv_kernel=\\[4, 4\\]"):
        validate({"layer_parameters": {"input_parameters": {"img_rows": 100, "img_cols": 100},
                                       "encoder_parameters": {"final_conv_kernel": [3, 3]}}})


@pytest.mark.slow
def test_temperature_follows_schedule_and_stamps_stay_in_unit_interval():
    lp = validate(TINY)["layer_parameters"]
    model = build_model(lp)
    kernel = model.get_layer("stamp_layer").kernel
    kernel.assign(np.full(kernel.shape, 0.999, "float32"))  # updates must not push it above 1
    x = np.random.default_rng(0).uniform(size=(16, 32, 32, 1)).astype("float32")
    schedule = StepSchedules.for_gumbel_parameters(lp["decoder_parameters"]["gumbel_parameters"])
    hist = model.fit(x, x, batch_size=8, epochs=2, callbacks=[schedule], verbose=0)
    # 2 steps per epoch; τ at the last step (step 3) = 2·exp(−0.5·3/4)
    assert hist.history["tau"][-1] == pytest.approx(2 * np.exp(-0.5 * 3 / 4), rel=1e-5)
    w = np.asarray(kernel)
    assert w.min() >= 0.0 and w.max() <= 1.0


def test_hard_reconstruct_shapes():
    model = build_model(validate(TINY)["layer_parameters"])
    recon, k, y, x = hard_reconstruct(model, head_model(model), np.zeros((3, 32, 32, 1), "float32"))
    assert tuple(recon.shape) == (3, 32, 32, 1) and tuple(k.shape) == (3, 2)


@pytest.mark.slow
def test_short_simple_shapes_run_loss_falls(tmp_path):
    logged = {}
    cfg = tiny(epochs=6, steps_per_epoch=8, validation_steps=2, checkpoint_period=3)
    train(cfg, tmp_path, log_scalar=lambda name, value, step: logged.setdefault(name, []).append(value))
    assert len(logged["loss"]) == 6 and len(logged["tau"]) == 6
    assert np.mean(logged["loss"][-2:]) < logged["loss"][0]
    assert (tmp_path / "figures" / "stamps.png").stat().st_size > 0
