"""The Table command: trains, resumes, skips and measures rows, writes the results files and renders README."""
import copy
import csv
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stampnet import ConfigError, table
from stampnet.table import render
from stampnet.table import run as jobs
from stampnet.table.__main__ import main, recipes
from tests.conftest import REPO_ROOT, experiment_env, tf_quiet_lines
from tests.tiny import TINY, overrides

# The tiny architecture on both Simple Shapes rows: seconds per run.
TINY_ROWS = "simple_shapes_1,simple_shapes_2"


def _tiny_overrides(**run_parameters) -> list[str]:
    cfg = copy.deepcopy(TINY)
    cfg.pop("seed")  # the table's seed rule sets it
    cfg["run_parameters"].update(run_parameters)
    return overrides(cfg)


def _table_args(tmp_path, *args, **run_parameters) -> list[str]:
    return ["--recipe", "quick", "--runs", str(tmp_path / "runs"), "--results", str(tmp_path / "results"),
            "--no-2019", *args, "--with", *_tiny_overrides(**run_parameters)]


def _table(capfd, tmp_path, *args, **run_parameters) -> tuple[int, str]:
    """The table's command line in this process (its trainings are subprocesses, as always): exit code and
    everything written to stdout/stderr, the trainings' output included."""
    capfd.readouterr()
    code = main(_table_args(tmp_path, *args, **run_parameters))
    out = capfd.readouterr()
    return code, out.out + out.err


def _table_process(tmp_path, *args, **run_parameters) -> subprocess.Popen:
    """The table on the command line, in a process group of its own (to be killed with its training)."""
    command = [sys.executable, "-m", "stampnet.table", *_table_args(tmp_path, *args, **run_parameters)]
    return subprocess.Popen(command, cwd=REPO_ROOT, env=experiment_env(), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


@pytest.mark.slow
def test_a_killed_table_resumes_then_measures_tabulates_and_skips_its_rows(tmp_path, capfd):
    """Two rows: the table is killed while it trains the first, run again (the first row resumes, the second
    trains, both are measured and tabulated), and run a third time (both are skipped). A checkpoint every 4
    epochs: the curve of each row has two points (the backup state, what a kill resumes from, is every epoch's)."""
    epochs, runs = 8, tmp_path / "runs" / "quick"
    every = {"epochs": epochs, "checkpoint_period": 4}
    proc = _table_process(tmp_path, "--rows", TINY_ROWS, "--limit", "16", **every)
    state = runs / "simple_shapes_1" / "1" / "backup" / "state.weights.h5"
    deadline = time.time() + 600
    while not state.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)  # the table and its training
    proc.wait()
    assert state.is_file(), proc.stdout.read()[-3000:]
    assert not (runs / "simple_shapes_2").exists()  # the rows are trained one after the other

    code, out = _table(capfd, tmp_path, "--rows", TINY_ROWS, "--limit", "16", **every)
    assert code == 0, out[-3000:]
    assert "resuming" in out
    results = tmp_path / "results" / "quick"
    for row in TINY_ROWS.split(","):
        record = json.loads((results / f"{row}.json").read_text())
        assert record["test_canvases"] == 16 and 0 <= record["measures"]["cor_loc"] <= 1
        assert set(record["kmeans"]) == {"objects", "canvases"}
        prov = record["provenance"]
        assert prov["training_canvases"] == epochs * 4 * 8 and prov["train_wall_s"] > 0
        assert prov["commands"][0].startswith(f"python {row}.py with quick")
        assert Path(prov["run_folder"]).parent == Path("quick", row) and prov["epochs"] == epochs
        assert prov["runs_root"] == jobs.shown_path(tmp_path / "runs")
        assert [p["epoch"] for p in record["curve"]["checkpoints"]] == [4, 8]  # every checkpoint measured
    resumed = json.loads((results / "simple_shapes_1.json").read_text())["provenance"]
    assert [Path(part["folder"]).name for part in resumed["runs"]] == ["1", "2"]
    assert "resume_from=" in resumed["commands"][1]
    with open(results / "table.csv") as f:
        lines = list(csv.DictReader(f))
    assert [line["row"] for line in lines] == TINY_ROWS.split(",")
    assert set(render.CSV_COLUMNS) <= set(lines[0]) and lines[1]["paper_cor_loc"] == "0.9828"
    markdown = (results / "table.md").read_text()
    assert "Simple Shapes-1" in markdown and "k-means on true crops" in markdown
    assert (results / "table.png").stat().st_size > 0

    code, again = _table(capfd, tmp_path, "--rows", TINY_ROWS, "--limit", "16", **every)
    assert code == 0, again[-2000:]
    assert again.count("finished run") == 2 and "training a new run" not in again and "resuming" not in again
    assert not (runs / "simple_shapes_1" / "3").exists() and not (runs / "simple_shapes_2" / "2").exists()


