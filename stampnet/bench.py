"""Benchmark StampNet's training and inference at the CT-MNIST-2 shapes: ``python -m stampnet.bench``.

    python -m stampnet.bench                 # the full run (about 7 minutes on 2 CPU cores)
    python -m stampnet.bench --quick         # under 3 minutes on 2 CPU cores
    python -m stampnet.bench --quick --json  # the last line of stdout is one JSON object

Measured in one process, on one machine (100x100 canvases, 40 stamps of 28x28, 2 slots):

* training images/s and peak memory of the ``separable`` decoder (batch 64) and of the 2019 ``conv`` decoder
  (a small batch: it needs seconds per image on a CPU), and the speedup;
* the decoder's share of a training step: the same step with the decoder replaced by a trivial layer of the
  same output shape (still back-propagating into the heads), 1 - t_stub / t_real (median over back-to-back
  pairs of steps);
* the training step fed by the real input pipeline (``stampnet.data.pipeline.as_dataset`` over CT-MNIST
  canvases, through ``model.fit`` with the temperature schedule, as ``stampnet.train`` does) against the same
  ``fit`` fed one batch held in memory;
* ``jit_compile`` (XLA) on and off, and mixed precision (``mixed_bfloat16``) on and off;
* inference images/s: the soft path (``stampnet.evaluate.predict`` at tau 1e-4), the reconstruction alone
  (``model.predict``) and hard inference (``stampnet.model.hard_reconstruct``: argmax stamps pasted);
* CT-MNIST generation: 70,000 two-digit canvases (60,000 + 10,000, one file) generated and written.

Timing: every contender is warmed up first (tracing and compilation excluded), then timed step by step in
interleaved rounds (A, B, C, A, B, C, ...) so that a load change on a shared machine hits all of them alike;
a step time is the median of its steps; images/s = batch / median step time.

Peak memory of a training step: TensorFlow's allocator (CPU or GPU) peak bytes during the timed steps minus
the bytes in use before them, i.e. the activations, gradients and temporaries a step needs beyond the model's
weights (see :class:`PeakMemory` for the other backends).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# The CT-MNIST-2 experiment's shapes (ct_mnist_2.py): the decoder is chosen per contender.
CT_MNIST_2 = {
    "input_parameters": {"img_rows": 100, "img_cols": 100, "img_channels": 1, "batch_size": 64},
    "encoder_parameters": {"final_conv_kernel": [4, 4]},
    "decoder_parameters": {"nr_of_stamps": 40, "stamp_size": 28, "stamps_per_canvas": 2},
}
# A toy network for the test suite's smoke run (--tiny): every section runs, in seconds.
TINY = {
    "input_parameters": {"img_rows": 32, "img_cols": 32, "img_channels": 1, "batch_size": 8},
    "encoder_parameters": {"conv_layer_sizes": [8, 16, 16], "final_conv_size": 32, "final_conv_kernel": [4, 4]},
    "decoder_parameters": {"nr_of_stamps": 10, "stamp_size": 8, "stamps_per_canvas": 2, "decoder_enc_size": 32},
}

# batch: separable (and stub, mixed, pipeline) batch; conv_batch: the conv decoder's; warmup: untimed steps per
# contender; rounds x steps (conv_steps, pipe_steps, jit_steps, mixed_steps): timed steps, alternating between
# contenders; jit_batch: batch of the XLA comparison (XLA on a CPU is slow); infer_n, infer_batch: images per
# inference measure and their batch (default 256); gen: CT-MNIST canvases generated (train, test); pipe_n:
# canvases behind the input pipeline.
MODES = {
    "full": dict(shapes=CT_MNIST_2, batch=64, conv_batch=4, warmup=2, rounds=3, steps=6, conv_steps=1,
                 pipe_steps=10, jit_batch=64, jit_steps=2, mixed_steps=6, infer_n=2048, gen=(60_000, 10_000),
                 pipe_n=4096),
    "quick": dict(shapes=CT_MNIST_2, batch=64, conv_batch=2, warmup=1, rounds=2, steps=4, conv_steps=1,
                  pipe_steps=4, jit_batch=8, jit_steps=2, mixed_steps=3, infer_n=512, gen=(60_000, 10_000),
                  pipe_n=1024),
    "tiny": dict(shapes=TINY, batch=8, conv_batch=8, warmup=1, rounds=1, steps=2, conv_steps=1,
                 pipe_steps=3, jit_batch=4, jit_steps=1, mixed_steps=2, infer_n=48, infer_batch=16,
                 gen=(1_000, 200), pipe_n=64),
}

TARGETS = {"speedup": 100.0, "decoder_fraction": 0.15, "pipeline_ratio": 1.10, "gen_70k_s": 60.0}
GTX1080_2019_IMG_S = 510.0  # the 2019 authors' CT-MNIST-2 training speed on a GTX 1080 (their log)


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- machine

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


# ------------------------------------------------------------------------------------------------ memory

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


# -------------------------------------------------------------------------------------------------- data

def synthetic_digits(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-like stand-ins (n, 28, 28) uint8 with ~19 % non-zero pixels, and labels: the generator's speed
    does not depend on what the digits show, and a fresh clone has no MNIST offline."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
    yy, xx = np.mgrid[:28, :28]
    disk = ((yy - 13.5) ** 2 + (xx - 13.5) ** 2 < 10 ** 2)
    digits = np.where(disk & (pixels < 120), pixels + 1, 0).astype(np.uint8)  # ~19 % non-zero, as MNIST
    return digits, rng.integers(0, 10, n).astype(np.uint8)


def mnist_source(path, n_train: int = 60_000, n_test: int = 10_000):
    """((x_train, y_train), (x_test, y_test)): MNIST from ``path`` (or the Keras cache when present), else
    n_train + n_test synthetic digits; and a word on which."""
    from stampnet.data.mnist import load_mnist

    cached = Path("~/.keras/datasets/mnist.npz").expanduser()
    if path is None and cached.is_file():
        path = cached
    if path is not None:
        return load_mnist(path), f"MNIST from {path}"
    x, y = synthetic_digits(n_train + n_test)
    return ((x[:n_train], y[:n_train]), (x[n_train:], y[n_train:])), "synthetic 28x28 digits (no MNIST offline)"


def measure_generation(mnist, n_train: int, n_test: int) -> dict:
    """Generate one CT-MNIST-2 file (n_train + n_test canvases, 100x100) and write it, as
    ``generate_cluttered_mnist.py --digits 2`` does; seconds for each part."""
    from stampnet.data.cluttered import generate_cluttered_mnist, save_npz_atomic

    start = time.perf_counter()
    arrays = generate_cluttered_mnist(mnist, 2, n_train=n_train, n_test=n_test)
    generated = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        save_npz_atomic(Path(tmp) / "ct2.npz", arrays)
    saved = time.perf_counter()
    n = n_train + n_test
    return {"gen_canvases": n, "gen_s": generated - start, "gen_write_s": saved - generated,
            "gen_total_s": saved - start, "gen_70k_s": (saved - start) * 70_000 / n,
            "canvases": arrays["x_train"]}


def training_canvases(canvases: np.ndarray, n: int, size: int, mnist) -> np.ndarray:
    """(n, size, size, 1) float32 CT-MNIST canvases for the model: the generated ones when they fit the
    model's size, else freshly made at that size."""
    if canvases.shape[1] != size:
        from stampnet.data.cluttered import cluttered_canvases

        (x, y), _ = mnist
        canvases = cluttered_canvases(x, y, n, seed=1, n_digits=2, canvas=size)[0]
    return np.resize(canvases, (n,) + canvases.shape[1:]).astype(np.float32)[..., None]


