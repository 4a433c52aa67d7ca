"""What the benchmark runs on: the backend, the device, the load, and the peak memory of a step."""
from __future__ import annotations

import os
import platform
from pathlib import Path


def backend() -> str:
    import keras

    return keras.backend.backend()


def accelerator():
    """(kind, name) of the first GPU the backend sees, or None."""
    if backend() == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(gpus[0])
            return "GPU:0", details.get("device_name", "GPU")
    elif backend() == "jax":
        import jax

        dev = jax.devices()[0]
        if dev.platform != "cpu":
            return dev, dev.device_kind
    elif backend() == "torch":
        import torch

        if torch.cuda.is_available():
            return "cuda:0", torch.cuda.get_device_name(0)
    return None


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def n_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def describe_device() -> str:
    acc = accelerator()
    host = f"{cpu_name()}, {n_cores()} cores"
    return f"{acc[1]} (host {host})" if acc else f"CPU: {host}"


def load_average():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _status_kb(key: str):
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return None


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class PeakMemory:
    """Peak extra memory (MiB) over a series of windows; ``with meter: ...`` measures one window.

    TensorFlow (CPU or GPU): its allocator's peak bytes in use minus the bytes in use at the window's start
    (``tf.config.experimental.reset_memory_stats`` / ``get_memory_info``): the tensors a step needs beyond
    the model's variables. JAX on a GPU: the device's ``peak_bytes_in_use`` (it cannot be reset, so a window
    after a larger one reads that one). Otherwise: the process's peak resident set (Linux VmHWM, reset through
    /proc/self/clear_refs) minus the resident set at the window's start.
    """

    def __init__(self):
        self.peak_mib = None
        self.method = None

    def _tf_device(self):
        acc = accelerator()
        return acc[0] if acc else "CPU:0"

    def __enter__(self):
        self._start, self._kind = None, None
        if backend() == "tensorflow":
            import tensorflow as tf

            try:
                tf.config.experimental.reset_memory_stats(self._tf_device())
                self._start = tf.config.experimental.get_memory_info(self._tf_device())["current"]
                self._kind, self.method = "tf", f"TensorFlow allocator peak on {self._tf_device()}"
                return self
            except (ValueError, RuntimeError):
                pass
        acc = accelerator()
        if acc and backend() == "jax":
            stats = acc[0].memory_stats() or {}
            self._start = stats.get("bytes_in_use")
            self._kind, self.method = "jax", "JAX device peak_bytes_in_use (not resettable)"
        else:
            rss = _status_kb("VmRSS")
            if rss is not None and _reset_hwm():
                self._start = rss * 1024
                self._kind, self.method = "rss", "peak RSS (VmHWM reset per window) minus RSS at start"
        return self

    def __exit__(self, *exc):
        if self._start is None:
            return False
        if self._kind == "tf":
            import tensorflow as tf

            peak = tf.config.experimental.get_memory_info(self._tf_device())["peak"]
        elif self._kind == "jax":
            peak = (accelerator()[0].memory_stats() or {}).get("peak_bytes_in_use", 0)
        else:
            peak = (_status_kb("VmHWM") or 0) * 1024
        extra = max(peak - self._start, 0) / 2 ** 20
        self.peak_mib = extra if self.peak_mib is None else max(self.peak_mib, extra)
        return False