def test_seed_indices_offset_the_scripts_seed(tmp_path):
    job = table.Job(table.BY_NAME["simple_shapes_2"], 2, "fast", tmp_path, tmp_path)
    command = jobs.train_command(job, None)
    assert command[1:6] == ["-m", "stampnet.run", "simple_shapes_2", "with", "fast"]  # through the package
    assert command[-1] == "seed=894342613"  # the experiment's seed + 2
    assert "run_parameters.epochs=120" in command  # the row's longer allowance under fast
    ct = jobs.train_command(table.Job(table.BY_NAME["ct_mnist_2"], 0, "fast", tmp_path, tmp_path), None)
    assert "run_parameters.epochs=120" in ct and not any(w.startswith("seed=") for w in ct)
    resume = jobs.train_command(job, tmp_path / "7")
    assert resume[1:] == ["-m", "stampnet.run", "simple_shapes_2", "with", f"resume_from={tmp_path / '7'}"]


def test_a_rows_data_kind_is_checked_where_it_is_declared():
    with pytest.raises(ValueError, match="data must be"):
        table.Row("x", "X", {}, {"fast": ("run_parameters.epochs=120",)})  # a budget given in data's place


def test_every_row_has_its_experiment_script_and_seed():
    for row in table.ALL_ROWS:
        assert isinstance(jobs.experiment_seed(row.experiment), int)
        assert (REPO_ROOT / f"{row.experiment}.py").is_file()  # the checkout's thin script beside it
    assert set(recipes()) >= {"quick", "cpu", "fast"}


def test_git_commit_is_the_checkouts_and_none_for_an_installed_package(tmp_path, monkeypatch):
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True).stdout.strip()
    assert jobs.git_commit() == head
    monkeypatch.setattr(jobs, "__file__", str(tmp_path / "site-packages" / "stampnet" / "table" / "run.py"))
    (tmp_path / "site-packages" / "stampnet").mkdir(parents=True)
    assert jobs.git_commit() is None


def test_the_table_trains_through_the_package_from_any_folder(tmp_path, capsys, monkeypatch):
    """From a folder without README.md (nothing to check for --render) the row trains as ``python -m
    stampnet.run <experiment>`` in that folder; results and runs default to it."""
    started = []
    monkeypatch.setattr(jobs.subprocess, "run", lambda command, **kw: started.append((command, kw)) or
                        subprocess.CompletedProcess(command, 2))
    monkeypatch.chdir(tmp_path)
    assert main(["--recipe", "quick", "--rows", "simple_shapes_1", "--no-2019"]) == 2
    [(command, kw)] = started
    assert command[1:5] == ["-m", "stampnet.run", "simple_shapes_1", "with"] and kw.get("cwd") is None
    assert kw["env"]["STAMPNET_RUNS"] == str(tmp_path / "runs" / "quick")
    assert kw["env"]["PYTHONPATH"].split(os.pathsep)[0] == str(REPO_ROOT)  # the package this table imported
    assert (tmp_path / "results" / "quick").is_dir() and "refused its config" in capsys.readouterr().err
    assert main(["--render", "--recipe", "quick"]) == 2
    assert f"no README.md in {tmp_path}" in _one_error_line(capsys)


