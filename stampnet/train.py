"""Training a StampNet: data → model → fit with callbacks → weights, metrics and figures in a run folder.

Used by the Sacred experiment in ``stamp_network.py``; free of Sacred itself (``log_scalar`` is a hook).
"""
from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Callable, Optional

import keras
import numpy as np

from stampnet.config import validate
from stampnet.data import load_data
from stampnet.data.pipeline import as_dataset, split_train_validation
from stampnet.model import TemperatureSchedule, build_model


class ScalarLogger(keras.callbacks.Callback):
    """Sends every per-epoch log value (loss, val_loss, tau) to ``log_scalar(name, value, step)``."""

    def __init__(self, log_scalar: Callable[[str, float, int], None]):
        super().__init__()
        self.log_scalar = log_scalar

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.log_scalar(name, float(value), epoch + 1)


class EpochLine(keras.callbacks.Callback):
    """One progress line per epoch: epoch, losses, τ, images/s."""

    def __init__(self, epochs: int, images_per_epoch: int):
        super().__init__()
        self.epochs, self.images_per_epoch = epochs, images_per_epoch

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        rate = self.images_per_epoch / max(time.perf_counter() - self._start, 1e-9)
        parts = [f"epoch {epoch + 1}/{self.epochs}"] + [
            f"{k} {v:.4g}" for k, v in logs.items() if k in ("loss", "val_loss", "tau")]
        print("  ".join(parts + [f"{rate:.1f} img/s"]), flush=True)


class PeriodicCheckpoint(keras.callbacks.Callback):
    """Saves the weights every ``period`` epochs to ``pattern`` (formatted with epoch and the logs).

    Written to a temporary file, then renamed: a kill never leaves a half-written checkpoint."""

    def __init__(self, pattern: Path, period: int):
        super().__init__()
        self.pattern, self.period = Path(pattern), period

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.period == 0:
            save_weights_atomic(self.model, self.pattern.parent / self.pattern.name.format(epoch=epoch + 1, **(logs or {})))


def save_weights_atomic(model: keras.Model, path: Path) -> None:
    """``model.save_weights(path)`` via a temporary file and a rename."""
    path = Path(path)
    tmp = path.with_name(f".tmp-{os.getpid()}-{path.name}")
    try:
        model.save_weights(str(tmp))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def latest_weights(trained_dir: Path) -> Optional[Path]:
    """The weights file of the highest epoch in ``trained/`` (names weights.<epoch>-<val_loss>.weights.h5)."""
    files = sorted(Path(trained_dir).glob("weights.*.weights.h5"), key=lambda p: int(p.name.split(".")[1].split("-")[0]))
    return files[-1] if files else None


def train(config: dict, run_dir: str | Path, log_scalar: Optional[Callable] = None) -> dict:
    """Train the model that ``config`` describes; everything lands in ``run_dir``. Returns final losses."""
    cfg = validate(config)
    rp, lp = cfg["run_parameters"], cfg["layer_parameters"]
    seed, batch = cfg["seed"], lp["input_parameters"]["batch_size"]
    run_dir = Path(run_dir)
    trained, board, figures = run_dir / "trained", run_dir / "board", run_dir / "figures"
    trained.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(seed)  # model init, dropout, Gumbel noise

    splits = load_data(rp, lp["input_parameters"], seed)
    train_part, val_part = split_train_validation(splits.train, rp["steps_per_epoch"], rp["validation_steps"],
                                                  batch, shuffle=rp["shuffle"], seed=seed)
    train_ds = as_dataset(train_part.images, batch, shuffle=rp["shuffle"], seed=seed)
    val_ds = as_dataset(val_part.images, batch) if rp["validation_steps"] else None

    if rp.get("mixed_precision"):
        keras.mixed_precision.set_global_policy(rp["mixed_precision"])
    model = build_model(lp, jit_compile=rp["jit_compile"])
    epochs, period = rp["epochs"], rp["checkpoint_period"]
    name = "weights.{epoch:02d}-{val_loss:.2f}.weights.h5" if val_ds is not None else "weights.{epoch:02d}-{loss:.2f}.weights.h5"
    callbacks = [
        TemperatureSchedule(lp["decoder_parameters"]["gumbel_parameters"]),
        keras.callbacks.TerminateOnNaN(),
        PeriodicCheckpoint(trained / name, period),
        keras.callbacks.TensorBoard(str(board), write_graph=False, profile_batch=0),
        EpochLine(epochs, rp["steps_per_epoch"] * batch),
    ]
    if log_scalar is not None:
        callbacks.append(ScalarLogger(log_scalar))
    history = model.fit(train_ds, epochs=epochs, steps_per_epoch=rp["steps_per_epoch"], validation_data=val_ds,
                        validation_steps=rp["validation_steps"] or None, callbacks=callbacks, verbose=0,
                        shuffle=False)
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    if not all(math.isfinite(v) for v in logs.values()):
        raise FloatingPointError(f"training diverged (loss {logs.get('loss')}); the last good checkpoint is in "
                                 f"{trained}; lower layer_parameters.learning_rate or check the data")
    final_epoch = len(history.history["loss"])
    final = trained / name.format(epoch=final_epoch, **logs)
    if not final.exists():
        save_weights_atomic(model, final)
    save_figures(model, cfg, splits.test, figures, history.history)
    return {**logs, "epochs": final_epoch, "weights": str(final)}


def save_figures(model: keras.Model, cfg: dict, test, figures_dir: Path, history: Optional[dict] = None) -> None:
    """Stamp grid, a few test inputs with predicted boxes beside their reconstructions, training curves."""
    from stampnet import figures
    from stampnet.metrics import predict_slots
    from stampnet.model import analysis_model, set_temperature, stamps

    rp, dec = cfg["run_parameters"], cfg["layer_parameters"]["decoder_parameters"]
    n = min(rp["n_figure_images"], len(test))
    if n == 0:
        return
    set_temperature(model, rp["test_temperature"])
    out = analysis_model(model).predict(test.images[:n], verbose=0)
    coords, classes = predict_slots(out["stamp_probs"], out["y_probs"], out["x_probs"])
    usage = np.bincount(classes.ravel(), minlength=dec["nr_of_stamps"])
    figures.stamp_grid(stamps(model), usage=usage, path=figures_dir / "stamps.png")
    figures.reconstructions(test.images[:n], out["reconstruction"], coords, dec["stamp_size"],
                            pred_classes=classes, true_coords=None if test.coords is None else test.coords[:n],
                            path=figures_dir / "reconstructions.png")
    if history:
        curves = {k: {"steps": list(range(1, len(v) + 1)), "values": [float(x) for x in v]} for k, v in history.items()}
        figures.training_curves(curves, path=figures_dir / "training_curves.png")
