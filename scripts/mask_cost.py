"""What the masks cost: the share of evaluation time that the segmentation measures (ARI-FG, ARI, mIoU) take.

Evaluates a freshly built, untrained model of the Tetrominoes experiment on a generated look-alike test set (what
``stampnet.evaluate`` does after loading weights: predict, then every measure), with and without the true masks,
alternating in this process, and times the segmentation group alone on the same predictions. Medians of
``--repeats``. The share is reported, not the seconds, which depend on what else runs on the machine.
Prints the record and writes it (command, machine, commit, load) to ``--save``.

    python scripts/mask_cost.py [--canvases 10000] [--repeats 3] [--note "a training shares the cores"]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from stampnet import ConfigError, cli

LIMIT = 0.10   # the most of evaluation time the masks may take


def machine() -> str:
    """The CPU model as lscpu names it (else /proc/cpuinfo's), with this process's cores."""
    from stampnet.bench.flops import cpu_name

    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=10).stdout
        name = next(line.split(":", 1)[1].strip() for line in out.splitlines() if line.startswith("Model name"))
    except (OSError, subprocess.SubprocessError, StopIteration):
        name = cpu_name()
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores"


def untrained_run(canvases: int):
    """(run, test canvases): the Tetrominoes experiment's model as built, and ``canvases`` look-alike test ones."""
    from stampnet import experiments
    from stampnet.config import merge, validate
    from stampnet.evaluate import test_split
    from stampnet.model import build_model
    from stampnet.runs import LoadedRun
    from stampnet.spec import run_spec

    spec = run_spec(validate(merge(experiments.config("tetrominoes"), {"run_parameters": {
        "steps_per_epoch": 1, "img_type_parameters": {"data_path": None, "test_size": canvases}}})))
    run = LoadedRun(spec, build_model(spec.model, compile=False), Path(tempfile.gettempdir()), Path("untrained"))
    return run, test_split(spec)


def seconds(step) -> tuple[float, float]:
    """(wall, CPU) seconds of ``step()``: the CPU time is this process's, all its threads."""
    wall, cpu = time.perf_counter(), time.process_time()
    step()
    return time.perf_counter() - wall, time.process_time() - cpu


def measure_cost(canvases: int, repeats: int) -> dict:
    """The wall and CPU seconds of evaluation with and without the masks (alternating) and of the segmentation
    group alone, their medians, and the masks' share of evaluation time: by the difference (``mask_share``, the
    record's verdict) and timed alone, each by wall and by CPU time."""
    from stampnet.evaluate import measure
    from stampnet.masks import segmentation_measures
    from stampnet.metrics import predict_slots

    run, test = untrained_run(canvases)
    without = dataclasses.replace(test, masks=None)
    _, out = measure(run, without)              # untimed: traces the predict function at every batch size met
    times = {"with_masks": [], "without_masks": [], "segmentation": []}
    for r in range(repeats):
        order = (("with_masks", test), ("without_masks", without))
        for name, canvases_ in order if r % 2 == 0 else order[::-1]:
            times[name].append(seconds(lambda: measure(run, canvases_)))
    coords, classes = predict_slots(out["stamp_probs"], out["y_probs"], out["x_probs"])
    for _ in range(repeats):
        times["segmentation"].append(seconds(lambda: segmentation_measures(test.masks, out["stamps"], classes,
                                                                           coords)))
    record = {}
    for clock, i in (("wall", 0), ("cpu", 1)):
        median = {k: statistics.median(t[i] for t in v) for k, v in times.items()}
        suffix = "" if clock == "wall" else "_cpu"
        record.update({f"seconds{suffix}": {k: [round(t[i], 3) for t in v] for k, v in times.items()},
                       f"mask_share{suffix}": (median["with_masks"] - median["without_masks"]) / median["with_masks"],
                       f"segmentation_share{suffix}": median["segmentation"] / median["with_masks"]})
    return record


def main(argv=None) -> int:
    parser = cli.ArgumentParser(prog="python scripts/mask_cost.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--canvases", type=cli.positive_int, default=10000, help="test canvases (default 10000)")
    parser.add_argument("--repeats", type=cli.positive_int, default=3, help="timings of each kind (default 3)")
    parser.add_argument("--note", default="", help="what else ran on the machine, for the record")
    parser.add_argument("--save", type=cli.writable_file, default=Path("results/bench/mask-cost.json"),
                        metavar="PATH", help="where to write the record (default results/bench/mask-cost.json)")
    args = parser.parse_args(argv)
    given = sys.argv[1:] if argv is None else list(argv)

    from stampnet.bench.__main__ import git_commit, load

    start_load = load()
    try:
        cost = measure_cost(args.canvases, args.repeats)
    except ConfigError as err:
        return cli.fail(str(err))
    record = {"command": shlex.join(["python", "scripts/mask_cost.py", *given]), "commit": git_commit(),
              "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
              "load": [start_load, load()], "note": args.note, "canvases": args.canvases,
              "set": "look-alike Tetrominoes, untrained model of the tetrominoes experiment", "repeats": args.repeats,
              **cost, "limit": LIMIT, "within_limit": cost["mask_share"] <= LIMIT}
    print(f"masks: {cost['mask_share']:.1%} of evaluation time ({cost['mask_share_cpu']:.1%} of its CPU time); "
          f"the segmentation alone {cost['segmentation_share']:.1%} ({cost['segmentation_share_cpu']:.1%}); limit "
          f"{LIMIT:.0%}; {args.canvases} canvases, medians of {args.repeats}")
    cli.write_text_atomic(args.save, json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.save}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
