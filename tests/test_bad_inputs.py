"""Every bad input gives one clear line that names the fix (a ConfigError; ``error: …`` and exit code 2 on the
command line), never a bare traceback, and leaves no partial files. docs/troubleshooting.md lists them."""
import json
import zipfile

import h5py
import keras
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.config import validate
from stampnet.data import load_data
from stampnet.runs import preflight
from stampnet.train import TrainingDiverged, train
from tests.conftest import run_experiment, tf_quiet_lines
from tests.tiny import TINY, overrides, tiny, with_


def one_line_error(match: str):
    """pytest.raises for a ConfigError whose message is one line containing ``match`` (a regex)."""
    return pytest.raises(ConfigError, match=rf"^[^\n]*{match}[^\n]*$")


def data(cfg: dict):
    cfg = validate(cfg)
    return load_data(cfg["run_parameters"], cfg["layer_parameters"]["input_parameters"], cfg["seed"])


def cli_error(proc) -> str:
    """The single ``error:`` line of a failed command-line run (and no traceback)."""
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, "\n".join(tf_quiet_lines(proc.stderr)[-20:])
    assert len(errors) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    return errors[0]


# ------------------------------------------------------------------------------------- the model's shape

def test_stamp_larger_than_image():
    with one_line_error("stamp_size 40 is larger than the 32x32 image.*stamp_size <= 32"):
        validate(with_(TINY, "layer_parameters.decoder_parameters.stamp_size", 40))


def test_coord_tensor_size_contradiction():
    with one_line_error("coord_tensor_size 20 contradicts img_rows - stamp_size \\+ 1 = 25.*remove coord_tensor_size"):
        validate(with_(TINY, "layer_parameters.decoder_parameters.coord_tensor_size", 20))
    assert validate(with_(TINY, "layer_parameters.decoder_parameters.coord_tensor_size", 25))  # consistent: fine


def test_encoder_not_reaching_1x1():
    with one_line_error("4x4 latent, not 1x1.*final_conv_kernel=\\[8, 8\\]"):
        validate(with_(TINY, "layer_parameters.encoder_parameters.final_conv_kernel", [5, 5]))


def test_nr_of_stamps_below_one():
    with one_line_error("nr_of_stamps must be >= 1, got 0"):
        validate(with_(TINY, "layer_parameters.decoder_parameters.nr_of_stamps", 0))


def test_stamps_per_canvas_below_one():
    with one_line_error("stamps_per_canvas must be >= 1, got 0"):
        validate(with_(TINY, "layer_parameters.decoder_parameters.stamps_per_canvas", 0))


# ---------------------------------------------------------------------------------------------- data

def test_unknown_img_type():
    with one_line_error("unknown run_parameters.img_type 'shapes'; did you mean 't_shape'"):
        data(with_(TINY, "run_parameters.img_type", "shapes"))
    with one_line_error("unknown run_parameters.img_type 'xyz'; choose one of .*t_shape"):
        data(with_(TINY, "run_parameters.img_type", "xyz"))


def test_unknown_shape_name():
    with one_line_error("unknown shape 'circle'.*valid names: .*plus"):
        data(with_(TINY, "run_parameters.img_type_parameters.shapes_to_use", ["plus", "circle"]))


def test_more_non_overlapping_objects_than_fit():
    cfg = with_(TINY, "run_parameters.img_type_parameters.overlap", False)
    cfg = with_(cfg, "run_parameters.img_type_parameters.nr_img_per_canvas", 20)
    with one_line_error("20 non-overlapping objects do not fit on a 32x32 canvas.*overlap=true"):
        data(cfg)


def ct_mnist(path) -> dict:
    cfg = with_(TINY, "run_parameters.img_type", "ct_mnist")
    return with_(cfg, "run_parameters.img_type_parameters", {"data_path": str(path)})


def test_missing_npz(tmp_path):
    with one_line_error("no CT-MNIST file at .*python generate_cluttered_mnist.py"):
        data(ct_mnist(tmp_path / "missing.npz"))


