"""Cluttered MNIST (CT-MNIST, img_type ``ct_mnist``): generator faithful to the 2019 files, and their loader.

The 2019 recipe (``data/generate_cluttered_mnist.py`` of the authors' repository), reproduced call for call:

* ``RandomState(seed)`` (43 for the 1-digit file, 42 for the 2-digit file); its first ``randint(1e9)`` seeds
  the training split (from the training digits), its second the test split (from the test digits).
* Per split, from ``RandomState(split_seed)``: ``n_digits`` permutations of the digit indices (canvas i shows
  digit perm_j[i] in slot j), then ``n_clutter`` permutations (canvas i's clutter pieces), then per canvas two
  ``randint(1e9)`` seeds: one for the digits' positions, one for the clutter's.
* Positions: ``RandomState(position_seed).choice`` over the P·P upper-left spots (P = canvas - size + 1),
  one draw per object in order, spot -> (y, x) = divmod(spot, P); overlap allowed.
* Clutter piece = a digit resized to 8×8 with ``cv2.resize`` (bilinear). The raw uint8 digits (0-255) were added
  onto a float canvas clipped at 1 after every placement, so a canvas pixel is 1 wherever any object pixel
  is non-zero: **the canvases are binary**.

One deliberate difference: the 2019 seeding helper treated a seed of 0 as "no seed" (fresh entropy), so a
zero among its ~140,000 internal ``randint(1e9)`` seeds per file (chance ~1e-4) would not be reproducible by
anyone; here 0 is an ordinary seed.

More training canvases than digits (the 2019 size, 60,000, from a smaller MNIST): the first N canvases are the
2019 ones; each further round of N draws its own digit and clutter permutations and position seeds from
``RandomState([seed, round])``, so every digit comes back once per slot and round with new partners, clutter
and positions, the same for the same seed (and any n canvases are a prefix of more).

Here the canvases are built directly as that union of non-zero masks (bitwise or), which gives identical
pixels, and stored as uint8 {0, 1}. Files hold x_train/x_test (N, H, W) uint8, y_train/y_test (N, n_digits)
int64, x_train_coords/x_test_coords (N, n_digits, 2) int64 upper-left (y, x) of each digit; and what they
were made from (:data:`META_KEYS`, 0-d arrays; files without them still load): n_distinct_train/_test (the
digits the split shows), mnist_source (a name, never a path), mnist_train_digits/_test_digits and
mnist_train_sha256/_test_sha256 (the SHA-256 of each uint8 (N, 28, 28) digit array).
"""
from __future__ import annotations

import hashlib
import warnings
import zipfile
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from stampnet import ConfigError
from stampnet.data import COUNT, PATH, Canvases, Carries, Splits, check_memory, register
from stampnet.data.mnist import check_mnist, require_training_digits
from stampnet.data.shapes import default_train_size, int_param

DATA_DIR = Path("data") / "cluttered_mnist"  # relative to the current folder, as the 2019 configs' data_path
DEFAULT_SEEDS = {1: 43, 2: 42}  # the 2019 seeds of 8x8-clutter-8-times / 2-shape-8x8-clutter-8-times
TRAIN_CANVASES_2019 = 60_000  # the 2019 files' training canvases (one per digit of the full MNIST)
KEYS = ("x_train", "y_train", "x_test", "y_test", "x_train_coords", "x_test_coords")
MASK_KEYS = ("masks_test",)  # the test digits' true segmentation (:func:`digit_masks`); older files lack it
META_KEYS = ("n_distinct_train", "n_distinct_test", "mnist_source", "mnist_train_digits", "mnist_test_digits",
             "mnist_train_sha256", "mnist_test_sha256")
HOW_TO_MAKE = ("run `python generate_cluttered_mnist.py` (it gets MNIST through keras.datasets; offline, add "
               "`--mnist PATH` to an mnist.npz or a folder with the four IDX files)")


def default_file_name(n_digits: int, n_clutter: int = 8, clutter_size: int = 8) -> str:
    """The 2019 file names: ``8x8-clutter-8-times.npz`` (1 digit), ``2-shape-8x8-clutter-8-times.npz``."""
    base = f"{clutter_size}x{clutter_size}-clutter-{n_clutter}-times.npz"
    return base if n_digits == 1 else f"{n_digits}-shape-{base}"


