"""Overhead pedestrian depth crops (img_type ``"pedestrian"``): the 2019 format, and a synthetic stand-in.

Data format (the authors' 2019 ``get_ped_data``)
------------------------------------------------
::

    <data_path>/ped_info.json        {minute: {image_name: [y, x]}}, the centre of the pedestrian of interest
    <data_path>/<minute>/<image>.png 8-bit grayscale overhead depth crops, 80x80 (brighter = closer to the sensor)

Minute folders are the digit-named sub-folders in sorted (string) order, images sorted by name within each.
Pixels are scaled by 1/255. The object position is the upper-left corner of a ``shape_size`` box around the
centre: ``ceil(centre) - shape_size // 2`` per axis. The first 80% of the images (in that file order) are the
train set, the last 20% the test set (as ``train_test_split(test_size=0.2, shuffle=False)``), then both are
shuffled (``shuffle``) with a Generator seeded by the run's seed. Labels are None: only positions are known.

img_type_parameters (2019 keys first):

``data_path``              "data/pedestrian"
``shuffle``                true
``resize``                 (2019 key, unused then and now)
``shape_size``             40, the box size for the upper-left coordinates (= the 2019 decoder stamp_size)
``synthetic_if_missing``   true: when no data is found, generate the synthetic set below into ``data_path``
``synthetic_n``            2000, the number of synthetic crops generated then

When ``data_path`` has no ``ped_info.json`` but ``<data_path>.tar.gz`` or ``<parent>/pedestrian.tar.gz``
exists, the archive is extracted on first use (members that would escape the folder are refused). Images that
cannot be decoded, or that have no entry in ``ped_info.json``, are skipped and counted on stdout.

Synthetic data (not the authors' recordings)
--------------------------------------------
The real 2019 recordings are not public. ``python -m stampnet.data.pedestrian --synthetic --out data/pedestrian
--n 2000 --seed 0`` writes a synthetic set in exactly the format above; its crops model a ceiling-mounted depth
sensor looking down: intensity = floor level + (1 - floor level) * height / ``max_height``, so the floor is dark
and higher surfaces are brighter. Each person seen from above is an elliptical shoulder blob at ~0.81 of their
height with a head disc on top (higher, so brighter), both gently domed; the pedestrian of interest stands near
the crop centre and the recorded centre is the centre of their head. Parameters (``SYNTHETIC_DEFAULTS``):

``size``               80       crop side (px)
``height_mean/std``    1.72/0.09 m, clipped to ``height_range`` (1.45, 2.00) m: body height (= head top)
``shoulder_ratio``     0.81     shoulder height / body height
``max_height``         2.2 m    the height that maps to intensity 1
``body_scale``         (0.85, 1.15) uniform factor on all body sizes
``head_radius``        7.5 px   at scale 1; shoulder ellipse semi-axes ``shoulder_axes`` (15.0, 9.0) px
``head_offset``        1.5 px   max shift of the shoulders' centre from under the head (posture/stride)
``centre_jitter``      3.0 px   max offset of the pedestrian of interest from the crop centre, per axis
``neighbour_probs``    (0.45, 0.35, 0.20) probabilities of 0, 1, 2 neighbours
``neighbour_distance`` (34, 52) px from the crop centre: neighbours are partially visible / cut by the border
``floor_level``        (0.02, 0.08) uniform per crop
``noise_std``          0.012    Gaussian depth noise (intensity units)
``dropout``            0.01     share of pixels lost (set to 0, like a depth sensor's missing readings)
``edge_dropout``       0.25     loss probability of pixels on depth edges (where sensors typically fail)

Orientation is uniform in [0, pi). Crops are grouped ``per_minute`` (100) per minute folder ``0000``, ``0001``,
...; images are ``000000.png``, ...; a ``synthetic.json`` beside them records the parameters, count and seed,
and ``ped_info.json`` is written last (temporary file + rename) so an interrupted run is never taken for data.
"""
from __future__ import annotations

