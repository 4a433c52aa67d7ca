"""Shared pytest fixtures."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = (REPO_ROOT / ".." / "shared").resolve()
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))


def pytest_collection_modifyitems(items):
    """Tests that train (a ``slow`` mark, or the ``tiny_run`` fixture) are left out by ``-m "not slow"``."""
    for item in items:
        if "tiny_run" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


def require_shared(relative: str) -> Path:
    """The path ``../shared/<relative>``; skips the test, with the reason printed, when it is absent."""
    path = SHARED_DIR / relative
    if not path.exists():
        reason = f"needs {path} (the project's shared folder ../shared), which is absent here"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return path


@pytest.fixture
def shared_dir() -> Path:
    """../shared relative to the repository root (resolved); skips when absent."""
    if not SHARED_DIR.is_dir():
        reason = f"needs the shared folder {SHARED_DIR}, which is absent here"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    return SHARED_DIR


def load_script(relative: str):
    """A script of the repository (``scripts/NAME.py``) imported as a module, to call its ``main(argv)`` here."""
    import importlib.util

    path = REPO_ROOT / relative
    spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- Running experiment scripts in a subprocess (tests of resume, reproduce, bad input, MongoDB) ---

def tf_quiet_lines(text: str) -> list[str]:
    """The lines of a subprocess's stderr without TensorFlow's start-up chatter (absl/oneDNN/CPU notes)."""
    noise = ("I0000", "W0000", "WARNING: All log messages", "To enable the following instructions")
    return [line for line in text.splitlines() if line.strip() and not line.startswith(noise)]


def experiment_env(**extra) -> dict:
    import os

    return {**os.environ, "PYTHONPATH": str(REPO_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def run_experiment(args: list, cwd, timeout: int = 900, script: str = "simple_shapes_2.py", **env):
    """``python <script> <args>`` in ``cwd`` (runs land in cwd/runs/); a CompletedProcess with text output.
    ``timeout`` guards against a hang only: on a loaded machine (tests at nice 19 beside a training run) a tiny
    run took over 300 s."""
    import subprocess

    command = [sys.executable, *([str(REPO_ROOT / script)] if script else []), *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=experiment_env(**env), capture_output=True, text=True,
                          timeout=timeout)


def run_script_here(script: str, args: list, cwd, monkeypatch) -> int:
    """``python <script> <args>`` in ``cwd``, but in this process (TensorFlow is loaded here already): the
    script runs as ``__main__`` with that ``sys.argv``, as the interpreter would run it; its exit code (0 when it
    returns). For the tests of what a run makes, not of the process around it."""
    import runpy

    path = str(REPO_ROOT / script)
    monkeypatch.chdir(cwd)
    monkeypatch.setattr(sys, "argv", [path, *map(str, args)])
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as stop:
        return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    return 0


def made_once(tmp_path_factory, name: str, make) -> Path:
    """The folder ``name`` that ``make(folder)`` fills once per test session: the first test process that needs
    it makes it under a file lock in the session's temporary folder, the others wait for it and find it done."""
    import os
    import shutil

    from filelock import FileLock

    session, run_id = tmp_path_factory.getbasetemp(), "1"
    if os.environ.get("PYTEST_XDIST_WORKER"):  # the folder above popen-gwK/, and an id new in every session
        session, run_id = session.parent, os.environ["PYTEST_XDIST_TESTRUNUID"]
    folder = session / f"{name}-{run_id}"
    with FileLock(str(folder) + ".lock"):
        if not (folder / "done").is_file():
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir()
            make(folder)
            (folder / "done").write_text("")
    return folder


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """A finished 2-epoch run of the tiny config made by the command line (runs/simple_shapes_2/1), shared by
    the tests that read it. It is trained once per test session: the first test process that needs it trains
    it under a file lock in the session's temporary folder; every test process then works on its own copy
    (tests write beside it), so the processes of ``-n 2`` never see each other's files."""
    import shutil

    from tests.tiny import TINY, overrides

    def make(folder):
        proc = run_experiment(["with", *overrides(TINY)], folder)
        assert proc.returncode == 0, "\n".join(tf_quiet_lines(proc.stderr)[-30:])

    trained = made_once(tmp_path_factory, "tiny_run_trained", make)
    cwd = tmp_path_factory.mktemp("tiny_run")
    shutil.copytree(trained / "runs", cwd / "runs")
    return cwd / "runs" / "simple_shapes_2" / "1"
