"""The pedestrian, Omniglot and your-own-images scripts run end to end (a few steps) and evaluate."""
import json

import cv2
import numpy as np
import pytest

from stampnet.evaluate import main as evaluate
from tests.conftest import load_script, run_script_here
from tests.test_omniglot import make_zip

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")

SHORT = ["run_parameters.epochs=1", "run_parameters.steps_per_epoch=2", "run_parameters.validation_steps=1",
         "run_parameters.checkpoint_period=1", "run_parameters.n_figure_images=2",
         "layer_parameters.input_parameters.batch_size=8"]


def _train_and_evaluate(script, extra, cwd, capsys, monkeypatch):
    """The script with its command line (what is tested), then ``stampnet.evaluate``'s command line, both in
    this process (TensorFlow is loaded here already), in the folder the script ran in (its data paths are
    relative to it)."""
    code = run_script_here(script, ["with", *SHORT, *extra], cwd, monkeypatch)
    assert code == 0, capsys.readouterr().err[-3000:]
    run = cwd / "runs" / script[:-3] / "1"
    assert (run / "figures" / "stamps.png").is_file()
    capsys.readouterr()
    assert evaluate([str(run), "--json"]) == 0
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_pedestrian_script_on_synthetic_data(tmp_path, capsys, monkeypatch):
    m = _train_and_evaluate("pedestrian.py", ["run_parameters.img_type_parameters.synthetic_n=40"], tmp_path,
                            capsys, monkeypatch)
    assert (tmp_path / "data" / "pedestrian" / "ped_info.json").is_file()   # generated on first use
    assert m["n_images"] == 8 and 0 <= m["cor_loc"] <= 1 and 0 <= m["iou"] <= 1
    assert m["purity"] is not None and m["nmi"] is None                     # pedestrian variant
    # where the stamps draw inside their square: the same CorLoc as evaluate, and the ink-centred one beside it
    run = tmp_path / "runs" / "pedestrian" / "1"
    load_script("scripts/stamp_offsets.py").main([str(run)])
    out = capsys.readouterr().out
    assert f"CorLoc {m['cor_loc']:.4f}" in out and "ink-centred CorLoc" in out
    assert (run / "figures" / "stamp_offsets.png").stat().st_size > 1000


def test_stamp_offsets_ink_centroid_is_measured_from_the_stamp_centre():
    stamps = np.zeros((3, 5, 5), "float32")
    stamps[0, 0, 0] = 1.0                      # the upper-left corner: (-2, -2) from the centre
    stamps[1, 2, 1:4] = 0.5                    # a bar through the centre
    centroids = load_script("scripts/stamp_offsets.py").ink_centroids(stamps)
    np.testing.assert_allclose(centroids, [[-2, -2], [0, 0], [0, 0]])  # stamp 2 has no ink


def test_omniglot_script_reports_kmeans_rows(tmp_path, capsys, monkeypatch):
    make_zip(tmp_path / "tiny_omniglot.zip")
    m = _train_and_evaluate("omniglot.py", ["run_parameters.img_type_parameters.data_path='tiny_omniglot.zip'",
                                            "run_parameters.img_type_parameters.alphabets=None",
                                            "layer_parameters.decoder_parameters.nr_of_stamps=5"], tmp_path,
                           capsys, monkeypatch)
    methods = [row["method"] for row in m["kmeans"]]
    assert methods[0] == "StampNet" and any("centred" in x for x in methods) and any("canvases" in x for x in methods)
    assert all(0 <= row["nmi"] <= 1 for row in m["kmeans"])
    figures = tmp_path / "runs" / "omniglot" / "1" / "figures"
    assert (figures / "stamps_vs_kmeans.png").is_file() and (figures / "typical_canvases.png").is_file()


def test_folder_script_on_own_images(tmp_path, capsys, monkeypatch):
    rng = np.random.default_rng(0)
    for i in range(12):
        img = np.zeros((90, 120), np.uint8)
        y, x = rng.integers(10, 70), rng.integers(10, 100)
        cv2.circle(img, (int(x), int(y)), 8, 255, -1)
        (tmp_path / "mine" / f"set{i % 2}").mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(tmp_path / "mine" / f"set{i % 2}" / f"img{i}.png"), img)
    m = _train_and_evaluate("folder.py", ["run_parameters.img_type_parameters.data_path='mine'"], tmp_path, capsys,
                            monkeypatch)
    assert m["n_images"] >= 2 and m["avg_total_mse"] >= 0
    assert m["cor_loc"] is None and m["nmi"] is None and len(m["stamp_usage"]) == 3  # unlabelled: no localisation
