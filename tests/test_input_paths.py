"""Inputs that reach past the config values: files in a run folder we did not write, the environment, data
that loads but cannot serve, sizes that cannot fit, broken files. Each ends in one line naming the fix."""
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import zipfile
from datetime import datetime, timezone

import cv2
import numpy as np
import pytest

from stampnet import runs
from stampnet.runs import checkpoint_epoch, checkpoints, find_weights, latest_weights, resume_source
from stampnet.config import read_config, validate
from stampnet.data import load_data
from tests.conftest import REPO_ROOT, experiment_env, require_shared
from tests.test_bad_inputs import one_line_error
from tests.tiny import TINY, tiny, with_


def _data(cfg):
    cfg = validate(cfg)
    return load_data(cfg["run_parameters"], cfg["layer_parameters"]["input_parameters"], cfg["seed"])


# ------------------------------------------------------------------------------------- run folders

def test_a_weight_file_of_another_name_is_left_alone(tmp_path):
    trained = tmp_path / "trained"
    trained.mkdir()
    for name in ("weights.02-1.50.weights.h5", "weights.10-0.75.weights.h5", "weights.best.weights.h5",
                 "weights.final.weights.h5"):
        (trained / name).write_bytes(b"")
    assert checkpoint_epoch(trained / "weights.best.weights.h5") is None
    assert list(checkpoints(trained)) == [2, 10]
    assert latest_weights(trained).name == "weights.10-0.75.weights.h5"


def test_evaluate_and_resume_read_past_a_users_checkpoint(tiny_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    shutil.copy(latest_weights(run / "trained"), run / "trained" / "weights.best.weights.h5")
    assert find_weights(run / "trained").name.startswith("weights.02-")
    shutil.rmtree(run / "backup")
    assert resume_source(run) == (latest_weights(run / "trained"), "checkpoint")


@pytest.mark.parametrize("text", ["[1, 2]", '"a string"', "3"])
def test_a_config_that_is_not_an_object(tmp_path, text):
    (tmp_path / "config.json").write_text(text)
    with one_line_error("not a config object; restore the run's config.json"):
        read_config(tmp_path / "config.json")


@pytest.mark.parametrize("content, message", [
    (b'{"seed": 3, "note": "\xff\xfe"}', r"is not UTF-8 text \(byte 0xff at offset 21\); restore the run's config"),
    (b"[" * 100_000 + b"]" * 100_000, r"nests its JSON deeper than Python reads"),
    (b'{"a": ' * 5_000 + b"1" + b"}" * 5_000, r"nests its JSON deeper than Python reads"),
    (b'{"seed": ' + b"9" * 5_000 + b"}", r"holds a number too long to read \(Exceeds the limit"),
    (b'{"seed": 3,', r"is not valid JSON"),
], ids=["not-utf8", "deep-list", "deep-object", "long-int", "truncated"])
def test_a_foreign_config_that_cannot_be_read_is_one_line(tmp_path, content, message):
    (tmp_path / "config.json").write_bytes(content)
    with one_line_error(message):
        read_config(tmp_path / "config.json")
    with one_line_error(message):
        runs.build_run(tmp_path)          # evaluate's reader of a run folder
    (tmp_path / "run.json").write_bytes(content)
    assert runs.read_json(tmp_path / "run.json") == {}  # the tolerant reader of Sacred's files: empty


@pytest.mark.parametrize("key", ["layer_parameters.learning_rate",
                                 "layer_parameters.decoder_parameters.gumbel_parameters.tau_init"])
def test_an_integer_too_large_for_a_float_is_one_line(tmp_path, key):
    (tmp_path / "config.json").write_text(json.dumps(with_(TINY, key, 10 ** 400)))
    with one_line_error(f"{key} must be a number > 0, got an integer of 401 digits, too large for a float"):
        read_config(tmp_path / "config.json")


def test_a_config_folder_in_place_of_the_file_is_one_line(tmp_path):
    from stampnet.config import load_json

    (tmp_path / "config.json").mkdir()
    with one_line_error("is a folder, not a JSON file; restore it"):
        load_json(tmp_path / "config.json", "restore it")


@pytest.mark.parametrize("key, value, part", [
    ("layer_parameters.decoder_parameters.nr_of_stamps", 10 ** 9, "heads"),
    ("layer_parameters.decoder_parameters.stamps_per_canvas", 10 ** 8, "decoder"),
    ("layer_parameters.input_parameters.batch_size", 10 ** 8, "encoder"),
    ("layer_parameters.encoder_parameters.final_conv_size", 10 ** 9, "encoder"),
])
def test_a_model_that_cannot_fit_is_refused_before_it_is_built(tmp_path, key, value, part):
    (tmp_path / "config.json").write_text(json.dumps(with_(TINY, key, value)))
    start = time.time()
    fix = rf"\({part}: [\d,.]+ GiB\), but [\d,.]+ GiB of memory is free; lower {re.escape(runs.MODEL_KEYS[part])}"
    with one_line_error(rf"the model of .*config.json needs about [\d,.]+ GiB for evaluation {fix}"):
        runs.build_run(tmp_path)
    with one_line_error(rf"the model of the config needs about [\d,.]+ GiB for training {fix}"):
        runs.preflight(with_(TINY, key, value))
    assert time.time() - start < 5  # from the shapes, nothing allocated


def test_the_model_estimate_counts_the_parameters_keras_makes():
    from stampnet.model import build_model
    from stampnet.spec import from_config

    model, train = from_config(tiny())
    parts = runs.model_memory(model, train.batch_size, training=False)
    params = build_model(model, compile=False).count_params()
    weights = runs.model_memory(model, 0, False)
    assert sum(weights.values()) // 4 == pytest.approx(params, rel=0.01)  # batch 0: the parameters alone
    training = runs.model_memory(model, train.batch_size, training=True)
    assert sum(training.values()) > sum(parts.values())  # gradients, optimizer


def test_a_truncated_weight_file_is_named_as_such(tmp_path):
    from stampnet.runs import load_weights

    ref = require_shared("reference/stampnet-2019/simple_shapes_2.weights.800.hdf5")
    cut = tmp_path / "weights.hdf5"
    cut.write_bytes(ref.read_bytes()[:100_000])
    with one_line_error("is not a readable HDF5 weight file .*truncated"):
        load_weights(None, cut, tmp_path / "config.json")
    (tmp_path / "other.weights.h5").write_bytes(b"PK\x03\x04 not hdf5 at all")
    with one_line_error("is not a readable HDF5 weight file"):
        load_weights(None, tmp_path / "other.weights.h5", tmp_path / "config.json")


def _run_json(folder, heartbeat, status="RUNNING"):
    folder.mkdir(exist_ok=True)
    (folder / "run.json").write_text(json.dumps({"status": status, "heartbeat": heartbeat.isoformat()}))


def _utc_now():
    return datetime.now(timezone.utc).replace(tzinfo=None)


def test_a_run_is_live_only_while_its_heartbeat_moves(tmp_path, monkeypatch):
    monkeypatch.setattr(runs, "HEARTBEAT_WAIT_S", 1.5)
    run = tmp_path / "1"
    _run_json(run, _utc_now())
    assert not runs.is_live(run)               # killed: RUNNING, but the heartbeat stands still
    beat = threading.Timer(0.5, lambda: _run_json(run, _utc_now()))
    beat.start()
    _run_json(run, _utc_now())
    assert runs.is_live(run)                   # the heartbeat moved within the wait
    _run_json(run, datetime(2020, 1, 1))
    assert not runs.is_live(run)               # stale: answered at once
    _run_json(run, _utc_now(), status="COMPLETED")
    assert not runs.is_live(run)
    (run / "run.json").write_text("[]")        # not ours: reads as empty
    assert runs.read_json(run / "run.json") == {} and not runs.is_live(run)


# ------------------------------------------------------------------------------------- the environment

def _entry(args, **env):
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=experiment_env(**env), capture_output=True,
                          text=True, timeout=300)