def split_seeds(seed: int) -> tuple[int, int]:
    """(train_seed, test_seed): the first two ``randint(1e9)`` of ``RandomState(seed)``, as 2019."""
    rs = np.random.RandomState(seed)
    return int(rs.randint(int(1e9))), int(rs.randint(int(1e9)))


def clutter_masks(digits: np.ndarray, size: int) -> np.ndarray:
    """(N, size, size) bool: non-zero pixels of every digit resized with ``cv2.resize`` (bilinear, as 2019)."""
    import cv2

    out = np.empty((len(digits), size, size), bool)
    for i, d in enumerate(digits):
        out[i] = cv2.resize(d, dsize=(size, size)) > 0
    return out


def cluttered_canvases(digits: np.ndarray, labels: np.ndarray, n_canvases: int, seed: int, n_digits: int = 1,
                       canvas: int = 100, n_clutter: int = 8, clutter_size: int = 8, progress: str | None = None):
    """One CT-MNIST split, following the 2019 RandomState call sequence for ``seed`` (a split seed).

    digits (N, h, h) uint8 0-255, labels (N,). With ``n_canvases`` = N this is the 2019 split; fewer gives its
    first canvases, more adds rounds of N with fresh pairings, clutter and positions (module docstring).
    Returns images (n, canvas, canvas) uint8 in {0, 1}, labels (n, n_digits) int64, coords (n, n_digits, 2)
    int64 upper-left (y, x). ``progress``: a tqdm description, or None for no bar.
    """
    return _canvases(digits, labels, n_canvases, seed, n_digits, canvas, n_clutter, clutter_size, progress)[:3]


