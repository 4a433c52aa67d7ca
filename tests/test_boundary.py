"""The input boundary, drawn by Hypothesis: bad values for every config key and for the command-line options
end in one ``error:`` line that names the key, exit code 2, no traceback and no run folder. Validation only."""
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stampnet import ConfigError
from stampnet.config import DEFAULTS, FREE_FORM_KEYS, validate
from stampnet.data import COMMON_KEYS, COUNT, FLAG, FRACTION, LOADER_KEYS, _import_loaders

_import_loaders()
SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
NAMES = st.text(alphabet=string.ascii_lowercase + "_", min_size=3, max_size=12)


def leaves(tree: dict, prefix: str = ""):
    for key, value in tree.items():
        path = prefix + key
        if isinstance(value, dict) and path not in FREE_FORM_KEYS:
            yield from leaves(value, path + ".")
        else:
            yield path, value


def branches(tree: dict, prefix: str = ""):
    """The dotted paths of the config's dicts ("" for the top level) with their known keys."""
    yield prefix.rstrip("."), set(tree)
    for key, value in tree.items():
        if isinstance(value, dict) and prefix + key not in FREE_FORM_KEYS:
            yield from branches(value, prefix + key + ".")


def nested(path: str, value) -> dict:
    out = {}
    node = out
    *parents, leaf = path.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[leaf] = value
    return out


def bad_values(default) -> st.SearchStrategy:
    """Values no key of this default's type accepts: a nested dict always; then by type."""
    nesting = st.dictionaries(st.sampled_from(["a", "b"]), st.integers(), min_size=1)
    word = NAMES.map(lambda t: "zz" + t)  # never a valid name (img_type, decoder, policy …)
    negative = st.one_of(st.integers(max_value=-1), st.floats(max_value=-1e-3, allow_nan=False, allow_infinity=False))
    if isinstance(default, bool):
        return st.one_of(nesting, word, st.integers(min_value=2))
    if isinstance(default, (int, float)):
        return st.one_of(nesting, word, negative, st.just(True))
    if isinstance(default, list):
        return st.one_of(nesting, word, st.lists(st.integers(max_value=-1), min_size=1, max_size=3))
    if isinstance(default, str):
        return st.one_of(nesting, word, negative)
    return st.one_of(nesting, st.integers(max_value=-1))  # keys that default to null


KEYS = [(path, default) for path, default in leaves(DEFAULTS) if path not in FREE_FORM_KEYS]


@pytest.mark.parametrize("path, default", KEYS, ids=[p for p, _ in KEYS])
@SETTINGS
@given(data=st.data())
def test_a_bad_value_of_any_key_names_that_key(path, default, data):
    value = data.draw(bad_values(default), label="value")
    with pytest.raises(ConfigError) as err:
        validate(nested(path, value))
    assert path.rsplit(".", 1)[-1] in str(err.value)


@SETTINGS
@given(branch=st.sampled_from(sorted(branches(DEFAULTS), key=lambda b: b[0])), name=NAMES)
def test_an_unknown_key_at_any_level_is_named(branch, name):
    where, known = branch
    if name in known:
        return
    path = f"{where}.{name}" if where else name
    with pytest.raises(ConfigError, match=f"unknown config key {path}"):
        validate(nested(path, 1))


@SETTINGS
@given(img_type=st.sampled_from(sorted(LOADER_KEYS)), name=NAMES)
def test_an_unknown_loader_key_is_named(img_type, name):
    if name in LOADER_KEYS[img_type] or name in COMMON_KEYS:
        return
    params = {"img_type": img_type, "img_type_parameters": {name: 1}}
    with pytest.raises(ConfigError, match=f"img_type_parameters.{name} for img_type {img_type}"):
        validate({"run_parameters": params})


LOADER_CHECKED = [(t, k, kind) for t, keys in sorted(LOADER_KEYS.items()) for k, kind in sorted(keys.items())
                  if kind in (COUNT, FLAG, FRACTION)]
