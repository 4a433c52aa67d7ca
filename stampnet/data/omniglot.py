"""Omniglot handwritten characters (img_type ``"omniglot"``), from the official zips or their extracted folders.

Layout (Lake et al. 2015, github.com/brendenlake/omniglot, ``python/``): ``<split>/<alphabet>/<character>/
<drawing>.png``, 105x105 black strokes on white, 20 drawings per character. ``data_path`` may be one path or a
list of paths, each a zip (``images_background.zip``, ``images_evaluation.zip``, ``images_background_small1.zip``,
``images_background_small2.zip``), an extracted ``<split>`` folder, a folder holding ``<split>`` folders, or a
folder holding such zips (``images_*.zip``). A drawing found in several sources (same alphabet, character
and file name) is read once: ``images_background_small1/2`` both hold Greek and Latin, so together they
give 8 distinct alphabets, not 10.

Characters are inverted (strokes = 1, background = 0) and resized with ``cv2.INTER_AREA`` to ``char_size``.
Label = the character's index over the chosen alphabets, ordered by (alphabet name, character name); the
alphabet index is kept too (:class:`OmniglotSet`). Train/test: for every character, its drawings are split at
random (run seed) with ``test_fraction`` of them (at least one, at most all but one) in the test set, so every
character appears in both sets. ``test_fraction: 0`` holds nothing out: both splits are all drawings of the
chosen alphabets (clustering is unsupervised, and k-means is scored on the drawings it was fit on too).

img_type_parameters:

``data_path``          "data/omniglot" (a path or a list of paths, see above)
``alphabets``          None = all; a list of alphabet names; or an integer n = the first n alphabets (sorted)
``n_characters``       None = all; else at most this many characters per alphabet (the first, by sorted name)
``char_size``          28
``test_fraction``      0.25 (of the drawings of each character); 0: train and test are both all drawings
``nr_img_per_canvas``  1; characters are placed at random (``place_objects``) on an img_rows x img_cols canvas
``overlap``            false (only matters with several characters per canvas)
``n_train``/``n_test`` None = one canvas per drawing of the split; else that many canvases (drawings cycled,
                       each time at a new random place: ``n_train`` = k x the drawings is translation
                       augmentation, k places per drawing; an epoch trains on steps_per_epoch x batch_size
                       of them, the same every epoch)
"""
from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import cv2
import numpy as np

from stampnet import ConfigError
from stampnet.data import COUNT, FRACTION, FLAG, PATH, Canvases, Carries, Splits, register
from stampnet.data.folder import decode_gray
from stampnet.data.placement import place_objects

DEFAULT_PATH = "data/omniglot"
LAYOUT = "<split>/<alphabet>/<character>/<drawing>.png"
DOWNLOAD = ("download images_background.zip (and/or images_evaluation.zip) from "
            "https://github.com/brendenlake/omniglot/tree/master/python into data/omniglot, "
            "or set img_type_parameters.data_path")


@dataclass
class OmniglotSet:
    """Drawings (N, s, s) float32 in [0, 1] (strokes = 1) with their character and alphabet indices."""

    images: np.ndarray
    char_labels: np.ndarray      # (N,) int64 index into char_names
    alphabet_labels: np.ndarray  # (N,) int64 index into alphabet_names
    char_names: list[str]        # "alphabet/character", one per character index
    alphabet_names: list[str]
    char_alphabet: np.ndarray    # (n_chars,) int64 alphabet index of each character


# ------------------------------------------------------------------------------------ finding the drawings

def _key(parts: tuple[str, ...], where: str) -> tuple[str, str, str]:
    """(alphabet, character, drawing) from a path relative to a split folder or to its parent."""
    if len(parts) == 4:
        parts = parts[1:]
    if len(parts) != 3:
        raise ConfigError(f"{where} is not in the Omniglot layout {LAYOUT}; point data_path to an official "
                          "Omniglot zip, a <split> folder or the folder above it")
    return parts  # type: ignore[return-value]


def _visible(parts) -> bool:
    return not any(p.startswith(".") or p == "__MACOSX" for p in parts)