def digit_masks(images: np.ndarray, digits: np.ndarray, digit_idx: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """The true segmentation of CT-MNIST canvases: each digit's own pixels (j + 1 for the j-th digit, the first
    where two overlap), 0 elsewhere: the clutter is background, as the digits are the objects. images (n, H, W),
    digits (N, h, h), digit_idx (n, n_digits), coords (n, n_digits, 2); (n, H, W) uint8."""
    masks = np.zeros(images.shape, np.uint8)
    h = digits.shape[1]
    ink = digits > 0
    for i in range(len(images)):
        for j in range(digit_idx.shape[1] - 1, -1, -1):          # the first digit drawn last: it wins overlaps
            y, x = coords[i, j]
            masks[i, y:y + h, x:x + h][ink[digit_idx[i, j]]] = j + 1
    return masks


def _plan(n: int, n_canvases: int, seed: int, n_digits: int, n_clutter: int):
    """Per canvas: digit indices (n_canvases, n_digits), clutter indices (n_canvases, n_clutter) and the two
    position seeds (n_canvases, 2); round 0 from ``RandomState(seed)`` as 2019, round r from
    ``RandomState([seed, r])``."""
    digit_idx, clutter_idx, pos_seeds = [], [], []
    for r in range(-(-n_canvases // n)):
        rs = np.random.RandomState(seed if r == 0 else [seed, r])
        k = min(n, n_canvases - r * n)
        perms = lambda count: np.array([rs.permutation(n) for _ in range(count)], np.int64).reshape(count, n).T
        digit_idx.append(perms(n_digits)[:k])
        clutter_idx.append(perms(n_clutter)[:k])
        # Per canvas, in order: the digits' position seed, then the clutter's (2019 drew them as scalars in
        # the loop; one vector draw consumes the Mersenne Twister identically).
        pos_seeds.append(rs.randint(int(1e9), size=(k, 2)))
    return np.concatenate(digit_idx), np.concatenate(clutter_idx), np.concatenate(pos_seeds)


def _canvases(digits, labels, n_canvases, seed, n_digits, canvas, n_clutter, clutter_size, progress):
    """:func:`cluttered_canvases` and the (n, n_digits) indices of the digits drawn."""
    check_clutter_args(digits, n_canvases, n_digits, canvas, n_clutter, clutter_size)
    h = digits.shape[1]
    digit_idx, clutter_idx, pos_seeds = _plan(len(digits), n_canvases, seed, n_digits, n_clutter)
    p_dig, p_clu = canvas - h + 1, canvas - clutter_size + 1  # spots per axis
    dig_mask = (digits > 0).astype(np.uint8)  # (N, h, h)
    clu_mask = clutter_masks(digits, clutter_size).astype(np.uint8)  # (N, c, c)
    images = np.zeros((n_canvases, canvas, canvas), np.uint8)
    coords = np.empty((n_canvases, n_digits, 2), np.int64)
    local = np.random.RandomState()
    bar = _bar(n_canvases, progress)
    try:
        for i in range(n_canvases):
            # 2019: RandomState(s).choice(all spots) per object == randint(0, P*P) per object from that state.
            local.seed(pos_seeds[i, 0])
            spots = local.randint(0, p_dig * p_dig, size=n_digits)
            img = images[i]
            for j, s in enumerate(spots):
                y, x = divmod(int(s), p_dig)
                coords[i, j] = y, x
                img[y:y + h, x:x + h] |= dig_mask[digit_idx[i, j]]
            local.seed(pos_seeds[i, 1])
            for j, s in enumerate(local.randint(0, p_clu * p_clu, size=n_clutter)):
                y, x = divmod(int(s), p_clu)
                img[y:y + clutter_size, x:x + clutter_size] |= clu_mask[clutter_idx[i, j]]
            if bar is not None and (i + 1) % 1000 == 0:
                bar.update(1000)
        if bar is not None:
            bar.update(n_canvases - bar.n)
    finally:
        if bar is not None:
            bar.close()
    return images, np.asarray(labels)[digit_idx].astype(np.int64), coords, digit_idx


def _bar(total: int, desc: str | None):
    if desc is None:
        return None
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="canvas", unit_scale=True, mininterval=0.5)


def check_clutter_args(digits: np.ndarray, n_canvases: int, n_digits: int, canvas: int, n_clutter: int,
                       clutter_size: int) -> None:
    """ConfigError for settings that cannot make canvases."""
    def _int(v, name, minimum):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < minimum:
            raise ConfigError(f"{name} must be an integer >= {minimum}, got {v!r}")
    _int(n_canvases, "the number of canvases (--n-train/--n-test)", 1)
    _int(n_digits, "the number of digits per canvas (--digits)", 1)
    _int(canvas, "the canvas size (--canvas)", 1)
    _int(n_clutter, "the number of clutter pieces (--n-clutter)", 0)
    _int(clutter_size, "the clutter size (--clutter-size)", 1)
    if len(digits) == 0:
        raise ConfigError("no digits to make canvases from; give an MNIST source with both training and test "
                          "digits (--mnist PATH: an mnist.npz or a folder with the four IDX files)")
    if digits.ndim != 3 or digits.shape[1] != digits.shape[2]:
        raise ConfigError(f"digits must be square (N, h, h) images, got shape {digits.shape}")
    if digits.shape[1] > canvas:
        raise ConfigError(f"{digits.shape[1]}x{digits.shape[1]} digits do not fit on a {canvas}x{canvas} canvas; "
                          "use a larger --canvas")
    if clutter_size > canvas:
        raise ConfigError(f"{clutter_size}x{clutter_size} clutter does not fit on a {canvas}x{canvas} canvas; "
                          "use a smaller --clutter-size or a larger --canvas")
    check_memory("CT-MNIST canvases", n_canvases, canvas, canvas, "--canvas or --n-train/--n-test", factor=0.25)


def generate_cluttered_mnist(mnist, n_digits: int, seed: int | None = None,
                             n_train: int = TRAIN_CANVASES_2019, n_test: int | None = None, canvas: int = 100,
                             n_clutter: int = 8, clutter_size: int = 8, progress: bool = False,
                             source: str = "digit arrays") -> dict:
    """Both splits of a CT-MNIST file as a dict of the 2019 keys and the :data:`META_KEYS`.

    mnist: ((x_train, y_train), (x_test, y_test)), checked as :func:`stampnet.data.mnist.check_mnist` does
    (uint8 0-255 or floats in [0, 1], (N, 28, 28)). seed None -> the 2019 seed for ``n_digits``; n_train: 60,000
    as 2019 whatever the number of digits (reused when fewer); n_train/n_test None -> one canvas per digit.
    source: a name for the digits, in messages and recorded in the file (not a path).
    """
    (x_tr, y_tr), (x_te, y_te) = check_mnist(*mnist[0], *mnist[1], source)
    if seed is None:
        seed = DEFAULT_SEEDS.get(n_digits, 42)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 32:
        raise ConfigError(f"--seed must be an integer in [0, 2**32), got {seed!r}")
    require_training_digits(x_tr, source)
    train_seed, test_seed = split_seeds(seed)
    out = {}
    for split, x, y, n, s in (("train", x_tr, y_tr, n_train, train_seed), ("test", x_te, y_te, n_test, test_seed)):
        n = len(x) if n is None else n
        images, labels, coords, drawn = _canvases(
            x, y, n, s, n_digits, canvas, n_clutter, clutter_size, f"{n_digits}-digit {split}" if progress else None)
        out[f"x_{split}"], out[f"y_{split}"], out[f"x_{split}_coords"] = images, labels, coords
        out[f"n_distinct_{split}"] = np.int64(len(np.unique(drawn)))
        if split == "test":  # the measures' true masks (ARI-FG, mIoU); training needs none
            out["masks_test"] = digit_masks(images, x, drawn, coords)
    out["mnist_source"] = np.str_(source)
    for split, x in (("train", x_tr), ("test", x_te)):
        out[f"mnist_{split}_digits"] = np.int64(len(x))
        out[f"mnist_{split}_sha256"] = np.str_(hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest())
    return out


def reuse_note(arrays: dict, split: str = "train") -> str:
    """"60,000 training canvases from 5,000 distinct digits (each used ~12×)" for a generated split."""
    n, n_digits = arrays[f"y_{split}"].shape
    distinct = int(arrays[f"n_distinct_{split}"])
    each = f" ({n_digits} digits each)" if n_digits > 1 else ""
    name = "training" if split == "train" else "test"
    return (f"{n:,} {name} canvases{each} from {distinct:,} distinct digits "
            f"(each used ~{n * n_digits / distinct:.3g}×)")


def save_npz_atomic(path, arrays: dict, compresslevel: int = 1) -> Path:
    """Write ``arrays`` as a compressed .npz at ``path``, whole or not at all (``stampnet.cli.atomic_path``)."""
    from stampnet.cli import atomic_path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=compresslevel) as zf:
            for key, arr in arrays.items():
                with zf.open(f"{key}.npy", "w", force_zip64=True) as f:
                    np.lib.format.write_array(f, np.asarray(arr, order="C"), allow_pickle=False)  # 0-d stays 0-d
    return path


def _resolve(data_path) -> Path:
    """``data_path`` as given (a relative one from the current folder; the 2019 configs use data/...)."""
    return Path(data_path).expanduser()


def read_cluttered(path) -> dict:
    """The six arrays of a CT-MNIST file (labels as (N, n_digits), coords as (N, n_digits, 2); 2019 1-digit
    files stored (N,) and (N, 2)). Raises ConfigError for a missing, corrupt or incomplete file."""
    p = _resolve(path)
    if not p.is_file():
        raise ConfigError(f"no CT-MNIST file at {str(p)!r}; {HOW_TO_MAKE}")
    try:
        with np.load(p, allow_pickle=False) as data:
            missing = [k for k in KEYS if k not in data.files]
            if missing:
                raise ConfigError(f"{p} lacks the keys {missing} (needs {list(KEYS)}); regenerate it: {HOW_TO_MAKE}")
            arrays = {k: data[k] for k in KEYS}
            arrays.update({k: data[k] for k in MASK_KEYS if k in data.files})  # older files have none
    except ConfigError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, zlib.error) as err:
        raise ConfigError(f"{p} is not a readable .npz ({type(err).__name__}: {err}); delete it and "
                          f"{HOW_TO_MAKE}") from None
    for split in ("train", "test"):
        x, y, c = arrays[f"x_{split}"], arrays[f"y_{split}"], arrays[f"x_{split}_coords"]
        if x.ndim == 4 and x.shape[-1] == 1:
            x = x[..., 0]
        if x.ndim != 3:
            raise ConfigError(f"{p}: x_{split} has shape {x.shape}, expected (N, H, W) images; {HOW_TO_MAKE}")
        y = y.reshape(len(y), -1) if y.ndim == 1 else y
        c = c.reshape(len(c), 1, 2) if c.ndim == 2 else c
        if len(y) != len(x) or len(c) != len(x) or c.shape[1:] != (y.shape[1], 2):
            raise ConfigError(f"{p}: {split} arrays disagree (images {x.shape}, labels {y.shape}, coords "
                              f"{c.shape}); {HOW_TO_MAKE}")
        arrays[f"x_{split}"], arrays[f"y_{split}"], arrays[f"x_{split}_coords"] = x, y, c
    return arrays


