"""Tetrominoes: the look-alike generator, the official file format (read without TensorFlow, checked against
DeepMind's feature spec with TensorFlow), bad files, and a quick run trained and evaluated on TensorFlow and JAX."""
import dataclasses
import gzip
import json

import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.data import carries, load_data
from stampnet.data.multi_object import Schema, canvases, write_official
from stampnet.data.tetrominoes import COLOURS, N_CLASSES, PIECES, SCHEMA, generate, labels

INPUT = {"img_rows": 35, "img_cols": 35, "img_channels": 3, "batch_size": 8}
RUN = {"steps_per_epoch": 2, "validation_steps": 1}


def scenes(n=12, seed=0):
    return generate(n, np.random.default_rng(seed))


def test_the_nineteen_fixed_pieces():
    assert len(PIECES) == 19 and N_CLASSES == 114
    assert len({tuple(map(tuple, p.tolist())) for p in PIECES}) == 19
    assert all(len(p) == 4 for p in PIECES)


def test_look_alike_scenes_and_their_masks():
    s = scenes(50)
    assert s["image"].shape == (50, 35, 35, 3) and s["image"].dtype == np.uint8
    assert s["mask"].shape == (50, 4, 35, 35)
    fg = s["mask"][:, 1:] > 0
    assert (fg.sum(axis=1) <= 1).all()                       # pieces never overlap
    assert (fg.reshape(50, 3, -1).sum(axis=2) == 4 * 25).all()  # four 5×5 blocks each
    assert ((s["mask"][:, 0] > 0) == ~fg.any(axis=1)).all()  # the background is everything else
    assert ((s["image"].max(axis=-1) > 0) == fg.any(axis=1)).all()
    c = canvases(s, labels, 20, 3, with_masks=True)
    assert c.labels.shape == (50, 3) and c.labels.min() >= 0 and c.labels.max() < N_CLASSES
    # each object's mask number is its position in labels/coords: its colour is its label's colour
    for i in range(5):
        for j in range(3):
            colour = COLOURS[c.labels[i, j] % 6]
            assert np.allclose(c.images[i][c.masks[i] == j + 1], colour)
    # the box square (20 px) is centred on the piece
    ys, xs = np.nonzero(c.masks[0] == 1)
    centre = ((ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2)
    assert abs(c.coords[0, 0, 0] + 9.5 - centre[0]) <= 0.5 and abs(c.coords[0, 0, 1] + 9.5 - centre[1]) <= 0.5


def test_the_official_file_round_trips_through_the_loader(tmp_path):
    s = scenes(20, seed=4)
    path = write_official(tmp_path / "tetrominoes_train.tfrecords", s, SCHEMA)
    rp = {**RUN, "img_type": "tetrominoes",
          "img_type_parameters": {"data_path": str(path), "test_size": 5, "train_size": 15}}
    splits = load_data(rp, INPUT, 0)
    expect = canvases(s, labels, 20, 3, with_masks=True)
    assert len(splits.test) == 5 and len(splits.train) == 15
    np.testing.assert_array_equal(splits.test.images, expect.images[:5])
    np.testing.assert_array_equal(splits.test.masks, expect.masks[:5])
    np.testing.assert_array_equal(splits.train.labels, expect.labels[5:])
    assert splits.train.masks is None          # masks are for measuring: the training split leaves them out
    assert carries("tetrominoes").masks and carries("tetrominoes").colour


def test_our_file_is_what_deepminds_reader_parses(tmp_path):
    tf = pytest.importorskip("tensorflow")
    s = scenes(3, seed=5)
    path = write_official(tmp_path / "t.tfrecords", s, SCHEMA)
    # DeepMind's tetrominoes.py feature spec
    features = {
        "image": tf.io.FixedLenFeature([35, 35, 3], tf.string),
        "mask": tf.io.FixedLenFeature([4, 35, 35, 1], tf.string),
        "x": tf.io.FixedLenFeature([4], tf.float32), "y": tf.io.FixedLenFeature([4], tf.float32),
        "shape": tf.io.FixedLenFeature([4], tf.float32), "color": tf.io.FixedLenFeature([4, 3], tf.float32),
        "visibility": tf.io.FixedLenFeature([4], tf.float32),
    }
    for i, raw in enumerate(tf.data.TFRecordDataset(str(path), compression_type="GZIP")):
        ex = tf.io.parse_single_example(raw, features)
        image = tf.squeeze(tf.io.decode_raw(ex["image"], tf.uint8), axis=-1).numpy()
        mask = tf.squeeze(tf.io.decode_raw(ex["mask"], tf.uint8), axis=-1).numpy()
        np.testing.assert_array_equal(image, s["image"][i])
        np.testing.assert_array_equal(mask[..., 0], s["mask"][i])
        np.testing.assert_array_equal(ex["color"].numpy(), s["color"][i])


def _load(path, **params):
    rp = {**RUN, "img_type": "tetrominoes", "img_type_parameters": {"data_path": str(path), "test_size": 2,
                                                                     "train_size": 6, **params}}
    return load_data(rp, INPUT, 0)


def test_bad_files_are_one_line_each(tmp_path):
    with pytest.raises(ConfigError, match="no TFRecord file at"):
        _load(tmp_path / "missing.tfrecords")
    good = write_official(tmp_path / "good.tfrecords", scenes(8), SCHEMA)
    cut = tmp_path / "cut.tfrecords"
    cut.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 2])
    with pytest.raises(ConfigError, match="not a readable GZIP|cut short"):
        _load(cut)
    raw = gzip.decompress(good.read_bytes())
    inner = tmp_path / "inner.tfrecords"
    inner.write_bytes(gzip.compress(raw[: len(raw) - 100]))        # a valid gzip of a cut record stream
    with pytest.raises(ConfigError, match="cut short"):
        _load(inner)
    (tmp_path / "text.tfrecords").write_text("<html>not found</html>")
    with pytest.raises(ConfigError, match="not a readable GZIP"):
        _load(tmp_path / "text.tfrecords")
    # another data set: Multi-dSprites' layout (masks entity-last, 64×64, one channel) in the file
    other = Schema("multi_dsprites", size=64, channels=1, entities=4, mask_entity_first=False,
                   factor_shapes={"x": (), "y": (), "shape": (), "color": (1,), "visibility": ()})
    odd = {"image": np.zeros((3, 64, 64, 1), np.uint8), "mask": np.zeros((3, 4, 64, 64), np.uint8),
           **{k: np.zeros((3, 4, *v), np.float32) for k, v in other.factor_shapes.items()}}
    write_official(tmp_path / "other.tfrecords", odd, other)
    with pytest.raises(ConfigError, match="another data set or variant"):
        _load(tmp_path / "other.tfrecords")
    # a mask of the wrong size: five entities where Tetrominoes has four
    five = dataclasses.replace(SCHEMA, entities=5)
    s = scenes(8)
    s5 = {**s, "mask": np.concatenate([s["mask"], np.zeros_like(s["mask"][:, :1])], axis=1),
          **{k: np.concatenate([s[k], np.zeros_like(s[k][:, :1])], axis=1) for k in SCHEMA.factor_shapes}}
    write_official(tmp_path / "five.tfrecords", s5, five)
    with pytest.raises(ConfigError, match="'mask' holds"):
        _load(tmp_path / "five.tfrecords")