# ----------------------------------------------------------------------------------------------- models

def layer_parameters(shapes: dict, decoder: str, batch: int) -> dict:
    from stampnet.config import merge

    return merge(shapes, {"input_parameters": {"batch_size": batch}, "decoder_parameters": {"decoder": decoder}})


def build(shapes, decoder="separable", batch=64, jit_compile="auto", policy=None):
    """A compiled StampNet (optionally under a dtype policy, restored afterwards). ``jit_compile="auto"`` is
    Keras' choice: XLA off with TensorFlow on a CPU, on with TensorFlow on a GPU and with JAX."""
    import keras

    from stampnet.model import build_model

    previous = keras.mixed_precision.global_policy().name
    if policy:
        keras.mixed_precision.set_global_policy(policy)
    try:
        return build_model(layer_parameters(shapes, decoder, batch), jit_compile=jit_compile)
    finally:
        keras.mixed_precision.set_global_policy(previous)


def stub_model(model):
    """``model`` with its decoder replaced by a trivial layer of the same output shape that still sends a
    gradient into all three heads (shares every other layer's weights): the step without the decoder."""
    import keras
    from keras import ops

    from stampnet.layers import sum_squared_error

    decoder = model.get_layer("stamp_layer")
    size = decoder.coord_size + decoder.stamp_size - 1

    class StubDecoder(keras.layers.Layer):
        def build(self, *shapes):
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

        def call(self, stamp_probs, y_probs, x_probs):
            # A ramp-weighted sum (a plain sum of a softmax is 1, with zero gradient); (B,).
            ramp = lambda p: ops.sum(p * ops.linspace(0.0, 1.0, ops.shape(p)[-1]), (1, 2))
            v = ramp(stamp_probs) + ramp(y_probs) + ramp(x_probs)
            return ops.broadcast_to((0.01 * self.scale * v)[:, None, None, None],
                                    (ops.shape(stamp_probs)[0], size, size, 1))

    heads = [model.get_layer(f"softmax_{r}").output for r in ("stamp", "y", "x")]
    stub = keras.Model(model.input, StubDecoder(name="stub_decoder")(*heads), name="stampnet_stub")
    stub.compile(optimizer=keras.optimizers.Nadam(0.002), loss=sum_squared_error)
    return stub


