"""Rerun an experiment from its run folder: ``python -m stampnet.reproduce runs/<exp>/<id> [options] [with k=v …]``.

Starts a new run of the same experiment script (named by the run's run.json, else by the folder's parent:
``runs/ct_mnist_2/3`` → ``ct_mnist_2.py``) with the stored config.json, the overrides after ``with`` on top,
and ``reproduce_from`` set to the folder (in the new config, and as ``origin`` in run.json's info). Options
before ``with`` are Sacred's (``-m HOST:PORT:DB``, ``--name``, …). The new run lands beside the old one in
``runs/<exp>/``. The code is today's: a note lists the sources that changed since the run (Sacred's copies of
them are in ``runs/<exp>/_sources/``). The 2019 ``experiment_reproduction.py`` did the same.

To continue an interrupted run instead of starting afresh: ``python <exp>.py with resume_from=runs/<exp>/<id>``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path

from stampnet import ConfigError

REPO_ROOT = Path(__file__).resolve().parents[1]


def experiment_script(folder: Path) -> Path:
    """The experiment script of run ``folder``: ``<base_dir>/<name>.py`` from its run.json, else
    ``<repo>/<folder's parent name>.py``. Raises ConfigError when there is none."""
    run_json = folder / "run.json"
    meta = {}
    if run_json.is_file():
        try:
            meta = json.loads(run_json.read_text()).get("experiment", {})
        except json.JSONDecodeError:
            meta = {}
    name = meta.get("name") or folder.parent.name
    candidates = [Path(meta["base_dir"]) / f"{name}.py"] if meta.get("base_dir") else []
    candidates.append(REPO_ROOT / f"{name}.py")
    for script in candidates:
        if script.is_file():
            return script
    raise ConfigError(f"no experiment script {name}.py for {folder} (looked in "
                      f"{', '.join(str(c.parent) for c in candidates)}); run it from the repository that made it")


def changed_sources(folder: Path) -> list[str]:
    """The recorded sources of the run that differ from today's files (or are gone)."""
    try:
        meta = json.loads((folder / "run.json").read_text())["experiment"]
    except (OSError, KeyError, json.JSONDecodeError):
        return []
    base = Path(meta.get("base_dir") or REPO_ROOT)
    changed = []
    for relative, stored in meta.get("sources", []):
        digest = Path(stored).stem.rsplit("_", 1)[-1]
        current = base / relative
        if not current.is_file() or hashlib.md5(current.read_bytes()).hexdigest() != digest:
            changed.append(f"{relative} (then: {folder.parent / stored})")
    return changed


def load_experiment(script: Path):
    """Import an experiment script (as Sacred's main file, without running it) and return its ``ex``."""
    sys.argv[0] = str(script)  # stamp_network names the experiment after the main script
    sys.path.insert(0, str(script.parent))
    spec = importlib.util.spec_from_file_location(f"_stampnet_experiment_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.ex


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0
    if not argv or argv[0] == "with":
        print("error: give a run folder: python -m stampnet.reproduce runs/<experiment>/<id> [with key=value …]",
              file=sys.stderr)
        return 2
    folder, rest = Path(argv[0]), argv[1:]
    try:
        if not (folder / "config.json").is_file():
            raise ConfigError(f"{folder} is not a run folder (no config.json); give runs/<experiment>/<id>")
        script = experiment_script(folder)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for note in changed_sources(folder):
        print(f"note: changed since the run: {note}", file=sys.stderr)
    if "with" in rest:
        rest = rest + [f"reproduce_from={folder}"]
    else:
        rest = rest + ["with", f"reproduce_from={folder}"]
    ex = load_experiment(script)
    ex.run_commandline([str(script), *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main())
