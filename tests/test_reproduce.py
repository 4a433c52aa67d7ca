"""python -m stampnet.reproduce runs/<exp>/<id> [with overrides]: a new run with the stored config, recording its
origin; with the same seed on CPU it repeats the original losses."""
import json

import pytest

from stampnet.reproduce import changed_sources, find_experiment, main
from tests.conftest import tf_quiet_lines

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")


def test_reproduce_repeats_a_run_from_its_folder(tiny_run, capsys, monkeypatch):
    # The copy of the run sits in runs/simple_shapes_2/ of the temporary folder; the new run goes beside it.
    # Its command line in this process (TensorFlow is loaded here already): `python -m stampnet.reproduce` in a
    # fresh Python is tested by tests/test_cli_checks.py and, installed, by tests/test_install.py.
    monkeypatch.chdir(tiny_run.parent.parent.parent)
    assert main([str(tiny_run), "with", "run_parameters.n_figure_images=1"]) == 0, \
        "\n".join(tf_quiet_lines(capsys.readouterr().err)[-30:])
    new = tiny_run.parent / "2"
    old_config = json.loads((tiny_run / "config.json").read_text())
    new_config = json.loads((new / "config.json").read_text())
    assert new_config["reproduce_from"] == str(tiny_run)
    assert new_config["run_parameters"].pop("n_figure_images") == 1            # the override applies on top
    old_config["run_parameters"].pop("n_figure_images")
    assert {**new_config, "reproduce_from": None} == old_config               # everything else as stored
    origin = json.loads((new / "info.json").read_text())["origin"]
    assert origin == {"mode": "reproduce", "folder": str(tiny_run), "run_id": "1", "experiment": "simple_shapes_2"}
    assert json.loads((new / "run.json").read_text())["experiment"]["name"] == "simple_shapes_2"
    old_metrics, new_metrics = (json.loads((r / "metrics.json").read_text()) for r in (tiny_run, new))
    assert new_metrics["loss"]["values"] == old_metrics["loss"]["values"]     # same seed, CPU: same run


def test_reproduce_finds_the_experiment_and_lists_changed_sources(tiny_run):
    assert find_experiment(tiny_run) == ("simple_shapes_2", None)  # the package's experiment
    experiment = json.loads((tiny_run / "run.json").read_text())["experiment"]
    recorded = {s[0] for s in experiment["sources"]}
    assert {"simple_shapes_2.py", "stampnet/experiment.py", "stampnet/experiments/simple_shapes_2.py",
            "stampnet/train.py"} <= recorded  # the snapshot: the script that ran and the package
    assert experiment["mainfile"] == "simple_shapes_2.py"
    assert changed_sources(tiny_run) == []  # nothing changed since


def test_reproduce_of_a_folder_that_is_no_run(tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "\n" not in err and "runs/<experiment>/<id>" in err