# ------------------------------------------------------------------------------------------------ timing

class Contender:
    """A model and a batch, timed by ``model.train_on_batch`` step by step: wall time and process CPU time
    (all threads; on a shared machine it moves less with other processes' load than wall time does)."""

    def __init__(self, name, model, batch_images):
        self.name, self.model, self.x = name, model, batch_images
        self.batch = len(batch_images)
        self.times: list[float] = []
        self.cpu: list[float] = []
        self.memory = PeakMemory()

    def warm_up(self, steps: int) -> None:
        start = time.perf_counter()
        for _ in range(steps):
            self.model.train_on_batch(self.x, self.x)
        log(f"  {self.name}: warm-up ({steps} steps, tracing included) {time.perf_counter() - start:.1f} s")

    def run(self, steps: int = 1) -> None:
        with self.memory:
            for _ in range(steps):
                start, cpu = time.perf_counter(), time.process_time()
                loss = self.model.train_on_batch(self.x, self.x)
                self.times.append(time.perf_counter() - start)
                self.cpu.append(time.process_time() - cpu)
        if not np.all(np.isfinite(loss)):
            raise FloatingPointError(f"{self.name}: loss {loss}")

    @property
    def step_s(self) -> float:
        return statistics.median(self.times)

    @property
    def img_s(self) -> float:
        return self.batch / self.step_s

    def summary(self) -> dict:
        return {"batch": self.batch, "step_s": self.step_s, "step_s_mean": statistics.fmean(self.times),
                "cpu_s": statistics.median(self.cpu), "steps": len(self.times), "img_s": self.img_s,
                "peak_mib": self.memory.peak_mib}


def interleave(fast, rounds: int, steps: int, slow=(), slow_steps: int = 1) -> None:
    """``rounds`` rounds; in each, ``steps`` times one step of every ``fast`` contender in turn (A B A B ...),
    then ``slow_steps`` steps of every ``slow`` one. Step-by-step alternation keeps a changing load from
    favouring one contender."""
    for r in range(rounds):
        for _ in range(steps):
            for c in fast:
                c.run(1)
        for c in slow:
            c.run(slow_steps)
        log(f"  round {r + 1}/{rounds}: " + ", ".join(f"{c.name} {statistics.median(c.times):.3f} s"
                                                       for c in (*fast, *slow)))


