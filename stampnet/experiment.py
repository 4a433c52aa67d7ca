"""StampNet's Sacred experiment: ``build(name)`` makes the experiment ``name`` of ``stampnet.experiments``.

``python -m stampnet.run <name> with <overrides>`` runs it wherever the package is installed; the top-level
scripts (``python ct_mnist_2.py with …``) do the same. Runs are stored in ``runs/<name>/<id>/`` (config.json,
run.json, cout.txt, metrics.json, trained/, board/, figures/, backup/). The environment variable STAMPNET_RUNS
changes ``runs``.

Beside the model's keys the config has:

- ``resume_from=runs/<name>/<id>``: a new run that continues that run's training (its stored config, its
  last epoch's state; see stampnet/train.py). Other overrides on the command line apply on top.
- ``reproduce_from=runs/<name>/<id>``: a new run from scratch with that run's stored config
  (``python -m stampnet.reproduce`` sets it).
- ``mongo_url`` / ``mongo_db``: also record the run in MongoDB (Sacred's MongoObserver, for Omniboard); the
  environment variables STAMPNET_MONGO_URL / STAMPNET_MONGO_DB do the same; Sacred's own ``-m HOST:PORT:DB``
  works too. The file storage under ``runs/`` stays on.
- ``run_parameters.deterministic`` (null = on without a GPU) and ``run_parameters.distribute`` (null or
  "mirrored": data parallel over all GPUs, TensorFlow's MirroredStrategy or JAX's DataParallel).

The Keras backend is chosen by the environment (``KERAS_BACKEND=jax python -m stampnet.run simple_shapes_2 with
quick``; TensorFlow by default); the run records it in ``info.json`` (``backend``).
"""
from __future__ import annotations

import copy
import os
import shutil
import sys
from pathlib import Path
from typing import Optional

from sacred import Experiment
from sacred.dependencies import Source
from sacred.observers import FileStorageObserver, MongoObserver

from stampnet import ConfigError, experiments
from stampnet.config import DEFAULTS
from stampnet.tracking import check_options, mongo_observer, mongo_settings, origin_updates

PACKAGE = Path(__file__).resolve().parent  # its sources are the run's snapshot; its parent is Sacred's base_dir


def _file_storage_dir(run):
    return next((o.dir for o in run.observers if isinstance(o, FileStorageObserver)), None)


class StampExperiment(Experiment):
    """A Sacred experiment that reports a configuration problem as one line (exit code 2), not a traceback.

    Sacred's own options ``-l``, ``-F``, ``-s``, ``-m`` are checked first (``stampnet.tracking.check_options``).
    Its config hook checks the config (``stampnet.runs.preflight``; ``print_config`` and the other commands
    ``stampnet.config.validate``) while Sacred builds the run, before there is a run folder, and adds MongoDB
    when ``mongo_url`` asks; a run that fails on its input before training starts (e.g. a missing data file)
    has its folder removed again. ``resume_from`` / ``reproduce_from`` load a stored config."""

    _unobserved = False  # the run's --unobserved, for the config hook
    _validated = None    # the RunSpec the config hook made of this run's config, for main (validated once)

    def run(self, command_name=None, config_updates=None, named_configs=(), info=None, meta_info=None,
            options=None):
        before, typed = self.current_run, copy.deepcopy(config_updates or {})
        self._unobserved = bool((options or {}).get("--unobserved"))
        try:
            command = dict(self.gather_commands()).get(command_name or self.default_command)
            check_options(options or {}, observed=not self._unobserved and not getattr(command, "unobserved", False))
            config_updates, origin = origin_updates(self.path, config_updates or {}, named_configs)
            if (command_name or self.default_command) == "main":
                _check_runs_root()
            return super().run(command_name, config_updates, named_configs, {**(info or {}), **origin},
                               {**(meta_info or {}), "config_updates": typed},  # as typed, not the stored config
                               options)
        except ConfigError as err:
            run = self.current_run if self.current_run is not before else None
            folder = _file_storage_dir(run) if run is not None else None
            if folder and Path(folder).is_dir() and not (Path(folder) / "trained").exists():
                shutil.rmtree(folder, ignore_errors=True)  # it stopped before training: nothing worth keeping
            print(f"error: {err}", file=sys.stderr)
            sys.exit(2)
        finally:
            self.observers[:] = [o for o in self.observers if not getattr(o, "stampnet_added", False)]
            self._validated = None


