"""CT-MNIST: the generator against a plain re-statement of the 2019 recipe, the CLI, the file, the loader."""
import hashlib
import subprocess
import sys
import zipfile

import cv2
import numpy as np
import pytest

import generate_cluttered_mnist as cli
from conftest import REPO_ROOT, require_shared
from stampnet import ConfigError
from stampnet.data.cluttered import (KEYS, MASK_KEYS, META_KEYS, TRAIN_CANVASES_2019, _plan, cluttered_canvases,
                                     default_file_name, generate_cluttered_mnist, load_ct_mnist, read_cluttered,
                                     save_npz_atomic, split_seeds)
from test_data_mnist import fake_digits

INP = {"img_rows": 100, "img_cols": 100, "img_channels": 1, "batch_size": 4}
RUN = {"steps_per_epoch": 2, "validation_steps": 1}


def recipe_2019(x, y, n_canvases, seed, n_digits, canvas=100, n_clutter=8, clutter_size=8):
    """The 2019 generation, step by step and slowly: a fresh RandomState per placement group, ``choice``
    over all spots, raw 0-255 digits added onto a float canvas clipped at 1 after each one."""
    r = np.random.RandomState(seed)
    digit_lists = np.array([r.permutation(list(range(len(x)))) for _ in range(n_digits)]).T
    clutter_lists = np.array([r.permutation(list(range(len(x)))) for _ in range(n_clutter)]).T

    def put(img, objects, s):
        rs = np.random.RandomState(s)
        size = objects[0].shape[0]
        P = canvas - size + 1
        spots = np.arange(P * P).reshape(P, P)
        where = []
        for obj in objects:
            k = rs.choice(spots.flatten())
            yy, xx = k // P, k % P
            where.append((yy, xx))
            img[yy:yy + size, xx:xx + size] += obj
            img = np.minimum(np.ones_like(img), img)
        return img, where

    images, labels, coords = [], [], []
    for k in range(n_canvases):
        img = np.zeros((canvas, canvas))
        img, where = put(img, [x[i] for i in digit_lists[k]], r.randint(1e9))
        img, _ = put(img, [cv2.resize(x[i], dsize=(clutter_size, clutter_size)) for i in clutter_lists[k]],
                     r.randint(1e9))
        images.append(img)
        labels.append([y[i] for i in digit_lists[k]])
        coords.append(where)
    return np.array(images), np.array(labels), np.array(coords)


@pytest.fixture(scope="module")
def digits():
    return fake_digits(15, 3)


@pytest.fixture
def tiny_mnist(tmp_path):
    (xtr, ytr), (xte, yte) = fake_digits(20, 0), fake_digits(10, 1)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return path, ((xtr, ytr), (xte, yte))


@pytest.mark.parametrize("n_digits, canvas", [(1, 100), (2, 100), (2, 40)])
def test_matches_2019_recipe(digits, n_digits, canvas):
    x, y = digits
    ref = recipe_2019(x, y, 15, 1234, n_digits, canvas=canvas)
    ours = cluttered_canvases(x, y, 15, 1234, n_digits=n_digits, canvas=canvas)
    assert ours[0].dtype == np.uint8
    assert np.array_equal(ours[0], ref[0]), "canvas pixels differ from the 2019 recipe"
    assert np.array_equal(ours[1], ref[1]) and np.array_equal(ours[2], ref[2])
    # fewer canvases = a prefix of the full split
    part = cluttered_canvases(x, y, 4, 1234, n_digits=n_digits, canvas=canvas)
    assert np.array_equal(part[0], ours[0][:4]) and np.array_equal(part[2], ours[2][:4])


def test_no_clutter(digits):
    x, y = digits
    imgs, labels, coords = cluttered_canvases(x, y, 20, 5, n_clutter=0)
    check_canvases(imgs, labels, coords, x, y, 1)
    drawn = _plan(len(x), 20, 5, n_digits=1, n_clutter=0)[0][:, 0]
    assert imgs.sum(axis=(1, 2)).tolist() == (x[drawn] > 0).sum(axis=(1, 2)).tolist()  # the digit, nothing else


def test_split_seeds_are_first_two_draws():
    r = np.random.RandomState(42)
    assert split_seeds(42) == (r.randint(1e9), r.randint(1e9))


