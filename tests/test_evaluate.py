"""python -m stampnet.evaluate: repeatable (seeded test-time noise), compiled, measures per checkpoint, and one
``error:`` line for every bad option."""
import csv
import json

import keras
import numpy as np
import pytest

from stampnet.evaluate import evaluate, main
from stampnet.model import predict
from stampnet.model import analysis_model, build_model, set_noise, set_temperature
from tests.tiny import TINY


def test_two_evaluations_agree_exactly(tiny_run, tmp_path):
    """The same call twice (default seed): the same measures.json, bit for bit; another seed draws other noise."""
    texts = []
    for name in ("a.json", "b.json"):
        assert main([str(tiny_run), "--json", "--out", str(tmp_path / name)]) == 0
        texts.append((tmp_path / name).read_text())
    assert texts[0] == texts[1]
    assert json.loads(texts[0])["seed"] == 0
    a = evaluate(tiny_run, tau=1.0)["outputs"]
    b = evaluate(tiny_run, tau=1.0)["outputs"]
    c = evaluate(tiny_run, tau=1.0, seed=1)["outputs"]
    for key in a:
        np.testing.assert_array_equal(a[key], b[key])
    assert not np.array_equal(a["stamp_probs"], c["stamp_probs"])


def test_compiled_predict_follows_the_noise_switch():
    """predict runs Keras' compiled predict function; switching the noise off after it was traced takes effect
    (the switch is a variable), and equals the eager noiseless forward pass."""
    model = build_model(TINY["layer_parameters"], compile=False)
    images = np.random.default_rng(0).random((20, 32, 32, 1)).astype("float32")
    net = analysis_model(model)
    noisy = predict(model, images, tau=1.0, batch_size=8, noise=True, net=net)
    clean = predict(model, images, tau=1.0, batch_size=8, noise=False, net=net)
    assert net.predict_function is not None  # compiled (traced), reused across both calls
    set_temperature(model, 1.0)
    set_noise(model, False)
    eager = {k: keras.ops.convert_to_numpy(v) for k, v in net(images, training=False).items()}
    for key in ("stamp_probs", "y_probs", "reconstruction"):
        np.testing.assert_allclose(clean[key], eager[key], rtol=1e-5, atol=1e-6)
    assert not np.allclose(noisy["stamp_probs"], clean["stamp_probs"])


def test_noise_switch_is_not_in_weight_files(tmp_path):
    """The noise variable is run-time state: weight files keep their layout, old and new load into each other."""
    model = build_model(TINY["layer_parameters"], compile=False)
    set_noise(model, False)
    model.save_weights(str(tmp_path / "w.weights.h5"))
    other = build_model(TINY["layer_parameters"], compile=False)
    other.load_weights(str(tmp_path / "w.weights.h5"))
    layer = other.get_layer("softmax_stamp")
    assert layer.noise is True  # not taken from the file
    assert layer.get_config()["noise"] is True
    import h5py

    with h5py.File(tmp_path / "w.weights.h5", "r") as f:  # Keras names the layers by class: gumbel_softmax[_N]
        stored = {name: sorted(group["vars"].keys()) for name, group in f["layers"].items() if "gumbel" in name}
    assert stored == {name: ["0"] for name in ("gumbel_softmax", "gumbel_softmax_1", "gumbel_softmax_2")}  # τ only


def test_measures_by_epoch(tiny_run, capsys):
    assert main([str(tiny_run), "--epochs", "all"]) == 0
    out = capsys.readouterr().out
    # the columns: the measures declared by_epoch (stampnet.metrics.MEASURES) that the run's data allow, in order
    assert out.splitlines()[0].split()[:9] == ["epoch", "training_canvases", "ari_fg", "miou", "cor_loc", "iou",
                                               "cor_loc_ink", "iou_ink", "stamp_offset"]
    rows = json.loads((tiny_run / "measures_by_epoch.json").read_text())
    steps, batch = TINY["run_parameters"]["steps_per_epoch"], TINY["layer_parameters"]["input_parameters"]["batch_size"]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert [r["training_canvases"] for r in rows] == [steps * batch, 2 * steps * batch]
    assert rows[1]["weights"].split("/")[-1].startswith("weights.02-") and rows[0]["seed"] == 0
    with open(tiny_run / "measures_by_epoch.csv") as f:
        table = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in table] == [1, 2] and float(table[1]["iou"]) == rows[1]["iou"]
    assert (tiny_run / "figures" / "quality_by_epoch.png").stat().st_size > 1000
    # A chosen epoch gives the same numbers as measuring that checkpoint alone.
    single = evaluate(tiny_run, epoch=1)["measures"]
    assert single["cor_loc"] == rows[0]["cor_loc"] and single["avg_total_mse"] == rows[0]["avg_total_mse"]