import json
import math
import shutil
import sys
import tarfile
import tempfile
from pathlib import Path

import cv2
import numpy as np
from skimage.draw import disk, ellipse
from tqdm import tqdm

from stampnet import ConfigError
from stampnet.data import COUNT, FLAG, PATH, Canvases, Carries, Splits, register
from stampnet.data.folder import read_gray

DEFAULT_PATH = "data/pedestrian"
INFO = "ped_info.json"
SYNTHETIC_INFO = "synthetic.json"
SYNTHETIC_COMMAND = "python -m stampnet.data.pedestrian --synthetic --out {path} --n 2000 --seed 0"

SYNTHETIC_DEFAULTS: dict = {
    "size": 80,
    "height_mean": 1.72, "height_std": 0.09, "height_range": (1.45, 2.00),
    "shoulder_ratio": 0.81,
    "max_height": 2.2,
    "body_scale": (0.85, 1.15),
    "head_radius": 7.5, "shoulder_axes": (15.0, 9.0),
    "head_offset": 1.5,
    "centre_jitter": 3.0,
    "neighbour_probs": (0.45, 0.35, 0.20),
    "neighbour_distance": (34.0, 52.0),
    "floor_level": (0.02, 0.08),
    "noise_std": 0.012,
    "dropout": 0.01,
    "edge_dropout": 0.25,
}


# ----------------------------------------------------------------------------------------------- loading

def upper_left(centre, shape_size: int) -> tuple[int, int]:
    """The 2019 upper-left corner of a ``shape_size`` box around a (y, x) centre."""
    return (int(math.ceil(centre[0])) - shape_size // 2, int(math.ceil(centre[1])) - shape_size // 2)


def read_pedestrian(data_path: str | Path, shape_size: int = 40):
    """All crops of a pedestrian folder in file order: images (N, H, W) float32 and coords (N, 2) int64."""
    root = Path(data_path)
    info = json.loads((root / INFO).read_text())
    images, coords, masks, bad, unlisted = [], [], [], 0, 0
    minutes = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name.isdigit())
    for minute in minutes:
        listed = info.get(minute, {})
        for path in sorted(p for p in (root / minute).iterdir() if p.is_file() and not p.name.startswith(".")):
            if path.name not in listed:
                unlisted += 1
                continue
            img = read_gray(path)
            if img is None:
                bad += 1
                continue
            images.append(img.astype(np.float32) / 255.0)
            coords.append(upper_left(listed[path.name], shape_size))
            mask = root / MASKS / minute / path.name
            masks.append(cv2.imread(str(mask), cv2.IMREAD_UNCHANGED) if mask.is_file() else None)
    if bad:
        print(f"pedestrian: skipped {bad} unreadable image(s) in {root}")
    if unlisted:
        print(f"pedestrian: skipped {unlisted} file(s) without an entry in {root / INFO}")
    if not images:
        raise ConfigError(f"no readable pedestrian images in {root}; expected <minute>/<image>.png listed in "
                          f"{INFO}, or generate synthetic data: {SYNTHETIC_COMMAND.format(path=root)}")
    shapes = {im.shape for im in images}
    if len(shapes) > 1:
        raise ConfigError(f"pedestrian crops in {root} differ in size {sorted(shapes)}; all must be equal (80x80)")
    whole = all(m is not None and m.shape == images[0].shape for m in masks)  # a set without masks: None
    return np.stack(images), np.asarray(coords, np.int64).reshape(-1, 2), (np.stack(masks) if whole else None)


