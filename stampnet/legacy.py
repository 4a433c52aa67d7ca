"""Reading the 2019 Keras 2.2.2 HDF5 weight files (``model.save_weights``) into our model.

The 2019 layers carry Keras' automatic names (conv2d_N, batch_normalization_N) numbered in creation order:
the encoder blocks, the final conv, the stamp / y / x encodings, the y / x / stamp Gumbel pre-layers, each
conv followed by its batch norm; the stamps are ``stamp_layer``'s kernel (S, S, K, 1). Some 2019 files name
the three Gumbel pre-layer convs ``pre-softmax_y``, ``pre-softmax_x``, ``pre-softmax_stamp`` (the authors'
``gumbel_softmax_layer`` names them; older runs did not) and number only the other convs. The file's own layer
order is not creation order, and a Python process that built a model before numbers from higher N, so layers are
matched by role: a named head by its name, the numbered layers by their number's rank among the roles left;
every shape is checked.
"""
from __future__ import annotations

import re
from pathlib import Path

import h5py
import keras
import numpy as np

from stampnet import ConfigError

BN_WEIGHTS = ("gamma", "beta", "moving_mean", "moving_variance")
HEADS = ("y", "x", "stamp")  # the Gumbel pre-layers in 2019 creation order
NAMED_CONVS = {f"pre_softmax_{r}": f"pre-softmax_{r}" for r in HEADS}  # our role -> its 2019 name, when named


def is_legacy_file(path: str | Path) -> bool:
    """True for a Keras 2 ``save_weights`` HDF5 file (it has a ``layer_names`` attribute at the root)."""
    try:
        with h5py.File(path, "r") as f:
            return "layer_names" in f.attrs
    except OSError:
        return False


def _our_roles(model: keras.Model) -> list[str]:
    """Our conv/batch-norm layer name stems in the 2019 creation order."""
    n_blocks = sum(1 for layer in model.layers if re.fullmatch(r"encoder_\d+_conv", layer.name))
    return ([f"encoder_{i}" for i in range(1, n_blocks + 1)] + ["latent"]
            + [f"{r}_encoding" for r in ("stamp", "y", "x")] + [f"pre_softmax_{r}" for r in HEADS])


def _numbered(group: h5py.File, prefix: str) -> list[str]:
    names = [n for n in group.keys() if re.fullmatch(rf"{prefix}_\d+", n)]
    return sorted(names, key=lambda n: int(n.rsplit("_", 1)[1]))


def _read(group: h5py.Group, layer: str, names) -> dict[str, np.ndarray]:
    """{weight name without ':0': array} of one 2019 layer; ConfigError when one of ``names`` is missing."""
    out = {}
    group[layer].visititems(lambda name, obj: out.__setitem__(name.rsplit("/", 1)[-1].split(":")[0], obj[()])
                            if isinstance(obj, h5py.Dataset) else None)
    missing = [n for n in names if n not in out]
    if missing:
        raise ConfigError(f"{Path(group.filename).name}: layer {layer} has no {', '.join(missing)} weights; the file "
                          "is damaged or not a StampNet weight file")
    return out


