"""The config's edge: a raw config is validated once, where it enters (the Sacred config hook, or train when it is
handed a raw config)."""
import json
import sys

import pytest

from tests.tiny import tiny

@pytest.fixture
def validations(monkeypatch) -> list:
    """The configs ``stampnet.config.validate`` is called with from now on, wherever a module imported it."""
    import importlib

    import stampnet.config

    for name in ("spec", "runs", "experiment", "train", "evaluate"):  # each binds the name when first imported
        importlib.import_module(f"stampnet.{name}")
    original, calls = stampnet.config.validate, []

    def counted(config):
        calls.append(config)
        return original(config)

    for module in [m for name, m in sys.modules.items() if name == "stampnet" or name.startswith("stampnet.")]:
        if getattr(module, "validate", None) is original:
            monkeypatch.setattr(module, "validate", counted)
    return calls


@pytest.mark.slow
def test_a_sacred_run_validates_its_config_once(tmp_path, monkeypatch, validations):
    """Through the experiment: its config hook validates, main trains that result (not validated again), and
    it is the config the run's config.json records."""
    import stampnet.train
    from stampnet.config import validate
    from stampnet.experiment import build
    from stampnet.spec import RunSpec, run_spec

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STAMPNET_RUNS", str(tmp_path / "runs"))
    trained, train = [], stampnet.train.train
    monkeypatch.setattr(stampnet.train, "train",
                        lambda config, *args, **kwargs: trained.append(config) or train(config, *args, **kwargs))
    config = tiny(epochs=1, steps_per_epoch=2, validation_steps=1)
    run = build("simple_shapes_2").run("main", config_updates=config)
    assert run.status == "COMPLETED"
    assert len(validations) == 1
    [spec] = trained
    assert isinstance(spec, RunSpec)
    stored = json.loads((tmp_path / "runs" / "simple_shapes_2" / "1" / "config.json").read_text())
    stored.pop("__doc__", None)
    assert spec == run_spec(validate(stored))  # what main trained = the recorded config, data defaults included
    assert {"train_size", "intensities"} <= set(spec.data.params) - set(config["run_parameters"]["img_type_parameters"])


def test_train_takes_a_raw_config_and_validates_it_once(tmp_path, monkeypatch, validations):
    """``train(config, run_dir)`` with a raw config: checked there, once (stopped right after, at the data)."""
    import stampnet.runs
    import stampnet.spec
    import stampnet.train

    stop = RuntimeError("stop before training")
    monkeypatch.setattr(stampnet.spec.DataSpec, "load", lambda self, seed: (_ for _ in ()).throw(stop))
    with pytest.raises(RuntimeError, match="stop before training"):
        stampnet.train.train(tiny(), tmp_path)
    assert len(validations) == 1
    with pytest.raises(RuntimeError, match="stop before training"):
        stampnet.train.train(stampnet.runs.preflight(tiny()), tmp_path)
    assert len(validations) == 2  # the spec is taken as it is
