"""Every key of config.DEFAULTS is checked: a bad value or an unknown key (a typo) is one line naming the key and
the fix, before anything is written; the keys 2019 configs carry load."""
import json
import os

import pytest

from stampnet import ConfigError
from stampnet.config import DEFAULTS, IGNORED_KEYS, nearest_key, read_config, unknown_keys, validate
from tests.conftest import REPO_ROOT, require_shared, run_experiment, tf_quiet_lines
from tests.tiny import TINY, overrides, with_

GUMBEL = "layer_parameters.decoder_parameters.gumbel_parameters."
ENCODER = "layer_parameters.encoder_parameters."


@pytest.mark.parametrize("path, value, match", [
    (GUMBEL + "steps_per_epoch", 0, "steps_per_epoch must be >= 1, got 0"),
    (GUMBEL + "steps_per_epoch", "abc", "steps_per_epoch must be an integer, got 'abc'"),
    (GUMBEL + "tau_init", 0, "tau_init must be a number > 0, got 0; e.g. `with " + GUMBEL + "tau_init=7`"),
    (GUMBEL + "tau_init", -3, "tau_init must be a number > 0"),
    (GUMBEL + "tau_init", "7", "tau_init must be a number > 0, got '7'"),
    (GUMBEL + "min_temperature", 0, "min_temperature must be a number > 0"),
    (GUMBEL + "min_temperature", -0.2, "min_temperature must be a number > 0"),
    (GUMBEL + "anneal_rate", -0.01, "anneal_rate must be a number >= 0"),
    (GUMBEL + "anneal_rate", float("nan"), "anneal_rate must be a number >= 0"),
    ("run_parameters.test_temperature", 0, "test_temperature must be a number > 0"),
    ("run_parameters.test_temperature", -1e-4, "test_temperature must be a number > 0"),
    ("run_parameters.epochs", 0, "run_parameters.epochs must be >= 1"),
    ("run_parameters.steps_per_epoch", "abc", "run_parameters.steps_per_epoch must be an integer, got 'abc'"),
    ("run_parameters.validation_steps", -1, "run_parameters.validation_steps must be >= 0"),
    ("run_parameters.checkpoint_period", 1.5, "run_parameters.checkpoint_period must be an integer"),
    ("run_parameters.n_figure_images", -1, "run_parameters.n_figure_images must be >= 0"),
    ("run_parameters.shuffle", "yes", "run_parameters.shuffle must be true or false"),
    ("run_parameters.img_type", 3, "run_parameters.img_type must be a name"),
    ("run_parameters.img_type_parameters", 5, "run_parameters.img_type_parameters must be a dict"),
    ("run_parameters.mnist_path", 5, "run_parameters.mnist_path must be a string or null"),
    ("layer_parameters.learning_rate", 0, "layer_parameters.learning_rate must be a number > 0"),
    ("layer_parameters.learning_rate", float("inf"), "layer_parameters.learning_rate must be a number > 0"),
    (ENCODER + "encoder_dropout_rate", 1, "encoder_dropout_rate must be a number >= 0 and < 1"),
    (ENCODER + "encoder_dropout_rate", -0.1, "encoder_dropout_rate must be a number >= 0 and < 1"),
    (ENCODER + "final_conv_size", 0, "final_conv_size must be >= 1"),
    (ENCODER + "conv_kernel_size", [3], "conv_kernel_size must be two positive integers"),
    (ENCODER + "conv_kernel_size", [3, 0], "conv_kernel_size must be two positive integers"),
    (ENCODER + "final_conv_kernel", "8", "final_conv_kernel must be two positive integers"),
    ("layer_parameters.input_parameters.batch_size", 0, "batch_size must be >= 1"),
    ("layer_parameters.decoder_parameters.decoder_enc_size", "big", "decoder_enc_size must be an integer"),
    ("seed", -1, "seed must be an integer from 0 to 2**32 - 1"),
    ("seed", 2 ** 32, "seed must be an integer from 0 to 2**32 - 1"),
])
def test_bad_value_is_one_line_naming_the_key(path, value, match):
    with pytest.raises(ConfigError) as err:
        validate(with_(TINY, path, value))
    message = str(err.value)
    assert "\n" not in message and match in message, message


@pytest.mark.parametrize("path, suggestion", [
    ("run_parameters.epochz", "did you mean run_parameters.epochs?"),
    ("run_parameters.tau_init", "did you mean " + GUMBEL + "tau_init?"),  # the right key at the wrong level
    ("layer_parameters.learnin_rate", "did you mean layer_parameters.learning_rate?"),
    (GUMBEL + "anneal", "did you mean " + GUMBEL + "anneal_rate?"),
    ("layer_parameters.input_parameters.batchsize", "did you mean layer_parameters.input_parameters.batch_size?"),
    ("banana", "remove it"),
])
def test_unknown_key_names_the_nearest_known_one(path, suggestion):
    with pytest.raises(ConfigError) as err:
        validate(with_(TINY, path, 3))
    message = str(err.value)
    assert message.startswith(f"unknown config key {path};") and suggestion in message and "\n" not in message


def test_known_keys_follow_defaults():
    """New keys in DEFAULTS are known without a list to update; img_type_parameters stays free-form; the keys
    2019 configs carry that nothing reads are accepted."""
    extended = with_(DEFAULTS, "run_parameters.img_type_parameters", {"anything": 1})
    assert unknown_keys(extended) == []
    assert unknown_keys({"layer_parameters": {"loss": "mse"}, "__doc__": "a named config's docstring"}) == []
    assert "layer_parameters.loss" in IGNORED_KEYS
    assert unknown_keys({"run_parameters": {"epochs": 1, "epochz": 2}, "x": {"y": 1}}) == ["run_parameters.epochz", "x"]
    assert nearest_key("run_parameters.checkpoint_perod") == "run_parameters.checkpoint_period"


def test_2019_configs_and_stored_configs_load(tmp_path):
    ref = require_shared("reference/stampnet-2019")
    for path in sorted(ref.glob("*.config.json")):
        assert read_config(path)["run_parameters"]["epochs"] >= 800
    stored = with_(json.loads((ref / "simple_shapes_2.config.json").read_text()), "run_parameters.epochz", 3)
    (tmp_path / "config.json").write_text(json.dumps(stored))
    with pytest.raises(ConfigError, match=r"unknown config key run_parameters.epochz; did you mean "
                                          r"run_parameters.epochs\?"):
        read_config(tmp_path / "config.json")


@pytest.mark.slow
def test_typo_on_the_command_line_stops_before_the_run_folder(tmp_path):
    """...and before TensorFlow is imported (here it cannot be: the check must not need it)."""
    blocked = f"{REPO_ROOT / 'scripts' / 'no_tensorflow'}{os.pathsep}{REPO_ROOT}"
    proc = run_experiment(["with", "quick", *overrides(TINY), "run_parameters.epochz=3"], tmp_path,
                          PYTHONPATH=blocked)
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert proc.returncode == 2, "\n".join(tf_quiet_lines(proc.stderr)[-20:])
    assert errors == ["error: unknown config key run_parameters.epochz; did you mean run_parameters.epochs?"]
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "runs" / "simple_shapes_2" / "1").exists()
