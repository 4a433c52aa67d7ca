"""Reading the run folders that Sacred and :mod:`stampnet.train` write: ``runs/<script>/<id>/`` with run.json
(status, heartbeat, start and stop times, the command as typed), config.json, trained/ and backup/.

Every reader tolerates a file it did not expect (missing, not JSON, not an object): it reads as empty.
"""
from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

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
