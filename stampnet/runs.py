"""Reading the run folders that Sacred and :mod:`stampnet.train` write: ``runs/<script>/<id>/`` with run.json
(status, heartbeat, start and stop times, the command as typed), config.json, trained/ and backup/.

Every reader tolerates a file it did not expect (missing, not JSON, not an object): it reads as empty. Below
them, a run's model with its weights (:func:`load_run`): ours or the 2019 Keras 2.2.2 files.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from stampnet import ConfigError

STALE_HEARTBEAT_S = 120  # a RUNNING run whose heartbeat is older than this was stopped without saying so
HEARTBEAT_WAIT_S = 25    # a younger heartbeat must move within this (Sacred beats every 10 s)


def read_json(path: Path) -> dict:
    """The JSON object in ``path``; {} when it is missing, unreadable or not an object."""
    try:
        value = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return value if isinstance(value, dict) else {}


def run_folders(folder: Path) -> list[Path]:
    """The Sacred run folders (numeric names with a run.json) in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.isdigit() and (p / "run.json").is_file()),
                  key=lambda p: int(p.name))


def timestamp(text: Optional[str]) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(text) if text else None
    except ValueError:
        return None


def is_live(run: Path) -> bool:
    """Sacred says RUNNING and its heartbeat (every 10 s) still moves: another process trains it. A process
    that was killed leaves RUNNING behind with a heartbeat that stops."""
    def beat():
        info = read_json(run / "run.json")
        return info.get("heartbeat") if info.get("status") == "RUNNING" else None

    first = beat()
    if first is None or timestamp(first) is None:
        return False
    age = (datetime.now(timezone.utc).replace(tzinfo=None) - timestamp(first)).total_seconds()  # Sacred: UTC
    if age > STALE_HEARTBEAT_S:
        return False
    time.sleep(max(0.0, HEARTBEAT_WAIT_S - age))
    return beat() not in (None, first)


def is_finished(run: Path) -> bool:
    from stampnet.checkpoints import latest_weights

    return read_json(run / "run.json").get("status") == "COMPLETED" and latest_weights(run / "trained") is not None


def resumable(run: Path) -> bool:
    from stampnet.checkpoints import STATE_FILE

    return (run / "backup" / STATE_FILE).is_file()


def run_chain(run: Path) -> list[Path]:
    """``run`` and the runs it resumed, oldest first (each config.json's ``resume_from``)."""
    chain, seen = [run], {run.resolve()}
    while True:
        source = read_json(chain[0] / "config.json").get("resume_from")
        if not source or not Path(source).is_dir() or Path(source).resolve() in seen:
            return chain
        chain.insert(0, Path(source))
        seen.add(chain[0].resolve())


@dataclass
class LoadedRun:
    config: dict
    model: object        # keras.Model
    folder: Path         # where the config lives (results are written here)
    weights: Optional[Path]


def find_weights(trained_dir: Path, epoch: Optional[int] = None) -> Path:
    """The weights of ``epoch`` (or the latest) in a run's ``trained/`` folder."""
    from stampnet.checkpoints import checkpoints

    found = checkpoints(trained_dir)
    if found and (epoch is None or epoch in found):
        return found[max(found) if epoch is None else epoch]
    what = f"epoch {epoch}" if epoch is not None else "any epoch"
    have = f" (it has epochs {', '.join(map(str, found))})" if found else ""
    raise ConfigError(f"no weights for {what} in {trained_dir}{have}; train the run first (or let it reach a "
                      "checkpoint), or pass --weights FILE")


def load_weights(model, weights: Path, config_path: Path) -> None:
    """Load a weight file into ``model``: ours (Keras 3 .weights.h5) or a 2019 Keras 2.2.2 HDF5 file."""
    import h5py

    from stampnet.legacy import is_legacy_file, load_legacy_weights

    if not weights.is_file():
        raise ConfigError(f"no weight file at {weights}")
    if is_legacy_file(weights):
        load_legacy_weights(model, weights)
        return
    try:
        with h5py.File(weights, "r"):
            pass
    except OSError as err:
        raise ConfigError(f"{weights} is not a readable HDF5 weight file ({str(err).splitlines()[0]}: truncated, "
                          "or another format); use a checkpoint from a run's trained/ "
                          "(weights.<epoch>-<loss>.weights.h5) or a 2019 .hdf5 file, copied whole") from None
    try:
        model.load_weights(str(weights))
    except (ValueError, KeyError, OSError) as err:
        raise ConfigError(f"{weights} does not fit the model of {config_path} ({str(err).splitlines()[0]}); "
                          "use the config.json saved with these weights") from None


def build_run(target: str | Path, decoder: Optional[str] = None) -> LoadedRun:
    """The model of a run folder / config.json, without weights (``weights`` is None)."""
    from stampnet import backend
    from stampnet.config import read_config
    from stampnet.model import build_model

    backend.compilation_cache()
    target = Path(target)
    config_path = target / "config.json" if target.is_dir() else target
    cfg = read_config(config_path)
    if decoder:
        cfg["layer_parameters"]["decoder_parameters"]["decoder"] = decoder
    model = build_model(cfg["layer_parameters"], compile=False)
    return LoadedRun(cfg, model, config_path.parent, None)


def load_run(target: str | Path, epoch: Optional[int] = None, weights: Optional[str | Path] = None,
             decoder: Optional[str] = None) -> LoadedRun:
    """Rebuild the model of a run folder / config.json and load its weights (ours or 2019's)."""
    run = build_run(target, decoder)
    run.weights = Path(weights) if weights else find_weights(run.folder / "trained", epoch)
    load_weights(run.model, run.weights, run.folder / "config.json")
    return run
