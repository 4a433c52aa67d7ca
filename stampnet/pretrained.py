"""The authors' published 2019 weights, fetched as Keras fetches its own: ``keras.utils.get_file``.

The files are those of run 0 of each experiment in github.com/crowdflowTUe/stampnet, pinned at one commit:
``runs/<exp>/0/trained/<file>`` (Keras 2.2.2 HDF5, loaded by :mod:`stampnet.legacy`) beside
``runs/<exp>/0/config.json`` (their Sacred config). They land in the Keras cache
(``~/.keras/models/stampnet-2019/<exp>/``) and each weight file is checked against its SHA-256. A mirror or a
lab's file server holding the same relative paths is used instead with ``STAMPNET_WEIGHTS_URL=<base URL>``.

``python -m stampnet.evaluate --pretrained ct_mnist_2`` measures one of them.
"""
from __future__ import annotations

import os
from pathlib import Path

from stampnet import ConfigError

COMMIT = "dba20fd7d66ab51d4536419d1b3cbac924445904"
BASE_URL = f"https://raw.githubusercontent.com/crowdflowTUe/stampnet/{COMMIT}"
URL_VARIABLE = "STAMPNET_WEIGHTS_URL"
CACHE_SUBDIR = "models/stampnet-2019"
CACHE_DIR = None  # None: the Keras cache (KERAS_HOME, default ~/.keras)

# experiment: (weight file of run 0, its size in bytes, its SHA-256)
WEIGHTS = {
    "ct_mnist_1": ("weights.1000-176.02.hdf5", 3826296,
                   "c40ceb4916da58943266d9cc6ca5dcd7e7214090e5c824c59f78cd1d01126208"),
    "ct_mnist_2": ("weights.1000-253.72.hdf5", 3925704,
                   "f7081ebf245c68c764e3c63b0d70f7e2e477d5d50ab2412b27d64120eafd39f3"),
    "pedestrian": ("weights.1000-79.03.hdf5", 3135608,
                   "85f8dceb93de62c05b87f6bf7011e32bc3426ae250c870719c0cbf9ebeda440c"),
    "simple_shapes_2": ("weights.800-59.63.hdf5", 2847320,
                        "c2861522f00090b534df5365b318c800d65c442aa1ab14653c5643b58831707d"),
    "t_mnist_2": ("weights.800-84.55.hdf5", 2975072,
                  "1d54285fcfa705b33b3e85de8824737d29fda0fc5aedf265776ed85ef0178883"),
}


def base_url() -> str:
    return os.environ.get(URL_VARIABLE, BASE_URL).rstrip("/")


def _get(experiment: str, relative: str, file_hash: str | None, cache_dir=None) -> Path:
    import keras

    name = relative.rsplit("/", 1)[-1]
    origin = f"{base_url()}/runs/{experiment}/0/{relative}"
    subdir = f"{CACHE_SUBDIR}/{experiment}"
    try:
        return Path(keras.utils.get_file(fname=name, origin=origin, file_hash=file_hash, hash_algorithm="sha256",
                                         cache_subdir=subdir, cache_dir=cache_dir))
    except ValueError as err:  # downloaded, but not the published file: do not keep it in the cache
        cached = Path(cache_dir or keras.config.keras_home()).expanduser() / subdir / name
        cached.unlink(missing_ok=True)
        raise ConfigError(f"{origin} is not the published file ({err}); check {URL_VARIABLE} "
                          f"(now {base_url()!r}) or pass --weights PATH") from None
    except Exception as err:  # get_file reports every network failure as a bare Exception
        raise ConfigError(f"could not download {origin} ({str(err).splitlines()[0]}); offline, pass the files "
                          f"with --weights PATH (and their config.json as the target), or set {URL_VARIABLE} "
                          "to a mirror") from None


def fetch(experiment: str, cache_dir=None) -> tuple[Path, Path]:
    """(config.json, weight file) of the authors' run 0 of ``experiment``, from the Keras cache (or
    ``cache_dir``) or downloaded."""
    if experiment not in WEIGHTS:
        raise ConfigError(f"no published 2019 weights for {experiment!r}; choose one of {', '.join(WEIGHTS)}")
    name, _, sha256 = WEIGHTS[experiment]
    cache_dir = cache_dir or CACHE_DIR
    weights = _get(experiment, f"trained/{name}", sha256, cache_dir)
    config = _get(experiment, "config.json", None, cache_dir)  # no published hash; read_config validates it
    return config, weights
