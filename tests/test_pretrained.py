"""The 2019 weights' download: a local HTTP server on 127.0.0.1 stands in for GitHub, and misbehaves on asked."""
import hashlib
import http.server
import json
import shutil
import socket
import threading
import time

import pytest

from stampnet import ConfigError, pretrained
from tests.conftest import require_shared

CONFIG = json.dumps({"run_parameters": {"img_type": "t_mnist"}}).encode()
FAKE = b"\x89HDF\r\n not the 2019 weights, their stand-in " * 100  # published (below) in place of the real file


@pytest.fixture
def tricks():
    """URL path -> how the server misbehaves there: 'endless' (a body that never ends), 'silent' (headers and no
    body) or 'cut' (1,000 bytes announced, 10 sent, then the connection closed)."""
    return {}


@pytest.fixture
def server(tmp_path, monkeypatch, tricks):
    """A file server on 127.0.0.1 for tmp_path/mirror (the authors' layout runs/<exp>/0/...) that plays
    ``tricks``; sets STAMPNET_WEIGHTS_URL to it. Yields the mirror folder."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    stop = threading.Event()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(mirror), **kwargs)

        def log_message(self, *args):
            pass

        def do_GET(self):
            trick = tricks.get(self.path)
            if trick is None:
                return super().do_GET()
            self.send_response(200)
            if trick != "endless":
                self.send_header("Content-Length", "1000")
            self.end_headers()
            try:
                if trick == "silent":
                    stop.wait(10)
                elif trick == "cut":
                    self.wfile.write(b"0123456789")
                else:
                    end = time.monotonic() + 10
                    while not stop.is_set() and time.monotonic() < end:
                        self.wfile.write(b"x" * 65536)
            except OSError:
                pass  # the client hung up

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    monkeypatch.setenv(pretrained.URL_VARIABLE, f"http://127.0.0.1:{httpd.server_address[1]}")
    yield mirror
    stop.set()
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def fake(monkeypatch):
    """t_mnist_2's published weight file is FAKE (its size and SHA-256), so no test needs the real 3 MB."""
    monkeypatch.setitem(pretrained.WEIGHTS, "t_mnist_2", ("weights.800-84.55.hdf5", len(FAKE),
                                                           hashlib.sha256(FAKE).hexdigest()))
    return "t_mnist_2"


def _publish(mirror, experiment, config_bytes, weight_bytes):
    run = mirror / "runs" / experiment / "0"
    (run / "trained").mkdir(parents=True, exist_ok=True)
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


def _cached(root):
    """Every file under the cache ``root`` (temporary ones included)."""
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_a_wrong_file_is_refused_and_not_kept(server, tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))  # the default cache: the Keras one
    _publish(server, "t_mnist_2", CONFIG, b"not the published weights")
    with pytest.raises(ConfigError, match="is not the published file .25 bytes, the published file has 2,975,072"):
        pretrained.fetch("t_mnist_2")
    weights = server / "runs/t_mnist_2/0/trained" / pretrained.WEIGHTS["t_mnist_2"][0]
    published = pretrained.WEIGHTS["t_mnist_2"][1]
    weights.write_bytes(b"x" * published)  # the right size, other bytes
    with pytest.raises(ConfigError, match="its SHA-256 [0-9a-f]{64} is not the published 1d54285f"):
        pretrained.fetch("t_mnist_2")
    assert _cached(tmp_path / "keras") == []


def test_an_endless_body_stops_at_the_known_size(server, tricks, fake, tmp_path):
    tricks["/runs/t_mnist_2/0/trained/weights.800-84.55.hdf5"] = "endless"
    with pytest.raises(ConfigError, match=f"is not the published file .more than {len(FAKE):,} bytes"):
        pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    tricks.clear()
    tricks["/runs/t_mnist_2/0/config.json"] = "endless"  # no known size: the cap
    _publish(server, fake, CONFIG, FAKE)
    with pytest.raises(ConfigError, match=f"config.json is not the published file .more than "
                                          f"{pretrained.CONFIG_CAP:,} bytes"):
        pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert _cached(tmp_path / "cache") == ["weights.800-84.55.hdf5"]  # the good weights, nothing else


def test_headers_without_a_body_time_out(server, tricks, fake, tmp_path, monkeypatch):
    monkeypatch.setattr(pretrained, "TIMEOUT", 0.5)
    tricks["/runs/t_mnist_2/0/trained/weights.800-84.55.hdf5"] = "silent"
    start = time.monotonic()
    with pytest.raises(ConfigError, match="could not download .*no answer within 0.5 s.*--weights PATH"):
        pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert time.monotonic() - start < 5
    tricks["/runs/t_mnist_2/0/trained/weights.800-84.55.hdf5"] = "cut"
    with pytest.raises(ConfigError, match="closed after 10 of the 1,000 bytes announced"):
        pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert _cached(tmp_path / "cache") == []


