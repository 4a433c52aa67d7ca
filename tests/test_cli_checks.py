"""Every command line's bad option is one ``error:`` line on stderr naming the option and the fix, exit code 2,
and nothing written: generate_cluttered_mnist.py, the synthetic pedestrian generator, bench and reproduce
(evaluate's are in test_evaluate.py)."""
import pytest

from stampnet.cli import ArgumentParser, positive_float, positive_int, seed
from stampnet.tf_noise import NO_GPU_LINE


def one_error_line(capsys, main, argv, match):
    try:
        code = main(argv)
    except SystemExit as stop:
        code = stop.code
    err = capsys.readouterr().err.replace(NO_GPU_LINE, "").strip()  # the first TensorFlow import in this process
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    assert match in err, err


def test_parser_error_is_one_line(capsys):
    parser = ArgumentParser(prog="prog")
    parser.add_argument("--n", type=positive_int)
    parser.add_argument("--tau", type=positive_float)
    parser.add_argument("--seed", type=seed)
    for argv, match in ((["--n", "0"], "argument --n: must be an integer >= 1 (e.g. 64), got 0"),
                        (["--tau", "-1"], "argument --tau: must be a number > 0 (e.g. 1e-4), got '-1'"),
                        (["--seed", "x"], "argument --seed: must be an integer >= 0"),
                        (["--bogus"], "unrecognized arguments: --bogus")):
        one_error_line(capsys, parser.parse_args, argv, match)


@pytest.mark.parametrize("argv, match", [
    (["--seed", "-1"], "argument --seed: must be an integer >= 0"),
    (["--seed", str(2 ** 32)], "argument --seed: must be below 2**32"),
    (["--n-train", "0"], "argument --n-train: must be an integer >= 1"),
    (["--n-test", "x"], "argument --n-test: must be an integer >= 1"),
    (["--canvas", "20"], "argument --canvas: 28x28 digits do not fit on a 20x20 canvas; use --canvas >= 28"),
    (["--n-clutter", "-1"], "argument --n-clutter: must be an integer >= 0"),
    (["--clutter-size", "0"], "argument --clutter-size: must be an integer >= 1"),
    (["--canvas", "30", "--clutter-size", "40"], "argument --clutter-size: 40x40 clutter does not fit"),
    (["--digits", "3"], "argument --digits: invalid choice"),
    (["--digits", "2", "--out", "/nonexistent/dir/ct.npz"],
     "argument --out: the folder '/nonexistent/dir' does not exist"),
])
def test_generate_cluttered_mnist_options(tmp_path, capsys, monkeypatch, argv, match):
    from generate_cluttered_mnist import main

    monkeypatch.chdir(tmp_path)
    one_error_line(capsys, main, argv, match)
    assert list(tmp_path.iterdir()) == []


def test_generate_cluttered_mnist_missing_mnist(tmp_path, capsys):
    from generate_cluttered_mnist import main

    one_error_line(capsys, main, ["--mnist", str(tmp_path / "no.npz"), "--out", str(tmp_path / "out")], "MNIST")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("argv, match", [
    (["--synthetic", "--n", "0"], "argument --n: must be an integer >= 1"),
    (["--synthetic", "--n", "ten"], "argument --n: must be an integer >= 1"),
    (["--synthetic", "--seed", "-3"], "argument --seed: must be an integer >= 0"),
    (["--synthetic", "--per-minute", "0"], "argument --per-minute: must be an integer >= 1"),
    ([], "pass --synthetic"),
])
def test_synthetic_pedestrian_options(tmp_path, capsys, argv, match):
    from stampnet.data.pedestrian import main

    one_error_line(capsys, main, argv + ["--out", str(tmp_path / "ped")], match)
    assert not (tmp_path / "ped").exists()


def test_synthetic_pedestrian_out_is_a_file(tmp_path, capsys):
    from stampnet.data.pedestrian import main

    (tmp_path / "ped").write_text("")
    one_error_line(capsys, main, ["--synthetic", "--n", "2", "--out", str(tmp_path / "ped")],
                   "is a file; give a folder")


@pytest.mark.parametrize("argv, match", [
    (["--batch", "0"], "argument --batch: must be an integer >= 1"),
    (["--conv-batch", "-2"], "argument --conv-batch: must be an integer >= 1"),
    (["--save", "/nonexistent/dir/b.json"], "argument --save: the folder '/nonexistent/dir' does not exist"),
    (["--config", "simple_shapes_2,nonexistent.json"], "argument --config: 'nonexistent.json' is neither an "
                                                        "experiment (simple_shapes_2, ct_mnist_2) nor a config.json"),
    (["--config", "tests/tiny.py"], "argument --config: tests/tiny.py is not valid JSON"),
])
def test_bench_options(capsys, argv, match):
    from stampnet.bench.__main__ import main

    one_error_line(capsys, main, argv, match)


@pytest.mark.parametrize("argv, match", [
    ([], "give a run folder"),
    (["/nonexistent/run"], "is not a run folder (no config.json)"),
])
def test_reproduce_options(capsys, argv, match):
    from stampnet.reproduce import main

    one_error_line(capsys, main, argv, match)


def test_reproduce_with_a_typo_stops_before_a_new_run(tiny_run):
    from tests.conftest import run_experiment

    before = sorted(p.name for p in tiny_run.parent.iterdir())
    proc = run_experiment(["-m", "stampnet.reproduce", str(tiny_run), "with", "run_parameters.epochz=3"],
                          tiny_run.parent.parent.parent, script=None)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and errors == [
        "error: unknown config key run_parameters.epochz; did you mean run_parameters.epochs?"], proc.stderr[-2000:]
    assert sorted(p.name for p in tiny_run.parent.iterdir()) == before  # no new run folder