def _safe_extract(archive: Path, dest: Path) -> None:
    """Extract a tar archive into ``dest``, refusing links and members that would land outside it."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")  # Python >= 3.11.4: blocks absolute paths, '..', outside links


def _find_info_dir(top: Path) -> Path | None:
    """The folder under ``top`` (itself or a descendant, shallowest first) holding ped_info.json."""
    hits = sorted(top.rglob(INFO), key=lambda p: len(p.parts))
    return hits[0].parent if hits else None


def extract_archive(archive: Path, root: Path) -> None:
    """Extract a pedestrian tar.gz so that ``root`` holds ped_info.json and the minute folders."""
    print(f"pedestrian: extracting {archive} to {root} ...")
    root.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".extract-") as tmp:
        try:
            _safe_extract(archive, Path(tmp))
        except (tarfile.TarError, OSError) as err:
            raise ConfigError(f"cannot extract {archive} ({err}); replace the archive or extract it by hand "
                              f"to {root}") from None
        found = _find_info_dir(Path(tmp))
        if found is None:
            raise ConfigError(f"{archive} has no {INFO}; it is not the pedestrian format (see "
                              "stampnet/data/pedestrian.py)")
        root.mkdir(exist_ok=True)
        for item in sorted(found.iterdir(), key=lambda i: i.name == INFO):  # ped_info.json last
            target = root / item.name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
            shutil.move(str(item), target)


def _archives(root: Path) -> list[Path]:
    return [root.with_name(root.name + ".tar.gz"), root.parent / "pedestrian.tar.gz"]


SYNTHETIC_NOTE = "synthetic overhead set, the 2019 recordings not being public"
MASKS = "masks"  # <data>/masks/<minute>/<image>.png: a synthetic set's true segmentation (1 the pedestrian)


def ensure_data(img_type_parameters: dict) -> Path:
    """The data folder, extracting an archive or generating the synthetic set first when needed."""
    p = img_type_parameters
    root = Path(p.get("data_path") or DEFAULT_PATH).expanduser()
    if (root / INFO).is_file():
        return root
    for archive in _archives(root):
        if archive.is_file():
            extract_archive(archive, root)
            if (root / INFO).is_file():
                return root
    fix = SYNTHETIC_COMMAND.format(path=root)
    if not p.get("synthetic_if_missing", True):
        raise ConfigError(f"no pedestrian data at {root} (no {INFO}, no {root.name}.tar.gz); put the 2019 data "
                          f"there, or generate synthetic data: {fix}")
    occupied = root.is_dir() and any(root.iterdir())
    if occupied and not (root / SYNTHETIC_INFO).is_file():
        raise ConfigError(f"{root} exists but has no {INFO}; restore {root / INFO}, or point data_path to an "
                          f"empty folder to generate synthetic data there ({fix})")
    n = int(p.get("synthetic_n", 2000))
    print(f"pedestrian: no data at {root}; generating {n} SYNTHETIC overhead depth crops there "
          "(not the 2019 recordings; see stampnet/data/pedestrian.py)")
    generate_synthetic(root, n=n, seed=0)
    return root


@register("pedestrian", {"data_path": PATH, "shuffle": FLAG, "resize": None, "shape_size": COUNT,
                         "synthetic_if_missing": FLAG, "synthetic_n": COUNT},  # resize: 2019, unused
          Carries(labels=False, one_target=True, masks=True),
          defaults={"data_path": DEFAULT_PATH, "shuffle": True, "shape_size": 40, "synthetic_if_missing": True,
                    "synthetic_n": 2000},
          note=lambda rp: SYNTHETIC_NOTE if (Path((rp.get("img_type_parameters") or {}).get("data_path")
                                                  or DEFAULT_PATH).expanduser() / SYNTHETIC_INFO).is_file() else None)
def load_pedestrian(img_type_parameters: dict, input_parameters: dict, run_parameters: dict,
                    seed: int) -> Splits:
    """The pedestrian crops: first 80% train, last 20% test, each optionally shuffled with the run's seed."""
    p = img_type_parameters
    root = ensure_data(p)
    images, coords, masks = read_pedestrian(root, int(p["shape_size"]))
    n_test = math.ceil(0.2 * len(images))
    n_train = len(images) - n_test
    if n_train < 1 or n_test < 1:
        raise ConfigError(f"only {len(images)} pedestrian image(s) in {root}; need at least 2 for a train/test split")
    parts = [np.arange(n_train), np.arange(n_train, len(images))]
    if p["shuffle"]:
        rng = np.random.default_rng(seed)
        parts = [idx[rng.permutation(len(idx))] for idx in parts]
    train, test = (Canvases(images[idx][..., None], None, coords[idx][:, None, :],
                            masks=None if masks is None or k == 0 else masks[idx]) for k, idx in enumerate(parts))
    return Splits(train, test)


