"""Datasets as canvases: images with, where known, the label and upper-left corner of every object.

Every loader returns :class:`Splits` (train and test :class:`Canvases`). ``load_data`` dispatches on
``run_parameters["img_type"]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from stampnet import ConfigError


@dataclass
class Canvases:
    """images (N, H, W, 1) float32 in [0, 1]; labels (N, n_obj) int64 or None; coords (N, n_obj, 2) int64
    upper-left (y, x) of each object, or None when unknown; intensities (N, n_obj) float32, the factor each
    object was drawn with (``img_type_parameters.intensities``), or None when all objects are drawn as they are."""

    images: np.ndarray
    labels: Optional[np.ndarray] = None
    coords: Optional[np.ndarray] = None
    intensities: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.images)

    def take(self, index) -> "Canvases":
        """The canvases at ``index`` (a slice or an index array)."""
        pick = lambda a: None if a is None else a[index]
        return Canvases(self.images[index], pick(self.labels), pick(self.coords), pick(self.intensities))


@dataclass
class Splits:
    train: Canvases
    test: Canvases


# img_type -> loader(img_type_parameters, input_parameters, run_parameters, seed) -> Splits
LOADERS: dict[str, Callable[..., Splits]] = {}


def register(img_type: str):
    """Decorator: register a loader for ``img_type``."""

    def wrap(fn):
        LOADERS[img_type] = fn
        return fn

    return wrap


def load_data(run_parameters: dict, input_parameters: dict, seed: int) -> Splits:
    """Load/generate the train and test canvases that ``run_parameters`` describes."""
    _import_loaders()
    img_type = run_parameters["img_type"]
    if img_type not in LOADERS:
        raise ConfigError(
            f"unknown run_parameters.img_type {img_type!r}; choose one of {sorted(LOADERS)}")
    params = run_parameters.get("img_type_parameters") or {}
    if params.get("intensities") is not None and img_type not in ("t_shape", "t_mnist"):
        raise ConfigError(f"img_type_parameters.intensities works for img_type t_shape and t_mnist, not "
                          f"{img_type!r}; remove it")
    splits = LOADERS[img_type](params, input_parameters, run_parameters, seed)
    shape = (input_parameters["img_rows"], input_parameters["img_cols"], input_parameters["img_channels"])
    for name, part in (("train", splits.train), ("test", splits.test)):
        if part.images.shape[1:] != shape:
            raise ConfigError(
                f"{img_type} {name} images are {part.images.shape[1:]} but the model expects {shape}; "
                "set layer_parameters.input_parameters.img_rows/img_cols to the data's size")
    return splits


def _import_loaders():
    # Each module registers itself; imported lazily so `stampnet.data` stays light.
    import importlib

    for mod in ("shapes", "mnist", "cluttered", "pedestrian", "omniglot", "folder"):
        try:
            importlib.import_module(f"stampnet.data.{mod}")
        except ModuleNotFoundError as err:
            if err.name != f"stampnet.data.{mod}":
                raise
