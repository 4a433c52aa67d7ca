"""Simple Shapes (img_type ``t_shape``): the 2019 shape set drawn as S×S templates and placed on canvases.

The 2019 generator drew every shape as one or two polygons around the centre (S//2, S//2) with half size
R = S//2 (bars of half-width int(0.3·R), bar offset int(0.5·R), triangle a regular 3-gon of radius R), filled by
the polygon rasteriser of scikit-image ≤ 0.15. That rasteriser used the half-open crossing-number rule (a pixel
on a left/top edge is in, one on a right/bottom edge is out), so a bar from 10 to 18 is 8 pixels wide. Today's
``skimage.draw.polygon`` also fills boundary pixels (9 wide), so :func:`fill_polygon` rasterises with the
2018 rule (checked against the five templates of the published run, ``simple_shapes_2_templates_28.npz``).
"""
from __future__ import annotations

import numpy as np

from stampnet import ConfigError
from stampnet.data import COUNT, FLAG, Canvases, Carries, Splits, check_memory, register
from stampnet.data.placement import check_intensities, place_objects

# The Simple-Shapes-2 run's shapes, in its order (label = index into shapes_to_use).
DEFAULT_SHAPES = ("plus", "equal", "triangle", "divide", "doublevertical")


def fill_polygon(rows, cols, shape: tuple[int, int]) -> np.ndarray:
    """Boolean (H, W) mask of the pixels inside the polygon (rows, cols), by the rule of skimage ≤ 0.15.

    A pixel (y, x) is inside when a ray from it towards +x crosses an odd number of edges, where an edge
    from (r_i, c_i) to (r_j, c_j) is crossed when r_i <= y < r_j (either direction) and
    x < (c_j - c_i)·(y - r_i)/(r_j - r_i) + c_i — evaluated in float64 in that order, as the 2018 C code did,
    so vertices that sit a rounding error off an integer land on the same side as then.
    """
    r = np.asarray(rows, np.float64)
    c = np.asarray(cols, np.float64)
    y = np.arange(shape[0], dtype=np.float64)[:, None]  # (H, 1)
    x = np.arange(shape[1], dtype=np.float64)[None, :]  # (1, W)
    inside = np.zeros(shape, bool)
    for i in range(len(r)):
        j = i - 1  # the previous vertex (the last one for i = 0)
        if r[i] == r[j]:
            continue  # a horizontal edge is never crossed
        crosses = ((r[i] <= y) & (y < r[j])) | ((r[j] <= y) & (y < r[i]))  # (H, 1)
        edge_x = (c[j] - c[i]) * (y - r[i]) / (r[j] - r[i]) + c[i]  # (H, 1)
        inside ^= crosses & (x < edge_x)
    return inside


def _box(r0, r1, c0, c1):
    """A rectangle polygon with rows r0..r1 and cols c0..c1 (vertex order as 2019)."""
    return np.array([r0, r1, r1, r0]), np.array([c0, c0, c1, c1])


