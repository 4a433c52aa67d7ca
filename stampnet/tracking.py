"""Run bookkeeping for the Sacred experiment: continuing or reproducing a stored run, MongoDB recording, and
Sacred's own observer and log options checked before a run starts."""
from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

from sacred.observers import MongoObserver
from sacred.observers.mongo import get_pattern, parse_mongo_db_arg

from stampnet import ConfigError
from stampnet.config import merge

ORIGIN_KEYS = ("resume_from", "reproduce_from")


def stored_run(folder) -> tuple[dict, dict]:
    """(config, run.json) of a run folder; the config without Sacred's __doc__. Raises ConfigError."""
    folder = Path(folder)
    path = folder / "config.json"
    if not path.is_file():
        raise ConfigError(f"no config.json in {folder}; give a run folder such as runs/simple_shapes_2/3")
    try:
        config = json.loads(path.read_text())
        run = json.loads((folder / "run.json").read_text()) if (folder / "run.json").is_file() else {}
    except json.JSONDecodeError as err:
        raise ConfigError(f"{folder} holds a config.json/run.json that is not valid JSON ({err}); "
                          "restore it from a copy") from None
    config.pop("__doc__", None)
    return config, run


def origin_updates(experiment_name: str, config_updates: dict, named_configs) -> tuple[dict, dict]:
    """For ``resume_from`` / ``reproduce_from``: the stored config of that run with the command line's other
    updates on top, and an ``origin`` record for the run's info (info.json). Otherwise the updates unchanged."""
    given = [k for k in ORIGIN_KEYS if (config_updates or {}).get(k)]
    if not given:
        return config_updates, {}
    if len(given) > 1:
        raise ConfigError("give either resume_from or reproduce_from, not both")
    key = given[0]
    folder = Path(config_updates[key])
    if named_configs:
        raise ConfigError(f"{key} takes the stored config of {folder}; drop the named config(s) "
                          f"{list(named_configs)} and give changes as key=value")
    stored, run = stored_run(folder)
    name = run.get("experiment", {}).get("name")
    if name and name != experiment_name:
        raise ConfigError(f"{folder} is a run of {name}, not of {experiment_name}; use "
                          f"`python {name}.py with {key}={folder}` or `python -m stampnet.reproduce {folder}`")
    updates = merge(stored, config_updates)
    updates.update({k: None for k in ORIGIN_KEYS if k != key})
    origin = {"mode": key.split("_")[0], "folder": str(folder), "run_id": folder.name,
              "experiment": name}
    return updates, {"origin": origin}


def mongo_settings(config: dict) -> tuple:
    """(url, database) for MongoDB recording: the config's mongo_url / mongo_db, else the environment's
    STAMPNET_MONGO_URL / STAMPNET_MONGO_DB; url None means off; the database defaults to "stampnet"."""
    url = config.get("mongo_url") or os.environ.get("STAMPNET_MONGO_URL") or None
    return url, config.get("mongo_db") or os.environ.get("STAMPNET_MONGO_DB") or "stampnet"


def _mongo_client(url: str, source: str = "mongo_url / STAMPNET_MONGO_URL"):
    """A connected pymongo client (tests replace this with mongomock's); it waits for the server
    STAMPNET_MONGO_TIMEOUT_MS (default 3000 ms), not pymongo's 30 s. ``source`` is the setting to fix."""
    try:
        import pymongo
    except ImportError:
        raise ConfigError(f"MongoDB recording needs pymongo: `pip install pymongo`, or drop {source}") from None
    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=int(os.environ.get("STAMPNET_MONGO_TIMEOUT_MS", 3000)))
    try:
        client.admin.command("ping")
    except Exception as err:  # connection refused, bad host, authentication …
        client.close()
        why = re.split(r" \(configured timeouts|, Timeout: ", str(err).splitlines()[0])[0][:200]
        raise ConfigError(f"cannot reach MongoDB at {url} ({type(err).__name__}: {why}); start mongod or fix "
                          f"{source}") from None
    return client


def mongo_observer(url: str, db_name: str) -> MongoObserver:
    """Sacred's MongoObserver on database ``db_name`` of the server at ``url`` (collections runs, metrics, fs)."""
    import gridfs

    database = _mongo_client(url)[db_name]
    return MongoObserver.create_from(database["runs"], gridfs.GridFS(database), metrics_collection=database["metrics"])


def check_options(options: dict, observed: bool = True) -> None:
    """Sacred's command-line options ``-l``, ``-F``, ``-s`` and ``-m``, checked before Sacred builds the run (which
    would end in a traceback, a FAILED run folder, or a 30 s wait for an absent MongoDB). ``observed``: the
    command records its run (MongoDB is only reached then). Raises ConfigError."""
    level = options.get("--loglevel")
    if level and not (str(level).lstrip("-").isdigit() or isinstance(logging.getLevelName(level), int)):
        raise ConfigError(f"-l/--loglevel {level!r} is not a log level; give DEBUG, INFO, WARNING, ERROR, CRITICAL "
                          "or a number (e.g. -l WARNING)")
    folder = options.get("--file_storage")
    if folder:
        path = Path(folder)
        existing = next(p for p in (path, *path.parents) if p.exists())
        if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
            why = "is a file" if not existing.is_dir() else "is not writable"
            raise ConfigError(f"-F/--file_storage {folder!r} cannot be made: {str(existing)!r} {why}; give a "
                              "folder that exists or can be made (e.g. -F runs_extra)")
    sql = options.get("--sql")
    if sql:
        try:
            from sqlalchemy.engine import make_url
        except ImportError:
            raise ConfigError("-s/--sql needs sqlalchemy (Sacred's SQL observer): `pip install sqlalchemy`, "
                              "or drop -s") from None
        try:
            make_url(sql)
        except Exception as err:  # sqlalchemy.exc.ArgumentError
            raise ConfigError(f"-s/--sql {sql!r} is not a database URL ({err}); give one such as "
                              "-s sqlite:///runs.db") from None
    spec = options.get("--mongo_db")
    if spec:
        if not re.match(get_pattern(), spec):
            raise ConfigError(f"-m/--mongo_db {spec!r} is not [HOST:PORT:]DB[.COLLECTION[:ID]][!PRIORITY]; give "
                              "e.g. -m localhost:27017:stampnet")
        if observed:
            url = parse_mongo_db_arg(spec).get("url", "localhost:27017")
            _mongo_client(url, source="-m/--mongo_db (or drop it)").close()
