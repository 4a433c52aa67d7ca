"""Rerun an experiment from its run folder: ``python -m stampnet.reproduce runs/<exp>/<id> [options] [with k=v …]``.

Starts a new run of the same experiment of the package (named by the run's run.json, else by the folder's
parent: ``runs/ct_mnist_2/3`` → ``ct_mnist_2``; a script of your own: ``<base_dir>/<name>.py`` of run.json) with
the stored config.json, the overrides after ``with`` on top,
and ``reproduce_from`` set to the folder (in the new config, and as ``origin`` in run.json's info). Options
before ``with`` are Sacred's (``-m HOST:PORT:DB``, ``--name``, …). The new run lands beside the old one in
``runs/<exp>/``. The code is today's: a note lists the sources that changed since the run (Sacred's copies of
them are in ``runs/<exp>/_sources/``). The 2019 ``experiment_reproduction.py`` did the same.

To continue an interrupted run instead of starting afresh: ``python -m stampnet.run <exp> with
resume_from=runs/<exp>/<id>``.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import sys
from pathlib import Path
from typing import Optional

from stampnet import ConfigError

PACKAGE_BASE = Path(__file__).resolve().parents[1]  # the folder that holds the package: its sources' base


def find_experiment(folder: Path) -> tuple[str, Optional[Path]]:
    """The experiment of run ``folder`` (run.json's name, else the folder's parent's: ``runs/ct_mnist_2/3`` →
    ``ct_mnist_2``): ``(name, None)`` for an experiment of the package (``stampnet.experiments``), ``(name,
    script)`` for a script of your own (``<base_dir>/<name>.py`` of run.json). Raises ConfigError for neither."""
    from stampnet import experiments

    run_json = folder / "run.json"
    meta = {}
    if run_json.is_file():
        try:
            meta = json.loads(run_json.read_text()).get("experiment", {})
        except json.JSONDecodeError:
            meta = {}
    name = meta.get("name") or folder.parent.name
    if name in experiments.names():
        return name, None
    script = Path(meta["base_dir"]) / f"{name}.py" if meta.get("base_dir") else None
    if script is not None and script.is_file():
        return name, script
    raise ConfigError(f"{folder} is a run of {name!r}, which is no experiment of the package "
                      f"({', '.join(experiments.names())})" + (f" and has no script {script}" if script else "")
                      + "; run the script that made it with `with reproduce_from=" + str(folder) + "`")


def changed_sources(folder: Path) -> list[str]:
    """The recorded sources of the run that differ from today's files (or are gone): the package's files as
    imported now, the others at the run's base folder."""
    try:
        meta = json.loads((folder / "run.json").read_text())["experiment"]
    except (OSError, KeyError, json.JSONDecodeError):
        return []
    base = Path(meta.get("base_dir") or PACKAGE_BASE)
    changed = []
    for relative, stored in meta.get("sources", []):
        digest = Path(stored).stem.rsplit("_", 1)[-1]
        current = (PACKAGE_BASE if Path(relative).parts[:1] == ("stampnet",) else base) / relative
        if not current.is_file() or hashlib.md5(current.read_bytes()).hexdigest() != digest:
            changed.append(f"{relative} (then: {folder.parent / stored})")
    return changed


def load_experiment(script: Path):
    """Import a script of your own (as Sacred's main file, without running it) and return its ``ex``."""
    sys.argv[0] = str(script)  # stamp_network.ex is named after the main script
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
        name, script = find_experiment(folder)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for note in changed_sources(folder):
        print(f"note: changed since the run: {note}", file=sys.stderr)
    if "with" in rest:
        rest = rest + [f"reproduce_from={folder}"]
    else:
        rest = rest + ["with", f"reproduce_from={folder}"]
    if script is None:
        from stampnet.experiment import build

        build(name).run_commandline([name, *rest])
    else:
        load_experiment(script).run_commandline([str(script), *rest])
    return 0


if __name__ == "__main__":
    sys.exit(main())