@pytest.mark.parametrize("config, reason", [
    (CONFIG[:-5], "not JSON .JSONDecodeError"),  # cut short
    (b"<!DOCTYPE html><html><body>Rate limit</body></html>", "not JSON .* it starts '<!DOCTYPE html>"),
    (b"\xff\xfe{}", "not JSON .UnicodeDecodeError"),
    (b"[1, 2]", "a JSON list, not a config object"),
])
def test_a_bad_config_is_refused_until_the_mirror_is_fixed(server, fake, tmp_path, config, reason):
    _publish(server, fake, config, FAKE)
    with pytest.raises(ConfigError, match=f"config.json is not the published file .{reason}"):
        pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert "config.json" not in _cached(tmp_path / "cache")
    _publish(server, fake, CONFIG, FAKE)  # the mirror fixed
    config_path, weights = pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert config_path.read_bytes() == CONFIG and weights.read_bytes() == FAKE


def test_a_bad_cached_file_is_removed_and_fetched_again(server, fake, tmp_path, capsys):
    folder = tmp_path / "cache" / pretrained.CACHE_SUBDIR / fake
    folder.mkdir(parents=True)
    (folder / "weights.800-84.55.hdf5").write_bytes(FAKE[:-1])  # e.g. left by an older, unchecked download
    (folder / "config.json").write_text("<html>")
    _publish(server, fake, CONFIG, FAKE)
    config, weights = pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert config.read_bytes() == CONFIG and weights.read_bytes() == FAKE
    err = capsys.readouterr().err
    assert err.count("warning: removed") == 2 and "downloading it again" in err
    shutil.rmtree(server / "runs")  # offline now, the good files are read from the cache
    assert pretrained.fetch(fake, cache_dir=tmp_path / "cache") == (config, weights)
    weights.write_bytes(b"spoilt")
    with pytest.raises(ConfigError, match="could not download .*HTTP Error 404"):
        pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert not weights.exists()


def test_keras_home_a_file_is_a_cache_message(server, fake, tmp_path, monkeypatch, capsys):
    from stampnet.evaluate import main

    (tmp_path / "keras").write_text("a file")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    _publish(server, fake, CONFIG, FAKE)
    with pytest.raises(ConfigError, match=r"cannot use the download cache .*keras/models/stampnet-2019/t_mnist_2 "
                                          r"\(Not a directory\); set KERAS_HOME to a folder you can write"):
        pretrained.fetch(fake)
    assert main(["--pretrained", fake]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if "no GPU found" not in line]  # the CPU line of import stampnet
    assert len(errors) == 1 and errors[0].startswith("error: cannot use the download cache")


def test_offline_is_one_message_that_names_the_way_out(monkeypatch, tmp_path):
    with socket.socket() as s:  # a port with nobody listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv(pretrained.URL_VARIABLE, f"http://127.0.0.1:{port}")
    with pytest.raises(ConfigError, match="could not download .*Connection refused.*--weights PATH"):
        pretrained.fetch("ct_mnist_2", cache_dir=tmp_path / "cache")
    with pytest.raises(ConfigError, match="no published 2019 weights for 'simple_shapes_1'"):
        pretrained.fetch("simple_shapes_1")
    monkeypatch.setenv(pretrained.URL_VARIABLE, "mirror.lab/stampnet")
    with pytest.raises(ConfigError, match="STAMPNET_WEIGHTS_URL='mirror.lab/stampnet' is not an http"):
        pretrained.fetch("ct_mnist_2", cache_dir=tmp_path / "cache")


def test_a_file_url_mirror_serves(fake, tmp_path, monkeypatch):
    _publish(tmp_path / "mirror", fake, CONFIG, FAKE)
    monkeypatch.setenv(pretrained.URL_VARIABLE, (tmp_path / "mirror").as_uri())
    config, weights = pretrained.fetch(fake, cache_dir=tmp_path / "cache")
    assert config.read_bytes() == CONFIG and weights.read_bytes() == FAKE


def test_evaluate_refuses_pretrained_with_a_target(capsys):
    from stampnet.evaluate import main

    with pytest.raises(SystemExit) as err:
        main(["runs/x/1", "--pretrained", "ct_mnist_2"])
    assert err.value.code == 2 and "not both" in capsys.readouterr().err