@pytest.mark.parametrize("args, words", [
    (["--rows", "simple_shapes_9"], "unknown row(s) simple_shapes_9"),
    (["--seeds", "0,-1"], "seeds are indices"),
    (["--recipe", "fastest"], "unknown named config 'fastest'"),
    (["--mnist", "/nonexistent/mnist.npz"], "does not exist"),
])
def test_bad_options_are_one_line(args, words, capsys):
    with pytest.raises(SystemExit) as err:
        main(args)
    assert err.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]


def _record(row, cor_loc, seed_index=0):
    return {"row": row, "seed_index": seed_index, "test_canvases": 100, "limit": None, "data": None,
            "measures": {"cor_loc": cor_loc, "iou": 0.5, "purity": 0.25, "nmi": 0.1, "acc": 0.2},
            "kmeans": {"objects": {"nmi": 0.3, "acc": 0.4, "purity": 0.5}},
            "provenance": {"training_canvases": 1000, "train_wall_s": 3600.0, "canvases_per_s": 0.28,
                           "cpu": "some CPU"}}


def test_seeds_are_averaged_with_their_spread(tmp_path):
    for i, value in enumerate((0.90, 0.94, 0.98)):
        (tmp_path / f"simple_shapes_2{'-seed%d' % i if i else ''}.json").write_text(
            json.dumps(_record("simple_shapes_2", value, i)))
    lines = render.table_rows(render.load_records(tmp_path), {"simple_shapes_2": {"measures": {"cor_loc": 0.5}}})
    assert len(lines) == 1 and lines[0]["seeds"] == 3
    assert lines[0]["cor_loc"] == pytest.approx(0.94) and lines[0]["cor_loc_sd"] == pytest.approx(0.04)
    assert lines[0]["delta_cor_loc"] == pytest.approx(0.94 - 0.9828)
    assert lines[0]["weights2019_cor_loc"] == 0.5 and lines[0]["kmeans_canvases_nmi"] is None
    text = render.markdown(lines, "fast")
    assert "0.9400 ± 0.0400" in text and "| 1 h 00 min |" in text and "some CPU" in text


def test_readme_renders_from_the_results_files(tmp_path):
    """The README's ``<!-- results: RECIPE -->`` block; README.md itself is checked in tests/test_docs.py."""
    from stampnet import render as blocks

    (tmp_path / "fast").mkdir()
    (tmp_path / "fast" / "t_mnist_1.json").write_text(json.dumps(_record("t_mnist_1", 0.99)))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- results: fast -->\nold\n<!-- /results -->\ntail\n")
    assert blocks.render_documents(tmp_path, results=tmp_path) == [readme]
    text = readme.read_text()
    assert "old" not in text and text.endswith("<!-- /results -->\ntail\n")
    assert "| | trained here, `fast` (0.00 M canvases, 100 test canvases) | 0.9900 | 0.5000 | 0.2500 |" in text
    assert blocks.render_documents(tmp_path, results=tmp_path) == []  # a second render changes nothing


def test_a_change_block_puts_two_recipes_records_side_by_side(tmp_path):
    """``<!-- change: BEFORE..AFTER -->``: each row of either folder, the other side "not yet" where it has no
    record; a malformed argument is one ConfigError."""
    from stampnet import ConfigError

    for recipe, value in (("old", 0.49), ("new", 0.97)):
        (tmp_path / recipe).mkdir()
        (tmp_path / recipe / "pedestrian.json").write_text(json.dumps(_record("pedestrian", value)))
    (tmp_path / "new" / "t_mnist_1.json").write_text(json.dumps(_record("t_mnist_1", 0.99)))
    text = render.change_block(tmp_path, "old..new")
    ped = next(line for line in text.splitlines() if line.startswith("| Pedestrian"))
    assert ped.index("0.4900 / 0.5000 / 0.2500") < ped.index("0.9700 / 0.5000 / 0.2500") and "**no**" in ped
    assert next(line for line in text.splitlines() if line.startswith("| T-MNIST-1")).count("not yet") == 1
    assert "Simple Shapes" not in text
    with pytest.raises(ConfigError, match="BEFORE..AFTER"):
        render.change_block(tmp_path, "old")