def test_real_digits_match_recipe():
    path = require_shared("data/mnist/mnist-subset.npz")
    d = np.load(path)
    x, y = d["x_test"], d["y_test"]
    test_seed = split_seeds(42)[1]
    ref = recipe_2019(x, y, 12, test_seed, 2)
    ours = cluttered_canvases(x, y, 12, test_seed, n_digits=2)
    assert np.array_equal(ours[0], ref[0]) and np.array_equal(ours[2], ref[2])


def test_more_canvases_than_digits_reuse_them_afresh(digits):
    x, y = digits
    imgs, labels, coords = cluttered_canvases(x, y, 40, 5, n_digits=2)
    assert imgs.shape == (40, 100, 100) and labels.shape == (40, 2)
    first = cluttered_canvases(x, y, 15, 5, n_digits=2)
    assert np.array_equal(imgs[:15], first[0]) and np.array_equal(labels[:15], first[1])  # round 0: 2019's
    for slot in range(2):  # round 1 (from RandomState([5, 1])) shows every digit once per slot again
        assert sorted(labels[15:30, slot]) == sorted(y)
    # ... with a new partner, new clutter pieces and new positions
    digit_idx, clutter_idx, pos_seeds = _plan(15, 40, 5, n_digits=2, n_clutter=8)
    again_0 = {d: i for i, d in enumerate(digit_idx[:15, 0])}
    for i in range(15, 30):
        j = again_0[digit_idx[i, 0]]  # the round-0 canvas with the same first digit
        assert not np.array_equal(clutter_idx[i], clutter_idx[j]) and not np.array_equal(pos_seeds[i], pos_seeds[j])
    assert (digit_idx[15:30, 1] != digit_idx[:15, 1][np.argsort(digit_idx[:15, 0])][digit_idx[15:30, 0]]).any()
    again = cluttered_canvases(x, y, 33, 5, n_digits=2)  # deterministic, and fewer canvases are a prefix
    assert np.array_equal(again[0], imgs[:33]) and np.array_equal(again[2], coords[:33])
    check_canvases(imgs, labels, coords, x, y, 2)


def check_canvases(images, labels, coords, x, y, n_digits):
    """Binary; each digit's non-zero pixels sit at its coords; labels are those digits' labels."""
    assert images.dtype == np.uint8 and set(np.unique(images)) <= {0, 1}
    assert labels.shape == (len(images), n_digits) and coords.shape == (len(images), n_digits, 2)
    masks = x > 0
    for img, lab, co in zip(images, labels, coords):
        for label, (yy, xx) in zip(lab, co):
            crop = img[yy:yy + 28, xx:xx + 28].astype(bool)
            hits = [i for i in range(len(x)) if y[i] == label and (crop | ~masks[i]).all()]
            assert hits, "no digit with this label is fully drawn at its coords"


