"""MNIST digits (:func:`load_mnist`) and T-MNIST canvases (img_type ``t_mnist``).

The MNIST path option (``--mnist`` / ``run_parameters.mnist_path`` / ``img_type_parameters.mnist_path``):
None downloads and caches via ``keras.datasets.mnist``; otherwise a Keras-format ``mnist.npz`` (keys x_train,
y_train, x_test, y_test) or a folder with the four IDX files (``.gz`` or uncompressed).
"""
from __future__ import annotations

import gzip
import hashlib
import zipfile
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from stampnet import ConfigError
from stampnet.data import COUNT, FLAG, PATH, Canvases, Carries, Splits, register
from stampnet.data.placement import check_intensities, place_objects
from stampnet.data.shapes import placement_params, split_rngs, split_sizes

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")
DIGIT_SHAPE = (28, 28)
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"  # keras.datasets.mnist's file
FIX = (f"download mnist.npz ({KERAS_URL}) to ~/.keras/datasets/ or set run_parameters.mnist_path / --mnist PATH "
       "to an mnist.npz or a folder with the four IDX .gz files")
VALUES = "give uint8 digits 0-255 (as Keras' mnist.npz) or floats in [0, 1] or [0, 255]"

Arrays = tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def _keras_load() -> Arrays:
    """keras.datasets.mnist.load_data() (downloads once into ~/.keras/datasets/mnist.npz)."""
    import keras  # heavy: imported only when needed

    return keras.datasets.mnist.load_data()


def load_mnist(path=None) -> Arrays:
    """((x_train (N, 28, 28) uint8, y_train (N,) uint8), (x_test, y_test)) from ``path`` (see module doc).

    A folder holding only the t10k files gives empty training arrays ((0, 28, 28) and (0,)).
    Raises ConfigError for a missing, unreadable or malformed source.
    """
    if path is None:
        try:
            (x_tr, y_tr), (x_te, y_te) = _keras_load()
        except Exception as err:  # offline, blocked, corrupt cache...
            raise ConfigError(f"could not get MNIST from keras.datasets ({type(err).__name__}: "
                              f"{str(err).splitlines()[0] if str(err) else ''}); {FIX}") from None
        return check_mnist(x_tr, y_tr, x_te, y_te, "keras.datasets.mnist")
    p = Path(path).expanduser()
    if p.is_dir():
        return _load_idx_folder(p)
    if p.is_file():
        return _load_npz(p)
    raise ConfigError(f"MNIST path {str(p)!r} does not exist; {FIX}")


def _load_npz(p: Path) -> Arrays:
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in NPZ_KEYS if k not in data.files]
            if missing:
                raise ConfigError(f"{p} lacks the MNIST keys {missing} (needs {list(NPZ_KEYS)}, the layout of "
                                  f"Keras' mnist.npz); {FIX}")
            arrays = [data[k] for k in NPZ_KEYS]
    except ConfigError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise ConfigError(f"{p} is not a readable .npz ({type(err).__name__}: {err}); {FIX}") from None
    return check_mnist(*arrays, str(p))


