"""The one routine that puts objects on canvases (Simple Shapes, T-MNIST, CT-MNIST, Omniglot)."""
from __future__ import annotations

import numpy as np

from stampnet import ConfigError
from stampnet.data import check_memory


def random_positions(rng: np.random.Generator, canvas: tuple[int, int], sizes: list[tuple[int, int]],
                     overlap: bool = True, max_tries: int = 1000) -> np.ndarray:
    """Upper-left (y, x) positions for objects of ``sizes`` fully inside ``canvas``.

    With ``overlap=False`` the objects' boxes are pairwise disjoint; raises ConfigError when they cannot fit.
    Returns (n_obj, 2) int64.
    """
    H, W = canvas
    for h, w in sizes:
        if h > H or w > W:
            raise ConfigError(f"an object of {h}x{w} does not fit on a {H}x{W} canvas; "
                              "use a larger canvas (img_rows/img_cols) or smaller objects")
    if overlap:
        return np.array([[rng.integers(0, H - h + 1), rng.integers(0, W - w + 1)] for h, w in sizes],
                        dtype=np.int64).reshape(len(sizes), 2)
    area = sum(h * w for h, w in sizes)
    if area > H * W:
        raise ConfigError(_no_fit_message(len(sizes), canvas))
    for _ in range(max_tries):
        placed: list[tuple[int, int, int, int]] = []
        for h, w in sizes:
            for _ in range(max_tries):
                y, x = int(rng.integers(0, H - h + 1)), int(rng.integers(0, W - w + 1))
                if all(y + h <= py or py + ph <= y or x + w <= px or px + pw <= x for py, px, ph, pw in placed):
                    placed.append((y, x, h, w))
                    break
            else:
                break
        if len(placed) == len(sizes):
            return np.array([p[:2] for p in placed], dtype=np.int64)
    raise ConfigError(_no_fit_message(len(sizes), canvas))


def _no_fit_message(n: int, canvas) -> str:
    return (f"{n} non-overlapping objects do not fit on a {canvas[0]}x{canvas[1]} canvas; "
            "set img_type_parameters.overlap=true, fewer nr_img_per_canvas, or a larger canvas")


def paste(canvas: np.ndarray, obj: np.ndarray, y: int, x: int, mask=None, ink=None, label: int = 0) -> None:
    """Add ``obj`` onto ``canvas`` (in place) with its upper-left corner at (y, x), then clip at 1. With a
    ``mask`` (H, W) and the ``ink`` (H, W) the objects so far drew there: the object's pixels where it draws more
    than any earlier object take ``label`` (the true segmentation: each pixel the object with the most ink)."""
    h, w = obj.shape[:2]
    region = canvas[y:y + h, x:x + w]
    np.minimum(region + obj, 1.0, out=region)
    if mask is not None:
        drawn = obj if obj.ndim == 2 else obj.sum(axis=-1)
        best = ink[y:y + h, x:x + w]
        more = drawn > best
        mask[y:y + h, x:x + w][more] = label
        best[more] = drawn[more]


def check_intensities(values, per_canvas: int):
    """``img_type_parameters.intensities`` as a float32 array (per_canvas,), or None when not set.

    One factor per placed object, each in (0, 1]; ConfigError otherwise."""
    if values is None:
        return None
    ok = isinstance(values, (list, tuple, np.ndarray)) and len(values) == per_canvas and all(
        isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) and 0 < v <= 1
        for v in values)
    if not ok:
        raise ConfigError(f"img_type_parameters.intensities must be a list of nr_img_per_canvas={per_canvas} "
                          f"numbers in (0, 1], one per object (e.g. {[1.0, 0.7, 0.4][:per_canvas]}), or null; "
                          f"got {values!r}")
    return np.asarray(values, np.float32)


def place_objects(objects: np.ndarray, labels: np.ndarray, canvas: tuple[int, int], per_canvas: int,
                  rng: np.random.Generator, overlap: bool = True, n_canvases: int | None = None,
                  intensities: np.ndarray | None = None):
    """Put ``per_canvas`` objects (drawn from ``objects`` (N, h, w) in [0, 1]) on each canvas.

    As 2019: canvas i takes object perm_j[i] from ``per_canvas`` independent permutations (cycled when
    ``n_canvases`` > N). ``intensities`` (per_canvas,) (see :func:`check_intensities`): every canvas draws its
    objects multiplied by these factors, in an order of its own (a random permutation per canvas); None draws
    them as they are and uses the random generator exactly as before. Returns images (n, H, W, 1) float32,
    labels (n, per_canvas), coords (n, per_canvas, 2), the factors (n, per_canvas) float32 or None, and the
    masks (n, H, W) uint8 (0 where no object draws, j + 1 where object j draws the most ink).
    """
    N = len(objects)
    n = N if n_canvases is None else n_canvases
    check_memory("generating canvases", n, canvas[0], canvas[1],
                 "img_type_parameters.train_size / test_size (default train size: (steps_per_epoch + "
                 "validation_steps) × batch_size)")
    idx = np.stack([np.resize(rng.permutation(N), n) for _ in range(per_canvas)], axis=1)  # (n, per_canvas)
    factors = None
    if intensities is not None:
        factors = rng.permuted(np.tile(np.asarray(intensities, np.float32), (n, 1)), axis=1)  # (n, per_canvas)
    h, w = objects.shape[1:3]
    images = np.zeros((n, canvas[0], canvas[1]), np.float32)
    masks = np.zeros((n, canvas[0], canvas[1]), np.uint8)
    ink = np.zeros(canvas, np.float32)
    coords = np.empty((n, per_canvas, 2), np.int64)
    for i in range(n):
        coords[i] = random_positions(rng, canvas, [(h, w)] * per_canvas, overlap)
        ink[:] = 0.0
        for j in range(per_canvas):
            obj = objects[idx[i, j]] if factors is None else objects[idx[i, j]] * factors[i, j]
            paste(images[i], obj, *coords[i, j], mask=masks[i], ink=ink, label=j + 1)
    return images[..., None], np.asarray(labels)[idx].astype(np.int64), coords, factors, masks
