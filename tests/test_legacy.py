"""The 2019 Keras 2.2.2 weight files load by role in every layout the authors' code wrote: all convolutions
numbered (conv2d_1 … conv2d_12), the three Gumbel pre-layers named (pre-softmax_y/x/stamp) and nine numbered,
any mix of the two, and numbers that do not start at 1. The files are written here, Keras-2 style."""
import h5py
import keras
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.legacy import load_legacy_weights
from stampnet.model import build_model
from tests.tiny import TINY

HEADS = ("y", "x", "stamp")


def our_layers(model):
    """(conv layer, batch norm layer) of every role, in 2019 creation order."""
    n_blocks = len(TINY["layer_parameters"]["encoder_parameters"]["conv_layer_sizes"])
    stems = ([f"encoder_{i}_conv" for i in range(1, n_blocks + 1)] + ["latent_conv"]
             + [f"{r}_encoding" for r in ("stamp", "y", "x")] + [f"pre_softmax_{r}" for r in HEADS])
    bns = [s.replace("_conv", "") + "_bn" for s in stems]
    return [(model.get_layer(c), model.get_layer(b)) for c, b in zip(stems, bns)]


def write_keras2_file(path, model, named_heads=(), first=1, rng=None):
    """model's weights in a Keras 2.2.2 ``save_weights`` file: groups <layer>/<layer>/<weight>:0, the root's
    layer_names (with weightless layers among them) in an order that is not creation order.
    ``named_heads``: the Gumbel pre-layers ("y", "x", "stamp") written as pre-softmax_<head> instead of numbered;
    ``first``: the first conv2d / batch_normalization number."""
    rng = rng or np.random.default_rng(0)
    groups = {}  # 2019 layer name -> [(weight name, array)]
    conv_number = bn_number = first
    for (conv, bn), role in zip(our_layers(model), range(len(our_layers(model)))):
        head = conv.name.removeprefix("pre_softmax_") if conv.name.startswith("pre_softmax_") else None
        if head in named_heads:
            name = f"pre-softmax_{head}"
        else:
            name, conv_number = f"conv2d_{conv_number}", conv_number + 1
        groups[name] = [("kernel", conv.kernel.numpy()), ("bias", conv.bias.numpy())]
        groups[f"batch_normalization_{bn_number}"] = [(w, getattr(bn, w).numpy()) for w in
                                                     ("gamma", "beta", "moving_mean", "moving_variance")]
        bn_number += 1
    groups["stamp_layer"] = [("kernel", model.get_layer("stamp_layer").kernel.numpy())]
    names = list(groups) + ["main_input", "dropout_1", "flatten_1", "softmax_y", "min_1"]
    order = [names[i] for i in rng.permutation(len(names))]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in order])
        f.attrs["backend"], f.attrs["keras_version"] = b"tensorflow", b"2.2.2"
        for name in order:
            g = f.create_group(name)
            weights = groups.get(name, [])
            g.attrs["weight_names"] = np.array([f"{name}/{w}:0".encode() for w, _ in weights])
            for w, value in weights:
                g.create_dataset(f"{name}/{w}:0", data=value)
    return path


def randomised(seed):
    """The tiny model with every variable (batch-norm statistics included) set to random values."""
    model = build_model(TINY["layer_parameters"], compile=False)
    rng = np.random.default_rng(seed)
    for v in model.weights:
        if v.name not in ("temperature", "seed_generator_state"):
            v.assign(rng.uniform(0.1, 1.0, v.shape).astype("float32"))
    return model


def assert_same_weights(a, b):
    for (conv_a, bn_a), (conv_b, bn_b) in zip(our_layers(a), our_layers(b)):
        for va, vb in zip(conv_a.weights + bn_a.weights, conv_b.weights + bn_b.weights):
            np.testing.assert_array_equal(va.numpy(), vb.numpy(), err_msg=f"{va.path} vs {vb.path}")
    np.testing.assert_array_equal(a.get_layer("stamp_layer").kernel.numpy(),
                                  b.get_layer("stamp_layer").kernel.numpy())


@pytest.mark.parametrize("named_heads, first", [
    ((), 1),                       # 2019 runs: conv2d_1 … conv2d_12
    (HEADS, 1),                    # named Gumbel heads, conv2d_1 … conv2d_9
    (("stamp",), 1),               # a mix: y and x numbered conv2d_10/11, the stamp head named
    (("x",), 13),                  # a mix, numbered from 13 (a notebook kernel that built a model before)
])
def test_keras2_file_loads_by_role(tmp_path, named_heads, first):
    source = randomised(seed=1)
    path = write_keras2_file(tmp_path / "w.hdf5", source, named_heads, first)
    target = build_model(TINY["layer_parameters"], compile=False)
    load_legacy_weights(target, path)
    assert_same_weights(source, target)
    images = np.random.default_rng(2).random((4, 32, 32, 1)).astype("float32")
    # Same weights, same forward pass (noise off, τ small: deterministic).
    for model in (source, target):
        for layer in model.layers:
            if hasattr(layer, "temperature"):
                layer.noise = False
                layer.temperature.assign(0.5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(source(images)),
                               keras.ops.convert_to_numpy(target(images)), rtol=1e-6, atol=1e-6)


def test_named_head_of_the_wrong_shape_is_refused(tmp_path):
    """Named layers are matched by name, and still checked by shape: a stamp head swapped with the y head."""
    source = randomised(seed=3)
    path = write_keras2_file(tmp_path / "w.hdf5", source, HEADS)
    with h5py.File(path, "a") as f:
        f.move("pre-softmax_y", "tmp")
        f.move("pre-softmax_stamp", "pre-softmax_y")
        f.move("tmp", "pre-softmax_stamp")
    with pytest.raises(ConfigError, match=r"^[^\n]*another architecture: pre-softmax_y/kernel -> pre_softmax_y "
                                          r"has shape \(1, 1, 16, 8\), the configured model expects \(1, 1, 16, 50\)"):
        load_legacy_weights(build_model(TINY["layer_parameters"], compile=False), path)


def test_named_and_numbered_heads_together_are_refused(tmp_path):
    """A numbered conv too many beside pre-softmax_y/x/stamp (the tiny model has 9 convs) is refused."""
    source = randomised(seed=4)
    path = write_keras2_file(tmp_path / "w.hdf5", source, HEADS)
    with h5py.File(path, "a") as f:
        f.copy("conv2d_6", "conv2d_7")
    with pytest.raises(ConfigError, match=r"has 10 conv layers \(7 numbered, named .*pre-softmax_stamp.*\), 9 "
                                          r"batch norms; the configured model needs 9 of each"):
        load_legacy_weights(build_model(TINY["layer_parameters"], compile=False), path)


def test_layer_without_its_weights_is_refused(tmp_path):
    path = write_keras2_file(tmp_path / "w.hdf5", randomised(seed=5), ("y",))
    with h5py.File(path, "a") as f:
        del f["pre-softmax_y/pre-softmax_y/bias:0"]
    with pytest.raises(ConfigError, match="layer pre-softmax_y has no bias weights"):
        load_legacy_weights(build_model(TINY["layer_parameters"], compile=False), path)
