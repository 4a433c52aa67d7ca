"""Your own images: a folder of grayscale pictures as canvases (img_type ``"folder"``).

Every PNG/JPEG (also BMP/TIFF/WebP) under ``data_path``, nested folders included, in sorted path order, is
read as grayscale (colour images are converted with OpenCV's luma weights; an alpha channel is dropped),
brought to the canvas size ``img_rows`` x ``img_cols`` and scaled to [0, 1]. No labels or positions are known.

img_type_parameters:

``data_path``      (required) the folder.
``resize``         ``"fit"`` (default): resize the whole image to the canvas, ignoring its aspect ratio;
                   ``"crop"``: cut the largest centred region with the canvas's aspect ratio, then resize it.
                   Shrinking uses ``cv2.INTER_AREA``, enlarging ``cv2.INTER_LINEAR``.
``invert``         false (default); true for dark objects on a light background (StampNet adds stamps on a
                   black canvas, so objects must be bright).
``test_fraction``  0.2: the share of images (chosen at random with the run's seed) held out as test set.

Hidden files and folders are ignored; files that cannot be decoded are skipped and counted on stdout.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from stampnet import ConfigError
from stampnet.data import FRACTION, FLAG, PATH, Canvases, Carries, Splits, register

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
RESIZE_MODES = ("fit", "crop")


def decode_gray(data: bytes) -> np.ndarray | None:
    """Decode encoded image bytes to a 2-D uint8 grayscale array; None when they are not a readable image."""
    if not data:
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_GRAYSCALE)
    return None if img is None or img.ndim != 2 or img.size == 0 else img


def read_gray(path: str | Path) -> np.ndarray | None:
    """Read an image file as 2-D uint8 grayscale; None when it is unreadable."""
    try:
        return decode_gray(Path(path).read_bytes())
    except OSError:
        return None


def resize_to(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Resize ``img`` to rows x cols: INTER_AREA when shrinking, INTER_LINEAR when enlarging."""
    if img.shape == (rows, cols):
        return img
    shrink = rows * cols < img.shape[0] * img.shape[1]
    return cv2.resize(img, (cols, rows), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def center_crop(img: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The largest centred region of ``img`` with the aspect ratio rows:cols."""
    h, w = img.shape
    if h * cols > w * rows:  # too tall
        ch, cw = max(1, round(w * rows / cols)), w
    else:
        ch, cw = h, max(1, round(h * cols / rows))
    y, x = (h - ch) // 2, (w - cw) // 2
    return img[y:y + ch, x:x + cw]


def list_images(root: Path) -> list[Path]:
    """Image files under ``root`` (recursively, hidden entries skipped) in sorted relative-path order."""
    files = [p for p in root.rglob("*")
             if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(files, key=lambda p: p.relative_to(root).as_posix())


def split_indices(n: int, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Random (train, test) index arrays, both non-empty when n >= 2; each sorted."""
    n_test = int(round(test_fraction * n))
    if n >= 2:
        n_test = min(max(n_test, 1 if test_fraction > 0 else 0), n - 1)
    perm = rng.permutation(n)
    return np.sort(perm[n_test:]), np.sort(perm[:n_test])


@register("folder", {"data_path": PATH, "resize": None, "invert": FLAG, "test_fraction": FRACTION},
          Carries(labels=False, boxes=False))
def load_folder(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed: int) -> Splits:
    """Load a folder of images as unlabelled canvases, split at random into train/test."""
    p = img_type_parameters
    if not p.get("data_path"):
        raise ConfigError("img_type 'folder' needs img_type_parameters.data_path: the folder of your images")
    root = Path(p["data_path"]).expanduser()
    if not root.is_dir():
        raise ConfigError(f"image folder {root} does not exist; set img_type_parameters.data_path to a folder "
                          "of PNG/JPEG images")
    mode = p.get("resize", "fit")
    if mode not in RESIZE_MODES:
        raise ConfigError(f"img_type_parameters.resize must be one of {RESIZE_MODES}, got {mode!r}")
    test_fraction = float(p.get("test_fraction", 0.2))
    if not 0 <= test_fraction < 1:
        raise ConfigError(f"img_type_parameters.test_fraction must be in [0, 1), got {test_fraction}")
    rows, cols = int(input_parameters["img_rows"]), int(input_parameters["img_cols"])

    files = list_images(root)
    if not files:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}; put your pictures there or "
                          "set img_type_parameters.data_path")
    images, bad = [], 0
    for path in files:
        img = read_gray(path)
        if img is None:
            bad += 1
            continue
        if mode == "crop":
            img = center_crop(img, rows, cols)
        images.append(resize_to(img, rows, cols))
    if bad:
        print(f"folder: skipped {bad} unreadable image file(s) of {len(files)} under {root}")
    if not images:
        raise ConfigError(f"none of the {len(files)} image files under {root} could be read; check the files")
    x = np.stack(images).astype(np.float32)[..., None] / 255.0
    if p.get("invert", False):
        x = 1.0 - x
    train, test = split_indices(len(x), test_fraction, np.random.default_rng(seed))
    return Splits(Canvases(x[train]), Canvases(x[test]))