def _training_process(script: str, runs: Path):
    """(pid, parent pid) of the running training of ``script`` whose STAMPNET_RUNS lies in ``runs``, or None."""
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
                environ = (proc / "environ").read_bytes().split(b"\0")
                ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            mine = any(e.startswith(b"STAMPNET_RUNS=" + str(runs).encode()) for e in environ)
            name = script.removesuffix(".py").encode()  # `python -m stampnet.run NAME` or `python NAME.py`
            if mine and any(c == name or c.endswith(name + b".py") for c in cmdline) and ppid > 1:
                return int(proc.name), ppid
    return None


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="finds the Ray worker through /proc")
def test_a_row_runs_as_a_ray_task_and_a_killed_worker_is_rerun(tmp_path):
    """One row on a local Ray cluster: its worker is killed while it trains, the task runs again and resumes
    the row. (Several rows are the same tasks handed out together; the kill–resume test above runs two.)"""
    pytest.importorskip("ray", reason="the cluster path needs requirements-cluster.txt")
    proc = _table_process(tmp_path, "--rows", "simple_shapes_1", "--limit", "16", "--cluster", "local", epochs=6,
                          checkpoint_period=3)  # a curve of two checkpoints; the backup state is every epoch's
    state = tmp_path / "runs" / "quick" / "simple_shapes_1" / "1" / "backup" / "state.weights.h5"
    deadline = time.time() + 600
    while not state.is_file() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.5)
    found = _training_process("simple_shapes_1.py", tmp_path / "runs")
    assert found is not None, proc.stdout.read()[-3000:]
    os.kill(found[1], signal.SIGKILL)  # the Ray worker that runs the row; its training dies with it
    try:
        out, _ = proc.communicate(timeout=900)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode == 0, out[-4000:]
    assert "Ray cluster:" in out
    record = json.loads((tmp_path / "results" / "quick" / "simple_shapes_1.json").read_text())
    assert record["provenance"]["epochs"] == 6 and record["test_canvases"] == 16
    assert [p["epoch"] for p in record["curve"]["checkpoints"]][-1] == 6  # the resumed run's checkpoints
    assert len(record["provenance"]["runs"]) == 2, out[-6000:]  # the rerun task resumed the killed worker's run


def test_provenance_counts_a_killed_runs_time_until_its_last_heartbeat(tmp_path):
    killed, resumed = tmp_path / "1", tmp_path / "2"
    times = {killed: {"start_time": "2026-01-01T10:00:00.000000", "heartbeat": "2026-01-01T10:12:00.000000",
                      "status": "RUNNING"},
             resumed: {"start_time": "2026-01-01T11:00:00.000000", "heartbeat": "2026-01-01T11:23:59.000000",
                       "stop_time": "2026-01-01T11:24:00.000000", "status": "COMPLETED"}}
    cfg = {"run_parameters": {"epochs": 10, "steps_per_epoch": 4}, "layer_parameters": {"input_parameters":
                                                                                        {"batch_size": 8}}}
    for folder, info in times.items():
        folder.mkdir()
        (folder / "run.json").write_text(json.dumps({**info, "experiment": {"name": "simple_shapes_2"}}))
        (folder / "config.json").write_text(json.dumps({**cfg, "resume_from": str(killed) if folder == resumed
                                                        else None}))
    from stampnet.spec import from_config

    prov = jobs.provenance(resumed, from_config(cfg)[1])
    assert [part["wall_s"] for part in prov["runs"]] == [720.0, 1440.0]
    assert prov["train_wall_s"] == 2160.0 and prov["canvases_per_s"] == pytest.approx(320 / 2160)


# ------------------------------------------------------------------------------------- the table's files

def _write(path: Path, record) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record))
    return path


def _one_error_line(capsys) -> str:
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0]


