"""MNIST loading (npz, IDX folder, keras fallback) and T-MNIST canvases, on tiny fixtures."""
import gzip

import numpy as np
import pytest

import stampnet.data.mnist as mnist_mod
from conftest import require_shared
from stampnet import ConfigError
from stampnet.data.mnist import check_digits, load_mnist, load_t_mnist

INP = {"img_rows": 60, "img_cols": 60, "img_channels": 1, "batch_size": 2}
RUN = {"steps_per_epoch": 2, "validation_steps": 1}


def fake_digits(n, seed):
    """(n, 28, 28) uint8 blobs with a grey ramp, and labels."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, 28, 28), np.uint8)
    for i in range(n):
        y0, x0 = rng.integers(2, 12, size=2)
        x[i, y0:y0 + 14, x0:x0 + 10] = rng.integers(1, 256, size=(14, 10))
    return x, rng.integers(0, 10, size=n).astype(np.uint8)


@pytest.fixture
def mnist_npz(tmp_path):
    (xtr, ytr), (xte, yte) = fake_digits(12, 0), fake_digits(7, 1)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path, (xtr, ytr, xte, yte)


def write_idx(path, arr, gz=True):
    magic = 2051 if arr.ndim == 3 else 2049
    head = magic.to_bytes(4, "big") + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    data = head + arr.astype(np.uint8).tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)
    return path


def idx_folder(root, arrays, gz=True, only_test=False):
    names = mnist_mod.IDX_FILES
    for key, arr in zip(("x_train", "y_train", "x_test", "y_test"), arrays):
        if only_test and key.endswith("train"):
            continue
        write_idx(root / names[key], arr, gz)
    return root


def test_npz(mnist_npz):
    path, ref = mnist_npz
    (xtr, ytr), (xte, yte) = load_mnist(path)
    for a, b in zip((xtr, ytr, xte, yte), ref):
        assert a.dtype == np.uint8 and np.array_equal(a, b)
    assert load_mnist(str(path))[0][0].shape == (12, 28, 28)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_folder(tmp_path, mnist_npz, gz):
    _, ref = mnist_npz
    (tmp_path / "idx").mkdir()
    folder = idx_folder(tmp_path / "idx", ref, gz)
    (xtr, ytr), (xte, yte) = load_mnist(folder)
    for a, b in zip((xtr, ytr, xte, yte), ref):
        assert a.dtype == np.uint8 and np.array_equal(a, b)


def test_idx_test_only_gives_empty_train(tmp_path, mnist_npz):
    _, ref = mnist_npz
    (tmp_path / "t").mkdir()
    folder = idx_folder(tmp_path / "t", ref, only_test=True)
    (xtr, ytr), (xte, yte) = load_mnist(folder)
    assert xtr.shape == (0, 28, 28) and ytr.shape == (0,) and xtr.dtype == np.uint8
    assert np.array_equal(xte, ref[2])
    with pytest.raises(ConfigError, match="no training digits.*mnist.npz.*--mnist PATH / run_parameters.mnist_path"):
        load_t_mnist({"mnist_path": str(folder)}, INP, RUN, 0)


def test_errors(tmp_path, mnist_npz):
    _, (xtr, ytr, xte, yte) = mnist_npz
    with pytest.raises(ConfigError, match="does not exist.*~/.keras/datasets"):
        load_mnist(tmp_path / "nope.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load_mnist(bad)
    keys = tmp_path / "keys.npz"
    np.savez(keys, x_train=xtr, y_train=ytr)
    with pytest.raises(ConfigError, match=r"lacks the MNIST keys \['x_test', 'y_test'\]"):
        load_mnist(keys)
    shape = tmp_path / "shape.npz"
    np.savez(shape, x_train=xtr, y_train=ytr[:3], x_test=xte, y_test=yte)
    with pytest.raises(ConfigError, match="train labels .* have shape \\(3,\\) for 12 images"):
        load_mnist(shape)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ConfigError, match="lacks t10k-images"):
        load_mnist(empty)
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    idx_folder(corrupt, (xtr, ytr, xte, yte))
    (corrupt / "t10k-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(ConfigError, match="cannot read IDX"):
        load_mnist(corrupt)
    trunc = tmp_path / "trunc"
    trunc.mkdir()
    idx_folder(trunc, (xtr, ytr, xte, yte), gz=False)
    p = trunc / "t10k-images-idx3-ubyte"
    p.write_bytes(p.read_bytes()[:-5])
    with pytest.raises(ConfigError, match="truncated"):
        load_mnist(trunc)
    write_idx(p, xte, gz=False)  # restore, then break the labels' magic number
    magic = trunc / "t10k-labels-idx1-ubyte"
    magic.write_bytes(b"\x00\x00\x08\x03" + magic.read_bytes()[4:])
    with pytest.raises(ConfigError, match="bad header"):
        load_mnist(trunc)


def inked(n=3):
    """(n, 28, 28) uint8 digits with 196 inked pixels each (a 14x14 square of 1..196) and their labels."""
    x = np.zeros((n, 28, 28), np.uint8)
    x[:, 7:21, 7:21] = np.arange(1, 197, dtype=np.uint8).reshape(14, 14)
    return x, np.arange(n, dtype=np.uint8)


def test_digit_values_are_read_by_their_range():
    x, _ = inked()
    as_unit = x.astype(np.float32) / 255  # MNIST as floats in [0, 1]
    got = check_digits(as_unit, "digits")
    assert got.dtype == np.uint8 and (got > 0).sum(axis=(1, 2)).tolist() == [196] * 3  # not cast to 0/1
    np.testing.assert_array_equal(got, x)
    np.testing.assert_array_equal(check_digits(x.astype(np.float64), "digits"), x)  # floats in [0, 255] kept
    np.testing.assert_array_equal(check_digits(x.astype(np.int32), "digits"), x)
    np.testing.assert_array_equal(check_digits(x > 0, "digits"), (x > 0) * 255)
    assert check_digits(x, "digits") is x  # uint8 (N, 28, 28) as it is


@pytest.mark.parametrize("bad, match", [
    (np.zeros((3, 40, 40), np.uint8), r"have shape \(3, 40, 40\); expected \(N, 28, 28\)"),
    (np.zeros((3, 4, 4), np.uint8), r"have shape \(3, 4, 4\)"),
    (np.zeros((3, 0, 0), np.uint8), r"have shape \(3, 0, 0\)"),
    (np.zeros((0, 28, 28), np.uint8), r"have shape \(0, 28, 28\); expected .* N >= 1"),
    (np.zeros((3, 28, 28, 1), np.uint8), r"have shape \(3, 28, 28, 1\)"),
    (np.full((3, 28, 28), "7"), r"are <U1 values, not numbers"),
    (np.full((3, 28, 28), None, object), r"are object values, not numbers"),
    (np.full((3, 28, 28), -1.0), r"hold values from -1 to -1; give uint8 digits 0-255"),
    (np.full((3, 28, 28), 300, np.int16), r"hold values from 300 to 300"),
    (np.full((3, 28, 28), np.nan, np.float32), r"contain NaN or infinite values"),
])
def test_bad_digit_arrays_are_one_clear_error(bad, match):
    with pytest.raises(ConfigError, match=rf"^digits {match}[^\n]*$"):
        check_digits(bad, "digits")


def test_float_mnist_file_loads_scaled(tmp_path):
    x, y = inked()
    np.savez(tmp_path / "f.npz", x_train=x / 255.0, y_train=y, x_test=x / 255.0, y_test=y.astype(np.float64))
    (xtr, ytr), (xte, yte) = load_mnist(tmp_path / "f.npz")
    np.testing.assert_array_equal(xtr, x)
    np.testing.assert_array_equal(xte, x)
    assert yte.dtype == np.uint8 and np.array_equal(yte, y)
    np.savez(tmp_path / "s.npz", x_train=x.astype(str), y_train=y, x_test=x, y_test=y)
    with pytest.raises(ConfigError, match="MNIST train images from .*s.npz are <U3 values, not numbers"):
        load_mnist(tmp_path / "s.npz")
    np.savez(tmp_path / "l.npz", x_train=x, y_train=y + 0.5, x_test=x, y_test=y)
    with pytest.raises(ConfigError, match="MNIST train labels .* not whole numbers 0-255"):
        load_mnist(tmp_path / "l.npz")


def test_messages_name_no_local_folder():
    """Library messages and defaults of the MNIST readers name the real download and the path option only."""
    from conftest import REPO_ROOT

    for name in ("stampnet/data/mnist.py", "stampnet/data/cluttered.py", "generate_cluttered_mnist.py"):
        assert "../shared" not in (REPO_ROOT / name).read_text(), name
    assert mnist_mod.KERAS_URL.endswith("/mnist.npz") and "--mnist PATH" in mnist_mod.FIX
    assert "run_parameters.mnist_path" in mnist_mod.FIX


def test_keras_failure_is_one_line_config_error(monkeypatch):
    def offline():
        raise OSError("URL fetch failure: name resolution\nmore detail")

    monkeypatch.setattr(mnist_mod, "_keras_load", offline)
    with pytest.raises(ConfigError) as info:
        load_mnist(None)
    msg = str(info.value)
    assert "\n" not in msg and "~/.keras/datasets/" in msg and "mnist_path" in msg and "--mnist" in msg


def test_keras_path_used_when_none(monkeypatch, mnist_npz):
    _, (xtr, ytr, xte, yte) = mnist_npz
    monkeypatch.setattr(mnist_mod, "_keras_load", lambda: ((xtr, ytr), (xte, yte)))
    assert np.array_equal(load_mnist()[1][0], xte)


def test_t_mnist_canvases(mnist_npz):
    path, (xtr, ytr, xte, yte) = mnist_npz
    params = {"mnist_path": str(path), "nr_img_per_canvas": 1, "test_size": 9}
    s = load_t_mnist(params, INP, RUN, 4)
    n_train = (2 + 1) * 2
    assert s.train.images.shape == (n_train, 60, 60, 1) and s.test.images.shape == (9, 60, 60, 1)
    assert s.train.images.dtype == np.float32 and s.train.images.max() <= 1.0
    for part, x, y in ((s.train, xtr, ytr), (s.test, xte, yte)):
        for img, lab, ((yy, xx),) in zip(part.images[..., 0], part.labels, part.coords):
            crop = img[yy:yy + 28, xx:xx + 28]
            matches = [i for i in range(len(x)) if np.allclose(crop, x[i] / 255.0) and y[i] == lab[0]]
            assert matches, "the digit is not where its coords say"
            rest = img.copy()
            rest[yy:yy + 28, xx:xx + 28] = 0
            assert not rest.any()
    grey = s.train.images[(s.train.images > 0) & (s.train.images < 1)]
    assert grey.size > 0, "T-MNIST canvases are grey-level"


def test_t_mnist_path_precedence_and_determinism(mnist_npz, tmp_path):
    path, _ = mnist_npz
    run = {**RUN, "mnist_path": str(tmp_path / "missing.npz")}
    with pytest.raises(ConfigError, match="missing.npz"):
        load_t_mnist({"test_size": 3}, INP, run, 0)
    a = load_t_mnist({"mnist_path": str(path), "test_size": 3}, INP, run, 5)  # img_type_parameters wins
    b = load_t_mnist({"test_size": 3}, INP, {**RUN, "mnist_path": str(path)}, 5)
    assert np.array_equal(a.train.images, b.train.images) and np.array_equal(a.test.coords, b.test.coords)
    c = load_t_mnist({"test_size": 3}, INP, {**RUN, "mnist_path": str(path)}, 6)
    assert not np.array_equal(a.train.images, c.train.images)


def test_t_mnist_two_digits_clip(mnist_npz):
    path, _ = mnist_npz
    s = load_t_mnist({"mnist_path": str(path), "train_size": 30, "test_size": 2},
                     {**INP, "img_rows": 30, "img_cols": 30}, RUN, 2)
    assert s.train.labels.shape == (30, 2) and s.train.images.max() <= 1.0
    assert (s.train.images == 1.0).any()  # overlapping grey digits summed past 1 were clipped


def test_shared_mnist_subset():
    path = require_shared("data/mnist/mnist-subset.npz")
    (xtr, ytr), (xte, yte) = load_mnist(path)
    assert xtr.shape == (5000, 28, 28) and xte.shape == (10000, 28, 28)
    idx = require_shared("data/mnist")
    (xtr2, _), (xte2, yte2) = load_mnist(idx)
    assert len(xtr2) == 0 and np.array_equal(xte2, xte) and np.array_equal(yte2, yte)


def test_the_data_note_says_what_the_mnist_is_not_its_file_name(tmp_path, mnist_npz):
    import hashlib

    from stampnet.data import data_note

    path, (xtr, ytr, xte, yte) = mnist_npz
    sha = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    note = data_note({"img_type": "t_mnist", "mnist_path": str(path)})
    assert note == f"MNIST training subset, 12 digits, sha256 {sha}" and path.name not in note
    assert data_note({"img_type": "t_mnist", "img_type_parameters": {"mnist_path": str(path)}}) == note
    (tmp_path / "idx").mkdir()
    idx_folder(tmp_path / "idx", (xtr, ytr, xte, yte))
    assert data_note({"img_type": "t_mnist", "mnist_path": str(tmp_path / "idx")}) == \
        "MNIST training subset, 12 digits, IDX files"
    assert "cannot be read" in data_note({"img_type": "t_mnist", "mnist_path": str(tmp_path / "gone.npz")})
    assert data_note({"img_type": "t_mnist", "mnist_path": None}) is None   # keras.datasets: the standard set


def test_the_data_note_of_the_shared_mnist_subset():
    from stampnet.data import data_note

    path = require_shared("data/mnist/mnist-subset.npz")
    assert data_note({"img_type": "t_mnist", "mnist_path": str(path)}) == \
        "MNIST training subset, 5,000 digits, sha256 9900d4ead64e"
