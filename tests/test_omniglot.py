"""Omniglot loader on a tiny zip in the official layout (two alphabets, a few characters, 4 drawings each)."""
import zipfile

import cv2
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.data import load_data
from stampnet.data.omniglot import load_characters, read_omniglot

# alphabet -> number of characters; sorted label order: Alpha/c01, Alpha/c02, Beta/c01, Beta/c02, Beta/c03
ALPHABETS = {"Beta": 3, "Alpha": 2}
N_DRAWINGS = 4
NAMES = ["Alpha/character01", "Alpha/character02", "Beta/character01", "Beta/character02", "Beta/character03"]


def drawing(label: int) -> np.ndarray:
    """White 105x105 with the top (label + 1) * 15 rows black, so the ink share encodes the label."""
    img = np.full((105, 105), 255, np.uint8)
    img[:(label + 1) * 15] = 0
    return img


def make_zip(path, alphabets=ALPHABETS, split="images_background"):
    with zipfile.ZipFile(path, "w") as zf:
        for a, n_chars in alphabets.items():
            for c in range(1, n_chars + 1):
                label = NAMES.index(f"{a}/character{c:02d}")
                for d in range(1, N_DRAWINGS + 1):
                    ok, png = cv2.imencode(".png", drawing(label))
                    zf.writestr(f"{split}/{a}/character{c:02d}/{label:04d}_{d:02d}.png", png.tobytes())
    return path


def ink_label(images):
    """The label a drawing encodes: ink share * 105 / 15 - 1."""
    return np.round(images.reshape(len(images), -1).mean(1) * 105 / 15 - 1).astype(int)


def test_labels_inversion_resize(tmp_path):
    data = read_omniglot({"data_path": str(make_zip(tmp_path / "images_background.zip"))})
    assert data.images.shape == (5 * N_DRAWINGS, 28, 28) and data.images.dtype == np.float32
    assert data.char_names == NAMES and data.alphabet_names == ["Alpha", "Beta"]
    np.testing.assert_array_equal(data.char_labels, np.repeat(np.arange(5), N_DRAWINGS))
    np.testing.assert_array_equal(data.alphabet_labels, np.repeat([0, 0, 1, 1, 1], N_DRAWINGS))
    np.testing.assert_array_equal(ink_label(data.images), data.char_labels)
    first = data.images[0]  # label 0: top 15 of 105 rows inked -> top 4 of 28 rows (INTER_AREA)
    assert first[:3].min() == 1.0 and first[5:].max() == 0.0  # strokes 1, background 0
    assert read_omniglot({"data_path": str(tmp_path / "images_background.zip"), "char_size": 14}).images.shape[1:] \
        == (14, 14)


def test_subsets_folders_and_path_lists(tmp_path):
    z = make_zip(tmp_path / "all.zip")
    beta = read_omniglot({"data_path": str(z), "alphabets": ["Beta"]})
    assert beta.char_names == NAMES[2:] and set(beta.char_labels) == {0, 1, 2}
    np.testing.assert_array_equal(ink_label(beta.images), beta.char_labels + 2)
    first = read_omniglot({"data_path": str(z), "alphabets": 1, "n_characters": 1})
    assert first.char_names == ["Alpha/character01"] and len(first.images) == N_DRAWINGS
    assert read_omniglot({"data_path": str(z), "n_characters": 1}).char_names == [NAMES[0], NAMES[2]]
    # an extracted split folder, its parent, and a list of zips give the same characters
    zipfile.ZipFile(z).extractall(tmp_path / "x")
    for path in (tmp_path / "x", tmp_path / "x" / "images_background",
                 [str(make_zip(tmp_path / "a.zip", {"Alpha": 2})), str(make_zip(tmp_path / "b.zip", {"Beta": 3}))]):
        assert read_omniglot({"data_path": path}).char_names == NAMES
    with pytest.raises(ConfigError, match="unknown Omniglot alphabet"):
        read_omniglot({"data_path": str(z), "alphabets": ["Gamma"]})


def test_bad_layout_and_missing_path(tmp_path):
    with zipfile.ZipFile(tmp_path / "flat.zip", "w") as zf:
        zf.writestr("flat/a.png", cv2.imencode(".png", drawing(0))[1].tobytes())
    with pytest.raises(ConfigError, match="<split>/<alphabet>/<character>/<drawing>.png"):
        read_omniglot({"data_path": str(tmp_path / "flat.zip")})
    with pytest.raises(ConfigError, match="brendenlake/omniglot"):
        read_omniglot({"data_path": str(tmp_path / "missing.zip")})


def test_split_by_drawing_and_canvases(tmp_path):
    params = {"data_path": str(make_zip(tmp_path / "o.zip")), "test_fraction": 0.25}
    xtr, ytr, xte, yte, names = load_characters(params, seed=1)
    assert names == NAMES and len(xtr) == 15 and len(xte) == 5  # 3 + 1 drawings of each character
    np.testing.assert_array_equal(np.bincount(ytr), [3] * 5)
    np.testing.assert_array_equal(np.bincount(yte), [1] * 5)
    np.testing.assert_array_equal(ink_label(xtr), ytr)

    run = {"img_type": "omniglot", "img_type_parameters": params}
    splits = load_data(run, {"img_rows": 56, "img_cols": 56, "img_channels": 1}, seed=1)
    tr = splits.train
    assert tr.images.shape == (15, 56, 56, 1) and tr.labels.shape == (15, 1) and tr.coords.shape == (15, 1, 2)
    assert tr.coords.min() >= 0 and tr.coords.max() <= 56 - 28
    assert sorted(tr.labels.ravel().tolist()) == sorted(ytr.tolist())
    for img, (label,), ((y, x),) in zip(tr.images[..., 0], tr.labels, tr.coords):
        assert ink_label(img[None, y:y + 28, x:x + 28])[0] == label  # the character sits at its coords
        assert img.sum() == pytest.approx(img[y:y + 28, x:x + 28].sum())
    assert splits.test.labels.shape == (5, 1)
