"""The benchmark's sections after the generation: training (separable vs conv vs decoder stub), the input
pipeline, XLA on/off, mixed precision, inference. Each adds its numbers to ``results``."""
from __future__ import annotations

import statistics
import time

import numpy as np

from stampnet.bench.machine import backend
from stampnet.bench.models import build, layer_parameters, stub_model
from stampnet.bench.timing import Contender, interleave, log, paired_share


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
    """The training step in ``model.fit`` fed by the real training feed vs by one batch held in memory, and on
    TensorFlow also by a tf.data pipeline over the same canvases (does tf.data help? then training should use it).

    Each feed runs ``fit`` for ``pipe_steps`` steps, the feeds in turn, round after round, with the temperature
    schedule before every step as in ``stampnet.train``. A step is the time from one step's end to the next
    (data, schedule, step, callbacks); the first step of every ``fit`` is left out.
    """
    import keras

    from stampnet.callbacks import StepSchedules
    from stampnet.config import validate
    from stampnet.data.pipeline import epoch_batches, tf_epoch_dataset

    B, sep = cfg["batch"], models["sep"]
    gp = validate({"layer_parameters": layer_parameters(cfg["shapes"], "separable", B)})
    schedule = StepSchedules.for_gumbel_parameters(gp["layer_parameters"]["decoder_parameters"]["gumbel_parameters"])
    images = data[:len(data) // B * B]
    feeds = {"in_memory": lambda: in_memory_feed(images[:B]),
             "pipeline": lambda: epoch_batches(images, B, shuffle=True, seed=0)}
    if backend() == "tensorflow":
        feeds["tf_data"] = lambda: tf_epoch_dataset(images, B, True, 0, 0, cfg["pipe_steps"] + 2)
    log(f"pipeline: fit on epoch_batches({len(images)} canvases) vs on one in-memory batch"
        f"{' vs on tf.data' if 'tf_data' in feeds else ''} (batch {B})")

    class StepTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.wall, self.cpu, self._last = [], [], None

        def on_train_batch_end(self, batch, logs=None):
            now = (time.perf_counter(), time.process_time())
            if self._last is not None:
                self.wall.append(now[0] - self._last[0])
                self.cpu.append(now[1] - self._last[1])
            self._last = now

    def run_fit(name, steps):
        timer = StepTimer()
        sep.fit(feeds[name](), steps_per_epoch=steps + 1, epochs=1, verbose=0, shuffle=False,
                callbacks=[schedule, timer])
        return timer

    start = time.perf_counter()
    for name in feeds:  # traces fit's step function for each kind of feed
        run_fit(name, 1)
    log(f"  warm-up {time.perf_counter() - start:.1f} s")
    wall = {name: [] for name in feeds}
    cpu = {name: [] for name in feeds}
    for r in range(cfg["rounds"]):
        for name in feeds:
            timer = run_fit(name, cfg["pipe_steps"])
            wall[name] += timer.wall
            cpu[name] += timer.cpu
        log(f"  round {r + 1}/{cfg['rounds']}: " + ", ".join(f"{k} {statistics.median(v):.3f} s"
                                                             for k, v in wall.items()))
    median = {k: statistics.median(v) for k, v in wall.items()}
    ratio = lambda t, name: statistics.median(t[name]) / statistics.median(t["in_memory"])
    results.update({"fit_step_s_in_memory": median["in_memory"], "fit_step_s_pipeline": median["pipeline"],
                    "pipeline_ratio": ratio(wall, "pipeline"), "pipeline_ratio_cpu": ratio(cpu, "pipeline"),
                    "pipeline_canvases": len(images), "pipeline_feed": "epoch_batches (NumPy)"})
    if "tf_data" in feeds:
        results.update({"fit_step_s_tf_data": median["tf_data"], "tf_data_ratio": ratio(wall, "tf_data"),
                        "tf_data_ratio_cpu": ratio(cpu, "tf_data")})


def in_memory_feed(x: np.ndarray):
    """One batch held in memory, repeated: the input costs nothing (tf.data's from_tensors on TensorFlow, the
    same backend tensor again elsewhere)."""
    if backend() == "tensorflow":
        import tensorflow as tf

        batch = tf.constant(x)
        return tf.data.Dataset.from_tensors((batch, batch)).repeat()
    import keras

    batch = keras.ops.convert_to_tensor(x)

    def forever():
        while True:
            yield batch, batch

    return forever()


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
    from stampnet.model import predict
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


# The sections after training, in the order a run takes them (``--only`` picks some).
SECTIONS = {"pipeline": section_pipeline, "jit": section_jit, "mixed": section_mixed, "inference": section_inference}
