"""Every term of the loss logged: the reconstruction (the summed squared error) and each penalty the model has,
per epoch and with their val_ twins, adding up to the loss; the 2019 model logs the reconstruction alone, equal
to its loss; weight files keep their layout. JAX and PyTorch: tests/test_backends.py."""
import h5py
import keras
import numpy as np
import pytest

from stampnet.config import validate
from stampnet.model import build_model, set_noise
from stampnet.train import train
from tests.tiny import tiny, with_

TERMS = ("overlap_penalty", "usage_balance")


def two_penalties(cfg):
    """``cfg`` with the overlap and the usage-balancing terms on."""
    cfg = with_(cfg, "layer_parameters.decoder_parameters.overlap_penalty", 0.5)
    return with_(cfg, "layer_parameters.decoder_parameters.gumbel_parameters.usage_balance", 3.0)


def canvases(n=8):
    return (np.random.default_rng(0).random((n, 32, 32, 1)) > 0.7).astype("float32")


def test_the_model_names_its_terms_and_evaluation_gives_each(tmp_path):
    model = build_model(validate(two_penalties(tiny()))["layer_parameters"])
    assert model.loss_terms == ["reconstruction", "usage_balance", "overlap_penalty"]  # as Keras orders the losses
    set_noise(model, False)  # the same reconstruction in evaluate and below
    x = canvases()
    logs = model.evaluate(x, x, batch_size=8, verbose=0, return_dict=True)
    assert sorted(logs) == sorted(["loss", *model.loss_terms])
    assert min(logs[k] for k in TERMS) > 0
    assert logs["loss"] == pytest.approx(logs["reconstruction"] + logs["overlap_penalty"] + logs["usage_balance"],
                                         rel=1e-6)
    y = keras.ops.convert_to_numpy(model(x, training=False))
    sse = ((x - y) ** 2).mean(-1).sum((1, 2))                      # stampnet.layers.sum_squared_error, (B,)
    assert logs["reconstruction"] == pytest.approx(sse.mean(), rel=1e-5)
    # each name on its own term: the same network with the overlap term twice as strong
    stronger = build_model(validate(with_(two_penalties(tiny()), "layer_parameters.decoder_parameters.overlap_penalty",
                                          1.0))["layer_parameters"])
    model.save_weights(tmp_path / "w.weights.h5")
    stronger.load_weights(tmp_path / "w.weights.h5")
    set_noise(stronger, False)
    twice = stronger.evaluate(x, x, batch_size=8, verbose=0, return_dict=True)
    assert twice["overlap_penalty"] == pytest.approx(2 * logs["overlap_penalty"], rel=1e-5)
    assert twice["usage_balance"] == pytest.approx(logs["usage_balance"], rel=1e-5)


def test_the_2019_model_logs_the_reconstruction_alone_and_it_is_the_loss():
    model = build_model(validate(tiny())["layer_parameters"])
    assert model.loss_terms == ["reconstruction"]
    x = canvases()
    logs = model.evaluate(x, x, batch_size=4, verbose=0, return_dict=True)
    assert sorted(logs) == ["loss", "reconstruction"] and logs["reconstruction"] == logs["loss"]


def test_the_terms_stay_out_of_weight_files(tmp_path):
    """The metrics of the terms hold variables, but no weights: the file of a model with them is laid out as
    that of the same network without (and loads into it)."""
    model = build_model(validate(two_penalties(tiny()))["layer_parameters"])
    bare = keras.Model(model.input, model.output)       # the same layers, no term metrics
    bare.compile(optimizer=keras.optimizers.Nadam(), loss="mse")
    bare.optimizer.build(bare.trainable_variables)
    assert len(model.metrics_variables) > len(bare.metrics_variables)

    def layout(m, name):
        m.save_weights(tmp_path / name)
        with h5py.File(tmp_path / name) as f:
            items = []
            f.visititems(lambda key, obj: items.append((key, getattr(obj, "shape", None))))
        return items

    assert layout(model, "terms.weights.h5") == layout(bare, "bare.weights.h5")
    bare.load_weights(tmp_path / "terms.weights.h5")
    model.load_weights(tmp_path / "bare.weights.h5")


@pytest.mark.slow
def test_a_tiny_run_logs_every_term_per_epoch_and_to_tensorboard(tmp_path, capsys):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logged = {}
    cfg = two_penalties(tiny(epochs=1))
    train(cfg, tmp_path, log_scalar=lambda name, value, step: logged.setdefault(name, []).append(value))
    for key in ("reconstruction", *TERMS):
        assert len(logged[key]) == len(logged["val_" + key]) == 1, key
    assert not {"overdraw_penalty", "slot_ink_penalty", "centre_penalty"} & set(logged)  # only the model's terms
    assert min(logged[k][0] for k in TERMS) > 0
    for prefix in ("", "val_"):
        total = logged[prefix + "reconstruction"][0] + sum(logged[prefix + k][0] for k in TERMS)
        assert logged[prefix + "loss"][0] == pytest.approx(total, rel=1e-6)
    line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("epoch 1/1"))
    assert all(f" {key} " in line for key in ("reconstruction", *TERMS)), line
    board = EventAccumulator(str(tmp_path / "board" / "train"), size_guidance={"tensors": 0, "scalars": 0}).Reload()
    tags = set(board.Tags()["tensors"]) | set(board.Tags()["scalars"])
    assert {"epoch_reconstruction", "epoch_overlap_penalty", "epoch_usage_balance"} <= tags, tags