def test_corrupt_npz(tmp_path):
    (tmp_path / "bad.npz").write_bytes(b"PK\x03\x04 this is not a zip")
    with one_line_error("is not a readable .npz.*delete it and run `python generate_cluttered_mnist.py"):
        data(ct_mnist(tmp_path / "bad.npz"))


def test_npz_with_missing_keys(tmp_path):
    np.savez(tmp_path / "partial.npz", x_train=np.zeros((2, 32, 32), np.uint8))
    with one_line_error("lacks the keys \\['y_train'.*regenerate it"):
        data(ct_mnist(tmp_path / "partial.npz"))


def test_npz_with_images_of_the_wrong_size(tmp_path):
    arrays = {f"x_{s}": np.zeros((4, 40, 40), np.uint8) for s in ("train", "test")}
    arrays.update({f"y_{s}": np.zeros((4, 2), np.int64) for s in ("train", "test")})
    arrays.update({f"x_{s}_coords": np.zeros((4, 2, 2), np.int64) for s in ("train", "test")})
    np.savez(tmp_path / "big.npz", **arrays)
    with one_line_error("canvases are \\(40, 40\\) but img_rows/img_cols are 32x32; set them to the file's size"):
        data(ct_mnist(tmp_path / "big.npz"))


def test_wrong_mnist_path(tmp_path):
    cfg = with_(TINY, "run_parameters.img_type", "t_mnist")
    cfg = with_(cfg, "run_parameters.img_type_parameters", {"mnist_path": str(tmp_path / "nowhere" / "mnist.npz")})
    with one_line_error("MNIST path .*nowhere.* does not exist; .*mnist_path"):
        data(cfg)


def test_omniglot_zip_not_in_the_layout(tmp_path):
    with zipfile.ZipFile(tmp_path / "flat.zip", "w") as zf:
        zf.writestr("drawing.png", b"")
    cfg = with_(TINY, "run_parameters.img_type", "omniglot")
    cfg = with_(cfg, "run_parameters.img_type_parameters", {"data_path": str(tmp_path / "flat.zip")})
    with one_line_error("is not in the Omniglot layout <split>/<alphabet>/<character>/<drawing>.png; point data_path"):
        data(cfg)


# ----------------------------------------------------------------------------- the command line (subprocess)

@pytest.mark.slow
def test_override_of_the_wrong_type_on_the_command_line(tmp_path):
    proc = run_experiment(["with", *overrides(TINY), "run_parameters.epochs=abc"], tmp_path)
    assert "run_parameters.epochs must be an integer, got 'abc'" in cli_error(proc)
    assert not (tmp_path / "runs" / "simple_shapes_2" / "1").exists()  # checked before the run folder exists


@pytest.mark.slow
def test_missing_data_file_on_the_command_line_leaves_no_run_folder(tmp_path):
    """The data is loaded after Sacred made the run folder; a run that fails before training removes it."""
    cfg = with_(ct_mnist(tmp_path / "missing.npz"), "layer_parameters.input_parameters.img_rows", 32)
    proc = run_experiment(["with", *overrides(cfg)], tmp_path, script="ct_mnist_2.py")
    assert "no CT-MNIST file at" in cli_error(proc)
    assert not (tmp_path / "runs" / "ct_mnist_2" / "1").exists()


# ------------------------------------------------------------------------------------- training and after

class NaNAtEpoch(keras.callbacks.Callback):
    """From the start of epoch ``epoch`` (0-based) on, the learning rate is NaN: the weights become NaN."""

    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.model.optimizer.learning_rate.assign(float("nan"))