def _check_runs_root() -> None:
    """STAMPNET_RUNS (default runs) must be a folder we can make; else one line (exit code 2)."""
    root = os.environ.get("STAMPNET_RUNS", "runs")
    try:
        Path(root).mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot make the runs folder STAMPNET_RUNS={root!r} ({err.strerror}); set "
                          "STAMPNET_RUNS to a folder you can write, or unset it for runs/") from None


def _running_script() -> Optional[Path]:
    """The Python file this process was started with, if any."""
    main = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0].endswith(".py") else None
    return main if main is not None and main.is_file() else None


def build(name: Optional[str] = None, script: Optional[str] = None) -> StampExperiment:
    """The Sacred experiment ``name`` of ``stampnet.experiments``: the defaults, its config, the named configs
    (quick, cpu, fast), the config hook and ``main``. ``script``: the file that runs it (Sacred's main file;
    default the experiment's module). ``name`` None: the defaults alone, named after the running script, for a
    script that adds its own config (``stamp_network.ex``). Raises ConfigError for an unknown name."""
    if name is None:
        running = _running_script()
        label, config, doc, main_file = (running.stem if running else "stamp_network"), None, __doc__, running
    else:
        module = experiments.module(name)
        label, config, doc, main_file = name, experiments.config(name), module.__doc__, Path(module.__file__)
    main_file = Path(script).resolve() if script else main_file or Path(__file__)
    ex = StampExperiment(label, base_dir=str(PACKAGE.parent), save_git_info=False)
    ex.doc, ex.mainfile = doc, Source.create(str(main_file), save_git_info=False)  # Sacred took this module's
    ex.sources.add(ex.mainfile)
    ex.add_config(copy.deepcopy(DEFAULTS))
    if config is not None:
        ex.add_config(config)
    for named, (named_doc, updates) in experiments.NAMED_CONFIGS.items():
        ex.add_named_config(named, copy.deepcopy(updates))
        ex.named_configs[named].__doc__ = named_doc  # shown by Sacred's help
    ex.observers.append(FileStorageObserver(os.path.join(os.environ.get("STAMPNET_RUNS", "runs"), ex.path)))
    # The source snapshot in runs/<name>/_sources/: the package and the script that ran it, for reproduce.
    for source in sorted(PACKAGE.rglob("*.py")) + [_running_script()]:
        if source is not None and PACKAGE.parent in source.parents:
            ex.add_source_file(str(source))

    @ex.config_hook
    def preflight_hook(config, command_name, logger):
        """The edge of a run: its config validated once, with every check that needs no data
        (``stampnet.runs.preflight``), before Sacred seeds or makes a folder; the result, with the data set's
        defaults that Sacred adds from this hook, is what ``main`` trains. MongoDB added for this run when the
        config or the environment names a server. The other commands (``print_config`` …) check the config
        alone (``stampnet.config.validate``)."""
        if command_name != "main":
            from stampnet.config import validate
            from stampnet.spec import data_spec

            return data_spec(validate(config)).defaults_update()
        from stampnet.runs import preflight

        spec = preflight(config, warn_live=True)
        defaults = spec.data.defaults_update()  # returned below: Sacred adds it to the config main gets
        ex._validated = spec.with_update(defaults)
        url, db = mongo_settings(spec.config)
        if url and not ex._unobserved and not any(isinstance(o, MongoObserver) for o in ex.observers):
            observer = mongo_observer(url, db)
            observer.stampnet_added = True  # for this run only
            ex.observers.append(observer)
        return defaults

    @ex.main
    def main(_run):
        from stampnet.backend import versions
        from stampnet.train import train

        spec, ex._validated = ex._validated, None
        if spec is None:
            raise ConfigError("the run's config was not checked: start it through its experiment (python -m "
                              "stampnet.run <name> with …), whose config hook validates it")
        _run.info["backend"] = versions()  # which Keras backend trained the run (info.json)
        run_dir = _file_storage_dir(_run)
        if run_dir is None:
            raise ConfigError("no file-storage observer: run without -u/--unobserved so results have a run folder")
        return train(spec, run_dir, log_scalar=_run.log_scalar)

    return ex
