"""End to end: a Sacred run of a tiny config from the command line writes the whole run folder."""
import json

import pytest

from tests.tiny import TINY, overrides, run_script

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")


def test_sacred_run_writes_complete_run_folder(tmp_path):
    proc = run_script("simple_shapes_2.py", ["with", *overrides(TINY), "run_parameters.epochs=3", "seed=11"],
                      tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = tmp_path / "runs" / "simple_shapes_2" / "1"
    for name in ("config.json", "run.json", "cout.txt", "metrics.json"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == 11 and config["run_parameters"]["epochs"] == 3           # overrides applied
    assert config["layer_parameters"]["decoder_parameters"]["stamp_size"] == 8
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("loss", "val_loss", "tau"):
        assert metrics[key]["steps"] == [1, 2, 3], key
    assert metrics["tau"]["values"][0] > metrics["tau"]["values"][-1]
    weights = sorted(p.name for p in (run / "trained").glob("*.weights.h5"))
    assert [w.split("-")[0] for w in weights] == ["weights.01", "weights.02", "weights.03"]
    assert any((run / "board").rglob("events.out.tfevents.*"))
    for fig in ("stamps.png", "reconstructions.png", "training_curves.png"):
        assert (run / "figures" / fig).stat().st_size > 1000
    assert json.loads((run / "run.json").read_text())["status"] == "COMPLETED"
    assert "epoch 3/3" in (run / "cout.txt").read_text()
