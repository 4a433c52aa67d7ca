"""Sacred's own command-line options on an experiment script (-l, -F, -s, -m) and ``print_config``: a bad one is
one ``error:`` line, exit code 2, no traceback, no run folder; an unreachable MongoDB is told within seconds.

The experiment runs in this process (as ``python simple_shapes_2.py …`` would): every case stops before training."""
import socket
import sys
import time

import pytest

from stampnet import ConfigError
from stampnet.tracking import check_options
from tests.tiny import TINY, overrides


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    """The Sacred experiment, run in-process from an empty folder (its runs/ would appear there)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("STAMPNET_MONGO_TIMEOUT_MS", raising=False)
    from stamp_network import ex

    return ex


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then let go)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def refused(experiment, capsys, argv) -> str:
    """The one ``error:`` line of ``simple_shapes_2.py <argv>``, which must stop with exit code 2."""
    with pytest.raises(SystemExit) as stop:
        experiment.run_commandline(["simple_shapes_2.py", *argv])
    stderr = capsys.readouterr().err
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert stop.value.code == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


def no_run_folder(tmp_path) -> bool:
    return not any(tmp_path.rglob("run.json")) and not any(tmp_path.rglob("config.json"))


@pytest.mark.parametrize("option, match", [
    (["-F", "afile/sub"], "error: -F/--file_storage 'afile/sub' cannot be made: 'afile' is a file; give a folder"),
    (["-l", "BOGUS"], "error: -l/--loglevel 'BOGUS' is not a log level; give DEBUG, INFO"),
    (["-l", "info"], "error: -l/--loglevel 'info' is not a log level"),
    (["-m", "bad::spec"], "error: -m/--mongo_db 'bad::spec' is not [HOST:PORT:]DB"),
])
def test_a_bad_sacred_option_is_one_line_and_leaves_no_run_folder(experiment, tmp_path, capsys, option, match):
    (tmp_path / "afile").write_text("")
    assert match in refused(experiment, capsys, [*option, "with", *overrides(TINY)])
    assert no_run_folder(tmp_path)


def test_sql_observer_without_sqlalchemy_is_one_line(experiment, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "sqlalchemy", None)  # absent, whether or not it is installed here
    line = refused(experiment, capsys, ["-s", "sqlite", "with", *overrides(TINY)])
    assert line == "error: -s/--sql needs sqlalchemy (Sacred's SQL observer): `pip install sqlalchemy`, or drop -s"
    assert no_run_folder(tmp_path)


def test_sql_observer_with_a_bad_url_is_one_line():
    pytest.importorskip("sqlalchemy", reason="checks the URL with sqlalchemy, which is not installed here")
    with pytest.raises(ConfigError, match=r"^-s/--sql 'sqlite' is not a database URL .*sqlite:///runs.db"):
        check_options({"--sql": "sqlite"})


def test_unreachable_mongo_option_is_told_within_seconds(experiment, tmp_path, capsys):
    port = closed_port()
    start = time.monotonic()
    line = refused(experiment, capsys, ["-m", f"127.0.0.1:{port}:stampnet_test", "with", *overrides(TINY)])
    assert time.monotonic() - start < 20  # pymongo alone waits 30 s, then Sacred prints five tracebacks
    assert line.startswith(f"error: cannot reach MongoDB at 127.0.0.1:{port} (ServerSelectionTimeoutError: ")
    assert line.endswith("start mongod or fix -m/--mongo_db (or drop it)")
    assert no_run_folder(tmp_path)


def test_good_options_pass_and_make_nothing(tmp_path):
    check_options({"--loglevel": "WARNING", "--file_storage": str(tmp_path / "new" / "deeper"),
                   "--mongo_db": f"127.0.0.1:{closed_port()}:stampnet.runs!5"}, observed=False)  # not reached
    check_options({"--loglevel": "10"})
    check_options({"--loglevel": 10, "--file_storage": "relative/new"})  # as Experiment.run(options=…) may pass
    assert list(tmp_path.iterdir()) == []


def test_print_config_refuses_a_typo(experiment, tmp_path, capsys):
    line = refused(experiment, capsys, ["print_config", "with", "run_parameters.epochz=3"])
    assert line == "error: unknown config key run_parameters.epochz; did you mean run_parameters.epochs?"
    assert no_run_folder(tmp_path)


def test_print_config_of_a_good_config_with_options(experiment, tmp_path, capsys):
    run = experiment.run_commandline(["simple_shapes_2.py", "-l", "WARNING", "-F", "extra", "print_config",
                                      "with", "run_parameters.epochs=7"])
    assert run.status == "COMPLETED" and "epochs = 7" in capsys.readouterr().out
    assert no_run_folder(tmp_path)


def test_print_config_shows_the_data_sets_defaults(capsys):
    """print_config lists every key the data set reads, at its declared default where the script sets none."""
    from stampnet.experiment import build

    ex = build("pedestrian", "pedestrian.py")
    ex.run_commandline(["pedestrian.py", "print_config"])
    out = capsys.readouterr().out
    for line in ("synthetic_if_missing = True", "synthetic_n = 2000", "shape_size = 40"):
        assert line in out
