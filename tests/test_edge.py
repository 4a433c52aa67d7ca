"""The config's edge: a raw config is validated once, where it enters (the Sacred config hook, the readers of a
run folder's config.json), and below it only specs are read, never a 2019 key."""
import ast
import json
import sys
from pathlib import Path

import pytest

import stampnet
from stampnet.config import DEFAULTS
from tests.tiny import tiny

PACKAGE = Path(stampnet.__file__).resolve().parent

# Where a raw config may be read by its 2019 keys, and why; every other module of the package is below the edge.
EDGE = {
    "config.py": "the keys, their defaults and the validation",
    "spec.py": "turns the validated config into the specs",
    "experiments": "the experiments' configs, written by their keys",
    "data": "the loaders take the validated run_parameters / input_parameters that DataSpec hands them",
}
# Leaf names that also name other things below the edge (the model's parts in the FLOP and memory counts).
AMBIGUOUS = {"decoder"}


def _config_keys() -> tuple[set, set]:
    """(the 2019 sections, the keys inside them): the dict-valued keys of DEFAULTS and the leaves below them."""
    sections, leaves = set(), set()

    def walk(tree, top):
        for key, value in tree.items():
            if isinstance(value, dict):
                sections.add(key)
                walk(value, False)
            elif not top:
                leaves.add(key)

    walk(DEFAULTS, True)
    return sections, leaves - AMBIGUOUS


SECTIONS, LEAVES = _config_keys()


def raw_reads(source: str) -> list[tuple[int, str]]:
    """(line, key) of every read of a 2019 key in ``source``: ``x["key"]``, ``x.get("key")`` (``pop``,
    ``setdefault``) and ``"key" in x``; writes (``x["key"] = …``) and dicts written as literals are not reads."""
    out = []
    for node in ast.walk(ast.parse(source)):
        key = None
        if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load) and isinstance(node.slice, ast.Constant):
            key = node.slice.value
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in ("get", "pop", "setdefault") and node.args
              and isinstance(node.args[0], ast.Constant)):
            key = node.args[0].value
        elif (isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant)
              and any(isinstance(op, (ast.In, ast.NotIn)) for op in node.ops)):
            key = node.left.value
        if isinstance(key, str) and (key in SECTIONS or key in LEAVES):
            out.append((node.lineno, key))
    return out


def test_the_scan_finds_raw_reads():
    source = ('a = cfg["run_parameters"]["epochs"]\nb = rp.get("img_type_parameters")\nc = "stamp_size" in dec\n'
              'cfg["run_parameters"] = {}\nd = {"layer_parameters": {"learning_rate": 1}}\ne = parts["decoder"]\n')
    assert sorted(raw_reads(source)) == [(1, "epochs"), (1, "run_parameters"), (2, "img_type_parameters"),
                                 (3, "stamp_size")]


def test_no_module_below_the_edge_reads_a_2019_key():
    for name in EDGE:
        assert (PACKAGE / name).exists(), f"the edge names {name}, which the package no longer has"
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.relative_to(PACKAGE).parts[0] in EDGE:
            continue
        found += [f"stampnet/{path.relative_to(PACKAGE)}:{line}: {key}" for line, key in raw_reads(path.read_text())]
    assert not found, ("below the config's edge, read the specs (stampnet.spec), not the 2019 keys; add a value "
                       "the specs lack to them:\n" + "\n".join(found))


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


def test_a_validated_config_loads_its_data_without_checking_its_keys_again(monkeypatch):
    """The data set's own keys are checked inside ``validate``; ``DataSpec.load`` does not check them again,
    ``load_data`` (raw sections) does."""
    import stampnet.data
    from stampnet.runs import preflight

    checks = []
    real = stampnet.data.check_img_type_parameters
    monkeypatch.setattr(stampnet.data, "check_img_type_parameters", lambda *a: checks.append(a) or real(*a))
    spec = preflight(tiny())
    assert len(checks) == 1
    spec.data.load(0)
    assert len(checks) == 1
    stampnet.data.load_data(spec.data.run_parameters, spec.data.input_parameters, 0)
    assert len(checks) == 2


def test_evaluating_a_run_validates_its_config_once(tiny_run, validations):
    from stampnet.evaluate import evaluate, evaluate_epochs

    result = evaluate(tiny_run, limit=4)
    assert len(validations) == 1
    rows = evaluate_epochs(result["run"], [1], limit=4)["rows"]  # the run already read: not read again
    assert len(validations) == 1 and rows[0]["training_canvases"] == 4 * 8