def paired_share(real: Contender, without: Contender, cpu: bool = False) -> float:
    """1 - median over back-to-back step pairs of t_without / t_real: the share of ``real``'s step that
    ``without`` lacks."""
    a, b = (real.cpu, without.cpu) if cpu else (real.times, without.times)
    return max(0.0, 1.0 - statistics.median(y / x for x, y in zip(a, b)))


def in_memory_feed(x: np.ndarray):
    """One batch held in memory, repeated (tf.data): the input costs nothing."""
    import tensorflow as tf

    batch = tf.constant(x)
    return tf.data.Dataset.from_tensors((batch, batch)).repeat()


# ---------------------------------------------------------------------------------------------- sections

def section_training(cfg, data, results) -> dict:
    """separable vs conv vs the decoder stub, interleaved."""
    shapes, B, Bc = cfg["shapes"], cfg["batch"], cfg["conv_batch"]
    log("training: separable (batch %d), conv (batch %d), decoder stub (both batches)" % (B, Bc))
    sep = build(shapes, "separable", B)
    conv = build(shapes, "conv", Bc)
    stub = stub_model(sep)
    s, st = Contender("separable", sep, data[:B]), Contender("stub", stub, data[:B])
    cv = Contender("conv", conv, data[:Bc])
    stc = Contender("stub_conv_batch", stub, data[:Bc]) if Bc != B else None  # for the conv decoder's share
    fast = [s, st] + ([stc] if stc else [])
    for c in fast + [cv]:
        c.warm_up(cfg["warmup"])
    interleave(fast, cfg["rounds"], cfg["steps"], slow=[cv], slow_steps=cfg["conv_steps"])
    stc = stc or st
    results.update({
        "train_img_s_separable": s.img_s, "train_img_s_conv": cv.img_s,
        "speedup": s.img_s / cv.img_s,
        "speedup_cpu": (B / statistics.median(s.cpu)) / (Bc / statistics.median(cv.cpu)),
        "decoder_fraction": paired_share(s, st),
        "decoder_fraction_cpu": paired_share(s, st, cpu=True),
        "decoder_fraction_conv": max(0.0, 1.0 - stc.step_s / cv.step_s),
        "peak_mib_separable": s.memory.peak_mib, "peak_mib_conv": cv.memory.peak_mib,
        "batch_separable": B, "batch_conv": Bc, "jit_compile": bool(sep.jit_compile),
        "memory_method": s.memory.method,
        "steps": {c.name: c.summary() for c in (s, st, cv, stc)},
    })
    return {"sep": sep}


