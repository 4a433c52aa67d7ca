"""The run folders that Sacred and :mod:`stampnet.train` write: ``runs/<script>/<id>/`` with run.json
(status, heartbeat, start and stop times, the command as typed), config.json, trained/ (checkpoints named by
:func:`checkpoint_name`) and backup/ (the resume state).

Every reader tolerates a file it did not expect (missing, not JSON, not an object): it reads as empty. The
checks before a run starts (:func:`preflight`) live here too: like the readers they need no Keras, so a bad
config stops the command line before TensorFlow is imported. Below them, a run's model with its weights
(:func:`load_run`): ours or the 2019 Keras 2.2.2 files.
"""
from __future__ import annotations

import json
import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional

from stampnet import ConfigError
from stampnet.config import validate
from stampnet.spec import ModelSpec, RunSpec, run_spec

STATE_FILE = "state.weights.h5"   # in <run>/backup/
STATE_GROUP = "stampnet_resume"  # the HDF5 group (beside Keras' own) with epoch, history and seed states

STALE_HEARTBEAT_S = 120  # a RUNNING run whose heartbeat is older than this was stopped without saying so
HEARTBEAT_WAIT_S = 25    # a younger heartbeat must move within this (Sacred beats every 10 s)


def read_json(path: Path) -> dict:
    """The JSON object in ``path``; {} when it is missing, unreadable, not UTF-8, not JSON (too deep, a number
    too long) or not an object."""
    try:
        value = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, ValueError, RecursionError):  # ValueError: UnicodeDecodeError, JSONDecodeError, long ints
        return {}
    return value if isinstance(value, dict) else {}


def home_relative(path: str | Path) -> str:
    """``path`` with ``~`` for the home folder (``~/stampnet-runs/...``), else as given: what records show."""
    p, home = Path(path), Path.home()
    if p.is_absolute() and len(home.parts) > 1 and p.is_relative_to(home):
        return str(Path("~") / p.relative_to(home))
    return str(p)


