"""Where a training step's time goes, against the FLOPs it does and this machine's measured peak.

``python -m stampnet.bench.roofline [--shapes ct_mnist_2|simple_shapes_2] [--batch 64] [--save FILE]``; a saved
record becomes a table of a page through a ``<!-- roofline: FILE -->`` block (``python -m stampnet.table
--render``, :mod:`stampnet.render`).

Three measures, on the backend Keras runs (``KERAS_BACKEND``), each a median over timed steps after warm-up:

1. **The peak**: a float32 matmul of two n×n matrices (n = 2048), the most a dense kernel gets out of these
   cores; GFLOP/s = 2n³ / time.
2. **Per encoder block** (conv → LeakyReLU → BatchNorm → dropout → 2×2 pool, the 2019 ``conv_layer``), in
   isolation at the experiment's batch: the convolution alone and the whole block, forward and backward. A
   trainable scale in front of each makes the gradient flow into the block's input, as it does inside the
   model (the first block needs none). Training FLOPs of a convolution: forward 2·H·W·C_out·k²·C_in per canvas,
   and the same again for the gradient of the weights and (except the first block) of the input.
3. **The whole training step** (``train_on_batch``: encoder, heads, decoder, Nadam) of the experiment's model.

The blocks' time minus their convolutions' is what the elementwise passes cost (LeakyReLU, BatchNorm, dropout
and its random numbers, pooling); the step minus the blocks is the heads, decoder, loss and optimizer.
Contenders alternate step by step, so load that comes and goes falls on all of them alike.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np

import stampnet.bench  # noqa: F401  (quiets TensorFlow's start-up without a GPU)
from stampnet import cli
from stampnet.bench.machine import describe_device, load_average, n_cores
from stampnet.bench.models import CT_MNIST_2, SIMPLE_SHAPES_2, TINY, build
from stampnet.bench.timing import Contender, interleave, log

SHAPES = {"ct_mnist_2": CT_MNIST_2, "simple_shapes_2": SIMPLE_SHAPES_2, "tiny": TINY}  # tiny: the tests' toy


def matmul_peak(n: int = 2048, reps: int = 10) -> float:
    """GFLOP/s of an n×n float32 matmul on this backend (median of ``reps`` after one warm-up)."""
    import keras
    from keras import ops

    a = keras.random.normal((n, n), seed=0)
    b = keras.random.normal((n, n), seed=1)
    times = []
    for i in range(reps + 1):
        start = time.perf_counter()
        ops.convert_to_numpy(ops.sum(ops.matmul(a, b)))  # the sum syncs asynchronous backends (n² ≪ n³)
        if i:
            times.append(time.perf_counter() - start)
    return 2 * n ** 3 / statistics.median(times) / 1e9


def conv_flops(conv, first: bool) -> tuple[float, float]:
    """(forward, training) FLOPs per canvas of a Conv2D layer inside a built model."""
    _, h, w, c_out = conv.output.shape
    kh, kw = conv.kernel_size
    forward = 2.0 * h * w * c_out * kh * kw * conv.input.shape[-1]
    return forward, forward * (2 if first else 3)


def encoder_blocks(model) -> list[dict]:
    """The encoder's blocks of a built StampNet: name, input shape, conv config, pooled, FLOPs."""
    blocks = []
    for layer in model.layers:
        if not (layer.name.endswith("_conv") and (layer.name.startswith("encoder_") or layer.name == "latent_conv")):
            continue
        name = layer.name[: -len("_conv")]
        forward, train = conv_flops(layer, first=not blocks)
        blocks.append({"name": name, "input_shape": tuple(layer.input.shape[1:]), "filters": layer.filters,
                       "kernel": tuple(layer.kernel_size), "padding": layer.padding,
                       "dropout": model.get_layer(f"{name}_dropout").rate,
                       "pool": name != "latent", "output_shape": tuple(layer.output.shape[1:]),
                       "fwd_mflop": forward / 1e6, "train_mflop": train / 1e6})
    return blocks


def block_model(block: dict, conv_only: bool, first: bool):
    """One block alone (or its convolution alone) as a compiled model whose loss is the output's mean."""
    import keras
    from keras import ops

    from stampnet.model import conv_block

    class Scale(keras.layers.Layer):
        """x · s with one trainable s: the gradient then flows into the block's input."""

        def build(self, shape):
            self.s = self.add_weight(shape=(), initializer="ones", name="s")

        def call(self, x):
            return x * self.s

    x = inp = keras.Input(block["input_shape"])
    if not first:
        x = Scale()(x)
    if conv_only:
        x = keras.layers.Conv2D(block["filters"], block["kernel"], padding=block["padding"])(x)
    else:
        x = conv_block(x, block["filters"], block["kernel"], block["padding"], block["dropout"], block["name"],
                       pool=block["pool"])
    model = keras.Model(inp, x)
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss=lambda y, p: ops.mean(p))
    return model