def load_legacy_weights(model: keras.Model, path: str | Path) -> None:
    """Load a 2019 Keras 2.2.2 weight file into ``model`` (built from the matching config).

    Raises ConfigError when the file is not such a file or belongs to another architecture.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"no weight file at {path}")
    if not is_legacy_file(path):
        raise ConfigError(f"{path} is not a Keras 2 HDF5 weight file; give one of the 2019 *.hdf5 files "
                          "or a Keras 3 .weights.h5 file saved by this project")
    roles = _our_roles(model)
    with h5py.File(path, "r") as f:
        named = {role: name for role, name in NAMED_CONVS.items() if role in roles and name in f}
        numbered, norms = _numbered(f, "conv2d"), _numbered(f, "batch_normalization")
        unnamed = [role for role in roles if role not in named]
        if len(numbered) != len(unnamed) or len(norms) != len(roles) or "stamp_layer" not in f:
            heads = f" ({len(numbered)} numbered, named {sorted(named.values())})" if named else ""
            raise ConfigError(
                f"{path.name} has {len(numbered) + len(named)} conv layers{heads}, {len(norms)} batch norms"
                f"{'' if 'stamp_layer' in f else ' and no stamp_layer'}; the configured model needs "
                f"{len(roles)} of each and a stamp_layer: build the model from the config.json saved with "
                "these weights (its conv_layer_sizes)")
        convs = {**dict(zip(unnamed, numbered)), **named}  # our role -> the file's conv layer
        assignments = []  # (our variable, array, description)
        for role, norm in zip(roles, norms):
            conv = convs[role]
            w = _read(f, conv, ("kernel", "bias"))
            ours = model.get_layer(f"{role}_conv" if role.startswith(("encoder", "latent")) else role)
            assignments += [(ours.kernel, w["kernel"], f"{conv}/kernel -> {ours.name}"),
                            (ours.bias, w["bias"], f"{conv}/bias -> {ours.name}")]
            w = _read(f, norm, BN_WEIGHTS)
            bn = model.get_layer(f"{role}_bn")
            assignments += [(getattr(bn, n), w[n], f"{norm}/{n} -> {bn.name}") for n in BN_WEIGHTS]
        stamp = _read(f, "stamp_layer", ("kernel",))["kernel"]
        assignments.append((model.get_layer("stamp_layer").kernel, stamp, "stamp_layer/kernel"))
    for variable, value, what in assignments:
        if tuple(variable.shape) != value.shape:
            raise ConfigError(f"{path.name} is from another architecture: {what} has shape {value.shape}, the "
                              f"configured model expects {tuple(variable.shape)}; use the config.json saved with "
                              "these weights")
    for variable, value, _ in assignments:
        variable.assign(value)


REFERENCE_WEIGHTS = {"simple_shapes_2": "simple_shapes_2.weights.800.hdf5", "ct_mnist_2": "ct_mnist_2.weights.1000.hdf5"}


def reference_run(reference: str | Path | None, experiment: str, work_dir: str | Path, *,
                  mnist_path: str | Path | None = None, test_size: int = 4000) -> tuple[Path, Path]:
    """A published 2019 run ready for ``stampnet.evaluate``: (config.json written in ``work_dir``, weights file).

    ``reference`` is a folder holding ``<exp>.config.json`` and the weights of :data:`REFERENCE_WEIGHTS`; None
    takes the authors' files from the Keras cache, downloaded once (:func:`stampnet.pretrained.fetch`).
    Simple Shapes-2 is evaluated on ``test_size`` freshly generated canvases; CT-MNIST-2 on its test split
    regenerated from ``mnist_path`` (None: ``keras.datasets.mnist``) with the 2019 seed (the test split is exact,
    so only 64 training canvases are made). The configs train for one step and skip validation: only the test
    split is used."""
    import json

    from stampnet.cli import write_text_atomic
    from stampnet.config import merge, read_raw_config

    if experiment not in REFERENCE_WEIGHTS:
        raise ConfigError(f"no 2019 reference run {experiment!r}; choose one of {sorted(REFERENCE_WEIGHTS)}")
    if reference is None:
        from stampnet.pretrained import fetch

        config_file, weights = fetch(experiment)
    else:
        reference = Path(reference).expanduser()
        config_file, weights = reference / f"{experiment}.config.json", reference / REFERENCE_WEIGHTS[experiment]
        missing = [p.name for p in (config_file, weights) if not p.is_file()]
        if missing:
            raise ConfigError(f"{reference} lacks {' and '.join(missing)}; give the folder that holds the 2019 "
                              "config and weights, or none to download them into the Keras cache")
    work_dir = Path(work_dir)
    # The 2019 config with this machine's data, written as a config (evaluate validates it when it reads it).
    config = read_raw_config(config_file)
    if experiment == "simple_shapes_2":
        data = {"test_size": test_size}
    else:
        from stampnet.data.cluttered import generate_cluttered_mnist, save_npz_atomic
        from stampnet.data.mnist import load_mnist

        arrays = generate_cluttered_mnist(load_mnist(mnist_path), n_digits=2, n_train=64)  # the 2019 seed 42
        data = {"data_path": str(save_npz_atomic(work_dir / f"{experiment}.npz", arrays))}
    config = merge(config, {"run_parameters": {"steps_per_epoch": 1, "validation_steps": 0,
                                               "img_type_parameters": data}})
    return write_text_atomic(work_dir / f"{experiment}.config.json", json.dumps(config)), weights