@pytest.mark.parametrize("name, content, message", [
    ("simple_shapes_2.json", json.dumps(_record("simple_shapes_2", 0.9))[:-30], "is not valid JSON"),
    ("simple_shapes_2.json", b'{"row": "simple_shapes_2\xff"}', r"is not UTF-8 text \(byte 0xff"),
    ("simple_shapes_2.json", "[1, 2]", "holds a JSON list, not a results record"),
    ("simple_shapes_2.json", {**_record("simple_shapes_2", 0.9), "provenance": {"cpu": "x"}},
     "lacks provenance.training_canvases"),
    ("simple_shapes_2.json", {**_record("simple_shapes_2", 0.9), "measures": {"cor_loc": "high", "iou": 0.5,
                                                                            "purity": 0.2}},
     "measures.cor_loc must be a number or null, got 'high'"),
    ("simple_shapes_2.json", {**_record("simple_shapes_2", 0.9), "kmeans": {"objects": [1]}},
     "kmeans.objects must be an object"),
    ("simple_shapes_2.json", {**_record("simple_shapes_2", 0.9), "test_canvases": 1.5},
     "test_canvases must be an integer >= 0, got '1.5'"),
    ("simple_shapes_2.json", _record("simple_shapes_9", 0.9), "row must be one of the Table's rows"),
    ("simple_shapes_2.json", _record("t_mnist_1", 0.9), "holds the results of t_mnist_1 seed index 0, not those its"),
    ("simple_shapes_2-seed1.json", _record("simple_shapes_2", 0.9),
     "holds the results of simple_shapes_2 seed index 0"),
    ("simple_shapes_2 (copy).json", _record("simple_shapes_2", 0.9), r"is not named as a results file"),
], ids=["truncated", "not-utf8", "a-list", "a-key-missing", "a-wrong-type", "a-wrong-nested-type", "not-a-count",
        "unknown-row", "another-row", "another-seed", "a-stray-name"])
def test_a_bad_results_file_is_one_line_naming_it(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}[^\n]*{message}[^\n]*$"):
        render.load_records(tmp_path)


def test_a_writers_temporary_file_is_not_a_second_seed(tmp_path):
    record = _record("simple_shapes_2", 0.9)
    _write(tmp_path / "simple_shapes_2.json", record)
    _write(tmp_path / ".tmp-4242-simple_shapes_2.json", record)   # complete: killed at the rename
    _write(tmp_path / ".simple_shapes_2.config.json", {"seed": 1})
    assert [len(recs) for recs in render.load_records(tmp_path).values()] == [1]


README_BLOCK = ("# x\n<!-- results: fast -->\n| experiment | measured on | CorLoc | IoU | purity |\n"
                "|---|---|---|---|---|\n"
                "| Simple Shapes-1 | paper | 0.9999 | 0.9718 | 0.9928 |\n"
                "| | trained here, `fast` (0.98 M canvases) | 1.0000 | 0.9722 | 1.0000 |\n"
                "| Simple Shapes-2 | paper | 0.9828 | 0.9500 | 0.9564 |\n"
                "| | 2019 weights, evaluated here | 0.9837 | 0.9501 | 0.9580 |\n"
                "| | trained here, `fast` | not yet | | |\n<!-- /results -->\n")


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A folder with README.md (a results block with measured lines), the current one, for ``--render``."""
    root = tmp_path / "repo"
    root.mkdir()
    (root / "README.md").write_text(README_BLOCK)
    monkeypatch.chdir(root)
    return root


def test_render_from_a_folder_without_the_results_refuses_to_drop_them(repo, tmp_path, capsys):
    code = main(["--render", "--recipe", "fast", "--results", str(tmp_path / "reslts")])
    line = _one_error_line(capsys)
    assert code == 2 and "would drop 2 measured line(s) (Simple Shapes-1: trained here; Simple Shapes-2: 2019 " \
                          "weights)" in line and "give --results the folder that holds them" in line
    assert (repo / "README.md").read_text() == README_BLOCK and not (tmp_path / "reslts").exists()
    # The folder that holds them renders (and keeps both lines).
    results = tmp_path / "results"
    _write(results / "fast" / "simple_shapes_1.json", _record("simple_shapes_1", 1.0))
    _write(results / "2019" / "simple_shapes_2.json", {"row": "simple_shapes_2", "test_canvases": 10_000,
                                                      "measures": {"cor_loc": 0.98, "iou": 0.95, "purity": 0.96}})
    assert main(["--render", "--recipe", "fast", "--results", str(results)]) == 0
    text = (repo / "README.md").read_text()
    assert "| | trained here, `fast` (0.00 M canvases, 100 test canvases) | 1.0000 |" in text
    assert "| | 2019 weights, evaluated here | 0.9800 |" in text and (results / "fast" / "table.md").is_file()


def test_render_with_a_bad_results_file_writes_nothing(repo, tmp_path, capsys):
    results = tmp_path / "results"
    _write(results / "fast" / "simple_shapes_1.json", _record("simple_shapes_1", 1.0))
    (results / "fast" / "t_mnist_1.json").write_text('{"row": "t_mnist_1", "meas')
    assert main(["--render", "--recipe", "fast", "--results", str(results)]) == 2
    assert "t_mnist_1.json is not valid JSON" in _one_error_line(capsys)
    assert not (results / "fast" / "table.md").exists() and (repo / "README.md").read_text() == README_BLOCK


@pytest.fixture
def no_training(monkeypatch):
    """Fail a test that would start a training."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"started {args}")

    monkeypatch.setattr(jobs.subprocess, "run", refuse)


