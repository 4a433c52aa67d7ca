"""What differs between Keras' backends (TensorFlow, JAX, PyTorch): one small function per concern, chosen by
``keras.backend.backend()``. Everything else in the package speaks ``keras.ops`` and NumPy.

TensorFlow is imported only on the TensorFlow backend, so JAX and PyTorch runs work where it is not installed.
Surprising on JAX: during ``fit`` the model's variables are detached (the compiled step carries them as state
and writes them back at the epoch's end), so a callback that sets a variable mid-epoch must call
:func:`sync_variables` first, or its change is lost.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

import keras

from stampnet import ConfigError

DISTRIBUTED = {"tensorflow": "tf.distribute.MirroredStrategy", "jax": "keras.distribution.DataParallel"}


def name() -> str:
    return keras.backend.backend()


def gpu_count() -> int:
    """The accelerators (GPUs) the backend sees. On JAX this starts its runtime (XLA flags are read then)."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return len(tf.config.list_physical_devices("GPU"))
    if backend == "jax":
        import jax

        return sum(d.platform != "cpu" for d in jax.devices())
    if backend == "torch":
        import torch

        return torch.cuda.device_count()
    return 0


def versions() -> dict:
    """The backend and its library's version, for a run's record: {"backend": "jax", "jax": "0.10.2", ...}."""
    backend = name()
    out = {"backend": backend, "keras": keras.__version__}
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    if module:
        out[module] = __import__(module).__version__
    return out


def compilation_cache() -> Optional[Path]:
    """On JAX, keep compiled programs on disk (JAX's persistent compilation cache), so that the same run again,
    its resume or its evaluation does not compile anew: in ``$JAX_COMPILATION_CACHE_DIR`` when set, else
    ``$XDG_CACHE_HOME/stampnet/jax`` (``~/.cache/stampnet/jax``). Every program is kept, however quick its
    compilation: JAX's default keeps only those of a second or more, but a run also compiles about a hundred
    small programs (initialisers, random draws, evaluation, the BatchNorm recomputation) that together take
    longer than its training step. ``$JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS`` still sets the threshold.
    Returns the folder; None on the other backends. Call it before the first computation: JAX reads the
    settings once, at its first compilation that could use the cache."""
    if name() != "jax":
        return None
    import jax

    if not jax.config.jax_compilation_cache_dir:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        jax.config.update("jax_compilation_cache_dir", str(base / "stampnet" / "jax"))
    if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    return Path(jax.config.jax_compilation_cache_dir)


def set_determinism(deterministic: Optional[bool]) -> bool:
    """Deterministic kernels on (True, or None on a machine without GPUs) or off; returns the choice.

    TensorFlow: op determinism. JAX: XLA on a CPU is deterministic; on a GPU ``--xla_gpu_deterministic_ops``
    (read when JAX starts, so set before the first computation). PyTorch: ``use_deterministic_algorithms``."""
    backend = name()
    if backend == "jax" and deterministic:  # before gpu_count() starts the runtime
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_gpu_deterministic_ops" not in flags:
            os.environ["XLA_FLAGS"] = f"{flags} --xla_gpu_deterministic_ops=true".strip()
    if backend == "torch" and deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    on = gpu_count() == 0 if deterministic is None else bool(deterministic)
    if backend == "tensorflow":
        import tensorflow as tf

        if on:
            tf.config.experimental.enable_op_determinism()
        else:  # TF has no public switch back (it matters only when one process trains several times)
            from tensorflow.python.framework import config as tf_config

            tf_config.disable_op_determinism()
    elif backend == "torch":
        import torch

        torch.use_deterministic_algorithms(on, warn_only=False)
    return on


def global_rng_state():
    """The backend's global random generator state where Keras draws from it (PyTorch's dropout without an
    explicit seed uses torch's generator), as a NumPy array for the resume state; None elsewhere."""
    if name() == "torch":
        import torch

        return torch.get_rng_state().numpy()
    return None