def _take(x: np.ndarray, n: int | None) -> np.ndarray:
    """The first n rows of x (cycled when n > len(x), as the 2019 input pipeline did); all when n is None."""
    return x if n is None or n == len(x) else x[np.arange(n) % len(x)]


def ct_mnist_note(run_parameters: dict) -> Optional[str]:
    """The file's training canvases and the MNIST they were made from, by what they are (``60,000 training
    canvases from 5,000 distinct digits (each used ~12×) of an MNIST training subset of 5,000 digits, images'
    sha256 …``); None for a file made before these were recorded, or one that cannot be read here."""
    path = (run_parameters.get("img_type_parameters") or {}).get("data_path")
    try:
        with np.load(path) as f:
            if not {"n_distinct_train", "mnist_train_digits", "mnist_train_sha256"} <= set(f.files):
                return None
            arrays = {k: f[k] for k in ("y_train", "n_distinct_train", "mnist_train_digits", "mnist_train_sha256")}
    except (OSError, ValueError, TypeError):
        return None
    n = int(arrays["mnist_train_digits"])
    kind = "an MNIST training set" if n >= 60_000 else "an MNIST training subset"
    return f"{reuse_note(arrays)} of {kind} of {n:,} digits, images' sha256 {str(arrays['mnist_train_sha256'])[:12]}"