def section_pipeline(cfg, data, models, results) -> None:
    """The training step fed by the real input pipeline vs by one batch held in memory.

    Both run the step function ``model.fit`` runs (``model.train_function`` on a tf.data iterator, with the
    temperature schedule's per-step update before it), alternating step by step: in-memory, pipeline,
    in-memory, ... The pipeline is ``as_dataset`` (as ``stampnet.train`` uses it) over CT-MNIST canvases.
    """
    from stampnet.config import validate
    from stampnet.model import TemperatureSchedule

    B, sep = cfg["batch"], models["sep"]
    if backend() != "tensorflow":
        log("pipeline: skipped (tf.data with the TensorFlow backend only)")
        return
    from stampnet.data.pipeline import as_dataset

    log(f"pipeline: train step on as_dataset({len(data)} canvases) vs on one in-memory batch (batch {B})")
    gp = validate({"layer_parameters": layer_parameters(cfg["shapes"], "separable", B)})
    schedule = TemperatureSchedule(gp["layer_parameters"]["decoder_parameters"]["gumbel_parameters"])
    schedule.set_model(sep)
    sep.make_train_function()
    feeds = {"in_memory": iter(in_memory_feed(data[:B])), "pipeline": iter(as_dataset(data, B))}
    wall = {name: [] for name in feeds}
    cpu = {name: [] for name in feeds}

    def step(name):
        start, start_cpu = time.perf_counter(), time.process_time()
        schedule.on_train_batch_begin(0)
        loss = float(np.asarray(sep.train_function(feeds[name])["loss"]))
        wall[name].append(time.perf_counter() - start)
        cpu[name].append(time.process_time() - start_cpu)
        return loss

    start = time.perf_counter()
    for _ in range(cfg["warmup"]):  # the first traces fit's iterator step function
        for name in feeds:
            step(name)
    log(f"  warm-up {time.perf_counter() - start:.1f} s")
    for name in feeds:
        wall[name].clear()
        cpu[name].clear()
    for r in range(cfg["rounds"]):
        for _ in range(cfg["pipe_steps"]):
            for name in feeds:
                step(name)
        log(f"  round {r + 1}/{cfg['rounds']}: " + ", ".join(f"{k} {statistics.median(v):.3f} s"
                                                             for k, v in wall.items()))
    ratio = lambda t: statistics.median(p / m for m, p in zip(t["in_memory"], t["pipeline"]))
    results.update({"fit_step_s_in_memory": statistics.median(wall["in_memory"]),
                    "fit_step_s_pipeline": statistics.median(wall["pipeline"]),
                    "pipeline_ratio": ratio(wall), "pipeline_ratio_cpu": ratio(cpu),
                    "pipeline_canvases": len(data)})


def section_jit(cfg, data, models, results) -> None:
    """jit_compile on vs off, same batch, interleaved."""
    Bj, B = cfg["jit_batch"], cfg["batch"]
    if backend() != "tensorflow":  # JAX always compiles with XLA (off would run op by op)
        log("jit_compile: skipped (only TensorFlow has a non-XLA training step)")
        return
    log(f"jit_compile: on vs off (separable, batch {Bj})")
    off = build(cfg["shapes"], "separable", B, jit_compile=False) if models["sep"].jit_compile else models["sep"]
    on = build(cfg["shapes"], "separable", B, jit_compile=True) if not models["sep"].jit_compile else models["sep"]
    contenders = [Contender("jit_off", off, data[:Bj]), Contender("jit_on", on, data[:Bj])]
    for c in contenders:
        c.warm_up(cfg["warmup"] if Bj != B or c.model is not models["sep"] else 0)
    interleave(contenders, cfg["rounds"], cfg["jit_steps"])
    a, b = contenders[0].summary(), contenders[1].summary()
    results.update({"jit_batch": Bj, "train_img_s_jit_off": a["img_s"], "train_img_s_jit_on": b["img_s"],
                    "jit_speedup": b["img_s"] / a["img_s"], "jit_speedup_cpu": a["cpu_s"] / b["cpu_s"]})


def section_mixed(cfg, data, models, results) -> None:
    """mixed_bfloat16 vs float32, same batch, interleaved."""
    B = cfg["batch"]
    log(f"mixed precision: mixed_bfloat16 vs float32 (separable, batch {B})")
    bf16 = build(cfg["shapes"], "separable", B, policy="mixed_bfloat16")
    contenders = [Contender("float32", models["sep"], data[:B]), Contender("mixed_bfloat16", bf16, data[:B])]
    contenders[1].warm_up(cfg["warmup"])
    interleave(contenders, cfg["rounds"], cfg["mixed_steps"])
    a, b = contenders[0].summary(), contenders[1].summary()
    results.update({"train_img_s_float32": a["img_s"], "train_img_s_mixed_bfloat16": b["img_s"],
                    "mixed_speedup": b["img_s"] / a["img_s"], "mixed_speedup_cpu": a["cpu_s"] / b["cpu_s"],
                    "peak_mib_mixed_bfloat16": b["peak_mib"]})


