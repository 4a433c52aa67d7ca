"""The package works wherever it is installed: its experiments' configs are data inside it, ``python -m
stampnet.run <experiment>`` runs one without the repository, the top-level scripts are thin wrappers of the
same experiments, and a wheel installed into a fresh environment trains, measures, evaluates and reproduces a
row from an empty folder."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from stampnet import experiments
from tests.conftest import REPO_ROOT, load_script, tf_quiet_lines
from tests.tiny import TINY, overrides


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


def test_the_package_finds_no_file_through_the_repository():
    for path in (REPO_ROOT / "stampnet").rglob("*.py"):
        assert "REPO_ROOT" not in path.read_text(), path


def _run(command, cwd, env, timeout=900):
    proc = subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert proc.returncode == 0, f"{command}:\n" + "\n".join(tf_quiet_lines(proc.stdout + proc.stderr)[-30:])
    return proc


@pytest.mark.slow
def test_an_installed_wheel_runs_a_row_evaluates_and_reproduces_it_from_an_empty_folder(tmp_path):
    """A wheel of the package (built from its files alone) installed into a fresh virtual environment (the heavy
    dependencies from this one: --system-site-packages); from an empty folder the table trains and measures the
    quick Simple Shapes-2 row (the tiny architecture), evaluate reads the run and reproduce repeats it."""
    source = tmp_path / "source"  # the files a wheel is built from, not the checkout (no build/ left there)
    shutil.copytree(REPO_ROOT / "stampnet", source / "stampnet", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(REPO_ROOT / name, source / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "STAMPNET_RUNS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "wheel", source], tmp_path, env)
    [wheel] = (tmp_path / "wheel").glob("stampnet-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", venv], tmp_path, env)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "-q", wheel], tmp_path, env)

    empty = tmp_path / "empty"
    empty.mkdir()
    where = _run([python, "-c", "import stampnet; print(stampnet.__file__)"], empty, env).stdout.strip()
    site = Path(where).parents[1]
    assert venv in site.parents and site.name == "site-packages", where  # the installed package, not the repo

    tiny = {k: v for k, v in TINY.items() if k != "seed"}
    _run([python, "-m", "stampnet.table", "--rows", "simple_shapes_2", "--recipe", "quick", "--limit", "16",
          "--no-2019", "--with", *overrides(tiny)], empty, env)
    run = empty / "runs" / "quick" / "simple_shapes_2" / "1"
    record = json.loads((empty / "results" / "quick" / "simple_shapes_2.json").read_text())
    assert record["test_canvases"] == 16 and 0 <= record["measures"]["cor_loc"] <= 1
    assert record["provenance"]["run_folder"] == "quick/simple_shapes_2/1"   # relative to its runs root
    assert record["provenance"]["git_commit"] is None
    experiment = json.loads((run / "run.json").read_text())["experiment"]
    assert experiment["name"] == "simple_shapes_2" and Path(experiment["base_dir"]) == site
    assert experiment["mainfile"] == "stampnet/experiments/simple_shapes_2.py"
    assert "stampnet/train.py" in {s[0] for s in experiment["sources"]}

    measured = _run([python, "-m", "stampnet.evaluate", run, "--json", "--limit", "16"], empty, env)
    assert json.loads(measured.stdout.strip().splitlines()[-1])["cor_loc"] == record["measures"]["cor_loc"]

    _run([python, "-m", "stampnet.reproduce", run], empty, {**env, "STAMPNET_RUNS": str(empty / "runs" / "quick")})
    again = run.parent / "2"
    assert json.loads((again / "config.json").read_text())["reproduce_from"] == str(run)
    losses = [json.loads((r / "metrics.json").read_text())["loss"]["values"] for r in (run, again)]
    assert losses[0] == losses[1]  # same seed, CPU: the same run
    assert sorted(p.name for p in empty.iterdir()) == ["results", "runs"]  # nothing else written here