# ---------------------------------------------------------------------------------------------- synthetic

def _draw_person(depth: np.ndarray, rng: np.random.Generator, centre, height: float, q: dict,
                 label: np.ndarray | None = None, number: int = 0) -> None:
    """Draw one person seen from above into the height map ``depth`` (metres), head centred at ``centre``;
    with ``label`` (H, W), the pixels where this person is now the top-most surface take ``number``."""
    scale = rng.uniform(*q["body_scale"])
    theta = rng.uniform(0, np.pi)
    shape = depth.shape
    cy, cx = centre
    # shoulders: a domed ellipse, its centre slightly off the head's
    off = rng.uniform(-q["head_offset"], q["head_offset"], size=2)
    sy, sx = cy + off[0], cx + off[1]
    a, b = q["shoulder_axes"][0] * scale, q["shoulder_axes"][1] * scale
    rr, cc = ellipse(sy, sx, b, a, shape=shape, rotation=theta)
    if len(rr):
        # normalised elliptical radius for the dome shading
        dy, dx = rr - sy, cc - sx
        u = (dx * np.cos(theta) - dy * np.sin(theta)) / a
        v = (dx * np.sin(theta) + dy * np.cos(theta)) / b
        h = height * q["shoulder_ratio"] * (1 - 0.05 * np.clip(u * u + v * v, 0, 1))
        if label is not None:
            top = h > depth[rr, cc]                                  # where this person is now the top surface
            label[rr[top], cc[top]] = number
        depth[rr, cc] = np.maximum(depth[rr, cc], h)
    # head: a domed disc, its top at the body height
    r = q["head_radius"] * scale
    rr, cc = disk((cy, cx), r, shape=shape)
    if len(rr):
        d2 = ((rr - cy) ** 2 + (cc - cx) ** 2) / (r * r)
        h = height * (1 - 0.06 * np.clip(d2, 0, 1))
        if label is not None:
            top = h > depth[rr, cc]                                  # where this person is now the top surface
            label[rr[top], cc[top]] = number
        depth[rr, cc] = np.maximum(depth[rr, cc], h)


def _height(rng: np.random.Generator, q: dict) -> float:
    return float(np.clip(rng.normal(q["height_mean"], q["height_std"]), *q["height_range"]))


def synthesize_crop(rng: np.random.Generator, params: dict | None = None, with_mask: bool = False):
    """One synthetic overhead depth crop: (uint8 image (size, size), head centre (y, x) floats), and with
    ``with_mask`` its true segmentation (uint8 (size, size): 1 the pedestrian of the crop, 2… its neighbours,
    0 the floor)."""
    q = {**SYNTHETIC_DEFAULTS, **(params or {})}
    size = int(q["size"])
    depth = np.zeros((size, size), np.float64)
    label = np.zeros((size, size), np.uint8) if with_mask else None
    c0 = (size - 1) / 2
    centre = (c0 + rng.uniform(-q["centre_jitter"], q["centre_jitter"]),
              c0 + rng.uniform(-q["centre_jitter"], q["centre_jitter"]))
    n_nb = rng.choice(len(q["neighbour_probs"]), p=np.asarray(q["neighbour_probs"]) / np.sum(q["neighbour_probs"]))
    for k in range(n_nb):  # neighbours first; np.maximum keeps the top-most surface anyway
        angle, dist = rng.uniform(0, 2 * np.pi), rng.uniform(*q["neighbour_distance"])
        _draw_person(depth, rng, (c0 + dist * np.sin(angle), c0 + dist * np.cos(angle)), _height(rng, q), q,
                     label, 2 + k)
    _draw_person(depth, rng, centre, _height(rng, q), q, label, 1)

    floor = rng.uniform(*q["floor_level"])
    img = floor + (1 - floor) * depth / q["max_height"]
    gy, gx = np.gradient(img)
    edge = np.hypot(gy, gx) > 0.05
    img = img + rng.normal(0, q["noise_std"], img.shape)
    lost = (rng.random(img.shape) < q["dropout"]) | (edge & (rng.random(img.shape) < q["edge_dropout"]))
    img[lost] = 0.0
    out = np.round(np.clip(img, 0, 1) * 255).astype(np.uint8), (round(centre[0], 3), round(centre[1], 3))
    return (*out, label) if with_mask else out