def run(shapes_name: str = "ct_mnist_2", batch: int = 64, rounds: int = 3, steps: int = 5, n: int = 2048) -> dict:
    import keras

    from stampnet.backend import versions

    keras.utils.set_random_seed(0)
    shapes = SHAPES[shapes_name]
    results = {"shapes": shapes_name, "batch": batch, "device": describe_device(), **versions(),
               "cores": n_cores(), "load_start": load_average()}
    log(f"roofline at the {shapes_name} shapes, batch {batch}, on {results['device']} ({results['backend']})")
    results["matmul_n"], results["peak_gflop_s"] = n, matmul_peak(n)
    log(f"  float32 matmul {n}×{n}: {results['peak_gflop_s']:.1f} GFLOP/s")

    model = build(shapes, "separable", batch)
    size = shapes["input_parameters"]["img_rows"]
    rng = np.random.default_rng(0)
    canvases = (rng.random((batch, size, size, 1)) < 0.15).astype("float32")
    blocks = encoder_blocks(model)
    contenders = [Contender("step", model, canvases)]
    for i, block in enumerate(blocks):
        x = rng.standard_normal((batch, *block["input_shape"])).astype("float32")
        for part, conv_only in (("conv", True), ("block", False)):
            contenders.append(Contender(f"{block['name']}:{part}", block_model(block, conv_only, i == 0), x))
    for c in contenders:
        c.warm_up(2)
    interleave(contenders, rounds, steps)
    timed = {c.name: c for c in contenders}
    for block in blocks:
        conv, whole = timed[f"{block['name']}:conv"], timed[f"{block['name']}:block"]
        block.update(conv_ms=1e3 * conv.step_s, block_ms=1e3 * whole.step_s,
                     conv_gflop_s=block["train_mflop"] * batch / 1e3 / conv.step_s)
    step = timed["step"]
    train_mflop = sum(b["train_mflop"] for b in blocks)
    results.update(blocks=blocks, step_ms=1e3 * step.step_s, step_cpu_s=statistics.median(step.cpu),
                   encoder_train_mflop=train_mflop, canvases_s=step.img_s,
                   step_gflop_s=train_mflop * batch / 1e3 / step.step_s, load_end=load_average())
    return results


def table(r: dict) -> str:
    peak = r["peak_gflop_s"]
    lines = [f"Roofline at the {r['shapes']} shapes, batch {r['batch']}: {r['device']}, {r['backend']} "
             f"{r.get(r['backend'], '')}, load {r['load_start']} → {r['load_end']}; "
             f"peak: float32 matmul {r['matmul_n']}² {peak:.1f} GFLOP/s", "",
             "| block | input | training MFLOP/canvas | conv ms | conv GFLOP/s (% of peak) | block ms | "
             "block − conv ms |", "|---|---|---|---|---|---|---|"]
    for b in r["blocks"]:
        shape = "×".join(map(str, b["input_shape"]))
        lines.append(f"| {b['name']} | {shape} | {b['train_mflop']:.1f} | {b['conv_ms']:.1f} | "
                     f"{b['conv_gflop_s']:.1f} ({100 * b['conv_gflop_s'] / peak:.0f} %) | {b['block_ms']:.1f} | "
                     f"{b['block_ms'] - b['conv_ms']:.1f} |")
    conv_ms = sum(b["conv_ms"] for b in r["blocks"])
    block_ms = sum(b["block_ms"] for b in r["blocks"])
    lines += [f"| **sum** | | {r['encoder_train_mflop']:.1f} | {conv_ms:.1f} | | {block_ms:.1f} | "
              f"{block_ms - conv_ms:.1f} |", "",
              f"whole training step: {r['step_ms']:.1f} ms ({r['canvases_s']:.0f} canvases/s), "
              f"{r['step_gflop_s']:.1f} GFLOP/s of encoder convolutions = {100 * r['step_gflop_s'] / peak:.0f} % "
              f"of the matmul peak; heads, decoder, loss and optimizer (step − blocks): "
              f"{r['step_ms'] - block_ms:.1f} ms"]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = cli.ArgumentParser(prog="python -m stampnet.bench.roofline", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shapes", choices=sorted(SHAPES), default="ct_mnist_2", help="the experiment's shapes")
    parser.add_argument("--batch", type=cli.positive_int, default=64, help="batch (default 64, the 2019 batch)")
    parser.add_argument("--rounds", type=cli.positive_int, default=3, help="alternating rounds (default 3)")
    parser.add_argument("--steps", type=cli.positive_int, default=5, help="steps per contender a round (default 5)")
    parser.add_argument("--matmul", type=cli.positive_int, default=2048, help="n of the peak's n×n matmul")
    parser.add_argument("--save", metavar="PATH", type=cli.writable_file, help="also write the JSON to PATH")
    args = parser.parse_args(argv)
    results = run(args.shapes, args.batch, args.rounds, args.steps, args.matmul)
    print(table(results))
    if args.save:
        from stampnet.bench.report import _jsonable

        cli.write_text_atomic(args.save, json.dumps(_jsonable(results), indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
