"""Pedestrian loader (2019 format) and the synthetic overhead depth generator, on tiny tmp fixtures."""
import json
import math
import tarfile

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage.filters import threshold_multiotsu

from stampnet import ConfigError
from stampnet.data import load_data
from stampnet.data.pedestrian import SYNTHETIC_DEFAULTS, generate_synthetic, synthesize_crop, upper_left

INPUT = {"img_rows": 80, "img_cols": 80, "img_channels": 1}

# minute -> [(image name, centre [y, x])]; "10" sorts before "2" (string order, as 2019)
CENTRES = {
    "2": [("b.png", [40.0, 41.5]), ("a.png", [30.2, 50.0])],
    "10": [("img1.png", [44.7, 20.0]), ("img0.png", [20.0, 60.9]), ("img2.png", [55.5, 33.1])],
    "1": [("x.png", [39.0, 39.0]), ("y.png", [21.1, 58.2]), ("z.png", [60.0, 22.0])],
}
FILE_ORDER = [("1", "x.png"), ("1", "y.png"), ("1", "z.png"), ("10", "img0.png"), ("10", "img1.png"),
              ("10", "img2.png"), ("2", "a.png"), ("2", "b.png")]


def make_ped(root, bad=True):
    """Write the fixture; image k (in file order) is filled with the value 10 * (k + 1)."""
    root.mkdir(parents=True)
    info = {}
    for minute, items in CENTRES.items():
        (root / minute).mkdir()
        info[minute] = {}
        for name, centre in items:
            value = 10 * (FILE_ORDER.index((minute, name)) + 1)
            cv2.imwrite(str(root / minute / name), np.full((80, 80), value, np.uint8))
            info[minute][name] = centre
    (root / "notes").mkdir()              # not a minute folder: ignored
    (root / "1" / ".DS_Store").write_bytes(b"junk")  # hidden: ignored
    if bad:
        (root / "2" / "c.png").write_bytes(b"not a png")
        info["2"]["c.png"] = [40, 40]
    (root / "ped_info.json").write_text(json.dumps(info))
    return root


def load(path, **params):
    run = {"img_type": "pedestrian", "img_type_parameters": {"data_path": str(path), "shuffle": False, **params}}
    return load_data(run, INPUT, seed=3)


def test_coords_split_order_and_skipped_count(tmp_path, capsys):
    splits = load(make_ped(tmp_path / "ped"))
    assert "skipped 1 unreadable" in capsys.readouterr().out
    assert len(splits.train) == 6 and len(splits.test) == 2  # 80/20 of 8 readable crops, file order
    values = np.concatenate([splits.train.images[:, 0, 0, 0], splits.test.images[:, 0, 0, 0]])
    np.testing.assert_allclose(values, np.arange(1, 9) * 10 / 255, rtol=1e-6)
    assert splits.train.labels is None and splits.test.labels is None
    assert splits.train.coords.shape == (6, 1, 2) and splits.train.coords.dtype == np.int64
    centres = {(m, n): c for m, items in CENTRES.items() for n, c in items}
    expected = [[math.ceil(centres[k][0]) - 20, math.ceil(centres[k][1]) - 20] for k in FILE_ORDER]
    np.testing.assert_array_equal(np.concatenate([splits.train.coords, splits.test.coords])[:, 0], expected)
    assert upper_left([44.7, 20.0], 40) == (25, 0)
    assert load(tmp_path / "ped", shape_size=30).train.coords[0, 0].tolist() == [39 - 15, 39 - 15]


def test_shuffle_keeps_pairs_and_follows_seed(tmp_path):
    root = make_ped(tmp_path / "ped", bad=False)
    plain = load(root)
    a, b = load(root, shuffle=True), load(root, shuffle=True)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    for part, ref in ((a.train, plain.train), (a.test, plain.test)):
        order = np.argsort(part.images[:, 0, 0, 0])
        np.testing.assert_array_equal(part.images[order], ref.images)
        np.testing.assert_array_equal(part.coords[order], ref.coords)
    assert not np.array_equal(a.train.images, plain.train.images)


@pytest.mark.parametrize("archive_name, top", [("pedestrian.tar.gz", "pedestrian"), ("peds.tar.gz", None)])
def test_extracts_tar_gz_on_first_use(tmp_path, capsys, archive_name, top):
    src = make_ped(tmp_path / "src", bad=False)
    with tarfile.open(tmp_path / archive_name, "w:gz") as tar:
        if top:
            tar.add(src, arcname=top)
        else:
            for item in src.iterdir():
                tar.add(item, arcname=item.name)
    target = tmp_path / "peds"
    splits = load(target, synthetic_if_missing=False)
    assert (target / "ped_info.json").is_file() and len(splits.train) + len(splits.test) == 8
    assert "extracting" in capsys.readouterr().out
    assert not list(tmp_path.glob(".extract-*"))