def _scan_zip(path: Path) -> dict[tuple[str, str, str], tuple]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as err:
        raise ConfigError(f"cannot open {path} as a zip ({err}); {DOWNLOAD}") from None
    out = {}
    for name in zf.namelist():
        parts = PurePosixPath(name).parts
        if name.endswith("/") or not name.lower().endswith(".png") or not _visible(parts):
            continue
        out[_key(parts, f"{path}:{name}")] = ("zip", zf, name)
    return out


def _scan_folder(root: Path) -> dict[tuple[str, str, str], tuple]:
    out = {}
    for p in root.rglob("*"):
        if p.is_file() and p.suffix.lower() == ".png":
            parts = p.relative_to(root).parts
            if _visible(parts):
                out[_key(parts, str(p))] = ("file", p)
    if not out:  # a folder of zips
        for z in sorted(root.glob("images_*.zip")) or sorted(root.glob("*.zip")):
            out.update(_scan_zip(z))
    return out


def scan(data_path) -> dict[tuple[str, str, str], tuple]:
    """Every drawing found under ``data_path`` (a path or list of paths): (alphabet, character, drawing) -> source."""
    paths = [data_path] if isinstance(data_path, (str, Path)) else list(data_path or [])
    if not paths:
        raise ConfigError(f"img_type_parameters.data_path is empty; {DOWNLOAD}")
    found: dict = {}
    for raw in paths:
        path = Path(raw).expanduser()
        if path.is_file():
            found.update(_scan_zip(path))
        elif path.is_dir():
            found.update(_scan_folder(path))
        else:
            raise ConfigError(f"no Omniglot data at {path}; {DOWNLOAD}")
    if not found:
        raise ConfigError(f"no Omniglot drawings (PNG files in the layout {LAYOUT}) in {paths}; {DOWNLOAD}")
    return found


def _read(source) -> np.ndarray | None:
    """One drawing as uint8 grayscale; None (skipped and counted, as an unreadable file) when its bytes cannot
    be read: a corrupt zip member (bad CRC, broken deflate stream) or a file that went away."""
    try:
        data = source[1].read(source[2]) if source[0] == "zip" else source[1].read_bytes()
    except (OSError, EOFError, zipfile.BadZipFile, zlib.error):
        return None
    return decode_gray(data)


def _select(found: dict, alphabets, n_characters) -> list[tuple[str, str]]:
    """The chosen (alphabet, character) pairs in label order."""
    available = sorted({a for a, _, _ in found})
    if alphabets is None:
        chosen = available
    elif isinstance(alphabets, int) and not isinstance(alphabets, bool):
        if not 1 <= alphabets <= len(available):
            raise ConfigError(f"img_type_parameters.alphabets={alphabets}, but there are {len(available)} "
                              f"alphabets; choose 1..{len(available)} or a list of names")
        chosen = available[:alphabets]
    else:
        names = [alphabets] if isinstance(alphabets, str) else list(alphabets)
        unknown = [a for a in names if a not in available]
        if unknown or not names:
            raise ConfigError(f"unknown Omniglot alphabet(s) {unknown or names}; choose from {available}")
        chosen = sorted(set(names))
    if n_characters is not None and (isinstance(n_characters, bool) or not isinstance(n_characters, int)
                                     or n_characters < 1):
        raise ConfigError(f"img_type_parameters.n_characters must be a positive integer or null, got {n_characters!r}")
    pairs = []
    for a in chosen:
        chars = sorted({c for al, c, _ in found if al == a})
        pairs += [(a, c) for c in chars[:n_characters]]
    return pairs


