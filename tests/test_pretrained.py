"""The 2019 weights through keras.utils.get_file: a local HTTP server stands in for GitHub."""
import functools
import http.server
import shutil
import socket
import threading

import pytest

from stampnet import ConfigError, pretrained
from tests.conftest import require_shared


@pytest.fixture
def server(tmp_path, monkeypatch):
    """A file server on 127.0.0.1 for tmp_path/mirror (the authors' layout runs/<exp>/0/...); sets
    STAMPNET_WEIGHTS_URL to it. Yields the mirror folder."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv(pretrained.URL_VARIABLE, f"http://127.0.0.1:{httpd.server_address[1]}")
    yield mirror
    httpd.shutdown()


def _publish(mirror, experiment, config_bytes, weight_bytes):
    run = mirror / "runs" / experiment / "0"
    (run / "trained").mkdir(parents=True)
    (run / "config.json").write_bytes(config_bytes)
    (run / "trained" / pretrained.WEIGHTS[experiment][0]).write_bytes(weight_bytes)


def test_download_checks_the_hash_and_caches(server, tmp_path):
    ref = require_shared("reference/stampnet-2019")
    _publish(server, "simple_shapes_2", (ref / "simple_shapes_2.config.json").read_bytes(),
             (ref / "simple_shapes_2.weights.800.hdf5").read_bytes())
    config, weights = pretrained.fetch("simple_shapes_2", cache_dir=tmp_path / "cache")
    assert weights.stat().st_size == pretrained.WEIGHTS["simple_shapes_2"][1]
    assert config.read_bytes() == (ref / "simple_shapes_2.config.json").read_bytes()
    shutil.rmtree(server / "runs")  # the second call reads the cache
    assert pretrained.fetch("simple_shapes_2", cache_dir=tmp_path / "cache") == (config, weights)


@pytest.mark.slow
def test_evaluate_pretrained_measures_the_2019_run(server, tmp_path, monkeypatch):
    from stampnet.evaluate import main

    monkeypatch.setattr(pretrained, "CACHE_DIR", tmp_path / "cache")
    ref = require_shared("reference/stampnet-2019")
    _publish(server, "simple_shapes_2", (ref / "simple_shapes_2.config.json").read_bytes(),
             (ref / "simple_shapes_2.weights.800.hdf5").read_bytes())
    out = tmp_path / "measures.json"
    assert main(["--pretrained", "simple_shapes_2", "--limit", "64", "--no-figures", "--out", str(out)]) == 0
    import json

    measures = json.loads(out.read_text())
    assert measures["cor_loc"] > 0.9 and measures["weights"].endswith("weights.800-59.63.hdf5")


def test_a_wrong_file_is_refused_and_not_kept(server, tmp_path):
    _publish(server, "t_mnist_2", b"{}", b"not the published weights")
    with pytest.raises(ConfigError, match="is not the published file"):
        pretrained.fetch("t_mnist_2", cache_dir=tmp_path / "cache")
    assert not list((tmp_path / "cache").rglob("*.hdf5"))


def test_offline_is_one_message_that_names_the_way_out(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(pretrained.URL_VARIABLE, f"http://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="could not download .*--weights PATH"):
        pretrained.fetch("ct_mnist_2", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="no published 2019 weights for 'simple_shapes_1'"):
        pretrained.fetch("simple_shapes_1")


def test_evaluate_refuses_pretrained_with_a_target(capsys):
    from stampnet.evaluate import main

    with pytest.raises(SystemExit) as err:
        main(["runs/x/1", "--pretrained", "ct_mnist_2"])
    assert err.value.code == 2 and "not both" in capsys.readouterr().err