def test_the_model_must_take_colour_canvases():
    rp = {**RUN, "img_type": "tetrominoes", "img_type_parameters": {"test_size": 2, "train_size": 4}}
    with pytest.raises(ConfigError, match="img_channels=3"):
        load_data(rp, {**INPUT, "img_channels": 1}, 0)


QUICK = ["run_parameters.epochs=1", "run_parameters.steps_per_epoch=2", "run_parameters.validation_steps=1",
         "run_parameters.img_type_parameters.test_size=8", "run_parameters.img_type_parameters.train_size=24",
         "layer_parameters.input_parameters.batch_size=8", "layer_parameters.decoder_parameters.nr_of_stamps=5",
         "layer_parameters.decoder_parameters.colour_choices=3"]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_an_official_file_trains_and_evaluates(tmp_path, backend, capsys, monkeypatch):
    """A file in the official schema is read, trained on with ``quick`` (grey stamps with colour choices) and
    evaluated: ARI-FG reported, purity over the slots' (stamp, colour) pairs k·P + p. On
    TensorFlow the script and evaluate's command line run in this process (TensorFlow is loaded here already); on
    JAX in subprocesses without TensorFlow."""
    from stampnet.evaluate import main as evaluate
    from tests.conftest import REPO_ROOT, run_experiment, run_script_here, tf_quiet_lines

    env = {}
    if backend == "jax":
        from tests.test_backends import requires, without_tensorflow

        requires("jax")
        env = without_tensorflow("jax", tmp_path)
    path = write_official(tmp_path / "tetrominoes_train.tfrecords", scenes(32, seed=9), SCHEMA)
    args = ["with", "quick", f"run_parameters.img_type_parameters.data_path={path}", *QUICK]
    if backend == "tensorflow":
        code = run_script_here("tetrominoes.py", args, tmp_path, monkeypatch)
        assert code == 0, "\n".join(tf_quiet_lines(capsys.readouterr().err)[-20:])
    else:
        proc = run_experiment(args, tmp_path, script="tetrominoes.py", **env)
        assert proc.returncode == 0, "\n".join(tf_quiet_lines(proc.stderr)[-20:])
    run_dir = tmp_path / "runs" / "tetrominoes" / "1"
    if backend == "tensorflow":
        capsys.readouterr()
        assert evaluate([str(run_dir), "--json"]) == 0, capsys.readouterr().err[-2000:]
    else:
        proc = run_experiment(["-m", "stampnet.evaluate", str(run_dir), "--json"], tmp_path, script=None, **env)
        assert proc.returncode == 0, "\n".join(tf_quiet_lines(proc.stderr)[-20:])
    measures = json.loads((run_dir / "measures.json").read_text())
    assert 0.0 <= measures["ari_fg"] <= 1.0 and measures["miou"] is not None and measures["n_images"] == 8
    assert (run_dir / "figures" / "segmentation.png").is_file() and (run_dir / "figures" / "stamps.png").is_file()
    assert 0.0 <= measures["purity"] <= 1.0
    from stampnet.evaluate import measure, test_split  # the same measures here, the classes being 5 · 3 pairs
    from stampnet.runs import load_run

    run = load_run(run_dir)
    again, out = measure(run, test_split(run.spec))
    assert out["stamp_probs"].shape == (8, 3, 15) and out["stamps"].shape == (15, 20, 20, 3)
    if backend == "tensorflow":  # the same Gumbel noise: the same numbers (JAX draws its own)
        assert again["purity"] == pytest.approx(measures["purity"]) and again["ari_fg"] == pytest.approx(
            measures["ari_fg"])
    assert str(REPO_ROOT)  # the experiment ran from the repository's script