def run_folders(folder: Path) -> list[Path]:
    """The Sacred run folders (numeric names with a run.json) in ``folder``, oldest first."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if p.name.isdigit() and (p / "run.json").is_file()),
                  key=lambda p: int(p.name))


def timestamp(text: Optional[str]) -> Optional[datetime]:
    try:
        return datetime.fromisoformat(text) if text else None
    except (TypeError, ValueError):  # not a string (a hand-edited run.json), or not a date
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
    return read_json(run / "run.json").get("status") == "COMPLETED" and latest_weights(run / "trained") is not None


def resumable(run: Path) -> bool:
    return (run / "backup" / STATE_FILE).is_file()


def run_chain(run: Path) -> list[Path]:
    """``run`` and the runs it resumed, oldest first (each config.json's ``resume_from``)."""
    chain, seen = [run], {run.resolve()}
    while True:
        source = read_json(chain[0] / "config.json").get("resume_from")
        if not isinstance(source, str) or not source or not Path(source).is_dir() or Path(source).resolve() in seen:
            return chain
        chain.insert(0, Path(source))
        seen.add(chain[0].resolve())


CHECKPOINT_RE = re.compile(r"weights\.(\d+)-[^/]*\.weights\.h5")  # as checkpoint_name writes them


def checkpoint_name(validation: bool) -> str:
    """The pattern of a run's checkpoint files in ``trained/`` (formatted with the epoch and Keras' logs)."""
    return "weights.{epoch:02d}-{%s:.2f}.weights.h5" % ("val_loss" if validation else "loss")


def checkpoint_epoch(path: Path) -> Optional[int]:
    """The epoch of a checkpoint named weights.<epoch>-<loss>.weights.h5; None for a file of another name
    (e.g. a user's weights.best.weights.h5), which the run's readers leave alone."""
    match = CHECKPOINT_RE.fullmatch(Path(path).name)
    return int(match.group(1)) if match else None


def checkpoints(trained_dir: Path) -> dict[int, Path]:
    """{epoch: weight file} of every checkpoint in a run's ``trained/`` folder, by epoch."""
    found = ((checkpoint_epoch(f), f) for f in Path(trained_dir).glob("weights.*.weights.h5"))
    return dict(sorted((epoch, f) for epoch, f in found if epoch is not None))


def latest_weights(trained_dir: Path) -> Optional[Path]:
    """The checkpoint of the highest epoch in ``trained/``, or None."""
    found = checkpoints(trained_dir)
    return found[max(found)] if found else None


def resume_source(folder: str | Path) -> tuple[Path, str]:
    """The file to resume from in run ``folder``: (path, kind) with kind "state" (backup/state.weights.h5,
    exact) or "checkpoint" (the latest trained/ checkpoint of a run without a state file: weights and
    optimizer, not the random generators). Raises ConfigError when there is neither."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ConfigError(f"resume_from={str(folder)!r} is not a folder; give a run folder such as "
                          "runs/simple_shapes_2/3")
    if (folder / "backup" / STATE_FILE).is_file():
        return folder / "backup" / STATE_FILE, "state"
    checkpoint = latest_weights(folder / "trained")
    if checkpoint is not None:
        return checkpoint, "checkpoint"
    raise ConfigError(f"{folder} has nothing to resume from (no backup/{STATE_FILE}, no trained/ checkpoint): "
                      f"it stopped before its first epoch ended; start it afresh with "
                      f"`python -m stampnet.reproduce {folder}`")


def resume_epoch(source: Path, kind: str) -> int:
    """The number of epochs done at a resume source."""
    if kind == "checkpoint":
        return checkpoint_epoch(source)
    import h5py

    try:
        with h5py.File(source, "r") as f:
            return int(f[STATE_GROUP].attrs["epoch"])
    except (OSError, KeyError) as err:
        raise ConfigError(f"{source} is not a readable training state ({err}); delete it to resume from the "
                          "run's latest trained/ checkpoint instead") from None


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:,.1f}" if n < 2 ** 1000 else f"about 10^{len(str(n >> 30)) - 1}"


def model_memory(model: ModelSpec, batch: int, training: bool) -> dict[str, int]:
    """A rough estimate of the bytes the ``model`` takes with batches of ``batch`` canvases, by part (encoder,
    heads, decoder): its parameters (float32; in training also their gradients and Nadam's two slots) and the
    activations of one batch (in training kept for the backward pass). From the shapes, before Keras allocates
    anything."""
    side, channels = model.image_size, model.channels
    K, S, M, E = model.n_stamps, model.stamp_size, model.slots, model.encoding_size
    C, F = model.coord_size, model.final_conv_size
    kh, kw = model.conv_kernel
    params = dict.fromkeys(("encoder", "heads", "decoder"), 0)
    acts = dict(params, encoder=side * side * channels)
    h, c = side, channels
    for f in model.conv_layer_sizes:
        params["encoder"] += kh * kw * c * f + 5 * f      # kernel, bias and BatchNorm's four
        acts["encoder"] += 4 * h * h * f                  # conv, activation, BatchNorm, dropout
        h, c = (h + 1) // 2, f
        acts["encoder"] += h * h * f                      # pooled
    fh, fw = model.final_conv_kernel
    params["encoder"] += fh * fw * c * F + 5 * F
    choices = (C, C, K + model.empty_stamp)              # y, x, stamp
    params["heads"] = 3 * (F * E + 5 * E) + sum(E * n * M + 5 * n * M for n in choices)
    acts["heads"] = 8 * M * sum(choices)
    params["decoder"] = K * S * S * channels              # the stamps, one plane per channel
    if model.decoder == "conv":                          # the placement tensor, padded, and the drawing
        acts["decoder"] = (C * C + (C + 2 * (S - 1)) ** 2) * K + side * side * channels
    else:                                                 # each slot's drawing and its row placement
        acts["decoder"] = 2 * M * side * (side + S) * channels
    return {part: 4 * (4 if training else 1) * params[part] + 4 * (3 if training else 2) * batch * acts[part]
            for part in params}


MODEL_KEYS = {  # the keys that make each part of model_memory large
    "encoder": "layer_parameters.encoder_parameters.conv_layer_sizes, final_conv_size or "
               "input_parameters.batch_size (or img_rows)",
    "heads": "layer_parameters.decoder_parameters.nr_of_stamps, stamps_per_canvas, decoder_enc_size or "
             "input_parameters.batch_size (or img_rows)",
    "decoder": "layer_parameters.decoder_parameters.nr_of_stamps, stamp_size, stamps_per_canvas or "
               "input_parameters.batch_size (or img_rows)",
}


def check_model_memory(spec: RunSpec, training: bool, source: str = "the config") -> None:
    """Refuse a model that would not fit in memory (:func:`model_memory` against the memory free now), with the
    size and the keys of its largest part; after the data's own check (``stampnet.data.check_memory``)."""
    from stampnet.data import MEMORY_SHARE, available_memory

    parts = model_memory(spec.model, spec.train.batch_size, training)
    need, free = sum(parts.values()), available_memory()
    if free is not None and need > MEMORY_SHARE * free:
        largest = max(parts, key=parts.get)
        raise ConfigError(f"the model of {source} needs about {_gib(need)} GiB for "
                          f"{'training' if training else 'evaluation'} ({largest}: {_gib(parts[largest])} GiB), but "
                          f"{_gib(free)} GiB of memory is free; lower {MODEL_KEYS[largest]}")


def preflight(config: dict, warn_live: bool = False) -> RunSpec:
    """Every check of a raw config that needs no data and no model: the config (validated here, once), the run
    options and the resume source; returns its :class:`~stampnet.spec.RunSpec`. The Sacred config hook calls it
    before Sacred creates the run folder, so a bad config leaves no files; there (``warn_live``) it also warns
    when the run to resume is still training."""
    spec = run_spec(validate(config))
    check_model_memory(spec, training=True)
    resume = spec.train.resume_from
    if resume:
        done, epochs = resume_epoch(*resume_source(resume)), spec.train.epochs
        if warn_live and is_live(Path(resume)):
            print(f"warning: {resume} is still training in another process (its heartbeat moves); "
                  "this run starts from its last finished epoch and both will go on", file=sys.stderr, flush=True)
        if done >= epochs:
            raise ConfigError(f"{resume} already trained {done} of {epochs} epochs; to train further "
                              f"add run_parameters.epochs=<more than {done}>")
    return spec


@dataclass
class LoadedRun:
    spec: RunSpec        # the run's config, validated once when it was read
    model: object        # keras.Model
    folder: Path         # where the config lives (results are written here)
    weights: Optional[Path]

    @property
    def config(self) -> dict:
        """The validated config (``spec.config``): what records keep and the notebook shows."""
        return self.spec.config


def find_weights(trained_dir: Path, epoch: Optional[int] = None) -> Path:
    """The weights of ``epoch`` (or the latest) in a run's ``trained/`` folder."""
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
    spec = run_spec(read_config(config_path))
    if decoder:
        spec = spec.with_decoder(decoder)
    check_model_memory(spec, training=False, source=str(config_path))
    model = build_model(spec.model, compile=False)
    return LoadedRun(spec, model, config_path.parent, None)


def load_run(target: str | Path, epoch: Optional[int] = None, weights: Optional[str | Path] = None,
             decoder: Optional[str] = None) -> LoadedRun:
    """Rebuild the model of a run folder / config.json and load its weights (ours or 2019's)."""
    run = build_run(target, decoder)
    run.weights = Path(weights) if weights else find_weights(run.folder / "trained", epoch)
    load_weights(run.model, run.weights, run.folder / "config.json")
    return run