@pytest.mark.parametrize("option", ["--results", "--runs"])
def test_a_folder_the_table_cannot_write_stops_it_before_training(tmp_path, capsys, no_training, option):
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = {"--results": str(tmp_path / "results"), "--runs": str(tmp_path / "runs"), option: str(blocker / "x")}
    code = main(["--recipe", "quick", "--rows", "simple_shapes_1", "--no-2019",
                 *(word for pair in args.items() for word in pair)])
    line = _one_error_line(capsys)
    assert code == 2 and f"cannot write to {blocker / 'x'}" in line and f"give {option}" in line


def test_a_bad_results_file_stops_the_table_before_training(tmp_path, capsys, no_training):
    _write(tmp_path / "results" / "quick" / "simple_shapes_2.json", [])
    code = main(["--recipe", "quick", "--rows", "simple_shapes_1", "--no-2019", "--results", str(tmp_path / "results"),
                 "--runs", str(tmp_path / "runs")])
    assert code == 2 and "simple_shapes_2.json holds a JSON list" in _one_error_line(capsys)
    assert not (tmp_path / "runs" / "quick" / "simple_shapes_1").exists()


def test_a_malformed_marker_of_the_pages_stops_the_table_before_training(repo, tmp_path, capsys, no_training):
    (repo / "README.md").write_text(README_BLOCK.replace("<!-- /results -->", "<!--  /results -->"))
    code = main(["--recipe", "quick", "--rows", "simple_shapes_1", "--no-2019", "--results", str(tmp_path / "results"),
                 "--runs", str(tmp_path / "runs")])
    assert code == 2 and "line 10: the marker '<!--  /results -->' is not written as" in _one_error_line(capsys)
    assert not (tmp_path / "runs").exists() and not (tmp_path / "results").exists()