def _polygons(name: str, S: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The polygons (rows, cols) of shape ``name`` in an S×S template (2019 geometry)."""
    m = S // 2           # centre (m, m) and half size R = m
    R = m
    w = int(R * 0.3)     # bar half-width
    off = int(R * 0.5)   # bar offset from the centre
    if name == "square":
        return [_box(m - R, m + R, m - R, m + R)]
    if name == "plus":
        return [_box(m - R, m + R, m - w, m + w), _box(m - w, m + w, m - R, m + R)]
    if name == "equal":
        return [_box(m - w + off, m + w + off, m - R, m + R), _box(m - w - off, m + w - off, m - R, m + R)]
    if name == "doublevertical":
        return [_box(m - R, m + R, m - w + off, m + w + off), _box(m - R, m + R, m - w - off, m + w - off)]
    if name == "uptri":
        t = int(R * 0.45)
        return [(np.array([m - t, m + 2 * t, m + 2 * t]), np.array([m - t, m - t, m + 2 * t]))]
    if name == "divide":
        return [(np.array([m + R - w, m + R, m - R + w, m - R]), np.array([m - R, m - R + w, m + R, m + R - w]))]
    if name == "triangle":
        # Regular 3-gon of radius R pointing right, around (m, m) as in 2019 (columns 7..27 at S = 28).
        # The template read off the 2019 stamps sits one column further left: the network learned the
        # triangle shifted within its stamp. With these pixels the 2019 weights give the paper's IoU
        # (0.9490 vs 0.9500); with the stamp-read template they give 0.9590 (see README, fidelity).
        ang = np.arange(3) * 2 * np.pi / 3.0
        return [(m + R * np.sin(ang), m + R * np.cos(ang))]
    if name == "empty":
        return []
    raise KeyError(name)


SHAPE_NAMES = ("square", "plus", "equal", "doublevertical", "uptri", "divide", "triangle", "empty")


def shape_template(name: str, shape_size: int = 28) -> np.ndarray:
    """The (shape_size, shape_size) float32 template of shape ``name``, values in {0, 1}."""
    if name not in SHAPE_NAMES:
        raise ConfigError(f"unknown shape {name!r} in img_type_parameters.shapes_to_use; "
                          f"valid names: {', '.join(SHAPE_NAMES)}")
    if isinstance(shape_size, bool) or not isinstance(shape_size, (int, np.integer)) or shape_size < 2:
        raise ConfigError(f"img_type_parameters.shape_size must be an integer >= 2, got {shape_size!r}")
    mask = np.zeros((int(shape_size), int(shape_size)), bool)
    for rows, cols in _polygons(name, shape_size):
        mask |= fill_polygon(rows, cols, mask.shape)
    return mask.astype(np.float32)


def shape_templates(names, shape_size: int = 28) -> np.ndarray:
    """(len(names), S, S) float32 templates."""
    if isinstance(names, str) or not isinstance(names, (list, tuple)) or not names:
        raise ConfigError(f"img_type_parameters.shapes_to_use must be a non-empty list of shape names "
                          f"(valid: {', '.join(SHAPE_NAMES)}), got {names!r}")
    return np.stack([shape_template(n, shape_size) for n in names])


def int_param(params: dict, key: str, default=None, minimum: int = 1) -> int:
    """``params[key]`` (its derived ``default`` where it is None), checked to be an integer ≥ ``minimum``."""
    value = default if params.get(key) is None else params[key]
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ConfigError(f"img_type_parameters.{key} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def default_train_size(run_parameters: dict, input_parameters: dict) -> int:
    """(steps_per_epoch + validation_steps) × batch_size of the validated config: as many training canvases as
    2019 used (training, then validation)."""
    return (run_parameters["steps_per_epoch"] + run_parameters["validation_steps"]) * input_parameters["batch_size"]


def split_sizes(params: dict, input_parameters: dict, run_parameters: dict) -> tuple[int, int]:
    """(train_size, test_size): default train = (steps_per_epoch + validation_steps)·batch_size, as 2019 used
    exactly that many training canvases (training, then validation); default test = 10,000."""
    default_train = default_train_size(run_parameters, input_parameters)
    sizes = int_param(params, "train_size", default_train), int_param(params, "test_size")
    rows, cols = input_parameters["img_rows"], input_parameters["img_cols"]
    for n, key in zip(sizes, ("img_type_parameters.train_size, or steps_per_epoch + validation_steps or batch_size "
                              "(the default train size is their product)", "img_type_parameters.test_size")):
        check_memory("generating canvases", n, rows, cols, key, factor=1.5)  # the canvases and their objects
    return sizes


def placement_params(params: dict) -> tuple[int, bool]:
    """(nr_img_per_canvas, overlap) from img_type_parameters (defaults 2, true)."""
    per_canvas = int_param(params, "nr_img_per_canvas")
    overlap = params["overlap"]
    if not isinstance(overlap, (bool, np.bool_)):
        raise ConfigError(f"img_type_parameters.overlap must be true or false, got {overlap!r}")
    return per_canvas, bool(overlap)


def split_rngs(seed) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent generators for the train and test split (the test split does not depend on train_size)."""
    train_ss, test_ss = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(train_ss), np.random.default_rng(test_ss)


@register("t_shape", {"nr_img_per_canvas": COUNT, "overlap": FLAG, "shape_size": COUNT,
                      "shapes_to_use": None, "train_size": COUNT, "test_size": COUNT, "intensities": None},
          Carries(masks=True),
          defaults={"nr_img_per_canvas": 2, "overlap": True, "shape_size": 28, "shapes_to_use": list(DEFAULT_SHAPES),
                    "test_size": 10000})
def load_shapes(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed) -> Splits:
    """Simple Shapes canvases: each of ``nr_img_per_canvas`` objects is a uniformly random shape of
    ``shapes_to_use`` at a uniformly random position (labels = index into shapes_to_use); ``intensities``
    (one factor per object, see :func:`stampnet.data.placement.place_objects`) dims them."""
    p = img_type_parameters or {}
    names = p["shapes_to_use"]
    templates = shape_templates(names, p["shape_size"])  # (K, S, S)
    per_canvas, overlap = placement_params(p)
    intensities = check_intensities(p.get("intensities"), per_canvas)
    n_train, n_test = split_sizes(p, input_parameters, run_parameters)
    canvas = (input_parameters["img_rows"], input_parameters["img_cols"])
    parts = []
    for n, rng in zip((n_train, n_test), split_rngs(seed)):
        labels = rng.integers(len(templates), size=n)  # the shape of every object (n,)
        # Canvas i takes objects perm_j[i]: with a pool of n iid shapes each slot is an iid shape.
        images, lab, coords, factors, masks = place_objects(templates[labels], labels, canvas, per_canvas, rng,
                                                     overlap=overlap, n_canvases=n, intensities=intensities)
        parts.append(Canvases(images, lab, coords, factors, masks))
    return Splits(*parts)
