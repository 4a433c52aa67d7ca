"""The 'folder' loader (your own images) on a generated nested folder."""
import zlib

import cv2
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.data import load_data
from stampnet.data.folder import load_folder

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


# ---- what an image file declares and holds: size, bit depth, alpha, orientation --------------------------

def png_declaring(path, width, height):
    """A PNG whose header declares width x height 8-bit grey pixels, with almost no pixel data (a forged size:
    no decoder gets as far as the pixels before the size check)."""
    def chunk(kind, data):
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + bytes([8, 0, 0, 0, 0])
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64))
                     + chunk(b"IEND", b""))
    return path


@pytest.mark.parametrize("side", [60_000, 30_000, 8_500])  # 8,500² = 72 MP: under PIL's own limit, over ours
def test_declared_size_over_the_bound_is_refused_before_decoding(tmp_path, capsys, side):
    (tmp_path / "one").mkdir()
    png_declaring(tmp_path / "one" / "huge.png", side, side)
    with pytest.raises(ConfigError, match=r"^no usable images under .*1 image\(s\) declaring more than "
                                          r"64,000,000 pixels \(e\.g\. huge\.png\); shrink them"):
        load(tmp_path / "one")
    (tmp_path / "two").mkdir()
    png_declaring(tmp_path / "two" / "huge.png", side, side)
    cv2.imwrite(str(tmp_path / "two" / "a.png"), np.full((16, 16), 100, np.uint8))
    cv2.imwrite(str(tmp_path / "two" / "b.png"), np.full((16, 16), 200, np.uint8))
    splits = load(tmp_path / "two", test_fraction=0.5)
    assert "skipped 1 image(s) declaring more than 64,000,000 pixels (e.g. huge.png)" in capsys.readouterr().out
    assert len(splits.train) + len(splits.test) == 2


def test_the_bound_is_the_named_constant(tmp_path, monkeypatch, capsys):
    import stampnet.data.folder as folder

    cv2.imwrite(str(tmp_path / "small.png"), np.full((10, 10), 50, np.uint8))  # 100 pixels
    cv2.imwrite(str(tmp_path / "large.png"), np.full((20, 20), 50, np.uint8))  # 400 pixels
    cv2.imwrite(str(tmp_path / "also.png"), np.full((12, 12), 50, np.uint8))  # 144 pixels
    monkeypatch.setattr(folder, "MAX_IMAGE_PIXELS", 300)
    splits = load(tmp_path, test_fraction=0.5)
    assert len(splits.train) + len(splits.test) == 2
    assert "skipped 1 image(s) declaring more than 300 pixels (e.g. large.png)" in capsys.readouterr().out


def single(root, img, name="img.png", **params):
    """The one canvas that a folder holding only ``img`` gives (test_fraction 0: all for training)."""
    root.mkdir()
    assert cv2.imwrite(str(root / name), img)
    return the_image(root)


def the_image(root, inp=INPUT):
    """The canvas of the one image under ``root`` (the loader itself: a lone image makes no test split)."""
    splits = load_folder({"data_path": str(root), "test_fraction": 0.0}, inp, {}, 0)
    assert len(splits.train) == 1
    return splits.train.images[0, ..., 0]


