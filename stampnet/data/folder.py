"""Your own images: a folder of grayscale pictures as canvases (img_type ``"folder"``).

Every PNG/JPEG (also BMP/TIFF/WebP) under ``data_path``, nested folders included, in sorted path order, is
read as grayscale in [0, 1] (:func:`to_unit_gray`: colour with OpenCV's luma weights, 8-bit values divided by
255, 16-bit images together by the largest value any of them holds, so a depth map of 0–800 mm spans [0, 1] and
brightness means the same in every file; an alpha channel composites over black, or is the image when the
colour is uniform) and brought to the canvas size ``img_rows`` x ``img_cols``. No labels or
positions are known.

img_type_parameters:

``data_path``      (required) the folder.
``resize``         ``"fit"`` (default): resize the whole image to the canvas, ignoring its aspect ratio;
                   ``"crop"``: cut the largest centred region with the canvas's aspect ratio, then resize it.
                   Shrinking uses ``cv2.INTER_AREA``, enlarging ``cv2.INTER_LINEAR``.
``invert``         false (default); true for dark objects on a light background (StampNet adds stamps on a
                   black canvas, so objects must be bright).
``test_fraction``  0.2: the share of images (chosen at random with the run's seed) held out as test set.

Hidden files and folders are ignored; files that cannot be decoded, and images whose header declares more
than ``MAX_IMAGE_PIXELS`` pixels (checked before decoding), are skipped and counted on stdout.
"""
from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np

from stampnet import ConfigError
from stampnet.data import FRACTION, FLAG, PATH, Canvases, Carries, Splits, register

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")
RESIZE_MODES = ("fit", "crop")
# Declared sizes above this are refused before decoding (a 16-bit RGBA image this large decodes to 512 MB).
MAX_IMAGE_PIXELS = 64_000_000
EXIF_ORIENTATION = 0x0112


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


def read_header(path: str | Path) -> tuple[int, int] | None:
    """(declared pixel count, EXIF orientation 1-8) from the image file's header, without decoding its pixels
    (PIL's lazy ``Image.open``); None when it is not an image PIL knows. Sizes beyond PIL's own
    decompression-bomb limit count as that limit + 1."""
    from PIL import Image  # heavy: imported only when needed

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(path) as im:
                w, h = im.size
                # A PNG's getexif() decodes the image when the EXIF chunk is not in its header: skip that case.
                exif = im.getexif() if im.format != "PNG" or "exif" in im.info else {}
                orientation = exif.get(EXIF_ORIENTATION, 1)
    except Image.DecompressionBombError:
        return 2 * Image.MAX_IMAGE_PIXELS + 1, 1
    except Exception:  # noqa: BLE001 - PIL raises many kinds for a broken file: all mean "unreadable"
        return None
    return w * h, orientation if orientation in range(1, 9) else 1


def orient(img: np.ndarray, orientation: int) -> np.ndarray:
    """``img`` turned upright by its EXIF orientation (1-8), as ``PIL.ImageOps.exif_transpose`` does."""
    return {2: lambda a: a[:, ::-1], 3: lambda a: a[::-1, ::-1], 4: lambda a: a[::-1],
            5: lambda a: a.swapaxes(0, 1), 6: lambda a: np.rot90(a, -1), 7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
            8: lambda a: np.rot90(a, 1)}.get(orientation, lambda a: a)(img)


def to_unit_gray(img: np.ndarray) -> np.ndarray:
    """An image as decoded by ``cv2.IMREAD_UNCHANGED`` (2-D, BGR or BGRA; any depth) as 2-D float32 in [0, 1].

    Values are divided by the maximum of their type (uint8: 255, uint16: 65535; float images are taken as
    already in [0, 1]), not by the image's own range, so a dark 16-bit image stays dark. Colour becomes luma
    (OpenCV's weights). Alpha: when the colour of the visible pixels is uniform and alpha varies, the content is
    in alpha (a shape drawn by transparency) and alpha is the image; otherwise the image is composited over
    black (gray × alpha), the canvas's background.
    """
    scale = 1.0 if img.dtype.kind == "f" else float(np.iinfo(img.dtype).max)
    if img.dtype not in (np.uint8, np.uint16, np.float32):
        img = img.astype(np.float32)
    alpha = img[..., 3] if img.ndim == 3 and img.shape[2] == 4 else None
    if img.ndim == 3:
        img = img[..., 0] if img.shape[2] < 3 else cv2.cvtColor(np.ascontiguousarray(img[..., :3]),
                                                                 cv2.COLOR_BGR2GRAY)
    unit = lambda a: np.clip(np.nan_to_num(a.astype(np.float32) / scale), 0.0, 1.0)
    gray = unit(img)
    if alpha is None:
        return gray
    alpha = unit(alpha)
    visible = gray[alpha > 0]
    if alpha.min() < alpha.max() and (visible.size == 0 or visible.max() - visible.min() <= 1 / 255):
        return alpha
    return gray * alpha