def test_precise_bn_recomputes_the_statistics_and_leaves_the_weight_file(tiny_run, tmp_path):
    """--precise-bn N: the measures of the checkpoint with BatchNorm statistics recomputed without dropout on N
    training canvases (recorded as precise_bn); the weight file is unchanged; without it, no such key."""
    files = {p: p.read_bytes() for p in (tiny_run / "trained").glob("*.weights.h5")}
    plain = evaluate(tiny_run)
    precise = evaluate(tiny_run, precise_bn=32)
    assert "precise_bn" not in plain["measures"] and precise["measures"]["precise_bn"] == 32
    variance = keras.ops.convert_to_numpy
    moved = [np.max(np.abs(variance(a.moving_variance) - variance(b.moving_variance)))
             for a, b in zip(plain["run"].model.layers, precise["run"].model.layers)
             if isinstance(a, keras.layers.BatchNormalization)]
    assert max(moved) > 1e-3
    assert {p: p.read_bytes() for p in files} == files
    assert main([str(tiny_run), "--epochs", "all", "--precise-bn", "32", "--out", str(tmp_path / "new")]) == 0
    rows = json.loads((tmp_path / "new" / "measures_by_epoch.json").read_text())  # a new --out folder is made
    assert [r["precise_bn"] for r in rows] == [32, 32]
    assert rows[-1]["avg_total_mse"] == pytest.approx(precise["measures"]["avg_total_mse"])


def one_error_line(capsys, argv, match):
    """main(argv) fails with exit code 2 and exactly one stderr line, ``error: …match…``."""
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert match in err, err
    return err


@pytest.mark.parametrize("out", ["file", "missing/deeper"])
def test_epochs_out_must_be_a_folder_in_an_existing_one(tiny_run, tmp_path, capsys, out):
    (tmp_path / "file").write_text("x")
    one_error_line(capsys, [str(tiny_run), "--epochs", "all", "--out", str(tmp_path / out)],
                   "argument --out: with --epochs give a folder (made if new) inside an existing one")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


@pytest.mark.parametrize("option, value, match", [
    ("--tau", "0", "argument --tau: must be a number > 0"),
    ("--tau", "-1", "argument --tau: must be a number > 0"),
    ("--tau", "nan", "argument --tau: must be a number > 0"),
    ("--tau", "abc", "argument --tau: must be a number > 0"),
    ("--limit", "0", "argument --limit: must be an integer >= 1"),
    ("--precise-bn", "-5", "argument --precise-bn: must be an integer >= 1"),
    ("--batch-size", "-5", "argument --batch-size: must be an integer >= 1"),
    ("--seed", "-1", "argument --seed: must be an integer >= 0"),
    ("--seed", str(2 ** 32), "argument --seed: must be below 2**32"),
    ("--epoch", "zero", "argument --epoch: must be an integer >= 1"),
    ("--epochs", "ten", "epochs must be 'all' or epochs >= 1 separated by commas"),
    ("--epochs", "1,7", "no checkpoint for epoch(s) 7 in"),
    ("--out", "/nonexistent/folder/m.json", "argument --out: the folder '/nonexistent/folder' does not exist"),
    ("--matching", "best", "argument --matching: invalid choice"),
])
def test_bad_option_is_one_error_line(tiny_run, capsys, option, value, match):
    before = sorted(p.name for p in tiny_run.rglob("*"))
    one_error_line(capsys, [str(tiny_run), option, value], match)
    assert sorted(p.name for p in tiny_run.rglob("*")) == before  # nothing written


def test_epoch_and_epochs_exclude_each_other(tiny_run, capsys):
    one_error_line(capsys, [str(tiny_run), "--epoch", "1", "--epochs", "all"], "not allowed with argument")


def test_precise_bn_and_its_dropout_control(tiny_run):
    """--precise-bn N recomputes the statistics without dropout before measuring, --precise-bn-dropout with it
    (the control); the weights file and the run stay as they were."""
    before = sorted((p.name, p.stat().st_mtime_ns) for p in tiny_run.rglob("*"))
    plain = evaluate(tiny_run, limit=16)["measures"]
    recomputed = evaluate(tiny_run, limit=16, precise_bn=16)["measures"]
    control = evaluate(tiny_run, limit=16, precise_bn=16, precise_bn_dropout=True)["measures"]
    assert "precise_bn" not in plain and recomputed["precise_bn"] == 16 and not recomputed["precise_bn_dropout"]
    assert control["precise_bn_dropout"] is True
    assert recomputed["avg_total_mse"] != plain["avg_total_mse"]
    assert sorted((p.name, p.stat().st_mtime_ns) for p in tiny_run.rglob("*")) == before


def test_precise_bn_dropout_needs_precise_bn(tiny_run, capsys):
    one_error_line(capsys, [str(tiny_run), "--precise-bn-dropout"], "control of --precise-bn N")