def test_16_bit_images_keep_their_precision_and_share_one_scale(tmp_path, capsys):
    """A depth map of 0–800 (of 65535) spans [0, 1]; 16-bit images of one folder are scaled together (their
    largest value), so one value means the same in every file; 8-bit ones by 255."""
    ramp = (np.arange(256).reshape(16, 16) * 800 // 255).astype(np.uint16)  # 0..800 of 65535
    got = single(tmp_path / "a", ramp)
    np.testing.assert_allclose(got, ramp / 800, atol=1e-6)
    assert len(np.unique(got)) > 200  # not quantised to 8 bits (which leaves 4 levels: 0..3 / 255)
    assert "scaled together by their largest value (800 of 65535)" in capsys.readouterr().out
    (tmp_path / "two").mkdir()
    cv2.imwrite(str(tmp_path / "two" / "a.png"), np.full((16, 16), 400, np.uint16))
    cv2.imwrite(str(tmp_path / "two" / "b.png"), np.full((16, 16), 800, np.uint16))
    cv2.imwrite(str(tmp_path / "two" / "c.png"), np.full((16, 16), 51, np.uint8))
    x = np.sort(load_folder({"data_path": str(tmp_path / "two"), "test_fraction": 0.0}, INPUT, {}, 0)
                .train.images[:, 0, 0, 0])
    np.testing.assert_allclose(x, [0.2, 0.5, 1.0], atol=1e-6)   # 51/255; 400 and 800 of the folder's 800
    colour = np.zeros((16, 16, 3), np.uint16)
    colour[..., 1] = 40000  # green, 16 bits: its luma is the folder's largest value
    np.testing.assert_allclose(single(tmp_path / "c", colour), 1.0, atol=1e-4)


def test_alpha_that_carries_the_content_is_the_image(tmp_path):
    alpha = np.zeros((16, 16), np.uint8)
    alpha[4:12, 4:12] = 255
    alpha[6, 6] = 128
    black_ink = np.dstack([np.zeros((16, 16, 3), np.uint8), alpha])  # uniform colour, shape in alpha (BGRA)
    np.testing.assert_allclose(single(tmp_path / "a", black_ink), alpha / 255, atol=1e-6)
    white_elsewhere = black_ink.copy()
    white_elsewhere[alpha == 0, :3] = 255  # colour stored under fully transparent pixels does not count
    np.testing.assert_allclose(single(tmp_path / "b", white_elsewhere), alpha / 255, atol=1e-6)
    from PIL import Image

    (tmp_path / "la").mkdir()
    Image.fromarray(np.dstack([np.full((16, 16), 30, np.uint8), alpha]), "LA").save(tmp_path / "la" / "x.png")
    np.testing.assert_allclose(the_image(tmp_path / "la"), alpha / 255, atol=1e-6)


def test_colour_with_alpha_is_composited_over_black(tmp_path):
    grey = np.tile(np.linspace(0, 255, 16).astype(np.uint8), (16, 1))
    alpha = np.full((16, 16), 255, np.uint8)
    alpha[:, :8] = 0  # left half transparent
    alpha[0, 12] = 64
    img = np.dstack([grey, grey, grey, alpha])
    np.testing.assert_allclose(single(tmp_path / "a", img), grey / 255 * alpha / 255, atol=1e-6)
    opaque = np.dstack([grey, grey, grey, np.full((16, 16), 255, np.uint8)])  # uniform alpha: only colour
    np.testing.assert_allclose(single(tmp_path / "b", opaque), grey / 255, atol=1e-6)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_as_pil(orientation):
    from PIL import Image, ImageOps

    from stampnet.data.folder import orient

    a = np.random.default_rng(orientation).integers(0, 256, size=(5, 7), dtype=np.uint8)
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.info["exif"] = exif.tobytes()
    expected = np.asarray(ImageOps.exif_transpose(im))
    np.testing.assert_array_equal(orient(a, orientation), expected)


def test_rotated_jpeg_is_read_upright(tmp_path):
    from PIL import Image

    a = np.zeros((16, 32), np.uint8)
    a[:, :8] = 255  # bright left quarter
    im = Image.fromarray(a)
    exif = im.getexif()
    exif[0x0112] = 6  # to be turned 90° clockwise: the bright quarter goes to the top
    (tmp_path / "j").mkdir()
    im.save(tmp_path / "j" / "r.jpg", exif=exif.tobytes(), quality=95)
    img = the_image(tmp_path / "j", {"img_rows": 32, "img_cols": 16, "img_channels": 1})
    assert img[:8].mean() > 0.9 and img[8:].mean() < 0.1
