"""What DeepMind's multi-object data sets share: their record schema, reading the official files, and turning
scenes into canvases. The sets themselves are :mod:`stampnet.data.tetrominoes` and
:mod:`stampnet.data.multi_dsprites`.

A scene, read from an official GZIP TFRecord file (:mod:`stampnet.data.tfrecord`) or made by a set's look-alike
generator, is a dict of arrays: ``image`` (N, H, W, Ch) uint8, ``mask`` (N, E, H, W) uint8 (entity 0 the
background; 255 where an entity is visible), and per entity (N, E[, …]) float32 factors (``shape``, ``color``,
``visibility``, …). :func:`canvases` turns scenes into :class:`~stampnet.data.Canvases`: images in [0, 1], the
true segmentation from the masks, each object's label from the set's factors, and each object's corner: the
upper-left of the ``shape_size`` square centred on its mask's bounding box (what the box measures compare with a
slot's square). The first ``test_size`` records of an official file are the test split, the next ``train_size``
the training canvases.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np

from stampnet import ConfigError
from stampnet.data import Canvases, Splits, check_memory


@dataclass(frozen=True)
class Schema:
    """One variant's record layout, as in DeepMind's reader: image (size, size, channels) bytes; masks of
    ``entities`` entities; float factors of ``factor_shapes`` per entity; ``mask_entity_first``: masks stored
    (E, H, W, 1) (Tetrominoes) rather than (H, W, E, 1) (Multi-dSprites)."""

    name: str
    size: int
    channels: int
    entities: int
    factor_shapes: dict            # name -> trailing shape per entity, e.g. {"color": (3,), "x": ()}
    mask_entity_first: bool = True


def decode(records, schema: Schema, where) -> dict:
    """Parsed Examples (dicts of :func:`stampnet.data.tfrecord.parse_example`) → scene arrays."""
    from stampnet.data.tfrecord import byte_feature

    H = W = schema.size
    E = schema.entities
    images, masks, factors = [], [], {k: [] for k in schema.factor_shapes}
    for i, rec in enumerate(records):
        for key in ("image", "mask", *schema.factor_shapes):
            if key not in rec:
                raise ConfigError(f"{where}: record {i + 1} has no feature {key!r}: the file is not "
                                  f"{schema.name}; check img_type and img_type_parameters.variant")
        images.append(byte_feature(rec["image"], (H, W, schema.channels), "image", where))
        if schema.mask_entity_first:
            masks.append(byte_feature(rec["mask"], (E, H, W, 1), "mask", where)[..., 0])
        else:
            masks.append(np.moveaxis(byte_feature(rec["mask"], (H, W, E, 1), "mask", where)[..., 0], -1, 0))
        for key, shape in schema.factor_shapes.items():
            value = rec[key]
            if value.size != E * int(np.prod(shape)):
                raise ConfigError(f"{where}: feature {key!r} holds {value.size} values where {E} entities need "
                                  f"{E * int(np.prod(shape))}: the file is of another data set or variant; check "
                                  "img_type and img_type_parameters.variant")
            factors[key].append(value.reshape((E, *shape)))
    if not images:
        raise ConfigError(f"{where}: no records; give the data set's .tfrecords file")
    return {"image": np.stack(images), "mask": np.stack(masks), **{k: np.stack(v) for k, v in factors.items()}}


def encode(scenes: dict, schema: Schema) -> list[bytes]:
    """Scene arrays → serialised Examples in the official schema (byte features one byte per value)."""
    from stampnet.data.tfrecord import make_example

    out = []
    for i in range(len(scenes["image"])):
        mask = scenes["mask"][i][..., None]                                     # (E, H, W, 1)
        if not schema.mask_entity_first:
            mask = np.moveaxis(mask, 0, 2)                                       # (H, W, E, 1)
        feats = {"image": [bytes([v]) for v in scenes["image"][i].ravel().tolist()],
                 "mask": [bytes([v]) for v in mask.ravel().tolist()]}
        feats.update({k: scenes[k][i].astype(np.float32) for k in schema.factor_shapes})
        out.append(make_example(feats))
    return out


def write_official(path, scenes: dict, schema: Schema) -> Path:
    """Write scenes as a GZIP TFRecord file in the official schema (the tests' files; look-alikes for tools
    that read the official format)."""
    from stampnet.data.tfrecord import write_records

    return write_records(path, encode(scenes, schema))


def read_official(path, schema: Schema, n: int) -> dict:
    """The first ``n`` scenes of an official file (fewer if it holds fewer)."""
    from stampnet.data.tfrecord import parse_example, read_records

    from tqdm import tqdm

    records = (parse_example(r) for r in read_records(path, n))
    return decode(tqdm(records, total=n, desc=f"reading {Path(path).name}", unit="scene", leave=False,
                       disable=None if n >= 5000 else True), schema, path)


def corners(masks: np.ndarray, shape_size: int, size: int) -> np.ndarray:
    """Upper-left corner (y, x) of the ``shape_size`` square centred on each foreground entity's bounding box,
    kept on the canvas; (N, E − 1, 2) int64, (−1, −1)·shape_size where an entity is absent."""
    fg = masks[:, 1:] > 0                                                         # (N, E−1, H, W)
    rows, cols = fg.any(axis=3), fg.any(axis=2)                                   # (N, E−1, H), (N, E−1, W)
    present = rows.any(axis=2)
    first = lambda a: a.argmax(axis=2)
    last = lambda a: a.shape[2] - 1 - a[..., ::-1].argmax(axis=2)
    centre = np.stack([(first(rows) + last(rows)) / 2.0, (first(cols) + last(cols)) / 2.0], axis=-1)
    corner = np.clip(np.floor(centre - (shape_size - 1) / 2.0 + 0.5), 0, size - shape_size).astype(np.int64)
    return np.where(present[..., None], corner, -shape_size)


def canvases(scenes: dict, label_of: Optional[Callable[[dict], np.ndarray]], shape_size: int,
             n_objects: Optional[int], with_masks: bool) -> Canvases:
    """Scenes → Canvases: images in [0, 1]; with a fixed ``n_objects``, the visible objects of each scene (by
    entity order) with their labels (``label_of(scenes)`` (N, E − 1)) and corners (:func:`corners`); with
    ``with_masks``, the true segmentation (0 background, i the i-th of those objects). ``n_objects=None``
    (scenes with varying numbers of objects): masks only, each visible entity its own object."""
    from stampnet.masks import segmentation_from_entity_masks

    images = scenes["image"].astype(np.float32) / 255.0
    masks = scenes["mask"]
    if n_objects is None:
        return Canvases(images, masks=segmentation_from_entity_masks(masks) if with_masks else None)
    size = images.shape[1]
    visible = masks[:, 1:].reshape(len(masks), masks.shape[1] - 1, -1).max(axis=2) > 0   # (N, E−1)
    if (visible.sum(axis=1) != n_objects).any():
        raise ConfigError(f"some scenes do not show exactly {n_objects} objects: the file is not of this data set")
    order = np.argsort(~visible, axis=1, kind="stable")[:, :n_objects]                  # (N, n): visible first
    labels = np.take_along_axis(label_of(scenes), order, axis=1).astype(np.int64)
    coords = np.take_along_axis(corners(masks, shape_size, size), order[..., None], axis=1)
    seg = None
    if with_masks:
        entity = segmentation_from_entity_masks(masks)                                   # (N, H, W): entity id
        lookup = np.zeros((len(masks), masks.shape[1]), np.int16)                        # entity -> object number
        np.put_along_axis(lookup, order + 1, np.arange(1, n_objects + 1, dtype=np.int16)[None], axis=1)
        seg = np.take_along_axis(lookup, entity.reshape(len(entity), -1), axis=1).reshape(entity.shape)
    return Canvases(images, labels, coords, masks=seg)


def note(run_parameters: dict) -> str:
    """Where a run's scenes came from: the official file by name, or the look-alike generator."""
    path = (run_parameters.get("img_type_parameters") or {}).get("data_path")
    return f"official file {Path(path).name}" if path else "look-alike set generated here, not the official images"