def set_global_rng_state(state) -> None:
    """Restore what :func:`global_rng_state` returned (ignored on the other backends)."""
    if name() == "torch" and state is not None:
        import torch

        torch.set_rng_state(torch.from_numpy(state.copy()))


def replicas(distribute: Optional[str]) -> int:
    """How many replicas ``distribute`` trains on (1 without distribution)."""
    if distribute is None:
        return 1
    return len(_devices())


def _devices() -> list:
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        return [d.name for d in tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")]
    if backend == "jax":
        return keras.distribution.list_devices()
    raise ConfigError(f"run_parameters.distribute='mirrored' is supported on TensorFlow ({DISTRIBUTED['tensorflow']}) "
                      f"and JAX ({DISTRIBUTED['jax']}), not on the {backend} backend; drop run_parameters.distribute "
                      "or set KERAS_BACKEND=jax")


def distribution(distribute: Optional[str], batch_size: int):
    """A context for building and fitting the model: nothing (``distribute`` None), or data parallelism over
    all GPUs (all logical CPUs when there is none): TensorFlow's MirroredStrategy, JAX's DataParallel. The
    global batch ``batch_size`` is split over the replicas."""
    if distribute is None:
        return contextlib.nullcontext()
    devices = _devices()
    if batch_size % len(devices):
        raise ConfigError(f"batch_size {batch_size} does not split over {len(devices)} replicas; set "
                          f"layer_parameters.input_parameters.batch_size to a multiple of {len(devices)}")
    if name() == "tensorflow":
        import tensorflow as tf

        return tf.distribute.MirroredStrategy(devices).scope()
    return keras.distribution.DataParallel(devices=devices).scope()


def sync_variables(model: keras.Model) -> None:
    """Before a callback reads or sets a variable in the middle of ``fit``: on JAX, write the step's state back
    into the model's variables and have the next step read them again (the whole state: slow, see
    :func:`start_fit`). Nothing to do elsewhere."""
    if name() == "jax" and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


def start_fit(model: keras.Model) -> None:
    """Called by the schedule callbacks when ``fit`` begins. On JAX it wraps the compiled training step so that
    the callbacks' per-step values (τ, the straight-through and slot-ink switches) go straight into the
    step's state (:func:`assign_in_fit`) and the step counter is kept on the host (:func:`fit_step`): no
    device-to-host sync and no re-gathering of all variables before every step. Elsewhere nothing to do."""
    if name() != "jax" or getattr(model, "train_function", None) is None:
        return
    model._stampnet_step = int(keras.ops.convert_to_numpy(model.optimizer.iterations))  # synced at fit's start
    if getattr(model.train_function, "stampnet_pending", None) is not None:
        return
    import jax
    import numpy as np

    inner, pending = model.train_function, {}
    where = {id(v): (1, i) for i, v in enumerate(model.non_trainable_variables)}
    where.update({id(v): (2, i) for i, v in enumerate(model.optimizer.variables)})

    def train_function(state, data):
        if pending:
            state = [list(part) for part in state]
            for key, (variable, value) in pending.items():
                part, index = where[key]
                old = state[part][index]
                state[part][index] = jax.device_put(np.asarray(value, dtype=variable.dtype), old.sharding)
            pending.clear()
            state = tuple(state)
        model._stampnet_step += 1
        return inner(_committed(state), data)

    train_function.stampnet_pending = pending
    train_function.stampnet_where = where
    model.train_function = train_function


def _committed(state):
    """``state`` with every array committed to its device(s). jit compiles a step anew when an argument's
    placement changes, and the step's own outputs are committed while fresh variables (the first step, the
    metrics reset at each epoch's start) are not: without this a short run compiled its step four times."""
    import jax

    if all(getattr(leaf, "committed", True) for leaf in jax.tree.leaves(state)):
        return state
    return jax.tree.map(lambda a: a if getattr(a, "committed", True) else jax.device_put(a, a.sharding), state)


def _pending(model: keras.Model):
    """The wrapped step's pending values while ``fit`` runs on JAX with the model's variables detached; else None."""
    if name() != "jax" or getattr(model, "_jax_state_synced", True):
        return None
    return getattr(getattr(model, "train_function", None), "stampnet_pending", None)


def assign_in_fit(model: keras.Model, variable, value) -> None:
    """``variable.assign(value)`` from a callback, also in the middle of ``fit`` on JAX (where the variable is
    detached from the step's state): through the wrapped step when :func:`start_fit` installed it, else by
    syncing the whole state first."""
    pending = _pending(model)
    if pending is not None and id(variable) in model.train_function.stampnet_where:
        pending[id(variable)] = (variable, value)
        return
    sync_variables(model)
    variable.assign(value)


def fit_step(model: keras.Model) -> int:
    """The optimizer's step counter, also in the middle of ``fit`` (JAX: the host's count, or a sync)."""
    if _pending(model) is not None and getattr(model, "_stampnet_step", None) is not None:
        return model._stampnet_step
    sync_variables(model)
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def fused_batch_norm(x, gamma, beta, epsilon: float):
    """Training-mode batch normalisation of a (B, H, W, C) float32 tensor in one fused kernel: returns the output,
    the batch mean and the batch variance (biased, as ``keras.ops.moments`` gives it), or None where the backend
    has no such kernel (the caller then takes Keras' own path).

    TensorFlow: ``FusedBatchNormV3``, one pass forward and one backward instead of the half-dozen elementwise
    passes of moments → normalise; measured 1.2–1.3x the training step of the 2019 encoder (docs/performance.md).
    Its variance is Bessel-corrected; rescaled here by (n − 1)/n to Keras' biased one."""
    if name() != "tensorflow" or len(x.shape) != 4 or x.dtype != "float32":
        return None
    import tensorflow as tf

    empty = tf.constant([], dtype=x.dtype)
    y, mean, variance, _, _, _ = tf.raw_ops.FusedBatchNormV3(
        x=x, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=epsilon, exponential_avg_factor=1.0,
        data_format="NHWC", is_training=True)
    shape = tf.shape(x)
    n = tf.cast(shape[0] * shape[1] * shape[2], x.dtype)
    return y, mean, variance * ((n - 1.0) / n)


def nan_stop() -> keras.callbacks.Callback:
    """Stop on a NaN/inf loss: after the batch on TensorFlow (Keras' TerminateOnNaN), after the epoch elsewhere
    (reading the loss every batch would make JAX wait for each step before queueing the next)."""
    if name() == "tensorflow":
        return keras.callbacks.TerminateOnNaN()
    return StopOnNaN()


class StopOnNaN(keras.callbacks.Callback):
    """Stops training after an epoch whose loss is NaN or inf."""

    def on_epoch_end(self, epoch, logs=None):
        import math

        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            print(f"epoch {epoch + 1}: invalid loss, terminating training", flush=True)
            self.model.stop_training = True


def board_callback(log_dir: str | Path) -> keras.callbacks.Callback:
    """Per-epoch scalars for TensorBoard: Keras' TensorBoard callback on TensorFlow (it writes through
    tf.summary); elsewhere the same ``epoch_<name>`` scalars in ``train/`` and ``validation/`` through the
    ``tensorboard`` package's own writer."""
    if name() == "tensorflow":
        return keras.callbacks.TensorBoard(str(log_dir), write_graph=False, profile_batch=0)
    return EpochScalars(log_dir)


class EpochScalars(keras.callbacks.Callback):
    """``epoch_<name>`` scalars of every epoch into ``log_dir/train`` and (``val_<name>``) ``log_dir/validation``."""

    def __init__(self, log_dir: str | Path):
        super().__init__()
        self.log_dir = Path(log_dir)
        self._writers = {}

    def _writer(self, part: str):
        if part not in self._writers:
            from tensorboard.summary import Writer

            self._writers[part] = Writer(str(self.log_dir / part))
        return self._writers[part]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            part, key = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            self._writer(part).add_scalar(f"epoch_{key}", float(value), step=epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
