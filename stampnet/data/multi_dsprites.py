"""Multi-dSprites (DeepMind ``multi_object_datasets``, used by IODINE, MONet, DTI-Sprites): 64×64 canvases of
dSprites shapes (square, ellipse, heart) that occlude each other, with true masks, in three variants:

============================  ========  ========  ==========================================================
variant                       channels  entities  scenes
============================  ========  ========  ==========================================================
``binarized`` (the default)   1         4         2–3 white sprites on black
``colored_on_grayscale``      3         6         2–5 sprites of random HSV colour on a random grey background
``colored_on_colored``        3         5         1–4 sprites of random RGB colour on a random RGB background
============================  ========  ========  ==========================================================

(entities count the background, entity 0). ``img_type: multi_dsprites``; keys: ``variant``, ``data_path``,
``train_size``, ``test_size``, ``shape_size`` (the square an object's box is measured in; unused, as the set
has no boxes). The model's ``img_channels`` must be the variant's channels (the loader says so otherwise).

With ``img_type_parameters.data_path`` the official file of the variant
(``multi_dsprites_<variant>.tfrecords``, GZIP TFRecords of ``tf.train.Example``, as in DeepMind's reader
``multi_dsprites.py``: ``image`` (64, 64, C) bytes, ``mask`` (64, 64, E, 1) bytes (entity axis last),
``x``, ``y``, ``shape``, ``visibility``, ``orientation``, ``scale`` (E,) and ``color`` (E, C) floats) is read
on any backend. A file of another variant or data set is refused with one error.

Without it a **look-alike** set is generated from the run's seed, made to resemble the official images for
offline use and tests, not to be them (numbers measured on it are look-alike numbers). Its choices: the number
of sprites uniform in the variant's range; each sprite one of dSprites' shapes (``shape`` 1 square, 2 ellipse,
3 heart; 0 the background) at one of dSprites' 6 scales in [0.5, 1], 40 orientations in [0, 2π] and 32 × 32
positions in [0, 1]; a sprite spans ``SPRITE_PX`` = 20 px at scale 1 (its centre kept 10 px from the border);
the ellipse is 2:1 and the heart a polygon; later sprites are drawn on top, and each entity's mask is the
pixels where it is visible. Colours: white on black (binarized); hue, saturation and value uniform in [0, 1] on
a uniform grey (colored_on_grayscale); uniform RGB on uniform RGB (colored_on_colored).

The number of objects varies, so the canvases carry true masks (ARI-FG, ARI, mIoU) but no labels or boxes.
"""
from __future__ import annotations

import functools

import numpy as np
from tqdm import tqdm

from stampnet.data import COUNT, PATH, Carries, Splits, register
from stampnet.data.multi_object import Schema, load, note

SIZE = 64
# variant -> (channels, entities including the background, (fewest, most) sprites per scene)
VARIANTS = {"binarized": (1, 4, (2, 3)), "colored_on_grayscale": (3, 6, (2, 5)),
            "colored_on_colored": (3, 5, (1, 4))}
DEFAULT_VARIANT = "binarized"
SCHEMAS = {name: Schema(f"multi_dsprites {name}", size=SIZE, channels=c, entities=e,
                        factor_shapes={"x": (), "y": (), "shape": (), "color": (c,), "visibility": (),
                                       "orientation": (), "scale": ()},
                        mask_entity_first=False)
           for name, (c, e, _) in VARIANTS.items()}

SPRITE_PX = 20                                    # look-alike: a sprite's extent at scale 1
SHAPE_SIZE = SPRITE_PX
SHAPES = ("square", "ellipse", "heart")           # factor ``shape`` 1, 2, 3 (dSprites' latent values)
SCALES = np.linspace(0.5, 1.0, 6)
ORIENTATIONS = np.linspace(0.0, 2 * np.pi, 40)
POSITIONS = np.linspace(0.0, 1.0, 32)


def _outline(name: str) -> np.ndarray:
    """A shape's outline as (K, 2) (y, x) vertices, centred on 0, spanning 1 at most."""
    t = np.linspace(0.0, 2 * np.pi, 64, endpoint=False)
    if name == "square":
        return np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, 0.5], [0.5, -0.5]])
    if name == "ellipse":
        return np.stack([0.25 * np.sin(t), 0.5 * np.cos(t)], axis=1)
    # the heart curve x = 16 sin³t, y = 13 cos t − 5 cos 2t − 2 cos 3t − cos 4t (y up), point down on the canvas
    xy = np.stack([-(13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)), 16 * np.sin(t) ** 3],
                  axis=1)
    xy = xy - (xy.max(axis=0) + xy.min(axis=0)) / 2
    return xy / np.ptp(xy, axis=0).max()