def load(schema: Schema, generate: Callable[[int, np.random.Generator], dict], label_of, params: dict,
         input_parameters: dict, run_parameters: dict, seed, n_objects: Optional[int], shape_size: int) -> Splits:
    """A multi-object set's splits: from the official file at ``data_path`` when one is set (first
    ``test_size`` records the test split, the next ``train_size`` the training canvases), else from the
    look-alike ``generate(n, rng)`` with the run's seed. The model's input must be the set's canvas."""
    from stampnet.data.shapes import split_rngs, split_sizes

    inp = input_parameters
    if (inp["img_rows"], inp["img_cols"], inp["img_channels"]) != (schema.size, schema.size, schema.channels):
        raise ConfigError(f"{schema.name} canvases are {schema.size}x{schema.size} with {schema.channels} "
                          f"channel(s); set layer_parameters.input_parameters img_rows=img_cols={schema.size}, "
                          f"img_channels={schema.channels}")
    n_train, n_test = split_sizes(params, inp, run_parameters)
    check_memory(f"{schema.name} canvases", n_train + n_test, schema.size, schema.size,
                 "img_type_parameters.train_size / test_size", factor=schema.channels + schema.entities / 4)
    path: Optional[str] = params.get("data_path")
    if path:
        scenes = read_official(Path(path).expanduser(), schema, n_test + n_train)
        if len(scenes["image"]) < n_test + 1:
            raise ConfigError(f"{path} holds {len(scenes['image'])} scenes; need more than test_size={n_test} "
                              "(lower img_type_parameters.test_size)")
        parts = [{k: v[n_test:] for k, v in scenes.items()}, {k: v[:n_test] for k, v in scenes.items()}]
    else:
        parts = [generate(n, rng) for n, rng in zip((n_train, n_test), split_rngs(seed))]
    train, test = (canvases(p, label_of, shape_size, n_objects, with_masks=k == 1) for k, p in enumerate(parts))
    return Splits(train, test)