BAD_OF_KIND = {COUNT: st.one_of(st.integers(max_value=0), NAMES, st.floats(0.5, 0.9)),
               FLAG: st.one_of(st.integers(2, 9), NAMES),
               FRACTION: st.one_of(st.floats(1.0, 1e6), st.floats(max_value=-1e-6, allow_nan=False), NAMES)}


@pytest.mark.parametrize("img_type, key, kind", LOADER_CHECKED, ids=[f"{t}.{k}" for t, k, _ in LOADER_CHECKED])
@SETTINGS
@given(data=st.data())
def test_a_bad_loader_value_is_named(img_type, key, kind, data):
    value = data.draw(BAD_OF_KIND[kind], label="value")
    params = {"img_type": img_type, "img_type_parameters": {key: value}}
    with pytest.raises(ConfigError, match=f"img_type_parameters.{key} must be"):
        validate({"run_parameters": params})


@pytest.fixture
def experiment(tmp_path, monkeypatch):
    """The Sacred experiment, run in-process from an empty folder (its runs/ would appear there)."""
    monkeypatch.chdir(tmp_path)
    from stamp_network import ex

    return ex


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(key=st.sampled_from([p for p, d in KEYS if isinstance(d, (int, float)) and not isinstance(d, bool)]),
       value=st.integers(max_value=-1))
def test_the_experiment_command_line_refuses_with_one_line(experiment, tmp_path, capsys, key, value):
    with pytest.raises(SystemExit) as err:
        experiment.run_commandline(["simple_shapes_2.py", "with", f"{key}={value}"])
    stderr = capsys.readouterr().err
    assert err.value.code == 2
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and key.rsplit(".", 1)[-1] in errors[0] and "Traceback" not in stderr
    assert not any((tmp_path / "runs").rglob("config.json"))  # no run folder left behind


EVALUATE_OPTIONS = ["--limit", "--batch-size", "--epoch", "--precise-bn", "--seed", "--tau"]
TABLE_OPTIONS = ["--limit", "--seeds", "--rows", "--recipe"]
BAD_OPTION = st.one_of(st.integers(max_value=-1).map(str), NAMES.map(lambda t: "zz" + t))


def _one_error_line(main, argv, capsys, option):
    with pytest.raises(SystemExit) as err:
        main(argv)
    lines = capsys.readouterr().err.strip().splitlines()
    assert err.value.code == 2 and len(lines) == 1 and lines[0].startswith("error:")
    assert option.lstrip("-") in lines[0] or option.lstrip("-").replace("-", "_") in lines[0]


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(EVALUATE_OPTIONS), value=BAD_OPTION)
def test_evaluate_options(capsys, option, value):
    from stampnet.evaluate import main

    _one_error_line(main, ["runs/x/1", option, value], capsys, option)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(option=st.sampled_from(TABLE_OPTIONS), value=BAD_OPTION)
def test_table_options(capsys, option, value):
    from stampnet.table.__main__ import main

    _one_error_line(main, [option, value], capsys, option)


def test_each_data_set_declares_its_keys_defaults_once():
    """Every key a data set reads has one declared default (None: derived or unset); a key set to null takes it;
    the loader sees every key filled in."""
    from stampnet.data import LOADER_DEFAULTS, with_defaults

    _import_loaders()
    for img_type, keys in LOADER_KEYS.items():
        assert set(LOADER_DEFAULTS[img_type]) == set(keys) | set(COMMON_KEYS), img_type
    filled = with_defaults("pedestrian", {"shape_size": 30, "data_path": None})
    assert filled["shape_size"] == 30 and filled["data_path"] == "data/pedestrian" and filled["shuffle"] is True
    assert with_defaults("t_shape", {})["shapes_to_use"] == ["plus", "equal", "triangle", "divide", "doublevertical"]