def section_inference(cfg, data, models, results) -> None:
    """Soft predict (the evaluation path), the reconstruction alone, and hard paste; images/s.

    Batch by batch, each contender in turn on the same batch (several passes); a contender's rate is the
    batch over its median batch time.
    """
    from stampnet.evaluate import predict
    from stampnet.model import hard_reconstruct, head_model, set_noise, set_temperature

    model, n, bs = models["sep"], cfg["infer_n"], cfg.get("infer_batch", 256)
    images = np.resize(data, (n,) + data.shape[1:])
    log(f"inference: {n} images, batch {bs}")
    heads = head_model(model)
    paste = model.get_layer("stamp_layer").paste
    set_temperature(model, 1e-4)

    contenders = {
        "soft": lambda x: predict(model, x, tau=1e-4, batch_size=bs)["reconstruction"],
        "recon": lambda x: model.predict_on_batch(x),
        "hard": lambda x: np.asarray(hard_reconstruct(model, heads, x)[0]),
        # the heads through Keras' compiled predict, then the paste
        "hard_compiled": lambda x: np.asarray(paste(*(np.argmax(p, axis=-1) for p in heads.predict_on_batch(x)))),
    }
    for fn in contenders.values():
        fn(images[:bs])  # warm-up: traces, builds
    timings = {name: [] for name in contenders}
    for _ in range(max(cfg["rounds"] - 1, 1)):
        for start in range(0, n, bs):
            batch = images[start:start + bs]
            for name, fn in contenders.items():
                t = time.perf_counter()
                fn(batch)
                timings[name].append((time.perf_counter() - t) / len(batch))
    rate = {k: 1.0 / statistics.median(v) for k, v in timings.items()}
    # Agreement: hard paste vs the soft path at tau 1e-4 without Gumbel noise.
    set_noise(model, False)
    batch = images[:bs]
    hard_out, *hard_index = (np.asarray(a) for a in hard_reconstruct(model, heads, batch))
    soft_out = predict(model, batch, tau=1e-4, batch_size=bs, noise=False)
    set_noise(model, True)
    agree = np.all([np.asarray(i) == soft_out[k].argmax(-1) for i, k in
                    zip(hard_index, ("stamp_probs", "y_probs", "x_probs"))], axis=0)  # (B, M)
    results.update({"infer_img_s": rate["soft"], "infer_img_s_reconstruction": rate["recon"],
                    "infer_img_s_hard": rate["hard"], "hard_speedup": rate["hard"] / rate["soft"],
                    "infer_img_s_hard_compiled": rate["hard_compiled"],
                    "hard_vs_soft_max_abs_diff": float(np.abs(hard_out - soft_out["reconstruction"]).max()),
                    "hard_vs_soft_argmax_agree": float(agree.mean())})


# ------------------------------------------------------------------------------------------------- report

def fmt(v, digits=3):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if v != 0 and (abs(v) >= 1e4 or abs(v) < 1e-3):
            return f"{v:.3g}"
        return f"{v:.{digits}g}" if abs(v) < 100 else f"{v:.0f}"
    return str(v)


