"""The authors' published 2019 weights, downloaded once into the Keras cache and checked.

The files are those of run 0 of each experiment in github.com/crowdflowTUe/stampnet, pinned at one commit:
``runs/<exp>/0/trained/<file>`` (Keras 2.2.2 HDF5, loaded by :mod:`stampnet.legacy`) beside
``runs/<exp>/0/config.json`` (their Sacred config). They land in the Keras cache
(``$KERAS_HOME/models/stampnet-2019/<exp>/``, default ``~/.keras``): each weight file is checked against its size
and SHA-256, each config.json is checked to be a JSON object, and a file lands there only once it passed. A mirror
or a lab's file server holding the same relative paths is used instead with ``STAMPNET_WEIGHTS_URL=<base URL>``.

``python -m stampnet.evaluate --pretrained ct_mnist_2`` measures one of them.
"""
from __future__ import annotations

import hashlib
import http.client
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from stampnet import ConfigError
from stampnet.cli import atomic_path

COMMIT = "dba20fd7d66ab51d4536419d1b3cbac924445904"
BASE_URL = f"https://raw.githubusercontent.com/crowdflowTUe/stampnet/{COMMIT}"
URL_VARIABLE = "STAMPNET_WEIGHTS_URL"
CACHE_SUBDIR = "models/stampnet-2019"
CACHE_DIR = None  # None: the Keras cache (KERAS_HOME, default ~/.keras)
TIMEOUT = 30.0  # seconds to connect, and to wait for each piece of a file
DEADLINE = 600.0  # seconds for a whole file
CONFIG_CAP = 1 << 20  # bytes: the most a config.json may have (the 2019 ones have about 1.2 kB)

# experiment: (weight file of run 0, its size in bytes, its SHA-256)
WEIGHTS = {
    "ct_mnist_1": ("weights.1000-176.02.hdf5", 3826296,
                   "c40ceb4916da58943266d9cc6ca5dcd7e7214090e5c824c59f78cd1d01126208"),
    "ct_mnist_2": ("weights.1000-253.72.hdf5", 3925704,
                   "f7081ebf245c68c764e3c63b0d70f7e2e477d5d50ab2412b27d64120eafd39f3"),
    "pedestrian": ("weights.1000-79.03.hdf5", 3135608,
                   "85f8dceb93de62c05b87f6bf7011e32bc3426ae250c870719c0cbf9ebeda440c"),
    "simple_shapes_2": ("weights.800-59.63.hdf5", 2847320,
                        "c2861522f00090b534df5365b318c800d65c442aa1ab14653c5643b58831707d"),
    "t_mnist_2": ("weights.800-84.55.hdf5", 2975072,
                  "1d54285fcfa705b33b3e85de8824737d29fda0fc5aedf265776ed85ef0178883"),
}


def base_url() -> str:
    """The base URL the files are fetched from: ``STAMPNET_WEIGHTS_URL`` (http, https or file) or GitHub."""
    url = os.environ.get(URL_VARIABLE) or BASE_URL
    try:
        scheme = urllib.parse.urlsplit(url).scheme
    except ValueError:
        scheme = None
    if scheme not in ("http", "https", "file"):
        raise ConfigError(f"{URL_VARIABLE}={url!r} is not an http(s):// or file:// URL; set it to the base URL of "
                          "a mirror holding runs/<exp>/0/..., or unset it for GitHub")
    return url.rstrip("/")


def cache_folder(cache_dir=None) -> Path:
    """The folder of the downloads: ``cache_dir`` or the Keras cache, ``$KERAS_HOME`` (default ``~/.keras``)."""
    root = cache_dir or CACHE_DIR or os.environ.get("KERAS_HOME") or "~/.keras"
    return Path(root).expanduser() / CACHE_SUBDIR


def _json_object(data: bytes) -> str | None:
    """None when ``data`` is a UTF-8 JSON object, else what it is."""
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        start = data[:40].decode("utf-8", "replace").split("\n")[0]
        return f"not JSON ({type(err).__name__}: {str(err).splitlines()[0]}); it starts {start!r}"
    return None if isinstance(value, dict) else f"a JSON {type(value).__name__}, not a config object"


