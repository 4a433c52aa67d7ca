"""The 'folder' loader (your own images) on a generated nested folder."""
import cv2
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.data import load_data

INPUT = {"img_rows": 16, "img_cols": 16, "img_channels": 1}


def band_image():
    """20x40 (h x w): white in columns 10..29 (the centred 20x20 square), black elsewhere."""
    img = np.zeros((20, 40), np.uint8)
    img[:, 10:30] = 255
    return img


def make_folder(root):
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / ".hidden").mkdir()
    cv2.imwrite(str(root / "band.png"), band_image())
    colour = np.zeros((32, 32, 3), np.uint8)
    colour[..., 2] = 255  # pure red (BGR)
    cv2.imwrite(str(root / "sub" / "red.JPG"), colour)
    cv2.imwrite(str(root / "sub" / "deeper" / "grey.png"), np.full((8, 8), 200, np.uint8))
    (root / "sub" / "broken.png").write_bytes(b"\x89PNG but not really")
    (root / "notes.txt").write_text("not an image")
    cv2.imwrite(str(root / ".hidden" / "skip.png"), np.zeros((4, 4), np.uint8))
    return root


def load(root, seed=0, **params):
    run = {"img_type": "folder", "img_type_parameters": {"data_path": str(root), **params}}
    return load_data(run, INPUT, seed)


def by_mean(splits):
    images = np.concatenate([splits.train.images, splits.test.images])
    return images[np.argsort(images.mean(axis=(1, 2, 3)))]


def test_nested_folder_jpeg_and_unreadable(tmp_path, capsys):
    splits = load(make_folder(tmp_path / "imgs"))
    assert "skipped 1 unreadable" in capsys.readouterr().out
    assert (len(splits.train), len(splits.test)) == (2, 1)  # 3 readable images, test_fraction 0.2 -> 1
    for part in (splits.train, splits.test):
        assert part.images.shape[1:] == (16, 16, 1) and part.images.dtype == np.float32
        assert part.labels is None and part.coords is None
    red, band, grey = by_mean(splits)
    np.testing.assert_allclose(red, 76 / 255, atol=2 / 255)  # OpenCV luma of pure red (JPEG-rounded)
    np.testing.assert_allclose(grey, 200 / 255, atol=1e-6)  # 8x8 enlarged
    assert band.min() == 0 and band.max() == 1 and band.mean() == pytest.approx(0.5, abs=0.05)  # "fit"


def test_crop_invert_and_seeded_split(tmp_path):
    root = make_folder(tmp_path / "imgs")
    band = by_mean(load(root, resize="crop"))[-1]
    np.testing.assert_allclose(band, 1.0)  # the centred square is all white
    inverted = by_mean(load(root, resize="crop", invert=True))[0]
    np.testing.assert_allclose(inverted, 0.0)
    a, b = load(root, seed=5), load(root, seed=5)
    np.testing.assert_array_equal(a.test.images, b.test.images)
    tests = {load(root, seed=s).test.images.mean().round(4) for s in range(8)}
    assert len(tests) > 1  # the seed picks the held-out image


def test_errors_name_the_fix(tmp_path):
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "readme.txt").write_text("no pictures")
    with pytest.raises(ConfigError, match="no images"):
        load(tmp_path / "empty")
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "absent")
    with pytest.raises(ConfigError, match="resize"):
        load(make_folder(tmp_path / "imgs"), resize="stretch")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "a.png").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="could be read"):
        load(tmp_path / "bad")