def test_cli_tiny(tiny_mnist, tmp_path):
    path, ((xtr, ytr), (xte, yte)) = tiny_mnist
    out = tmp_path / "out"
    res = subprocess.run([sys.executable, "generate_cluttered_mnist.py", "--mnist", str(path), "--out", str(out),
                          "--n-train", "20"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted([default_file_name(1), default_file_name(2)])
    for n_digits in (1, 2):
        with np.load(out / default_file_name(n_digits)) as f:
            assert sorted(f.files) == sorted(KEYS + META_KEYS + MASK_KEYS)
            assert f["x_train"].shape == (20, 100, 100) and f["x_test"].shape == (10, 100, 100)
            check_canvases(f["x_train"], f["y_train"], f["x_train_coords"], xtr, ytr, n_digits)
            check_canvases(f["x_test"], f["y_test"], f["x_test_coords"], xte, yte, n_digits)
            # the 2019 seeds and recipe
            ref = recipe_2019(xte, yte, 10, split_seeds({1: 43, 2: 42}[n_digits])[1], n_digits)
            assert np.array_equal(f["x_test"], ref[0])


def test_cli_options_and_determinism(tiny_mnist, tmp_path, capsys):
    path, mnist = tiny_mnist
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    args = ["--mnist", str(path), "--digits", "2", "--seed", "7", "--n-train", "5", "--n-test", "3",
            "--canvas", "50", "--n-clutter", "3", "--clutter-size", "5"]
    assert cli.main(args + ["--out", str(a)]) == 0
    assert cli.main(args + ["--out", str(b)]) == 0
    fa, fb = np.load(a), np.load(b)
    for k in fa.files:
        assert np.array_equal(fa[k], fb[k])
    assert fa["x_train"].shape == (5, 50, 50) and fa["x_test_coords"].shape == (3, 2, 2)
    assert (fa["x_train_coords"] <= 50 - 28).all()
    ref = generate_cluttered_mnist(mnist, 2, seed=8, n_train=5, n_test=3, canvas=50, n_clutter=3, clutter_size=5)
    assert not np.array_equal(ref["x_train"], fa["x_train"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz", "b.npz", "mnist.npz"]


def test_training_canvases_of_the_2019_size_from_fewer_digits(tiny_mnist, tmp_path, capsys):
    path, ((xtr, ytr), (xte, yte)) = tiny_mnist
    assert cli.parse_args([]).n_train == TRAIN_CANVASES_2019 == 60_000  # the 2019 size, whatever the MNIST
    args = ["--mnist", str(path), "--digits", "1", "--n-train", "50", "--n-test", "4", "--canvas", "40"]
    assert cli.main(args + ["--out", str(tmp_path / "a.npz")]) == 0
    out = capsys.readouterr().out
    assert "50 training canvases from 20 distinct digits (each used ~2.5×)" in out
    assert cli.main(args + ["--out", str(tmp_path / "b.npz")]) == 0
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        assert all(np.array_equal(a[k], b[k]) for k in KEYS + META_KEYS)  # deterministic from the seed
        assert a["x_train"].shape == (50, 40, 40) and sorted(a["y_train"][20:40, 0]) == sorted(ytr)
        check_canvases(a["x_train"], a["y_train"], a["x_train_coords"], xtr, ytr, 1)
        assert all(a[k].shape == () for k in META_KEYS)
        meta = {k: a[k].item() for k in META_KEYS}
    assert meta == {"n_distinct_train": 20, "n_distinct_test": 4, "mnist_source": "mnist.npz",
                    "mnist_train_digits": 20, "mnist_test_digits": 10,
                    "mnist_train_sha256": hashlib.sha256(xtr.tobytes()).hexdigest(),
                    "mnist_test_sha256": hashlib.sha256(xte.tobytes()).hexdigest()}
    assert str(tmp_path) not in str(meta)  # the source by name, never by path
    two = generate_cluttered_mnist(((xtr, ytr), (xte, yte)), 2, n_train=60, n_test=2, canvas=40, source="m")
    assert int(two["n_distinct_train"]) == 20 and two["y_train"].shape == (60, 2)


def test_files_with_and_without_metadata_load(tiny_mnist, tmp_path):
    _, mnist = tiny_mnist
    arrays = generate_cluttered_mnist(mnist, 2, n_train=6, n_test=3)
    assert set(META_KEYS) <= set(arrays)
    new = save_npz_atomic(tmp_path / "new.npz", arrays)
    old = save_npz_atomic(tmp_path / "old.npz", {k: arrays[k] for k in KEYS})
    a, b = (load_ct_mnist({"data_path": str(f), "train_size": 6}, INP, RUN, 0) for f in (new, old))
    assert np.array_equal(a.train.images, b.train.images) and np.array_equal(a.test.coords, b.test.coords)
    assert sorted(read_cluttered(new)) == sorted(KEYS + MASK_KEYS)
    # what a results record says of the data: the canvases, their distinct digits, the MNIST by what it is
    from stampnet.data import data_note

    note = data_note({"img_type": "ct_mnist", "img_type_parameters": {"data_path": str(new)}})
    assert note.startswith("6 training canvases (2 digits each) from ") and "an MNIST training subset of 20 digits" in note
    assert data_note({"img_type": "ct_mnist", "img_type_parameters": {"data_path": str(old)}}) is None


def test_generator_checks_the_digit_arrays_it_is_given(tiny_mnist):
    _, ((xtr, ytr), (xte, yte)) = tiny_mnist
    as_unit = generate_cluttered_mnist(((xtr / 255.0, ytr), (xte / 255.0, yte)), 1, n_train=5, n_test=3)
    ref = generate_cluttered_mnist(((xtr, ytr), (xte, yte)), 1, n_train=5, n_test=3)
    for k in KEYS:
        assert np.array_equal(as_unit[k], ref[k]), k  # floats in [0, 1] are the same digits, not near-empty ones
    for bad, match in ((np.zeros((20, 40, 40), np.uint8), r"shape \(20, 40, 40\)"),
                       (np.zeros((20, 4, 4), np.uint8), r"shape \(20, 4, 4\)"),
                       (np.zeros((20, 0, 0), np.uint8), r"shape \(20, 0, 0\)"),
                       (xtr.astype(str), "not numbers")):
        with pytest.raises(ConfigError, match=rf"^MNIST train images from digit arrays [^\n]*{match}"):
            generate_cluttered_mnist(((bad, ytr), (xte, yte)), 1, n_train=5, n_test=3)
    with pytest.raises(ConfigError, match="no training digits"):
        generate_cluttered_mnist(((xtr[:0], ytr[:0]), (xte, yte)), 1, n_train=5, n_test=3)


@pytest.mark.parametrize("extra, match", [
    (["--mnist", "/nonexistent/mnist.npz"], "does not exist"),
    (["--n-train", "0"], "argument --n-train"),
    (["--clutter-size", "200"], "clutter does not fit"),
    (["--canvas", "20"], "digits do not fit"),
    (["--n-clutter", "-1"], "argument --n-clutter"),
    (["--seed", "-3"], "--seed"),
    (["--out", "x.npz"], "add --digits"),
])
def test_cli_errors_in_process(tiny_mnist, tmp_path, capsys, extra, match):
    path, _ = tiny_mnist
    args = ["--mnist", str(path), "--out", str(tmp_path / "o")] + extra
    try:
        code = cli.main(args)
    except SystemExit as exit_:  # argparse's own exit for a bad option value
        code = exit_.code
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and match in err
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").iterdir())


def test_cli_error_subprocess_no_traceback(tmp_path):
    res = subprocess.run([sys.executable, "generate_cluttered_mnist.py", "--mnist", str(tmp_path / "none.npz"),
                          "--out", str(tmp_path)], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert res.returncode == 2 and "Traceback" not in res.stderr
    assert res.stderr.strip().count("\n") == 0 and "~/.keras/datasets/" in res.stderr


def test_cli_test_digits_only_folder(tmp_path, capsys):
    from test_data_mnist import idx_folder

    (xtr, ytr), (xte, yte) = fake_digits(3, 0), fake_digits(3, 1)
    (tmp_path / "idx").mkdir()
    idx_folder(tmp_path / "idx", (xtr, ytr, xte, yte), only_test=True)
    assert cli.main(["--mnist", str(tmp_path / "idx"), "--out", str(tmp_path / "o")]) == 2
    assert "no training digits" in capsys.readouterr().err


@pytest.mark.parametrize("exc", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_atomic_write(tmp_path, monkeypatch, exc):
    target = tmp_path / "f.npz"
    target.write_bytes(b"old")
    calls = []

    def failing(f, arr, allow_pickle=False):
        calls.append(1)
        f.write(b"x" * 100)
        if len(calls) == 2:
            raise exc

    monkeypatch.setattr(np.lib.format, "write_array", failing)
    with pytest.raises(type(exc)):
        save_npz_atomic(target, {"a": np.zeros(3), "b": np.zeros(3)})
    assert [p.name for p in tmp_path.iterdir()] == ["f.npz"] and target.read_bytes() == b"old"


# ---- loader --------------------------------------------------------------------------------------------


@pytest.fixture
def ct_file(tmp_path, tiny_mnist):
    _, mnist = tiny_mnist
    arrays = generate_cluttered_mnist(mnist, 2, seed=3, n_train=10, n_test=6)
    path = save_npz_atomic(tmp_path / "ct.npz", arrays)
    return path, arrays


def test_loader(ct_file):
    path, arrays = ct_file
    s = load_ct_mnist({"data_path": str(path), "train_size": 8}, INP, RUN, 0)
    assert s.train.images.shape == (8, 100, 100, 1) and s.train.images.dtype == np.float32
    assert np.array_equal(s.train.images[..., 0], arrays["x_train"][:8])
    assert s.test.images.shape == (6, 100, 100, 1) and s.test.labels.shape == (6, 2)
    assert s.test.coords.shape == (6, 2, 2) and s.test.coords.dtype == np.int64
    assert set(np.unique(s.test.images)) <= {0.0, 1.0}


def test_loader_default_train_size_cycles(ct_file):
    path, arrays = ct_file
    with pytest.warns(UserWarning, match="cycling"):
        s = load_ct_mnist({"data_path": str(path)}, {**INP, "batch_size": 4}, {"steps_per_epoch": 3,
                                                                                "validation_steps": 1}, 0)
    assert len(s.train) == 16 and np.array_equal(s.train.images[10:, ..., 0], arrays["x_train"][:6])


def test_loader_2019_layout(tmp_path):
    # 2019 1-digit files: float64 (N, 100, 100), labels (N,), coords (N, 2)
    rng = np.random.default_rng(0)
    x = (rng.random((5, 100, 100)) > 0.9).astype(np.float64)
    path = tmp_path / "old.npz"
    np.savez_compressed(path, x_train=x, y_train=np.arange(5), x_test=x[:2], y_test=np.arange(2),
                        x_train_coords=np.ones((5, 2), int), x_test_coords=np.ones((2, 2), int))
    s = load_ct_mnist({"data_path": str(path), "train_size": 5}, INP, RUN, 0)
    assert s.train.labels.shape == (5, 1) and s.train.coords.shape == (5, 1, 2)
    assert np.array_equal(s.train.images[..., 0], x.astype(np.float32))


def test_loader_errors(tmp_path, ct_file):
    path, arrays = ct_file
    load = lambda p, inp=INP: load_ct_mnist({"data_path": str(p), "train_size": 2}, inp, RUN, 0)
    with pytest.raises(ConfigError, match="python generate_cluttered_mnist.py.*--mnist"):
        load(tmp_path / "missing.npz")
    with pytest.raises(ConfigError, match="data_path"):
        load_ct_mnist({}, INP, RUN, 0)
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"PK\x03\x04 broken")
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load(bad)
    half = tmp_path / "half.npz"
    half.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load(half)
    flipped = bytearray(path.read_bytes())
    for i in range(len(flipped) // 3, len(flipped) // 3 + 64):
        flipped[i] ^= 0xFF
    corrupt = tmp_path / "corrupt.npz"
    corrupt.write_bytes(bytes(flipped))
    with pytest.raises(ConfigError, match="not a readable .npz"):
        load(corrupt)
    keys = tmp_path / "keys.npz"
    np.savez(keys, **{k: v for k, v in arrays.items() if k != "x_test_coords"})
    with pytest.raises(ConfigError, match="lacks the keys.*x_test_coords"):
        load(keys)
    with pytest.raises(ConfigError, match="img_rows/img_cols are 84x84"):
        load(path, {**INP, "img_rows": 84, "img_cols": 84})
    flat = tmp_path / "flat.npz"
    np.savez(flat, **{**arrays, "x_test": arrays["x_test"].reshape(6, -1)})
    with pytest.raises(ConfigError, match="expected \\(N, H, W\\)"):
        load(flat)
    mism = tmp_path / "mism.npz"
    np.savez(mism, **{**arrays, "y_test": arrays["y_test"][:3]})
    with pytest.raises(ConfigError, match="disagree"):
        load(mism)


def test_loader_relative_to_the_current_folder(ct_file, monkeypatch, tmp_path):
    path, _ = ct_file
    monkeypatch.chdir(path.parent)
    s = load_ct_mnist({"data_path": "ct.npz", "train_size": 2}, INP, RUN, 0)
    assert len(s.train) == 2
    monkeypatch.chdir(REPO_ROOT)  # not found from another folder
    with pytest.raises(ConfigError):
        load_ct_mnist({"data_path": "ct.npz", "train_size": 2}, INP, RUN, 0)


def test_npz_is_standard(ct_file):
    path, arrays = ct_file
    with zipfile.ZipFile(path) as zf:
        assert sorted(zf.namelist()) == sorted(f"{k}.npy" for k in arrays)
    with np.load(path) as f:
        assert f["x_train"].dtype == np.uint8 and f["y_train"].dtype == np.int64


def test_the_test_split_carries_the_digits_masks():
    """The test canvases' true segmentation: each digit's own ink pixels, the clutter background."""
    from stampnet.data.cluttered import generate_cluttered_mnist

    rng = np.random.default_rng(0)
    digits = (rng.random((30, 28, 28)) > 0.7).astype(np.uint8) * 255
    labels = np.arange(30) % 10
    out = generate_cluttered_mnist(((digits, labels), (digits, labels)), n_digits=2, seed=1, n_train=10,
                                   n_test=12)
    masks, images, coords = out["masks_test"], out["x_test"], out["x_test_coords"]
    assert masks.shape == images.shape and set(np.unique(masks)) <= {0, 1, 2}
    assert (images[masks > 0] == 1).all()                     # a digit pixel is ink
    assert ((images == 1) & (masks == 0)).any()                # clutter is ink left as background
    for i in range(12):
        for j in range(2):
            y, x = coords[i, j]
            inside = np.zeros(masks[i].shape, bool)
            inside[y:y + 28, x:x + 28] = True
            assert not ((masks[i] == j + 1) & ~inside).any()  # a digit's mask stays in its box
    assert "masks_train" not in out