def read_omniglot(img_type_parameters: dict) -> OmniglotSet:
    """Read, invert and resize the chosen Omniglot drawings (ordered by character, then drawing name)."""
    p = img_type_parameters
    found = scan(p.get("data_path") or DEFAULT_PATH)
    pairs = _select(found, p.get("alphabets"), p.get("n_characters"))
    size = int(p.get("char_size", 28))
    alphabet_names = sorted({a for a, _ in pairs})
    by_char: dict[tuple[str, str], list[str]] = {}
    for a, c, d in found:
        by_char.setdefault((a, c), []).append(d)
    images, chars, bad = [], [], 0
    for index, pair in enumerate(pairs):
        for d in sorted(by_char[pair]):
            img = _read(found[(*pair, d)])
            if img is None:
                bad += 1
                continue
            ink = 1.0 - img.astype(np.float32) / 255.0
            images.append(cv2.resize(ink, (size, size), interpolation=cv2.INTER_AREA))
            chars.append(index)
    if bad:
        print(f"omniglot: skipped {bad} unreadable drawing(s)")
    if not images:
        raise ConfigError("none of the chosen Omniglot drawings could be read; check the files or data_path")
    char_alphabet = np.array([alphabet_names.index(a) for a, _ in pairs], np.int64)
    chars = np.asarray(chars, np.int64)
    return OmniglotSet(np.clip(np.stack(images), 0, 1).astype(np.float32), chars, char_alphabet[chars],
                       [f"{a}/{c}" for a, c in pairs], alphabet_names, char_alphabet)


def split_by_drawing(char_labels: np.ndarray, test_fraction: float, rng: np.random.Generator):
    """(train, test) indices: per character, ``test_fraction`` of its drawings (>= 1, < all) go to test;
    ``test_fraction`` 0: both are all drawings."""
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)) or not 0 <= test_fraction < 1:
        raise ConfigError(f"img_type_parameters.test_fraction must be in [0, 1) (0: train and test are both all "
                          f"drawings), got {test_fraction!r}")
    if test_fraction == 0:
        every = np.arange(len(char_labels))
        return every, every.copy()
    train, test = [], []
    for c in np.unique(char_labels):
        idx = np.flatnonzero(char_labels == c)
        idx = idx[rng.permutation(len(idx))]
        k = min(max(int(round(test_fraction * len(idx))), 1), len(idx) - 1) if len(idx) > 1 else 0
        test.append(idx[:k])
        train.append(idx[k:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def load_characters(img_type_parameters: dict, seed: int):
    """Centred characters for baselines: (train_chars, train_labels, test_chars, test_labels, names).

    Characters are (N, char_size, char_size) float32, labels character indices into ``names``
    ("alphabet/character"); the split is the same as the canvases' (``split_by_drawing`` with ``seed``).
    """
    data = read_omniglot(img_type_parameters)
    train, test = split_by_drawing(data.char_labels, img_type_parameters.get("test_fraction", 0.25),
                                   np.random.default_rng([seed, 0]))
    return (data.images[train], data.char_labels[train], data.images[test], data.char_labels[test],
            data.char_names)


@register("omniglot", {"data_path": PATH, "alphabets": None, "n_characters": None, "char_size": COUNT,
                       "test_fraction": FRACTION, "n_train": None, "n_test": None, "nr_img_per_canvas": COUNT,
                       "overlap": FLAG}, Carries(masks=True, kmeans_reference=True),
          defaults={"data_path": DEFAULT_PATH, "char_size": 28, "test_fraction": 0.25, "nr_img_per_canvas": 1,
                    "overlap": False})
def load_omniglot(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed: int) -> Splits:
    """Omniglot characters placed at random on canvases; labels are character indices."""
    p = img_type_parameters
    x_train, y_train, x_test, y_test, _ = load_characters(p, seed)
    canvas = (int(input_parameters["img_rows"]), int(input_parameters["img_cols"]))
    per_canvas = int(p.get("nr_img_per_canvas", 1))
    if per_canvas < 1:
        raise ConfigError(f"img_type_parameters.nr_img_per_canvas must be >= 1, got {per_canvas}")
    overlap = bool(p.get("overlap", False))
    out = []
    for k, (x, y, n) in enumerate(((x_train, y_train, p.get("n_train")), (x_test, y_test, p.get("n_test"))),
                                  start=1):
        images, labels, coords, _, masks = place_objects(x, y, canvas, per_canvas, np.random.default_rng([seed, k]),
                                                         overlap=overlap, n_canvases=None if n is None else int(n))
        out.append(Canvases(images, labels, coords, masks=masks))
    return Splits(*out)