OUTLINES = [_outline(name) for name in SHAPES]


def sprite_mask(shape: int, scale: float, orientation: float, x: float, y: float) -> np.ndarray:
    """The pixels of one look-alike sprite on the canvas (``shape`` 1–3, the factors as stored); bool (64, 64)."""
    from skimage.draw import polygon

    c, s = np.cos(orientation), np.sin(orientation)
    pts = OUTLINES[int(shape) - 1] * (scale * SPRITE_PX) @ np.array([[c, s], [-s, c]])
    centre = SPRITE_PX / 2 + np.array([y, x]) * (SIZE - SPRITE_PX)
    rr, cc = polygon(pts[:, 0] + centre[0], pts[:, 1] + centre[1], shape=(SIZE, SIZE))
    mask = np.zeros((SIZE, SIZE), bool)
    mask[rr, cc] = True
    return mask


def _colours(variant: str, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(background colour (C,), k sprite colours (k, C)) in [0, 1] for ``variant``."""
    if variant == "binarized":
        return np.zeros(1), np.ones((k, 1))
    if variant == "colored_on_grayscale":
        from matplotlib.colors import hsv_to_rgb

        return np.full(3, rng.uniform()), hsv_to_rgb(rng.uniform(size=(k, 3)))
    return rng.uniform(size=3), rng.uniform(size=(k, 3))


def generate(n: int, rng: np.random.Generator, variant: str = DEFAULT_VARIANT) -> dict:
    """``n`` look-alike scenes of ``variant`` (see the module docstring) as scene arrays
    (:mod:`stampnet.data.multi_object`)."""
    schema = SCHEMAS[variant]
    C, E, (fewest, most) = VARIANTS[variant]
    image = np.zeros((n, SIZE, SIZE, C), np.uint8)
    mask = np.zeros((n, E, SIZE, SIZE), np.uint8)
    factors = {k: np.zeros((n, E, *shape), np.float32) for k, shape in schema.factor_shapes.items()}
    for i in tqdm(range(n), desc=f"look-alike Multi-dSprites {variant}", unit="canvas", leave=False,
                  disable=None if n >= 5000 else True):
        k = int(rng.integers(fewest, most + 1))
        background, colours = _colours(variant, k, rng)
        palette = np.round(np.concatenate([background[None], colours]) * 255).astype(np.uint8)   # (k + 1, C)
        top = np.zeros((SIZE, SIZE), np.int64)             # the entity seen at each pixel (0 the background)
        for e in range(1, k + 1):
            shape = int(rng.integers(1, len(SHAPES) + 1))   # the factors as stored (float32), then drawn
            scale, orientation, x, y = (np.float32(rng.choice(v)) for v in (SCALES, ORIENTATIONS, POSITIONS,
                                                                              POSITIONS))
            top[sprite_mask(shape, scale, orientation, x, y)] = e
            for key, value in (("shape", shape), ("scale", scale), ("orientation", orientation), ("x", x),
                               ("y", y)):
                factors[key][i, e] = value
        image[i] = palette[top]
        mask[i, :k + 1] = np.where(top[None] == np.arange(k + 1)[:, None, None], 255, 0)
        factors["color"][i, :k + 1] = palette / 255.0
        factors["visibility"][i, :k + 1] = mask[i, :k + 1].reshape(k + 1, -1).max(axis=1) > 0
        factors["visibility"][i, 0] = 1.0
    return {"image": image, "mask": mask, **factors}


@register("multi_dsprites", {"data_path": PATH, "variant": tuple(VARIANTS), "train_size": COUNT,
                             "test_size": COUNT, "shape_size": COUNT},
          Carries(labels=False, boxes=False, masks=True, colour=True, background=True), note=note,
          defaults={"variant": DEFAULT_VARIANT, "test_size": 10000, "shape_size": SHAPE_SIZE})
def load_multi_dsprites(img_type_parameters: dict, input_parameters: dict, run_parameters: dict, seed) -> Splits:
    """Multi-dSprites canvases of ``variant``: the official file at ``data_path``, else look-alikes (module
    docstring); masks only, as the number of objects varies."""
    p = img_type_parameters or {}
    variant = p["variant"]                                 # one of VARIANTS: checked with the config
    return load(SCHEMAS[variant], functools.partial(generate, variant=variant), None, p, input_parameters,
                run_parameters, seed, n_objects=None, shape_size=int(p["shape_size"]))
