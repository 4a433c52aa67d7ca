"""No path of one machine in the package, the scripts or the results records: library code and script defaults
never name the project's shared folder, and the results files say where runs and data were by what they are."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from stampnet import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def test_library_and_scripts_never_name_the_shared_folder():
    files = [*(REPO_ROOT / "stampnet").rglob("*.py"), *(REPO_ROOT / "scripts").rglob("*"), *REPO_ROOT.glob("*.py")]
    named = [str(p.relative_to(REPO_ROOT)) for p in files
             if p.is_file() and "../shared" in p.read_text(errors="replace")]
    assert not named, f"these files name ../shared: {named}"


def test_reference_run_names_the_missing_files(tmp_path):
    from stampnet.legacy import reference_run

    with pytest.raises(ConfigError, match=r"lacks simple_shapes_2\.config\.json and simple_shapes_2\.weights"):
        reference_run(tmp_path, "simple_shapes_2", tmp_path)


# ------------------------------------------------------------------- results records: no path of this machine

ABSOLUTE = re.compile(r"(?:^|[\s='\"(])(?:/|[A-Za-z]:\\)[^\s]")   # a path from a file system's root


def absolute_paths(value) -> list[str]:
    """The strings in a JSON value (a record) that hold an absolute path."""
    if isinstance(value, dict):
        return [s for v in value.values() for s in absolute_paths(v)]
    if isinstance(value, list):
        return [s for v in value for s in absolute_paths(v)]
    return [value] if isinstance(value, str) and ABSOLUTE.search(value) else []


def _fake_runs(runs: Path) -> tuple[Path, Path]:
    """<runs>/quick/simple_shapes_1/{1,2}: a killed run and the run that resumed it, as Sacred leaves them."""
    killed, resumed = runs / "quick" / "simple_shapes_1" / "1", runs / "quick" / "simple_shapes_1" / "2"
    for folder in (killed, resumed):
        updates = {"resume_from": str(killed)} if folder == resumed else {"run_parameters": {"mnist_path": "/data/x"}}
        folder.mkdir(parents=True)
        (folder / "run.json").write_text(json.dumps({
            "status": "COMPLETED", "start_time": "2026-01-01T10:00:00", "stop_time": "2026-01-01T10:10:00",
            "experiment": {"name": "simple_shapes_1", "base_dir": str(REPO_ROOT)},
            "meta": {"named_configs": ["quick"], "config_updates": updates}}))
        (folder / "config.json").write_text(json.dumps({"resume_from": str(killed) if folder == resumed else None}))
    return killed, resumed


def _fake_measures(weights: Path, **run_parameters) -> dict:
    from stampnet.config import validate
    from stampnet.runs import LoadedRun
    from stampnet.spec import run_spec
    from tests.tiny import tiny

    spec = run_spec(validate(tiny(mnist_path="/data/elsewhere/mnist.npz", **run_parameters)))
    return {"measures": {"cor_loc": 0.9, "iou": 0.8, "purity": 0.7, "weights": str(weights)}, "kmeans": {},
            "run": LoadedRun(spec, None, weights.parent.parent, weights), "test_canvases": 16, "evaluate_s": 1.0}


@pytest.mark.parametrize("under_home", [True, False])
def test_a_rows_results_file_holds_no_absolute_path(tmp_path, monkeypatch, under_home):
    from stampnet import table
    from stampnet.table import run as jobs

    home = tmp_path if under_home else tmp_path / "elsewhere"
    monkeypatch.setenv("HOME", str(home))
    runs = tmp_path / "runs"
    killed, resumed = _fake_runs(runs)
    weights = resumed / "trained" / "weights.02-1.00.weights.h5"
    monkeypatch.setattr(jobs, "measure_run", lambda run, limit=None: _fake_measures(weights))
    job = table.Job(table.BY_NAME["simple_shapes_1"], 0, "quick", runs / "quick", tmp_path / "results")

    record = jobs.measure_row(job, resumed)
    written = json.loads(job.result_file.read_text())
    assert written == record
    assert not absolute_paths(written), absolute_paths(written)
    assert str(tmp_path) not in job.result_file.read_text()
    root = "~/runs" if under_home else ".../runs"
    prov = written["provenance"]
    assert prov["runs_root"] == root and prov["run_folder"] == "quick/simple_shapes_1/2"
    assert [part["folder"] for part in prov["runs"]] == ["quick/simple_shapes_1/1", "quick/simple_shapes_1/2"]
    assert prov["commands"][1] == f"python simple_shapes_1.py with quick resume_from={root}/quick/simple_shapes_1/1"
    assert prov["evaluated_with"] == f"python -m stampnet.evaluate {root}/quick/simple_shapes_1/2"
    assert written["measures"]["weights"] == f"{root}/quick/simple_shapes_1/2/trained/weights.02-1.00.weights.h5"
    assert prov["config"]["run_parameters"]["mnist_path"] == ".../mnist.npz"


def test_a_record_of_another_runs_folder_is_measured_again(tmp_path, monkeypatch):
    from stampnet import table
    from stampnet.table import run as jobs

    job = table.Job(table.BY_NAME["simple_shapes_1"], 0, "quick", tmp_path / "runs" / "quick", tmp_path / "res")
    run = tmp_path / "runs" / "quick" / "simple_shapes_1" / "1"
    monkeypatch.setattr(jobs, "train_row", lambda job: run)
    monkeypatch.setattr(jobs, "measure_row", lambda job, run: "measured")
    record = {"row": "simple_shapes_1", "seed_index": 0, "test_canvases": 16, "limit": None, "kmeans": {},
              "measures": {"cor_loc": 0.9, "iou": 0.8, "purity": 0.7},
              "provenance": {"training_canvases": 64, "train_wall_s": 1.0, "canvases_per_s": 64.0, "cpu": "x",
                             **jobs.run_place(job, run)}}
    assert record["provenance"]["run_folder"] == "quick/simple_shapes_1/1"
    job.results.mkdir()
    job.result_file.write_text(json.dumps(record))
    assert jobs.run_job(job) == record                                  # the same run: reused
    record["provenance"]["runs_root"] = "~/other-runs"                  # the same folder name, another root
    job.result_file.write_text(json.dumps(record))
    assert jobs.run_job(job) == "measured"


def test_the_2019_weights_record_names_the_keras_cache_with_a_tilde(tmp_path, monkeypatch):
    from stampnet import pretrained, table
    from stampnet.table import run as jobs
    from tests.tiny import TINY

    monkeypatch.setenv("HOME", str(tmp_path))
    cache = tmp_path / ".keras" / "models" / "stampnet-2019" / "simple_shapes_2"
    cache.mkdir(parents=True)
    (cache / "config.json").write_text(json.dumps(TINY))
    weights = cache / pretrained.WEIGHTS["simple_shapes_2"][0]
    monkeypatch.setattr(pretrained, "fetch", lambda name: (cache / "config.json", weights))
    monkeypatch.setattr(jobs, "measure_run", lambda *a, **k: _fake_measures(weights))
    record = jobs.measure_2019(table.BY_NAME["simple_shapes_2"], tmp_path / "results", None, None)
    written = json.loads((tmp_path / "results" / "simple_shapes_2.json").read_text())
    assert written == record and not absolute_paths(written)
    assert written["weights"] == written["measures"]["weights"] == "~/.keras/models/stampnet-2019/simple_shapes_2/" \
        + pretrained.WEIGHTS["simple_shapes_2"][0]


def test_evaluate_shows_the_home_folder_as_a_tilde(tmp_path, monkeypatch):
    from stampnet.runs import home_relative

    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert home_relative(tmp_path / "me" / "runs" / "w.h5") == "~/runs/w.h5"
    assert home_relative("runs/w.h5") == "runs/w.h5"
    assert home_relative(tmp_path / "meat" / "w.h5") == str(tmp_path / "meat" / "w.h5")   # not below home


def test_the_committed_results_hold_no_absolute_path():
    results = REPO_ROOT / "results"
    if not results.is_dir():
        pytest.skip("no results/ folder in this checkout")
    found = []
    for path in sorted(p for p in results.rglob("*") if p.suffix in (".json", ".md", ".csv")):
        text = path.read_text()
        found += [f"{path.relative_to(REPO_ROOT)}: {m}" for m in re.findall(r"/(?:root|home|work|tmp)/\S*", text)]
        if path.suffix == ".json":
            found += [f"{path.relative_to(REPO_ROOT)}: {s}" for s in absolute_paths(json.loads(text))]
    assert not found, found[:10]
