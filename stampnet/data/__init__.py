"""Datasets as canvases: images with, where known, the label, upper-left corner and mask of every object.

Every loader returns :class:`Splits` (train and test :class:`Canvases`). ``load_data`` dispatches on
``run_parameters["img_type"]``. Each data set declares once, when it registers, what its canvases carry
(:class:`Carries`); evaluation, figures, the table and the notebook ask :func:`carries`, never the set's name.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np

from stampnet import ConfigError


@dataclass(frozen=True)
class Carries:
    """What a data set's canvases carry, declared by its loader (:func:`register`); the measures and figures
    that need a thing ask for it here.

    ``labels``: a class label per object (purity, NMI, accuracy). ``boxes``: each object's upper-left corner
    (CorLoc, IoU). ``masks``: a true segmentation of every test canvas (ARI-FG, ARI, mIoU). ``colour``: more
    than one channel. ``background``: a background that is not black. ``one_target``: one annotated object (the
    target, e.g. the pedestrian under the sensor) among objects that are not annotated; a slot is scored as
    target or not. ``kmeans_reference``: evaluation adds the k-means baselines by default (Omniglot)."""

    labels: bool = True
    boxes: bool = True
    masks: bool = False
    colour: bool = False
    background: bool = False
    one_target: bool = False
    kmeans_reference: bool = False


@dataclass
class Canvases:
    """images (N, H, W, C) float32 in [0, 1]; labels (N, n_obj) int64 or None; coords (N, n_obj, 2) int64
    upper-left (y, x) of each object, or None when unknown; intensities (N, n_obj) float32, the factor each
    object was drawn with (``img_type_parameters.intensities``), or None when all objects are drawn as they are;
    masks (N, H, W) integer segmentation (0 the background, i the i-th object, in the order of labels and
    coords), or None."""

    images: np.ndarray
    labels: Optional[np.ndarray] = None
    coords: Optional[np.ndarray] = None
    intensities: Optional[np.ndarray] = None
    masks: Optional[np.ndarray] = None

    def __len__(self) -> int:
        return len(self.images)

    def take(self, index) -> "Canvases":
        """The canvases at ``index`` (a slice or an index array)."""
        pick = lambda a: None if a is None else a[index]
        return Canvases(self.images[index], pick(self.labels), pick(self.coords), pick(self.intensities),
                        pick(self.masks))


@dataclass
class Splits:
    train: Canvases
    test: Canvases


# img_type -> loader(img_type_parameters, input_parameters, run_parameters, seed) -> Splits
LOADERS: dict[str, Callable[..., Splits]] = {}
# img_type -> {img_type_parameters key: its kind}: what each loader reads, checked at the config's edge
LOADER_KEYS: dict[str, dict[str, Optional[str]]] = {}
# img_type -> what its canvases carry
CARRIES: dict[str, Carries] = {}
# img_type -> {img_type_parameters key: its default} (None: derived from the rest of the config, or unset)
LOADER_DEFAULTS: dict[str, dict] = {}
# img_type -> note(run_parameters) -> a few words on where a run's data came from, or None (results files)
NOTES: dict[str, Callable[[dict], Optional[str]]] = {}

# Kinds of a loader key checked before loading (None: the loader checks it itself, or a 2019 key it ignores; a
# tuple of strings: one of those choices).
COUNT, FRACTION, FLAG, PATH = "count", "fraction", "flag", "path"
_KIND_RULE = {COUNT: "an integer >= 1", FRACTION: "a number in [0, 1)", FLAG: "true or false", PATH: "a path"}
_KIND_OK = {
    COUNT: lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
    FRACTION: lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
    FLAG: lambda v: isinstance(v, bool),
    PATH: lambda v: isinstance(v, str) and v != "",
}
# Keys every loader takes: test_size, the number of test canvases (the first ones of a split read from files;
# generated splits are made that large). The ``quick`` named config sets it for every experiment.
COMMON_KEYS = {"test_size": COUNT}
# A set of canvases is refused when it would take more than this share of the free memory.
MEMORY_SHARE = 0.8


def register(img_type: str, keys: dict[str, Optional[str]], carries: Carries = Carries(), note=None,
             defaults: Optional[dict] = None):
    """Decorator: register a loader for ``img_type`` that reads the ``img_type_parameters`` ``keys``
    ({name: COUNT | FRACTION | FLAG | PATH | (choice, …) | None}) with their ``defaults`` ({name: value}; a key
    not named defaults to None: derived from the rest of the config, or unset), and whose canvases carry
    ``carries``; ``note(run_parameters)`` says in a few words where a run's data came from. The loader is
    called with the defaults filled in (:func:`with_defaults`): they are declared here and nowhere else."""
    import functools

    def wrap(fn):
        @functools.wraps(fn)
        def loader(img_type_parameters, *args, **kwargs):
            return fn(with_defaults(img_type, img_type_parameters), *args, **kwargs)

        LOADERS[img_type] = loader
        LOADER_KEYS[img_type] = dict(keys)
        LOADER_DEFAULTS[img_type] = {key: (defaults or {}).get(key) for key in {**COMMON_KEYS, **keys}}
        CARRIES[img_type] = carries
        NOTES[img_type] = note or (lambda run_parameters: None)
        return loader

    return wrap


def with_defaults(img_type: str, img_type_parameters: Optional[dict]) -> dict:
    """``img_type_parameters`` with every key the data set reads, its declared default where it is not set."""
    import copy

    _import_loaders()
    out = copy.deepcopy(LOADER_DEFAULTS.get(img_type, {}))
    out.update({k: v for k, v in (img_type_parameters or {}).items() if v is not None or out.get(k) is None})
    return out  # a key set to None (null) takes its default


def data_note(run_parameters: dict) -> Optional[str]:
    """Where a run's data came from, in the data set's own words (a look-alike or synthetic set, the official
    file, an MNIST subset), or None."""
    _import_loaders()
    return NOTES.get(run_parameters["img_type"], lambda rp: None)(run_parameters)


def carries(img_type: str) -> Carries:
    """What the canvases of ``img_type`` carry (see :class:`Carries`)."""
    _import_loaders()
    if img_type not in CARRIES:
        raise ConfigError(f"unknown run_parameters.img_type {img_type!r}; choose one of {sorted(LOADERS)}")
    return CARRIES[img_type]


def check_img_type_parameters(img_type: str, params: dict) -> None:
    """The edge check of ``run_parameters.img_type_parameters``: every key is one that the loader of
    ``img_type`` reads (else "did you mean"), of its kind; the img_type itself exists."""
    _import_loaders()
    if img_type not in LOADERS:
        near = difflib.get_close_matches(img_type, LOADERS, n=1)
        raise ConfigError(f"unknown run_parameters.img_type {img_type!r}; "
                          + (f"did you mean {near[0]!r}?" if near else f"choose one of {sorted(LOADERS)}"))
    known = {**COMMON_KEYS, **LOADER_KEYS[img_type]}
    for key, value in params.items():
        name = f"run_parameters.img_type_parameters.{key}"
        if key not in known:
            near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            fix = f"did you mean {near[0]}?" if near else f"img_type {img_type} reads {', '.join(sorted(known))}"
            raise ConfigError(f"unknown config key {name} for img_type {img_type}; {fix}")
        kind = known[key]
        if isinstance(kind, tuple) and value is not None and value not in kind:
            near = difflib.get_close_matches(str(value), kind, n=1)
            raise ConfigError(f"{name} must be one of {', '.join(kind)}, got {value!r}"
                              + (f"; did you mean {near[0]!r}?" if near else ""))
        if isinstance(kind, str) and value is not None and not _KIND_OK[kind](value):
            raise ConfigError(f"{name} must be {_KIND_RULE[kind]}, got {value!r}")


def available_memory() -> Optional[int]:
    """Bytes of memory this process may still take (Linux's MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_memory(what: str, n_canvases: int, rows: int, cols: int, key: str, factor: float = 1.0) -> None:
    """Refuse, before allocating, ``n_canvases`` float32 canvases of rows × cols (× ``factor`` for the working
    copies) that would not fit in memory; the message gives the size and the key to change."""
    need = n_canvases * rows * cols * 4 * factor
    free = available_memory()
    if free is not None and need > MEMORY_SHARE * free:
        raise ConfigError(f"{what}: {n_canvases:,} canvases of {rows}x{cols} need {need / 2**30:.1f} GiB, but "
                          f"{free / 2**30:.1f} GiB of memory is free; lower {key}")


def load_data(run_parameters: dict, input_parameters: dict, seed: int) -> Splits:
    """Load/generate the train and test canvases that raw ``run_parameters`` describe (their data set's keys
    checked first; a validated config's ``DataSpec.load`` skips that check)."""
    check_img_type_parameters(run_parameters["img_type"], run_parameters.get("img_type_parameters") or {})
    return load_checked(run_parameters, input_parameters, seed)


def load_checked(run_parameters: dict, input_parameters: dict, seed: int) -> Splits:
    """:func:`load_data` for ``run_parameters`` whose data set's keys are checked already (validated)."""
    img_type = run_parameters["img_type"]
    params = run_parameters.get("img_type_parameters") or {}
    splits = LOADERS[img_type](params, input_parameters, run_parameters, seed)
    if params.get("test_size") is not None and len(splits.test) > params["test_size"]:
        splits.test = splits.test.take(slice(0, params["test_size"]))
    shape = (input_parameters["img_rows"], input_parameters["img_cols"], input_parameters["img_channels"])
    for name, part in (("train", splits.train), ("test", splits.test)):
        if part.images.shape[1:] != shape:
            raise ConfigError(
                f"{img_type} {name} images are {part.images.shape[1:]} but the model expects {shape}; "
                "set layer_parameters.input_parameters.img_rows/img_cols to the data's size")
        if part.masks is not None and part.masks.shape != part.images.shape[:3]:
            raise ConfigError(f"{img_type} {name} masks are {part.masks.shape[1:]} per canvas but the images are "
                              f"{part.images.shape[1:3]}; the data file is inconsistent: regenerate or re-download it")
        if len(part) == 0:
            raise ConfigError(f"the {img_type} {name} split is empty; "
                              + ("raise img_type_parameters.test_fraction or add data" if name == "test"
                                 else "add data or lower img_type_parameters.test_fraction"))
    return splits


def _import_loaders():
    """Import every module of this package: each data set registers itself when imported, so a new set is one
    module here. Imported lazily, so that ``stampnet.data`` stays light."""
    import importlib
    import pkgutil

    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