def read_unit_gray(path: str | Path, orientation: int = 1, with_depth: bool = False):
    """Decode an image file (any bit depth, alpha kept) to upright 2-D float32 in [0, 1] (:func:`to_unit_gray`);
    None when it is unreadable. Check its size with :func:`read_header` first. ``with_depth``: (image, whether
    it has more than 8 bits per value)."""
    try:
        data = Path(path).read_bytes()
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    except (OSError, cv2.error):
        img = None
    if img is None or img.ndim not in (2, 3) or img.size == 0:
        return (None, False) if with_depth else None
    unit = to_unit_gray(orient(img, orientation))
    return (unit, img.dtype.itemsize > 1 and img.dtype.kind in "ui") if with_depth else unit


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
          Carries(labels=False, boxes=False), defaults={"resize": "fit", "invert": False, "test_fraction": 0.2})
def load_folder(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed: int) -> Splits:
    """Load a folder of images as unlabelled canvases, split at random into train/test."""
    p = img_type_parameters
    if not p.get("data_path"):
        raise ConfigError("img_type 'folder' needs img_type_parameters.data_path: the folder of your images")
    root = Path(p["data_path"]).expanduser()
    if not root.is_dir():
        raise ConfigError(f"image folder {root} does not exist; set img_type_parameters.data_path to a folder "
                          "of PNG/JPEG images")
    mode = p["resize"]
    if mode not in RESIZE_MODES:
        raise ConfigError(f"img_type_parameters.resize must be one of {RESIZE_MODES}, got {mode!r}")
    test_fraction = float(p["test_fraction"])
    if not 0 <= test_fraction < 1:
        raise ConfigError(f"img_type_parameters.test_fraction must be in [0, 1), got {test_fraction}")
    rows, cols = int(input_parameters["img_rows"]), int(input_parameters["img_cols"])

    files = list_images(root)
    if not files:
        raise ConfigError(f"no images ({', '.join(IMAGE_SUFFIXES)}) under {root}; put your pictures there or "
                          "set img_type_parameters.data_path")
    images, bad, large, deep = [], 0, [], []
    for path in files:
        header = read_header(path)
        if header is not None and header[0] > MAX_IMAGE_PIXELS:
            large.append(path)
            continue
        img, more_bits = (None, False) if header is None else read_unit_gray(path, header[1], with_depth=True)
        if img is None:
            bad += 1
            continue
        if more_bits:
            deep.append(len(images))
        if mode == "crop":
            img = center_crop(img, rows, cols)
        images.append(resize_to(img, rows, cols))
    too_large = (f"{len(large)} image(s) declaring more than {MAX_IMAGE_PIXELS:,} pixels (e.g. "
                 f"{large[0].relative_to(root).as_posix()}); shrink them (e.g. to a few megapixels) or remove them"
                 if large else "")
    if bad:
        print(f"folder: skipped {bad} unreadable image file(s) of {len(files)} under {root}")
    if large and images:
        print(f"folder: skipped {too_large}")
    if not images:
        if large:
            raise ConfigError(f"no usable images under {root}: {bad} unreadable and {too_large}")
        raise ConfigError(f"none of the {len(files)} image files under {root} could be read; check the files")
    peak = max((images[i].max() for i in deep), default=0.0)
    for i in deep if peak > 0 else ():  # 16-bit images (depth maps: 0–800 mm, say) span [0, 1] together
        images[i] = images[i] / peak
    if deep and peak > 0:
        print(f"folder: {len(deep)} image(s) of 16 bits scaled together by their largest value "
              f"({peak * 65535:.0f} of 65535)")
    x = np.stack(images)[..., None]
    if p["invert"]:
        x = 1.0 - x
    train, test = split_indices(len(x), test_fraction, np.random.default_rng(seed))
    return Splits(Canvases(x[train]), Canvases(x[test]))