def test_a_row_in_progress_in_another_table_is_skipped_at_once(tmp_path, no_training, capsys):
    """The row's lock, not Sacred's heartbeat (10 s after the run starts): a second table skips the row at
    once. (fcntl locks of two opens conflict in one process too.)"""
    import fcntl

    job = table.Job(table.BY_NAME["simple_shapes_1"], 0, "quick", tmp_path / "runs", tmp_path / "results")
    with jobs.row_lock(job) as mine:
        assert mine
        start = time.time()
        assert jobs.run_job(job) is None and time.time() - start < 1
        assert "another table process is training or measuring it" in capsys.readouterr().out
    with open(job.runs / "simple_shapes_1.lock") as f:  # released with its holder
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_a_training_that_refuses_its_config_says_what_to_fix(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(jobs.subprocess, "run", lambda command, **kw: subprocess.CompletedProcess(command, 2))
    code = main(["--recipe", "quick", "--rows", "simple_shapes_1", "--no-2019", "--results", str(tmp_path / "results"),
                 "--runs", str(tmp_path / "runs"), "--with", "run_parameters.epochz=2"])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert code == 2 and len(errors) == 2
    assert "simple_shapes_1: training simple_shapes_1 refused its config or data" in errors[0]
    assert "fix that in --with, --recipe or --mnist" in errors[0] and "resume" not in " ".join(errors)


def test_an_unreachable_cluster_is_given_up_on(monkeypatch):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    start = time.time()
    with pytest.raises(ConfigError, match=rf"^could not reach the Ray cluster at '127.0.0.1:{port}' within 10 s "
                                          r"\(Connection refused\); start one with `ray start --head`"):
        jobs.check_reachable(f"127.0.0.1:{port}")
    with pytest.raises(ConfigError, match=r"--cluster 'somewhere' is not an address; give HOST:PORT"):
        jobs.check_reachable("somewhere")

    def silent(address, timeout):
        raise TimeoutError("timed out")

    monkeypatch.setattr(jobs.socket, "create_connection", silent)
    with pytest.raises(ConfigError, match=r"at 'ray://10.0.0.5:10001' within 2 s \(no answer\)"):
        jobs.check_reachable("ray://10.0.0.5:10001", timeout=2)
    assert time.time() - start < 5


def test_a_rows_own_results_file_is_reused_when_sound_and_measured_again_when_not(tmp_path, monkeypatch, capsys):
    job = table.Job(table.BY_NAME["simple_shapes_1"], 0, "quick", tmp_path / "runs", tmp_path / "results")
    run = tmp_path / "runs" / "simple_shapes_1" / "1"
    monkeypatch.setattr(jobs, "train_row", lambda job: run)
    monkeypatch.setattr(jobs, "measure_row", lambda job, run: "measured")
    record = _record("simple_shapes_1", 0.9)
    record["provenance"].update(jobs.run_place(job, run))
    _write(job.result_file, record)
    assert jobs.run_job(job) == record                     # the same run, the same limit: reused
    assert "simple_shapes_1: CorLoc / IoU / purity 0.9000 / 0.5000 / 0.2500" in capsys.readouterr().out
    job.result_file.write_text(json.dumps(record)[:50])    # truncated
    assert jobs.run_job(job) == "measured"


def test_rows_meet_their_targets_and_the_curve_gives_the_canvases_to_target():
    from stampnet.table import BY_NAME
    from stampnet.table.render import target_cells

    row = BY_NAME["pedestrian"]
    assert row.meets({"cor_loc": 0.97, "iou": 0.90, "purity": 0.86}) is True
    assert row.meets({"cor_loc": 0.97, "iou": 0.90, "purity": 0.78}) is False
    assert row.meets({"cor_loc": 0.97}) is None
    assert BY_NAME["tetrominoes"].meets({"ari_fg": 0.995, "purity": 0.96}) is True
    line = {"meets_target": True, "curve_measured": True, "canvases_to_target": 491520}
    assert target_cells(line) == "yes | 491,520"
    assert target_cells({**line, "meets_target": False, "canvases_to_target": None}) == "**no** | never"
    assert target_cells({**line, "curve_measured": False}) == "yes | —"


def test_a_variant_rows_results_file_is_read_by_its_name():
    """Row names with a variant (multi_dsprites-binarized) name their results files, seeds included."""
    from stampnet.table.render import FILE_NAME

    assert FILE_NAME.fullmatch("multi_dsprites-binarized.json").groups() == ("multi_dsprites-binarized", None)
    assert FILE_NAME.fullmatch("multi_dsprites-binarized-seed2.json").groups() == ("multi_dsprites-binarized", "2")
    assert FILE_NAME.fullmatch("simple_shapes_2-seed1.json").groups() == ("simple_shapes_2", "1")