def table(r: dict) -> str:
    def target(key, ok):
        return "" if r.get(key) is None else ("  meets target" if ok(r[key]) else "  MISSES target")

    rows = [
        ("device", r["device"], ""),
        ("backend", f"{r['backend']} (keras {r['keras']})", ""),
        ("load average (start / end)", f"{fmt(r.get('load_start'))} / {fmt(r.get('load_end'))}", ""),
        (f"train img/s, separable (batch {r.get('batch_separable')})", fmt(r.get("train_img_s_separable")),
         f"peak +{fmt(r.get('peak_mib_separable'))} MiB"),
        (f"train img/s, conv (batch {r.get('batch_conv')})", fmt(r.get("train_img_s_conv")),
         f"peak +{fmt(r.get('peak_mib_conv'))} MiB"),
        ("speedup separable / conv (wall; CPU time)", f"{fmt(r.get('speedup'))}; {fmt(r.get('speedup_cpu'))}",
         f"target >= {TARGETS['speedup']:.0f}" + target("speedup", lambda v: v >= TARGETS["speedup"])),
        ("decoder share of a step, separable (wall; CPU time)",
         f"{fmt(r.get('decoder_fraction'))}; {fmt(r.get('decoder_fraction_cpu'))}",
         f"target <= {TARGETS['decoder_fraction']}" + target("decoder_fraction",
                                                             lambda v: v <= TARGETS["decoder_fraction"])),
        ("decoder share of a step, conv", fmt(r.get("decoder_fraction_conv")), ""),
        ("train step s (fit's step function): in-memory / pipeline", f"{fmt(r.get('fit_step_s_in_memory'))} / "
         f"{fmt(r.get('fit_step_s_pipeline'))}", ""),
        ("pipeline / in-memory step time (wall; CPU time)",
         f"{fmt(r.get('pipeline_ratio'))}; {fmt(r.get('pipeline_ratio_cpu'))}",
         f"target <= {TARGETS['pipeline_ratio']}" + target("pipeline_ratio",
                                                           lambda v: v <= TARGETS["pipeline_ratio"])),
        (f"train img/s, jit_compile off / on (batch {r.get('jit_batch')})",
         f"{fmt(r.get('train_img_s_jit_off'))} / {fmt(r.get('train_img_s_jit_on'))}", ""),
        ("train img/s, float32 / mixed_bfloat16",
         f"{fmt(r.get('train_img_s_float32'))} / {fmt(r.get('train_img_s_mixed_bfloat16'))}", ""),
        ("inference img/s: soft predict (eager, as evaluate)", fmt(r.get("infer_img_s")), ""),
        ("inference img/s: reconstruction (compiled predict_on_batch)", fmt(r.get("infer_img_s_reconstruction")),
         ""),
        ("inference img/s: hard paste (hard_reconstruct; compiled heads)",
         f"{fmt(r.get('infer_img_s_hard'))}; {fmt(r.get('infer_img_s_hard_compiled'))}", ""),
        ("hard vs soft (tau 1e-4, no noise): max abs diff", fmt(r.get("hard_vs_soft_max_abs_diff")),
         f"argmax agree {fmt(r.get('hard_vs_soft_argmax_agree'))}" if "hard_vs_soft_argmax_agree" in r else ""),
        (f"CT-MNIST generate + write, {r.get('gen_canvases')} canvases (s)",
         f"{fmt(r.get('gen_s'))} + {fmt(r.get('gen_write_s'))}", ""),
        ("  scaled to 70,000 canvases (s)", fmt(r.get("gen_70k_s")),
         f"target < {TARGETS['gen_70k_s']:.0f}" + target("gen_70k_s", lambda v: v < TARGETS["gen_70k_s"])),
        ("2019 reference: GTX 1080, CT-MNIST-2 training", f"{GTX1080_2019_IMG_S:.0f} img/s", ""),
        ("bench wall time (s)", fmt(r.get("wall_s")), ""),
    ]
    width = max(len(a) for a, _, _ in rows)
    vwidth = max(len(b) for _, b, _ in rows if len(b) < 60)
    return "\n".join(f"{a:<{width}}  {b:<{vwidth}}  {c}".rstrip() for a, b, c in rows)