def _network_reason(err: Exception, timeout: float) -> str:
    """What went wrong on the way, in words (urllib wraps the socket's error in ``URLError.reason``)."""
    reason = err if isinstance(err, urllib.error.HTTPError) else getattr(err, "reason", err)
    if isinstance(reason, http.client.IncompleteRead):
        return "the connection closed before the end of the file"
    if isinstance(reason, TimeoutError) and str(reason) in ("", "timed out"):
        return f"no answer within {timeout:g} s"
    return str(reason) or type(reason).__name__


def download(url: str, path: Path, size: int | None = None, sha256: str | None = None, check=None,
             timeout: float | None = None) -> Path:
    """``path`` when it is in the cache and passes the checks, else fetched from ``url``: at most ``size`` bytes
    (or ``CONFIG_CAP``), ``timeout`` seconds (default ``TIMEOUT``) to connect and for each read, checked for its
    size, SHA-256 and ``check(bytes)`` (None or what is wrong), then written beside ``path`` and renamed. A bad
    file never stays in the cache: a bad download is refused, a bad cached file removed and fetched again."""
    limit = size if size is not None else CONFIG_CAP

    def problem(data: bytes) -> str | None:
        if len(data) > limit:
            return f"more than {limit:,} bytes" + (", the published file's size" if size is not None else "")
        if size is not None and len(data) != size:
            return f"{len(data):,} bytes, the published file has {size:,}"
        if sha256 is not None and hashlib.sha256(data).hexdigest() != sha256:
            return f"its SHA-256 {hashlib.sha256(data).hexdigest()} is not the published {sha256}"
        return check(data) if check else None

    def cache_error(err: OSError) -> ConfigError:
        return ConfigError(f"cannot use the download cache {path.parent} ({err.strerror or err}); set KERAS_HOME "
                           "to a folder you can write (or unset it for ~/.keras)")

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            with open(path, "rb") as cached:
                reason = problem(cached.read(limit + 1))
            if reason is None:
                return path
            path.unlink()
            print(f"warning: removed {path} from the cache ({reason}); downloading it again", file=sys.stderr)
    except OSError as err:
        raise cache_error(err) from None
    timeout = timeout or TIMEOUT
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            data, deadline = bytearray(), time.monotonic() + DEADLINE
            while len(data) <= limit and (chunk := response.read1(min(1 << 16, limit + 1 - len(data)))):
                data += chunk
                if time.monotonic() > deadline:
                    raise TimeoutError(f"not done after {DEADLINE:.0f} s")
            if len(data) <= limit and getattr(response, "length", None):  # Content-Length promised more
                raise ConnectionError(f"the connection closed after {len(data):,} of the "
                                      f"{len(data) + response.length:,} bytes announced")
    except (OSError, http.client.HTTPException) as err:
        raise ConfigError(f"could not download {url} ({_network_reason(err, timeout)}); try again when online, or "
                          f"pass the files with --weights PATH (and their config.json as the target), or set "
                          f"{URL_VARIABLE} to a mirror") from None
    reason = problem(bytes(data))
    if reason is not None:
        raise ConfigError(f"{url} is not the published file ({reason}); check {URL_VARIABLE} (now "
                          f"{base_url()!r}) or pass --weights PATH; nothing was cached")
    try:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data)
    except OSError as err:
        raise cache_error(err) from None
    return path


def fetch(experiment: str, cache_dir=None) -> tuple[Path, Path]:
    """(config.json, weight file) of the authors' run 0 of ``experiment``, from the Keras cache (or
    ``cache_dir``) or downloaded."""
    if experiment not in WEIGHTS:
        raise ConfigError(f"no published 2019 weights for {experiment!r}; choose one of {', '.join(WEIGHTS)}")
    name, size, sha256 = WEIGHTS[experiment]
    origin, folder = f"{base_url()}/runs/{experiment}/0", cache_folder(cache_dir) / experiment
    weights = download(f"{origin}/trained/{name}", folder / name, size=size, sha256=sha256)
    config = download(f"{origin}/config.json", folder / "config.json", check=_json_object)  # no published hash
    return config, weights
