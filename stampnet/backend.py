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
    into the model's variables and have the next step read them again. Nothing to do elsewhere."""
    if name() == "jax" and hasattr(model, "jax_state_sync"):
        model.jax_state_sync()


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
