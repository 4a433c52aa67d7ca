"""MongoDB recording (Sacred's MongoObserver, for Omniboard) switched on by the config key ``mongo_url`` or the
environment variable STAMPNET_MONGO_URL, beside the file storage under runs/.

No MongoDB server installs here (Debian has no mongodb-server package and the PyPI/npm helpers download the
server at run time), so the observer writes to mongomock, pymongo's in-memory stand-in, through the same
code path (MongoObserver.create_from on the database's runs/metrics collections and GridFS). Set
STAMPNET_TEST_MONGO_URL=mongodb://HOST:PORT to run the same test against a real mongod as well.
"""
import json
import os

import pytest

from tests.conftest import run_script_here, tf_quiet_lines
from tests.tiny import TINY, overrides

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")

pytest.importorskip("pymongo")
pytest.importorskip("mongomock")

def run_observed(tmp_path, monkeypatch, capsys, args) -> dict:
    """simple_shapes_2's experiment with its command line, in this process, stampnet.tracking's MongoDB client
    replaced by mongomock (unless a real server is given); then what the database holds, as JSON would."""
    import stampnet.tracking

    real = os.environ.get("STAMPNET_TEST_MONGO_URL")
    if not real:
        from unittest import mock

        import mongomock
        import mongomock.gridfs

        mongomock.gridfs.enable_gridfs_integration()  # patches gridfs' type checks (mock.patch(...).start())
        client = mongomock.MongoClient()
        monkeypatch.setattr(stampnet.tracking, "_mongo_client", lambda url: client)
    else:
        import pymongo

        client = pymongo.MongoClient(real)
    try:
        code = run_script_here("simple_shapes_2.py", args, tmp_path, monkeypatch)
    finally:
        if not real:
            mock.patch.stopall()  # gridfs as it was
    assert code == 0, "\n".join(tf_quiet_lines(capsys.readouterr().err)[-30:])
    db = client[os.environ.get("DUMP_DB", "stampnet_test")]
    runs = [{k: r.get(k) for k in ("_id", "status", "config", "experiment", "result")} for r in db.runs.find()]
    metrics = [{k: m.get(k) for k in ("name", "steps", "values", "run_id")} for m in db.metrics.find()]
    return json.loads(json.dumps({"runs": runs, "metrics": metrics}, default=str))


def test_mongo_url_records_the_run_and_keeps_file_storage(tmp_path, monkeypatch, capsys):
    url = os.environ.get("STAMPNET_TEST_MONGO_URL", "mongodb://stampnet-test:27017")
    dump = run_observed(tmp_path, monkeypatch, capsys,
                        ["with", *overrides(TINY), f"mongo_url={url}", "mongo_db=stampnet_test"])
    assert len(dump["runs"]) >= 1
    run = dump["runs"][-1]
    assert run["status"] == "COMPLETED" and run["experiment"]["name"] == "simple_shapes_2"
    assert run["config"]["layer_parameters"]["decoder_parameters"]["stamp_size"] == 8
    losses = [m for m in dump["metrics"] if m["name"] == "loss" and m["run_id"] == run["_id"]]
    assert losses and losses[0]["steps"] == [1, 2]
    files = json.loads((tmp_path / "runs" / "simple_shapes_2" / "1" / "metrics.json").read_text())
    assert files["loss"]["values"] == losses[0]["values"]  # the same numbers in both stores


def test_mongo_settings_from_config_or_environment(monkeypatch):
    from stampnet.tracking import mongo_settings

    monkeypatch.delenv("STAMPNET_MONGO_URL", raising=False)
    monkeypatch.delenv("STAMPNET_MONGO_DB", raising=False)
    assert mongo_settings({"mongo_url": None, "mongo_db": None}) == (None, "stampnet")  # off by default
    monkeypatch.setenv("STAMPNET_MONGO_URL", "mongodb://db-host:27017")
    monkeypatch.setenv("STAMPNET_MONGO_DB", "sweeps")
    assert mongo_settings({"mongo_url": None, "mongo_db": None}) == ("mongodb://db-host:27017", "sweeps")
    assert mongo_settings({"mongo_url": "mongodb://other:1", "mongo_db": "x"}) == ("mongodb://other:1", "x")


def test_unreachable_mongo_is_one_clear_error(monkeypatch):
    from stampnet import ConfigError
    from stampnet.tracking import mongo_observer

    monkeypatch.setenv("STAMPNET_MONGO_TIMEOUT_MS", "300")
    with pytest.raises(ConfigError, match=r"^cannot reach MongoDB at mongodb://127.0.0.1:9 .*start mongod"):
        mongo_observer("mongodb://127.0.0.1:9", "stampnet")