def run(mode: str = "quick", mnist_path=None, sections=None, save=None, command=None) -> dict:
    """All measures of ``mode``; ``save``: a file rewritten with the JSON so far after every section."""
    import keras

    def checkpoint():
        if save:
            Path(save).write_text(json.dumps(_jsonable(results)) + "\n")

    start = time.perf_counter()
    cfg = MODES[mode]
    keras.utils.set_random_seed(0)
    results = {"mode": mode, "command": command, "device": describe_device(), "backend": backend(),
               "keras": keras.__version__, "cores": n_cores(), "load_start": load_average()}
    if backend() == "tensorflow":
        import tensorflow as tf

        results["tensorflow"] = tf.__version__
    log(f"stampnet.bench, {mode} mode, on {results['device']} ({results['backend']})")

    mnist, source = mnist_source(mnist_path, *cfg["gen"])
    log(f"CT-MNIST generation: {sum(cfg['gen'])} canvases from {source}")
    gen = measure_generation(mnist, *cfg["gen"])
    canvases = gen.pop("canvases")
    results.update(gen, gen_source=source)
    size = cfg["shapes"]["input_parameters"]["img_rows"]
    data = training_canvases(canvases, max(cfg["pipe_n"], cfg["batch"]), size, mnist)
    del canvases, mnist

    section_s = {"generation": time.perf_counter() - start}
    results["section_s"] = section_s
    checkpoint()
    mark = time.perf_counter()
    models = section_training(cfg, data, results)
    section_s["training"] = time.perf_counter() - mark
    checkpoint()
    wanted = sections if sections is not None else ("pipeline", "jit", "mixed", "inference")
    for name in wanted:
        mark = time.perf_counter()
        try:
            {"pipeline": section_pipeline, "jit": section_jit, "mixed": section_mixed,
             "inference": section_inference}[name](cfg, data, models, results)
        except Exception as err:  # report it, keep the other sections' numbers
            import traceback

            traceback.print_exc()
            first_line = (str(err).strip().splitlines() or [""])[0][:300]
            results.setdefault("errors", {})[name] = f"{type(err).__name__}: {first_line}"
            log(f"  {name}: FAILED ({results['errors'][name]})")
        section_s[name] = time.perf_counter() - mark
        checkpoint()
    results["load_end"] = load_average()
    results["wall_s"] = time.perf_counter() - start
    results["targets"] = {
        "speedup": results["speedup"] >= TARGETS["speedup"],
        "decoder_fraction": results["decoder_fraction"] <= TARGETS["decoder_fraction"],
        "pipeline_ratio": (results["pipeline_ratio"] <= TARGETS["pipeline_ratio"]) if "pipeline_ratio" in results
        else None,
        "gen_70k_s": results["gen_70k_s"] < TARGETS["gen_70k_s"],
    }
    checkpoint()
    return results


def _jsonable(v):
    if isinstance(v, dict):
        return {k: _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, (np.floating, np.integer)):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    return v


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stampnet.bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer steps: under 3 minutes on 2 CPU cores")
    parser.add_argument("--tiny", action="store_true", help=argparse.SUPPRESS)  # test suite smoke run
    parser.add_argument("--json", action="store_true", help="end stdout with one line of JSON")
    parser.add_argument("--mnist", metavar="PATH", help="MNIST for the generation measure (mnist.npz or IDX "
                        "folder); default: the Keras cache if present, else synthetic digits")
    parser.add_argument("--batch", type=int, help="separable batch (default 64, the experiment's)")
    parser.add_argument("--conv-batch", type=int, help="conv batch (default 4; --quick 2)")
    parser.add_argument("--save", metavar="PATH", help="also write the JSON to PATH, rewritten after every "
                        "section (what was measured survives a timeout)")
    parser.add_argument("--only", help="comma-separated sections after training: pipeline,jit,mixed,inference "
                        "(default all; '' for training alone)")
    args = parser.parse_args(argv)
    mode = "tiny" if args.tiny else "quick" if args.quick else "full"
    if args.batch:
        MODES[mode] = {**MODES[mode], "batch": args.batch, "jit_batch": min(MODES[mode]["jit_batch"], args.batch)}
    if args.conv_batch:
        MODES[mode] = {**MODES[mode], "conv_batch": args.conv_batch}
    sections = tuple(s for s in args.only.split(",") if s) if args.only is not None else None
    unknown = set(sections or ()) - {"pipeline", "jit", "mixed", "inference"}
    if unknown:
        parser.error(f"unknown section(s) {sorted(unknown)}; choose from pipeline, jit, mixed, inference")
    command = shlex.join(["python", "-m", "stampnet.bench", *(sys.argv[1:] if argv is None else argv)])
    results = run(mode, args.mnist, sections, save=args.save, command=command)
    print(table(results))
    for name, err in results.get("errors", {}).items():
        print(f"section {name} failed: {err}")
    if args.json:
        print(json.dumps(_jsonable(results)))
    return 1 if results.get("errors") else 0


if __name__ == "__main__":
    sys.exit(main())
