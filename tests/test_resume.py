"""Kill a run with SIGKILL after its first saved epoch, resume it from its folder, and get the same run as one
that was never interrupted: epoch count, metrics without a gap, identical losses (CPU, same seed)."""
import json
import signal
import subprocess
import sys
import time

import h5py
import pytest

from tests.conftest import REPO_ROOT, experiment_env, run_experiment, tf_quiet_lines
from stampnet.train import train
from tests.tiny import TINY, overrides, tiny

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")

EPOCHS = 4
# shuffle on: the data order of every epoch must continue too (it depends on (seed, epoch) only).
ARGS = ["with", *overrides(TINY), f"run_parameters.epochs={EPOCHS}", "run_parameters.shuffle=True"]


def metrics(run):
    return json.loads((run / "metrics.json").read_text())


def test_killed_run_resumes_exactly(tmp_path):
    killed_dir, reference_dir = tmp_path / "killed", tmp_path / "reference"
    killed_dir.mkdir(), reference_dir.mkdir()
    runs = killed_dir / "runs" / "simple_shapes_2"
    state = runs / "1" / "backup" / "state.weights.h5"

    # 1. Start, wait for the first end-of-epoch state, kill -9.
    log = tmp_path / "killed.log"
    with open(log, "w") as err:
        proc = subprocess.Popen([sys.executable, str(REPO_ROOT / "simple_shapes_2.py"), *ARGS], cwd=killed_dir,
                                env=experiment_env(), stdout=subprocess.DEVNULL, stderr=err)
    try:
        deadline = time.monotonic() + 240
        while not state.exists():
            assert proc.poll() is None, "\n".join(tf_quiet_lines(log.read_text())[-20:])
            assert time.monotonic() < deadline, "no state file after 240 s"
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert json.loads((runs / "1" / "run.json").read_text())["status"] == "RUNNING"  # it never finished
    with h5py.File(state, "r") as f:  # the state on disk is whole: written, then renamed
        done = int(f["stampnet_resume"].attrs["epoch"])
    assert 1 <= done < EPOCHS
    for weights in (runs / "1" / "trained").glob("weights.*.weights.h5"):
        h5py.File(weights, "r").close()  # every checkpoint under its final name opens

    # 2. Resume: a new run (2) that records where it came from.
    resumed = run_experiment(["with", f"resume_from={runs / '1'}"], killed_dir)
    assert resumed.returncode == 0, "\n".join(tf_quiet_lines(resumed.stderr)[-30:])
    run2 = runs / "2"
    cout = (run2 / "cout.txt").read_text()
    assert "after epoch " in cout and f"epoch {EPOCHS}/{EPOCHS}" in cout
    config = json.loads((run2 / "config.json").read_text())
    assert config["resume_from"] == str(runs / "1")
    assert config["run_parameters"]["shuffle"] is True and config["seed"] == TINY["seed"]  # the stored config
    info = json.loads((run2 / "info.json").read_text())["origin"]
    assert info["mode"] == "resume" and info["folder"] == str(runs / "1")
    assert any((run2 / "trained").glob(f"weights.{EPOCHS:02d}-*.weights.h5"))

    # 3. An uninterrupted run with the same config (in this process: the command line is tested above).
    ref = {}
    train(tiny(epochs=EPOCHS, shuffle=True), reference_dir,
          log_scalar=lambda name, value, step: ref.setdefault(name, []).append(value))

    got = metrics(run2)
    for key in ("loss", "val_loss", "tau"):
        assert got[key]["steps"] == list(range(1, EPOCHS + 1)), key  # no gap: epochs 1..done replayed
        assert got[key]["values"] == ref[key], key                     # bit-identical on CPU


def test_resume_extends_a_finished_run(tiny_run, tmp_path, capsys):
    """resume_from a finished run with more epochs trains on (the state file stays after the run). In this
    process: the command line's resume (the stored config, the run's origin) is tested above."""
    logged = {}
    train({**tiny(epochs=3), "resume_from": str(tiny_run)}, tmp_path / "run",
          log_scalar=lambda name, value, step: logged.setdefault(name, []).append((step, value)))
    before = metrics(tiny_run)
    assert [step for step, _ in logged["loss"]] == [1, 2, 3]
    assert [value for _, value in logged["loss"]][:2] == before["loss"]["values"]
    assert "epoch 3/3" in capsys.readouterr().out