def test_an_unknown_keras_backend_is_one_line():
    proc = _entry(["-m", "stampnet.evaluate", "runs/x/1"], KERAS_BACKEND="tensorflw")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip().splitlines() == [
        "error: KERAS_BACKEND='tensorflw' is not a Keras backend; set it to one of tensorflow, jax, torch "
        "(or unset it for tensorflow)"]


def test_a_runs_folder_that_cannot_be_made_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    proc = _entry([str(REPO_ROOT / "simple_shapes_2.py"), "with", "quick"], STAMPNET_RUNS=str(blocker / "runs"))
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert len(errors) == 1 and "cannot make the runs folder STAMPNET_RUNS=" in errors[0]


# ------------------------------------------------------------------------------------- data that cannot serve

def test_an_empty_test_split_is_refused(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((32, 32), 40 * i, np.uint8))
    cfg = tiny(img_type="folder", img_type_parameters={"data_path": str(folder), "test_fraction": 0.0})
    with one_line_error("the folder test split is empty; raise img_type_parameters.test_fraction"):
        _data(cfg)


def test_a_corrupt_member_of_an_omniglot_zip_is_skipped(tmp_path):
    from stampnet.data.omniglot import read_omniglot
    from tests.test_omniglot import N_DRAWINGS, make_zip

    path = make_zip(tmp_path / "images_background.zip")
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        first = zf.infolist()[0]
    start = first.header_offset + 30 + len(first.filename.encode()) + len(first.extra)
    raw[start:start + 8] = b"\xff" * 8        # its compressed bytes: a bad CRC (or a broken stream)
    path.write_bytes(bytes(raw))
    data = read_omniglot({"data_path": str(path)})
    assert len(data.images) == 5 * N_DRAWINGS - 1


def test_sizes_that_cannot_fit_are_refused_before_allocating():
    cfg = tiny(img_type_parameters={**tiny()["run_parameters"]["img_type_parameters"], "train_size": 10 ** 9})
    start = time.time()
    with one_line_error(r"generating canvases: 1,000,000,000 canvases of 32x32 need .* GiB.*lower "
                        r"img_type_parameters.train_size"):
        _data(cfg)
    assert time.time() - start < 5  # refused from the shapes, not after trying


def test_the_cluttered_generator_refuses_a_canvas_that_cannot_fit():
    from stampnet.data.cluttered import check_clutter_args

    digits = np.zeros((10, 28, 28), np.uint8)
    with one_line_error(r"CT-MNIST canvases: 1,000,000 canvases of 100000x100000 need .*lower --canvas"):
        check_clutter_args(digits, 10 ** 6, 1, 100_000, 8, 8)


def test_a_killed_writers_temporary_file_is_removed(tmp_path):
    from stampnet.data.cluttered import save_npz_atomic

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    orphan = tmp_path / f".tmp-{dead}-ct.npz"
    orphan.write_bytes(b"half")
    live = tmp_path / f".tmp-{os.getppid()}-ct.npz"  # the temporary file of a process that still runs
    live.write_bytes(b"being written")
    save_npz_atomic(tmp_path / "ct.npz", {"x": np.zeros(3)})
    assert not orphan.exists() and live.exists() and (tmp_path / "ct.npz").is_file()
