"""The package works wherever it is installed: its experiments' configs are data inside it, ``python -m
stampnet.run <experiment>`` runs one without the repository, the top-level scripts are thin wrappers of the
same experiments."""
import json
from pathlib import Path

import pytest

from stampnet import experiments
from tests.conftest import REPO_ROOT, load_script
from tests.tiny import TINY


def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), lines
    return lines[0]


def test_every_script_is_its_packaged_experiment():
    """``python <name>.py`` and ``python -m stampnet.run <name>`` build the same experiment (runs/<name>/, the
    config of stampnet/experiments/<name>.py on top of the defaults); the script is Sacred's main file."""
    from stampnet.experiment import build

    scripts = sorted(p.stem for p in REPO_ROOT.glob("*.py")
                     if p.stem not in ("stamp_network", "generate_cluttered_mnist"))
    assert scripts == list(experiments.names())
    for name in scripts:
        script, packaged = load_script(f"{name}.py").ex, build(name)
        assert script.path == packaged.path == name
        assert script.mainfile.filename == str(REPO_ROOT / f"{name}.py")
        assert Path(packaged.mainfile.filename) == Path(experiments.module(name).__file__)
        assert experiments.config(name)["seed"] == experiments.module(name).CONFIG["seed"]
        assert set(packaged.named_configs) == set(experiments.NAMED_CONFIGS) == {"quick", "cpu", "fast"}


def test_stamp_network_re_exports_the_model_and_the_experiment():
    import stamp_network
    import stampnet.model

    assert stamp_network.build_model is stampnet.model.build_model
    assert set(stamp_network.ex.named_configs) == {"quick", "cpu", "fast"}
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        stamp_network.nothing


@pytest.mark.parametrize("argv, words", [
    (["nope"], "unknown experiment 'nope'; choose from ct_mnist_1, ct_mnist_2"),
    ([], "name the experiment first"),
    (["with", "quick"], "name the experiment first"),
])
def test_run_refuses_a_missing_or_unknown_experiment(argv, words, capsys):
    from stampnet.run import main

    assert main(argv) == 2
    assert words in _one_error_line(capsys)


def test_reproduce_of_a_run_of_no_experiment_says_what_to_do(tmp_path, capsys):
    from stampnet.reproduce import main

    run = tmp_path / "runs" / "mine" / "1"
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps(TINY))
    (run / "run.json").write_text(json.dumps({"experiment": {"name": "mine", "base_dir": str(tmp_path)}}))
    assert main([str(run)]) == 2
    line = _one_error_line(capsys)
    assert "is a run of 'mine', which is no experiment of the package" in line and str(tmp_path / "mine.py") in line