def _read_idx(path: Path, ndim: int, magic: int) -> np.ndarray:
    """An IDX array (uint8) of ``ndim`` dimensions from ``path`` (gzip or raw)."""
    try:
        raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, gzip.BadGzipFile) as err:
        raise ConfigError(f"cannot read IDX file {path} ({type(err).__name__}: {err}); {FIX}") from None
    head = 4 + 4 * ndim
    if len(raw) < head or int.from_bytes(raw[:4], "big") != magic:
        raise ConfigError(f"{path} is not an MNIST IDX file (bad header); {FIX}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    if len(raw) - head != int(np.prod(dims)):
        raise ConfigError(f"{path} is truncated or corrupt ({len(raw) - head} bytes of data for shape "
                          f"{tuple(dims)}); {FIX}")
    return np.frombuffer(raw, np.uint8, offset=head).reshape(dims)


def _load_idx_folder(folder: Path) -> Arrays:
    found = {}
    for key, stem in IDX_FILES.items():
        for name in (stem + ".gz", stem):
            if (folder / name).is_file():
                found[key] = folder / name
                break
    if "x_test" not in found or "y_test" not in found:
        raise ConfigError(f"MNIST folder {folder} lacks {IDX_FILES['x_test']}(.gz) / {IDX_FILES['y_test']}(.gz); "
                          f"{FIX}")
    if ("x_train" in found) != ("y_train" in found):
        raise ConfigError(f"MNIST folder {folder} has only one of the two training IDX files; {FIX}")
    arrays = {}
    for key, path in found.items():
        arrays[key] = _read_idx(path, 3 if key.startswith("x") else 1, 2051 if key.startswith("x") else 2049)
    if "x_train" not in arrays:  # test digits only
        h, w = arrays["x_test"].shape[1:]
        arrays["x_train"], arrays["y_train"] = np.zeros((0, h, w), np.uint8), np.zeros((0,), np.uint8)
    return check_mnist(*(arrays[k] for k in NPZ_KEYS), str(folder))


def check_digits(x, what: str, allow_empty: bool = False) -> np.ndarray:
    """Digit images as (N, 28, 28) uint8 0-255, checked where they come in: numbers only, N >= 1 (or 0 when
    ``allow_empty``); floats in [0, 1] are scaled to 0-255, floats in [0, 255] and integers 0-255 kept (both
    rounded); anything else is a ConfigError naming ``what``."""
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ConfigError(f"{what} are {x.dtype} values, not numbers; {VALUES}")
    if x.ndim != 3 or x.shape[1:] != DIGIT_SHAPE or (len(x) == 0 and not allow_empty):
        raise ConfigError(f"{what} have shape {x.shape}; expected (N, 28, 28) digit images with N >= 1; {FIX}")
    if x.dtype == np.uint8:
        return x
    if x.dtype.kind == "b":
        return x.astype(np.uint8) * np.uint8(255)
    if x.size == 0:
        return x.astype(np.uint8)
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        raise ConfigError(f"{what} contain NaN or infinite values; {VALUES}")
    lo, hi = x.min(), x.max()
    if lo < 0 or hi > 255:
        raise ConfigError(f"{what} hold values from {lo:g} to {hi:g}; {VALUES}")
    if x.dtype.kind == "f":
        return np.rint(x * 255.0 if hi <= 1 else x).astype(np.uint8)
    return x.astype(np.uint8)


def check_labels(y, n: int, what: str) -> np.ndarray:
    """Labels as (n,) uint8: whole numbers 0-255, one per image; else a ConfigError naming ``what``."""
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ConfigError(f"{what} have shape {y.shape} for {n} images; expected (N,) labels, one per image; {FIX}")
    if y.dtype.kind not in "biuf" or (y.size and (not np.isfinite(y).all() or y.min() < 0 or y.max() > 255
                                                  or (y != np.round(y)).any())):
        raise ConfigError(f"{what} are not whole numbers 0-255 (dtype {y.dtype}); give class labels such as 0-9")
    return y.astype(np.uint8)


def check_mnist(x_tr, y_tr, x_te, y_te, source: str) -> Arrays:
    """((x_train, y_train), (x_test, y_test)) checked and converted (:func:`check_digits`, :func:`check_labels`);
    the training split may be empty (a folder with only the t10k files), the test split not."""
    out = []
    for name, x, y in (("train", x_tr, y_tr), ("test", x_te, y_te)):
        x = check_digits(x, f"MNIST {name} images from {source}", allow_empty=True)
        out.append((x, check_labels(y, len(x), f"MNIST {name} labels from {source}")))
    if len(out[1][0]) == 0:
        raise ConfigError(f"MNIST from {source} has no test digits; {FIX}")
    return out[0], out[1]


def source_name(path) -> str:
    """What an MNIST path option names, without the folders above it (for a file's metadata)."""
    return "keras.datasets.mnist (mnist.npz)" if path is None else Path(path).expanduser().resolve().name


def require_training_digits(x_train: np.ndarray, source) -> None:
    """ConfigError when the MNIST source gave no training digits (e.g. a folder with only the t10k files)."""
    if len(x_train) == 0:
        raise ConfigError(f"the MNIST source {source!r} holds no training digits (only t10k files); give an "
                          f"mnist.npz with x_train (Keras' {KERAS_URL}) or a folder that also has "
                          "train-images-idx3-ubyte.gz / train-labels-idx1-ubyte.gz (--mnist PATH / "
                          "run_parameters.mnist_path), or leave the path unset to download MNIST through keras")


def mnist_path(img_type_parameters: dict, run_parameters: dict):
    """img_type_parameters.mnist_path, else run_parameters.mnist_path, else None (download)."""
    path = (img_type_parameters or {}).get("mnist_path")
    return path if path is not None else (run_parameters or {}).get("mnist_path")


def mnist_note(path) -> Optional[str]:
    """The MNIST at ``path`` by what it is, for results files: its training digits and, for a file, the start of
    its SHA-256 (``MNIST training subset, 5,000 digits, sha256 9900d4ead64e``); None for keras.datasets."""
    if path is None:
        return None
    p = Path(path).expanduser()
    try:
        n = len(load_mnist(p)[0][1])
        digest = f", sha256 {hashlib.sha256(p.read_bytes()).hexdigest()[:12]}" if p.is_file() else ", IDX files"
    except (ConfigError, OSError):
        return "MNIST from a local file that cannot be read here"
    kind = "MNIST training set" if n >= 60_000 else "MNIST training subset"
    return f"{kind}, {n:,} digits{digest}"


@register("t_mnist", {"nr_img_per_canvas": COUNT, "overlap": FLAG, "train_size": COUNT, "test_size": COUNT,
                      "intensities": None, "mnist_path": PATH, "shape_size": COUNT},  # shape_size: 2019, unused
          Carries(masks=True),
          defaults={"nr_img_per_canvas": 2, "overlap": True, "test_size": 10000},
          note=lambda rp: mnist_note(mnist_path(rp.get("img_type_parameters"), rp)))
def load_t_mnist(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed) -> Splits:
    """T-MNIST: ``nr_img_per_canvas`` digits scaled to [0, 1] at random positions (grey-level, sum clipped
    at 1); training canvases from the training digits, test canvases from the test digits. ``intensities``: one
    factor per digit (see :func:`stampnet.data.placement.place_objects`)."""
    p = img_type_parameters or {}
    source = mnist_path(p, run_parameters)
    (x_tr, y_tr), (x_te, y_te) = load_mnist(source)
    require_training_digits(x_tr, source)
    per_canvas, overlap = placement_params(p)
    intensities = check_intensities(p.get("intensities"), per_canvas)
    n_train, n_test = split_sizes(p, input_parameters, run_parameters)
    canvas = (input_parameters["img_rows"], input_parameters["img_cols"])
    parts = []
    for (x, y), n, rng in zip(((x_tr, y_tr), (x_te, y_te)), (n_train, n_test), split_rngs(seed)):
        digits = x.astype(np.float32) / 255.0  # (N, 28, 28) in [0, 1]
        images, labels, coords, factors, masks = place_objects(digits, y, canvas, per_canvas, rng, overlap=overlap,
                                                        n_canvases=n, intensities=intensities)
        parts.append(Canvases(images, labels, coords, factors, masks))
    return Splits(*parts)
