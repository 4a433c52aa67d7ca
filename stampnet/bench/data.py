"""The benchmark's data: CT-MNIST-2 canvases (generated, and timed as a measure of their own)."""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np


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
