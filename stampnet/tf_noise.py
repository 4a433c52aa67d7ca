"""TensorFlow's start-up lines on a machine without a GPU, replaced by one plain line.

There TensorFlow prints ``Could not find cuda drivers``, ``failed call to cuInit: UNKNOWN ERROR (303)`` and absl's
``All log messages before absl::InitializeLog() is called are written to STDERR`` — partly before it reads
TF_CPP_MIN_LOG_LEVEL — and tf.data later logs ``NodeDef mentions attribute use_unbounded_threadpool`` as an
error: lines a user reads as failures. :func:`install` (run by ``import stampnet``, before anything imports
TensorFlow) does two things where no GPU device exists:

- TF_CPP_MIN_LOG_LEVEL defaults to 3 (TensorFlow's C++ errors too; Python warnings and exceptions are
  untouched; 2 — the C++ warnings — with a GPU, as before);
- the first ``import tensorflow`` and its GPU probe run with stderr captured; the lines above are dropped (in
  their place ``no GPU found, running on the CPU``) and every other line is written out again.

Setting TF_CPP_MIN_LOG_LEVEL=0 yourself shows everything TensorFlow prints.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
from pathlib import Path

NOISE = re.compile(r"All log messages before absl::InitializeLog|cudart_stub\.cc|Could not find cuda drivers"
                   r"|failed call to cuInit|Unable to register cu(DNN|FFT|BLAS) factory|computation_placer\.cc"
                   r"|TF-TRT Warning: Could not find TensorRT|use_unbounded_threadpool|oneDNN custom operations")
NO_GPU = re.compile(r"Could not find cuda drivers|failed call to cuInit")
NO_GPU_LINE = "no GPU found, running on the CPU"


def gpu_device_present() -> bool:
    """An NVIDIA or AMD GPU device node exists and CUDA_VISIBLE_DEVICES does not hide it (without importing
    TensorFlow)."""
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return any(Path("/dev").glob("nvidia[0-9]*")) or Path("/dev/kfd").exists()


def filter_lines(text: str) -> list[str]:
    """The lines of ``text`` worth showing: noise dropped, one plain line for a failed GPU probe."""
    lines = text.splitlines()
    kept = [line for line in lines if line.strip() and not NOISE.search(line)]
    return ([NO_GPU_LINE] if any(NO_GPU.search(line) for line in lines) else []) + kept


def _captured(run):
    """Run ``run()`` with file descriptor 2 going to a temporary file; afterwards write its kept lines out."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            return run()
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in filter_lines(capture.read().decode("utf-8", "replace")):
                print(line, file=sys.stderr)


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader, finder):
        self.loader, self.finder = loader, finder

    def __getattr__(self, name):  # everything else (resource readers, …) from TensorFlow's own loader
        return getattr(self.loader, name)

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        if self.finder in sys.meta_path:
            sys.meta_path.remove(self.finder)  # imported once: nothing more to quiet

        def run():
            self.loader.exec_module(module)
            module.config.list_physical_devices("GPU")  # the GPU probe (cuInit) while still captured

        _captured(run)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do and wraps its loader in :class:`_QuietLoader`. It stays in
    place until TensorFlow is imported: a mere ``importlib.util.find_spec("tensorflow")`` (Sacred asks it) must
    not use it up."""

    def __init__(self):
        self.busy = False

    def find_spec(self, name, path=None, target=None):
        if name != "tensorflow" or self.busy:
            return None
        self.busy = True
        try:
            spec = importlib.util.find_spec(name)  # the other finders' answer
        finally:
            self.busy = False
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader, self)
        return spec


def install() -> None:
    """Set the TF log level default and, on a machine without a GPU, quiet TensorFlow's first import."""
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowFinder) for f in sys.meta_path):
        return
    if gpu_device_present():
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0":
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
