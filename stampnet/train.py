"""Training a StampNet: config → data → model → ``fit`` → weights, metrics and figures in a run folder.

Used by the Sacred experiment in ``stamp_network.py``; free of Sacred itself (``log_scalar`` is a hook). The
config is validated once at the edge (``stampnet.runs.preflight``: the Sacred config hook, or :func:`train`
itself when it is handed a raw config) and handed on as named values (``stampnet.spec``); checkpoints and
resuming are in ``stampnet.checkpoints``, the callbacks in ``stampnet.callbacks``, and what differs between
TensorFlow, JAX and PyTorch (determinism, distribution, TensorBoard) in ``stampnet.backend``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Callable, Optional, Sequence

import keras

from stampnet import ConfigError, backend
from stampnet.bench.flops import print_flops
from stampnet.callbacks import EpochLine, ScalarLogger, StepSchedules
from stampnet.checkpoints import PeriodicCheckpoint, ResumeState, finite, restore_state, save_weights_atomic
from stampnet.data.pipeline import split_train_validation, training_feed
from stampnet.model import build_model
from stampnet.runs import STATE_FILE, checkpoint_name, latest_weights, preflight, resume_source
from stampnet.spec import RunSpec, TrainSpec

set_determinism = backend.set_determinism  # the names tests and older code import from here


class TrainingDiverged(ConfigError, FloatingPointError):
    """The loss became NaN/inf; the message names the last good checkpoint and the fix."""


def train(config: dict | RunSpec, run_dir: str | Path, log_scalar: Optional[Callable] = None,
          callbacks: Sequence[keras.callbacks.Callback] = ()) -> dict:
    """Train the model that ``config`` describes; everything lands in ``run_dir``. Returns the final losses,
    the epoch count, the last weight file and the backend that trained.

    ``config``: the :class:`~stampnet.spec.RunSpec` the edge made (the Sacred config hook), taken as it is, or a
    raw 2019 config, checked here once (``stampnet.runs.preflight``). Its ``resume_from`` (a run folder)
    continues that run's training state in ``run_dir``; ``callbacks`` are added to Keras' fit (tests use it)."""
    run = config if isinstance(config, RunSpec) else preflight(config)
    model_spec, spec = run.model, run.train
    run_dir = Path(run_dir)
    trained = run_dir / "trained"
    backend.set_determinism(spec.deterministic)
    backend.compilation_cache()
    keras.utils.set_random_seed(spec.seed)  # model init, dropout, Gumbel noise
    print("training on " + ", ".join(f"{k} {v}" for k, v in backend.versions().items()), flush=True)

    # The data first: a missing or bad data file stops the run before it writes anything.
    splits = run.data.load(spec.seed)
    train_part, val_part = split_train_validation(splits.train, spec.steps_per_epoch, spec.validation_steps,
                                                  spec.batch_size, shuffle=spec.shuffle, seed=spec.seed)
    validation = (val_part.images, val_part.images) if spec.validation_steps else None

    if spec.mixed_precision:
        keras.mixed_precision.set_global_policy(spec.mixed_precision)
    with backend.distribution(spec.distribute, spec.batch_size):
        model = build_model(model_spec, jit_compile=spec.jit_compile,
                            learning_rate=spec.schedule.optimizer_learning_rate())
        start_epoch, past, global_rng = 0, [], None
        if spec.resume_from:
            source, kind = resume_source(spec.resume_from)
            start_epoch, past, global_rng = restore_state(model, source, kind)
            exact = "" if kind == "state" else " (from a checkpoint: the random generators start afresh)"
            print(f"resuming {spec.resume_from} after epoch {start_epoch}{exact}", flush=True)
        trained.mkdir(parents=True, exist_ok=True)
        if log_scalar is not None:  # the earlier epochs, so this run's metrics have no gap
            for epoch, logs in enumerate(past, start=1):
                for name, value in logs.items():
                    log_scalar(name, value, epoch)
        name = checkpoint_name(bool(validation))
        full_mfu = print_flops(model, backend.replicas(spec.distribute))  # canvases/s at 100 % of the peak
        all_callbacks = run_callbacks(spec, run_dir, name, past, log_scalar, global_rng, full_mfu) + list(callbacks)
        history = model.fit(training_feed(train_part.images, spec.batch_size, spec.shuffle, spec.seed,
                                          first_epoch=start_epoch, epochs=spec.epochs),
                            epochs=spec.epochs, initial_epoch=start_epoch, steps_per_epoch=spec.steps_per_epoch,
                            validation_data=validation, validation_batch_size=spec.batch_size,
                            callbacks=all_callbacks, verbose=0, shuffle=False)
    logs = {k: float(v[-1]) for k, v in history.history.items()}
    final_epoch = start_epoch + len(history.history["loss"])
    if not finite(logs):
        last = latest_weights(trained)
        kept = f"the last good checkpoint is {last}" if last else "no checkpoint of this run had a finite loss"
        resume = (f" (then go on from the last good epoch: `with resume_from={run_dir} layer_parameters.learning_rate=…`)"
                  if (run_dir / "backup" / STATE_FILE).is_file() else "")
        raise TrainingDiverged(f"training diverged at epoch {final_epoch} (loss {logs.get('loss')}); {kept}; lower "
                               f"layer_parameters.learning_rate (now {spec.schedule.learning_rate}) or check the data for "
                               f"NaN/inf{resume}")
    final = trained / name.format(epoch=final_epoch, **logs)
    if spec.precise_bn:
        # The final weights carry BatchNorm statistics without dropout; the backup state keeps training's (resume).
        logs.update(precise_bn_statistics(model, train_part.images, validation, spec))
        save_weights_atomic(model, final)
    elif not final.exists():
        save_weights_atomic(model, final)
    curves = {k: [h[k] for h in past if k in h] + [float(x) for x in v] for k, v in history.history.items()}
    from stampnet.figures import save_run_figures

    save_run_figures(model, splits.test, run_dir / "figures", curves, n_images=spec.n_figure_images,
                     tau=spec.test_temperature)
    return {**logs, "epochs": final_epoch, "weights": str(final), "backend": backend.name()}


def precise_bn_statistics(model: keras.Model, images, validation, spec: TrainSpec) -> dict:
    """Recompute the BatchNorm statistics without dropout on ``spec.precise_bn`` training canvases
    (``stampnet.recipe.recompute_batchnorm``); prints and returns the validation loss before and after."""
    from stampnet.recipe import recompute_batchnorm

    def val_loss():
        if not validation:
            return None
        return float(model.evaluate(*validation, batch_size=spec.batch_size, verbose=0, return_dict=True)["loss"])

    before = val_loss()
    n = recompute_batchnorm(model, images, spec.precise_bn, seed=spec.seed)
    after = val_loss()
    change = f": val_loss {before:.4g} -> {after:.4g}" if validation else ""
    print(f"BatchNorm statistics recomputed without dropout on {n} training canvases{change}", flush=True)
    return {"precise_bn": n, **({"val_loss_precise_bn": after} if validation else {})}


def run_callbacks(spec: TrainSpec, run_dir: Path, checkpoint_name: str, past: list,
                  log_scalar: Optional[Callable] = None, global_rng=None,
                  full_mfu: Optional[float] = None) -> list[keras.callbacks.Callback]:
    """The callbacks of a run, in order: what follows the step (before each step), then after each epoch the NaN stop,
    the resume state, checkpoints, TensorBoard, the progress line and the metrics hook."""
    out = [
        StepSchedules(spec.schedule),
        backend.nan_stop(),
        ResumeState(run_dir / "backup", past, global_rng),
        PeriodicCheckpoint(run_dir / "trained" / checkpoint_name, spec.checkpoint_period),
        backend.board_callback(run_dir / "board"),
        EpochLine(spec.epochs, spec.images_per_epoch, full_mfu),
    ]
    if log_scalar is not None:
        out.append(ScalarLogger(log_scalar))
    return out
