"""The FLOPs of a StampNet and this machine's peak: the model FLOPs utilisation (MFU), nanoGPT-style.

Counted are the products: every convolution (the encoder's blocks, the heads' 1×1 convolutions) and the
decoder's; elementwise work (BatchNorm, LeakyReLU, dropout, pooling, the Gumbel softmax) is not, as in the
field's MFU. A training step costs about 3× the forward FLOPs (the backward pass does two products per forward
one). The peak is an n×n float32 matmul on the Keras backend, timed once per machine and backend and cached.
"""
from __future__ import annotations

import json
import os
import platform
import time
from datetime import datetime, timezone
from pathlib import Path

TRAIN_FACTOR = 3  # a training step ≈ 3 forward passes


def conv_flops(layer) -> float:
    """Forward FLOPs per canvas of a built Conv2D: 2·H_out·W_out·C_out·k_h·k_w·C_in."""
    _, h, w, c_out = layer.output.shape
    kh, kw = layer.kernel_size
    return 2.0 * h * w * c_out * kh * kw * layer.input.shape[-1]


def decoder_flops(decoder, slots: int) -> float:
    """Forward FLOPs per canvas of a ``StampDecoder`` with M = ``slots`` (shapes in its docstring)."""
    S, C, K, Ch, M = decoder.stamp_size, decoder.coord_size, decoder.n_choices, decoder.channels, slots
    H = C + S - 1
    if decoder.decoder == "conv":  # placement Σ_m y⊗x⊗p (C, C, K), then the S×S convolution over K stamps
        return 2.0 * M * C * C * K + 2.0 * H * H * Ch * S * S * K
    return 2.0 * M * Ch * (K * S * S + H * S * S + H * H * S)  # T_m = Σ_k p_k·stamp_k, A_m·T_m, (A_m·T_m)·B_mᵀ


def model_flops(model) -> dict:
    """Forward FLOPs per canvas of a StampNet: encoder, heads, decoder and their sum, ``forward``."""
    import keras

    from stampnet.layers import StampDecoder

    parts = {"encoder": 0.0, "heads": 0.0, "decoder": 0.0}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            parts["encoder" if layer.name.startswith(("encoder_", "latent_")) else "heads"] += conv_flops(layer)
        elif isinstance(layer, StampDecoder):
            parts["decoder"] += decoder_flops(layer, model.get_layer("softmax_stamp").slots)
    return {**parts, "forward": sum(parts.values())}


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def machine() -> str:
    """This machine in words: the accelerator the backend sees, if any, and the CPU with this process' cores."""
    from stampnet import backend

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    host = f"{cpu_name()}, {cores} cores"
    gpu = accelerator() if backend.gpu_count() else None
    return f"{gpu} (host {host})" if gpu else f"CPU: {host}"


def accelerator() -> str:
    """The name of the backend's first GPU."""
    import keras

    name = keras.backend.backend()
    if name == "jax":
        import jax

        return jax.devices()[0].device_kind
    if name == "torch":
        import torch

        return torch.cuda.get_device_name(0)
    import tensorflow as tf

    return tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0]).get("device_name",
                                                                                                     "GPU")


def cache_file() -> Path:
    """Where the peaks are kept: ``$XDG_CACHE_HOME/stampnet/peak.json`` (``~/.cache/stampnet/peak.json``)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "stampnet" / "peak.json"


def peak_flops(n: int | None = None, refresh: bool = False) -> dict:
    """This machine's peak on the Keras backend: an n×n float32 matmul (n 2048 on a CPU, 8192 on a GPU), best
    of 3 after a warm-up, in GFLOP/s. Measured once per machine and backend, then read from :func:`cache_file`."""
    import keras
    from keras import ops

    from stampnet import backend
    from stampnet.cli import write_text_atomic

    key = f"{machine()} | {backend.name()}"
    path = cache_file()
    try:
        cached = json.loads(path.read_text())
        cached = cached if isinstance(cached, dict) else {}
    except (OSError, ValueError):
        cached = {}
    if key in cached and not refresh and isinstance(cached[key], dict) and "gflop_s" in cached[key]:
        return cached[key]
    n = n or (8192 if backend.gpu_count() else 2048)
    a, b = keras.random.normal((n, n), seed=0), keras.random.normal((n, n), seed=1)
    times = []
    for _ in range(4):
        start = time.perf_counter()
        ops.convert_to_numpy(ops.sum(ops.matmul(a, b)))  # the sum syncs asynchronous backends (n² ≪ n³)
        times.append(time.perf_counter() - start)
    record = {"gflop_s": 2.0 * n ** 3 / min(times[1:]) / 1e9, "how": f"float32 matmul {n}×{n}, best of 3",
              "machine": machine(), "backend": backend.name(),
              "measured": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, json.dumps({**cached, key: record}, indent=1) + "\n")
    except OSError:
        pass  # a read-only cache: measured again next time
    return record


def mfu(canvases_per_s: float, forward_flops: float, peak_gflop_s: float, factor: float = TRAIN_FACTOR) -> float:
    """The share of the peak that ``canvases_per_s`` achieves at ``factor`` × the forward FLOPs per canvas."""
    return canvases_per_s * factor * forward_flops / (peak_gflop_s * 1e9)


def print_flops(model, devices: int = 1) -> float:
    """Print training's line on its FLOPs and the peak of ``devices`` such devices; returns the canvases/s that
    would be 100 % MFU (the epoch line shows the share it achieves)."""
    f, peak = model_flops(model), peak_flops()
    full = devices * peak["gflop_s"] * 1e9 / (TRAIN_FACTOR * f["forward"])
    g = {k: f"{v / 1e9:.3g}" for k, v in f.items()}
    print(f"FLOPs per canvas: {g['forward']} G forward (encoder {g['encoder']}, heads {g['heads']}, decoder "
          f"{g['decoder']}), ×{TRAIN_FACTOR} a training step; peak {peak['gflop_s']:.0f} GFLOP/s"
          f"{f' × {devices} devices' if devices > 1 else ''} ({peak['how']}, {cache_file()}): 100 % MFU = "
          f"{full:.0f} canvases/s", flush=True)
    return full