def _write_json(path: Path, obj) -> None:
    from stampnet.cli import write_text_atomic

    write_text_atomic(path, json.dumps(obj, indent=1))


def generate_synthetic(out: str | Path, n: int = 2000, seed: int = 0, per_minute: int = 100,
                       params: dict | None = None, progress: bool = True) -> Path:
    """Write ``n`` synthetic crops to ``out`` in the 2019 format; returns ``out``."""

    if n < 1 or per_minute < 1:
        raise ConfigError(f"need n >= 1 and per_minute >= 1, got n={n}, per_minute={per_minute}")
    q = {**SYNTHETIC_DEFAULTS, **(params or {})}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / INFO).unlink(missing_ok=True)
    _write_json(out / SYNTHETIC_INFO, {"synthetic": True, "n": n, "seed": seed, "per_minute": per_minute,
                                       "parameters": q, "generator": "stampnet.data.pedestrian"})
    rng = np.random.default_rng(seed)
    info: dict[str, dict[str, list[float]]] = {}
    for i in tqdm(range(n), desc="synthetic pedestrians", disable=not progress):
        minute = f"{i // per_minute:04d}"
        folder = out / minute
        if minute not in info:
            folder.mkdir(exist_ok=True)
            info[minute] = {}
        img, centre, mask = synthesize_crop(rng, q, with_mask=True)
        name = f"{i:06d}.png"
        (out / MASKS / minute).mkdir(parents=True, exist_ok=True)
        for path, pixels in ((folder / name, img), (out / MASKS / minute / name, mask)):
            if not cv2.imwrite(str(path), pixels):
                raise OSError(f"could not write {path}")
        info[minute][name] = [centre[0], centre[1]]
    _write_json(out / INFO, info)
    return out


def main(argv=None) -> int:
    from stampnet import cli

    ap = cli.ArgumentParser(prog="python -m stampnet.data.pedestrian",
                            description="Generate synthetic overhead pedestrian depth crops in the 2019 "
                                        "format (<out>/<minute>/<image>.png + ped_info.json).")
    ap.add_argument("--synthetic", action="store_true", help="generate the synthetic set (the only action)")
    ap.add_argument("--out", default=DEFAULT_PATH, help=f"output folder (default {DEFAULT_PATH})")
    ap.add_argument("--n", type=cli.positive_int, default=2000, help="number of crops (default 2000)")
    ap.add_argument("--seed", type=cli.seed, default=0, help="random seed (default 0)")
    ap.add_argument("--per-minute", type=cli.positive_int, default=100, help="crops per minute folder (default 100)")
    args = ap.parse_args(argv)
    if not args.synthetic:
        ap.error("the real 2019 recordings are not public; pass --synthetic to generate a synthetic set")
    if Path(args.out).exists() and not Path(args.out).is_dir():
        ap.error(f"argument --out: {args.out!r} is a file; give a folder")
    try:
        path = generate_synthetic(args.out, n=args.n, seed=args.seed, per_minute=args.per_minute)
    except (ConfigError, OSError) as err:
        return cli.fail(f"{err}; choose another --out" if isinstance(err, OSError) else str(err))
    print(f"wrote {args.n} synthetic crops and {INFO} to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
