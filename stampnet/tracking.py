"""Run bookkeeping for the Sacred experiment: continuing or reproducing a stored run, MongoDB recording."""
from __future__ import annotations

import json
import os
from pathlib import Path

from sacred.observers import MongoObserver

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


def _mongo_client(url: str):
    """A connected pymongo client (tests replace this with mongomock's)."""
    try:
        import pymongo
    except ImportError:
        raise ConfigError("MongoDB recording needs pymongo: `pip install pymongo`, or drop mongo_url / "
                          "STAMPNET_MONGO_URL") from None
    client = pymongo.MongoClient(url, serverSelectionTimeoutMS=int(os.environ.get("STAMPNET_MONGO_TIMEOUT_MS", 5000)))
    try:
        client.admin.command("ping")
    except Exception as err:  # connection refused, bad host, authentication …
        raise ConfigError(f"cannot reach MongoDB at {url} ({type(err).__name__}: {str(err).splitlines()[0][:200]}); "
                          "start mongod or fix mongo_url / STAMPNET_MONGO_URL") from None
    return client


def mongo_observer(url: str, db_name: str) -> MongoObserver:
    """Sacred's MongoObserver on database ``db_name`` of the server at ``url`` (collections runs, metrics, fs)."""
    import gridfs

    database = _mongo_client(url)[db_name]
    return MongoObserver.create_from(database["runs"], gridfs.GridFS(database), metrics_collection=database["metrics"])