def test_unsafe_archive_is_refused(tmp_path):
    evil = tmp_path / "evil.txt"
    evil.write_text("x")
    with tarfile.open(tmp_path / "peds.tar.gz", "w:gz") as tar:
        tar.add(evil, arcname="../evil.txt")
    with pytest.raises(ConfigError, match="cannot extract"):
        load(tmp_path / "peds", synthetic_if_missing=False)


def test_missing_data_names_the_fix(tmp_path):
    with pytest.raises(ConfigError, match="--synthetic"):
        load(tmp_path / "nothing", synthetic_if_missing=False)
    (tmp_path / "occupied").mkdir()
    (tmp_path / "occupied" / "something").write_text("mine")
    with pytest.raises(ConfigError, match="ped_info.json"):
        load(tmp_path / "occupied")


def test_synthetic_if_missing_generates_and_loads(tmp_path, capsys):
    splits = load(tmp_path / "auto", synthetic_n=25, shuffle=True)
    assert "SYNTHETIC" in capsys.readouterr().out
    assert (len(splits.train), len(splits.test)) == (20, 5)
    assert splits.train.images.shape[1:] == (80, 80, 1) and splits.train.images.dtype == np.float32
    again = load(tmp_path / "auto", shuffle=True)  # second use reads what is there
    np.testing.assert_array_equal(again.train.images, splits.train.images)


def test_generator_writes_the_2019_format(tmp_path):
    out = generate_synthetic(tmp_path / "syn", n=7, seed=1, per_minute=3, progress=False)
    info = json.loads((out / "ped_info.json").read_text())
    assert sorted(info) == ["0000", "0001", "0002"] and sum(map(len, info.values())) == 7
    img = cv2.imread(str(out / "0001" / "000004.png"), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint8 and img.shape == (80, 80)
    assert not list(out.glob("*.tmp"))


def test_synthetic_head_is_the_brightest_blob_at_the_recorded_centre():
    rng = np.random.default_rng(0)
    for _ in range(40):
        img, (cy, cx) = synthesize_crop(rng)
        assert abs(cy - 39.5) <= SYNTHETIC_DEFAULTS["centre_jitter"] and abs(cx - 39.5) <= 3
        smooth = ndimage.median_filter(img.astype(float), size=3)  # remove the dropouts
        y0, x0 = round(cy) - 10, round(cx) - 10
        win = smooth[y0:y0 + 21, x0:x0 + 21]
        head = win > threshold_multiotsu(win, classes=3)[1]  # floor < shoulders < head
        blobs, _ = ndimage.label(head)
        blob = blobs == np.bincount(blobs.ravel())[1:].argmax() + 1
        by, bx = ndimage.center_of_mass(blob)
        assert abs(by + y0 - cy) < 1.0 and abs(bx + x0 - cx) < 1.0
        assert win[blob].mean() > win[~blob & (win > 0.2 * 255)].mean() + 10  # head above shoulders
        assert np.median(img[:5, :5]) < 0.1 * 255 or np.median(img[-5:, -5:]) < 0.1 * 255  # dark floor


def test_synthetic_crops_carry_their_true_segmentation(tmp_path):
    """The synthetic set writes each crop's segmentation (1 the pedestrian, 2… neighbours, 0 the floor) and the
    loader gives it to the test split; the same seed draws the same images with or without the masks."""
    from stampnet.data.pedestrian import load_pedestrian

    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    img, centre, mask = synthesize_crop(rng_a, with_mask=True)
    img2, centre2 = synthesize_crop(rng_b)
    assert (img == img2).all() and centre == centre2
    assert mask[int(round(centre[0])), int(round(centre[1]))] == 1        # the head is the pedestrian's
    assert (mask == 1).sum() > 50 and set(np.unique(mask)) <= set(range(10))
    generate_synthetic(tmp_path / "ped", n=20, seed=1, progress=False)
    splits = load_pedestrian({"data_path": str(tmp_path / "ped")}, {}, {}, 0)
    assert splits.train.masks is None and splits.test.masks.shape == (4, 80, 80)
    assert (splits.test.masks == 1).any(axis=(1, 2)).all()