@register("ct_mnist", {"data_path": PATH, "train_size": COUNT, "test_size": COUNT},
          Carries(masks=True), note=ct_mnist_note)  # files made before masks were written carry none: measured without them
# (train_size: (steps_per_epoch + validation_steps) × batch_size; test_size: all the file's test canvases)
def load_ct_mnist(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed) -> Splits:
    """CT-MNIST canvases from ``img_type_parameters.data_path``: float32 (N, H, W, 1) in {0, 1}.

    Train: the first train_size canvases (default (steps_per_epoch + validation_steps)·batch_size, what 2019
    trained and validated on; cycled if the file holds fewer). Test: all test canvases, or test_size.
    """
    p = img_type_parameters or {}
    if not p.get("data_path"):
        raise ConfigError("img_type ct_mnist needs img_type_parameters.data_path, e.g. "
                          f"data/cluttered_mnist/{default_file_name(2)} (2 digits) or {default_file_name(1)}")
    arrays = read_cluttered(p["data_path"])
    rows, cols = input_parameters["img_rows"], input_parameters["img_cols"]
    for split in ("train", "test"):
        if arrays[f"x_{split}"].shape[1:] != (rows, cols):
            raise ConfigError(f"{p['data_path']}: {split} canvases are {arrays[f'x_{split}'].shape[1:]} but "
                              f"img_rows/img_cols are {rows}x{cols}; set them to the file's size or regenerate "
                              f"with --canvas {rows}")
        if len(arrays[f"x_{split}"]) == 0:
            raise ConfigError(f"{p['data_path']} holds no {split} canvases; {HOW_TO_MAKE}")
    n_train = int_param(p, "train_size", default_train_size(run_parameters, input_parameters))
    n_test = int_param(p, "test_size", len(arrays["x_test"]))
    if n_train > len(arrays["x_train"]):
        warnings.warn(f"{p['data_path']} holds {len(arrays['x_train'])} training canvases; cycling them to "
                      f"train_size {n_train} (validation canvases repeat training ones)", stacklevel=2)
    for split, n, key in (("train", n_train, "img_type_parameters.train_size (default: (steps_per_epoch + "
                                              "validation_steps) × batch_size)"), ("test", n_test, "img_type_parameters.test_size")):
        check_memory(f"{split} canvases of {p['data_path']}", n, rows, cols, key, factor=2)  # float copy + clip
    parts = []
    for split, n in (("train", n_train), ("test", n_test)):
        x = _take(arrays[f"x_{split}"], n).astype(np.float32)[..., None]  # (n, H, W, 1)
        if x.size and x.max() > 1:
            x = np.minimum(x, 1.0)  # 2019 float files are already clipped; guard against 0-255 images
        masks = arrays.get(f"masks_{split}")
        parts.append(Canvases(x, _take(arrays[f"y_{split}"], n).astype(np.int64),
                              _take(arrays[f"x_{split}_coords"], n).astype(np.int64),
                              masks=None if masks is None else _take(masks, n)))
    return Splits(*parts)
