"""End to end: a Sacred run of a tiny config from the command line writes the whole run folder."""
import json

import pytest

from tests.tiny import TINY

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")


def test_sacred_run_writes_complete_run_folder(tiny_run):
    """The tiny run the test session trains once (conftest.tiny_run: ``python simple_shapes_2.py with`` TINY
    as overrides)."""
    run = tiny_run
    for name in ("config.json", "run.json", "cout.txt", "metrics.json"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["seed"] == TINY["seed"] == 3 and config["run_parameters"]["epochs"] == 2  # overrides applied
    assert config["layer_parameters"]["decoder_parameters"]["stamp_size"] == 8
    metrics = json.loads((run / "metrics.json").read_text())
    for key in ("loss", "val_loss", "tau"):
        assert metrics[key]["steps"] == [1, 2], key
    assert metrics["tau"]["values"][0] > metrics["tau"]["values"][-1]
    weights = sorted(p.name for p in (run / "trained").glob("*.weights.h5"))
    assert [w.split("-")[0] for w in weights] == ["weights.01", "weights.02"]
    assert any((run / "board").rglob("events.out.tfevents.*"))
    for fig in ("stamps.png", "reconstructions.png", "training_curves.png"):
        assert (run / "figures" / fig).stat().st_size > 1000
    assert json.loads((run / "run.json").read_text())["status"] == "COMPLETED"
    assert "epoch 2/2" in (run / "cout.txt").read_text()