@pytest.mark.slow
def test_nan_loss_stops_keeps_the_last_good_checkpoint(tmp_path):
    with one_line_error("training diverged at epoch 2 \\(loss nan\\); the last good checkpoint is .*weights.01-.*"
                        "lower layer_parameters.learning_rate"):
        train(tiny(epochs=3), tmp_path, callbacks=[NaNAtEpoch(1)])
    assert [p.name.split("-")[0] for p in (tmp_path / "trained").glob("*.weights.h5")] == ["weights.01"]
    with h5py.File(tmp_path / "backup" / "state.weights.h5", "r") as f:
        assert f["stampnet_resume"].attrs["epoch"] == 1  # the resumable state is the last good epoch too
    assert isinstance(TrainingDiverged("x"), FloatingPointError)


@pytest.mark.slow
def test_nan_loss_on_the_command_line_marks_the_run_failed(tmp_path):
    proc = run_experiment(["with", *overrides(TINY), "layer_parameters.learning_rate=1e30"], tmp_path)
    assert "training diverged" in cli_error(proc)
    run = tmp_path / "runs" / "simple_shapes_2" / "1"
    assert json.loads((run / "run.json").read_text())["status"] == "FAILED"  # kept, marked failed


def run_folder(tmp_path, cfg=TINY):
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    return tmp_path


def test_evaluate_on_a_run_without_weights(tmp_path, capsys):
    from stampnet.evaluate import main

    assert main([str(run_folder(tmp_path))]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no weights for any epoch in") and "\n" not in err and "--weights" in err


def fake_2019_file(path, n_conv: int, kernel_shape=(3, 3, 1, 4)):
    """A Keras 2.2.2-style save_weights file: root attr layer_names, groups conv2d_N/conv2d_N/kernel:0 …"""
    names = [f"conv2d_{i}" for i in range(1, n_conv + 1)] + [f"batch_normalization_{i}" for i in range(1, n_conv + 1)]
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode() for n in names + ["stamp_layer"]])
        for i in range(1, n_conv + 1):
            g = f.create_group(f"conv2d_{i}/conv2d_{i}")
            g["kernel:0"], g["bias:0"] = np.zeros(kernel_shape, np.float32), np.zeros(kernel_shape[-1:], np.float32)
            g = f.create_group(f"batch_normalization_{i}/batch_normalization_{i}")
            for w in ("gamma", "beta", "moving_mean", "moving_variance"):
                g[f"{w}:0"] = np.zeros(kernel_shape[-1:], np.float32)
        f.create_group("stamp_layer/stamp_layer")["kernel:0"] = np.zeros((8, 8, 4, 1), np.float32)
    return path


def test_2019_weights_of_another_architecture(tmp_path, capsys):
    from stampnet.evaluate import main

    run = run_folder(tmp_path)
    # A file of a deeper 2019 encoder (7 conv blocks) …
    assert main([str(run), "--weights", str(fake_2019_file(tmp_path / "deep.hdf5", n_conv=15))]) == 2
    err = capsys.readouterr().err.strip()
    assert "has 15 conv layers" in err and "config.json saved with these weights" in err and "\n" not in err
    # … and one with the right layer count but other shapes.
    assert main([str(run), "--weights", str(fake_2019_file(tmp_path / "wide.hdf5", n_conv=9))]) == 2
    err = capsys.readouterr().err.strip()
    assert "is from another architecture" in err and "\n" not in err


def test_resume_from_a_folder_without_state(tmp_path):
    cfg = {**tiny(epochs=3), "resume_from": str(run_folder(tmp_path))}
    with one_line_error("has nothing to resume from .*python -m stampnet.reproduce"):
        preflight(cfg)


def test_resume_from_a_run_that_reached_its_epochs(tiny_run):
    with one_line_error("already trained 2 of 2 epochs; to train further add run_parameters.epochs=<more than 2>"):
        preflight({**tiny(epochs=2), "resume_from": str(tiny_run)})


def test_bad_run_options():
    with one_line_error("deterministic must be true, false or null"):
        preflight(with_(TINY, "run_parameters.deterministic", "yes"))
    with one_line_error("distribute must be null or 'mirrored'"):
        preflight(with_(TINY, "run_parameters.distribute", "multi"))
