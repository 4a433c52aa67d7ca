"""Tetrominoes (DeepMind ``multi_object_datasets``, used by IODINE, Slot Attention, DTI-Sprites): 35×35 RGB
canvases, three Tetris pieces each on a black background, with true masks.

``img_type: tetrominoes``. With ``img_type_parameters.data_path`` the official file
(``tetrominoes_train.tfrecords``, GZIP TFRecords of ``tf.train.Example``: ``image`` (35, 35, 3) bytes, ``mask``
(4, 35, 35, 1) bytes (entity 0 the background), ``x``, ``y``, ``shape``, ``visibility`` (4,) and ``color`` (4, 3)
floats, as in DeepMind's reader ``tetrominoes.py``) is read on any backend; docs/benchmarks.md says where to get
it. Without it a **look-alike** set is generated from the run's seed: the 19 fixed orientations of the seven
tetrominoes, drawn in blocks of ``BLOCK`` px, in one of six saturated colours, three non-overlapping pieces per
canvas at integer positions. It is made to resemble the official images for offline use and tests, not to be
them: numbers measured on it are marked as look-alike wherever they are reported.

Each object's label is shape × colour (19 × 6 = 114 classes): ``shape · 6 + colour``.
"""
from __future__ import annotations

import numpy as np
from tqdm import tqdm

from stampnet.data import COUNT, PATH, Carries, Splits, register
from stampnet.data.multi_object import Schema, load, note

SCHEMA = Schema("tetrominoes", size=35, channels=3, entities=4,
                factor_shapes={"x": (), "y": (), "shape": (), "color": (3,), "visibility": ()})
BLOCK = 5            # px per block of a look-alike piece
N_PIECES = 3
SHAPE_SIZE = 20      # the square a piece's box is measured in: 4 blocks, the longest piece
COLOURS = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [1, 0, 1], [0, 1, 1]], np.float32)
_BASE = {  # the seven tetrominoes as (row, col) blocks
    "I": [(0, 0), (0, 1), (0, 2), (0, 3)], "O": [(0, 0), (0, 1), (1, 0), (1, 1)],
    "T": [(0, 0), (0, 1), (0, 2), (1, 1)], "S": [(0, 1), (0, 2), (1, 0), (1, 1)],
    "Z": [(0, 0), (0, 1), (1, 1), (1, 2)], "J": [(0, 0), (1, 0), (1, 1), (1, 2)],
    "L": [(0, 2), (1, 0), (1, 1), (1, 2)],
}


def orientations() -> list[np.ndarray]:
    """The 19 fixed tetrominoes: every distinct rotation of the seven pieces, as (4, 2) block coordinates."""
    out = []
    for blocks in _BASE.values():
        seen = []
        b = np.array(blocks)
        for _ in range(4):
            b = np.stack([b[:, 1], -b[:, 0]], axis=1)                     # a quarter turn
            b = b - b.min(axis=0)
            key = sorted(map(tuple, b.tolist()))
            if key not in seen:
                seen.append(key)
        out += [np.array(k) for k in seen]
    return out


PIECES = orientations()
N_CLASSES = len(PIECES) * len(COLOURS)


def piece_mask(index: int) -> np.ndarray:
    """The pixels of piece ``index`` (its block box, BLOCK px a block); bool (h, w)."""
    blocks = PIECES[index]
    h, w = blocks.max(axis=0) + 1
    mask = np.zeros((h * BLOCK, w * BLOCK), bool)
    for r, c in blocks:
        mask[r * BLOCK:(r + 1) * BLOCK, c * BLOCK:(c + 1) * BLOCK] = True
    return mask


def generate(n: int, rng: np.random.Generator) -> dict:
    """``n`` look-alike scenes (see the module docstring) as scene arrays (:mod:`stampnet.data.multi_object`)."""
    S, E = SCHEMA.size, SCHEMA.entities
    shapes_ = [piece_mask(i) for i in range(len(PIECES))]
    image = np.zeros((n, S, S, 3), np.uint8)
    mask = np.zeros((n, E, S, S), np.uint8)
    factors = {k: np.zeros((n, E, *shape), np.float32) for k, shape in SCHEMA.factor_shapes.items()}
    factors["visibility"][:, 0] = 1.0
    for i in tqdm(range(n), desc="look-alike Tetrominoes", unit="canvas", leave=False, disable=None if n >= 5000 else True):
        taken = np.zeros((S, S), bool)
        placed = 0
        while placed < N_PIECES:
            k, colour = int(rng.integers(len(PIECES))), int(rng.integers(len(COLOURS)))
            piece = shapes_[k]
            h, w = piece.shape
            y, x = int(rng.integers(0, S - h + 1)), int(rng.integers(0, S - w + 1))
            if (taken[y:y + h, x:x + w] & piece).any():
                continue
            placed += 1
            taken[y:y + h, x:x + w] |= piece
            mask[i, placed, y:y + h, x:x + w][piece] = 255
            image[i, y:y + h, x:x + w][piece] = (COLOURS[colour] * 255).astype(np.uint8)
            factors["shape"][i, placed], factors["color"][i, placed] = k, COLOURS[colour]
            factors["y"][i, placed], factors["x"][i, placed] = y + h / 2.0, x + w / 2.0
            factors["visibility"][i, placed] = 1.0
        mask[i, 0] = np.where(taken, 0, 255)
    return {"image": image, "mask": mask, **factors}


def labels(scenes: dict) -> np.ndarray:
    """Each foreground entity's class, shape · 6 + colour (the palette colour nearest to its ``color``);
    (N, E − 1)."""
    colour = np.abs(scenes["color"][:, 1:, None, :] - COLOURS[None, None]).sum(axis=-1).argmin(axis=-1)
    return scenes["shape"][:, 1:].astype(np.int64) * len(COLOURS) + colour


@register("tetrominoes", {"data_path": PATH, "train_size": COUNT, "test_size": COUNT, "shape_size": COUNT},
          Carries(masks=True, colour=True), note=note, defaults={"test_size": 10000, "shape_size": SHAPE_SIZE})
def load_tetrominoes(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed) -> Splits:
    """Tetrominoes canvases: the official file at ``data_path``, else look-alikes (module docstring)."""
    p = img_type_parameters or {}
    return load(SCHEMA, generate, labels, p, input_parameters, run_parameters, seed, n_objects=N_PIECES,
                shape_size=int(p["shape_size"]))
