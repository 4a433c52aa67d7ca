"""The benchmark's run: the data, then the sections in order, each timed, the JSON saved after each."""
from __future__ import annotations

import json
import time
from pathlib import Path

from stampnet.bench.data import measure_generation, mnist_source, training_canvases
from stampnet.bench.machine import describe_device, load_average, n_cores
from stampnet.bench.models import CT_MNIST_2, TINY
from stampnet.bench.report import TARGETS, _jsonable
from stampnet.bench.sections import SECTIONS, section_training
from stampnet.bench.timing import log
from stampnet.backend import versions

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


def run(mode: str = "quick", mnist_path=None, sections=None, save=None, command=None) -> dict:
    """All measures of ``mode``; ``save``: a file rewritten with the JSON so far after every section."""
    import keras

    def checkpoint():
        if save:
            Path(save).write_text(json.dumps(_jsonable(results)) + "\n")

    start = time.perf_counter()
    cfg = MODES[mode]
    keras.utils.set_random_seed(0)
    results = {"mode": mode, "command": command, "device": describe_device(), **versions(), "cores": n_cores(),
               "load_start": load_average()}
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
    wanted = sections if sections is not None else tuple(SECTIONS)
    for name in wanted:
        mark = time.perf_counter()
        try:
            SECTIONS[name](cfg, data, models, results)
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
