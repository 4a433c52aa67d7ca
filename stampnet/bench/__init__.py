"""Benchmark StampNet on this machine and Keras backend: ``python -m stampnet.bench``.

    python -m stampnet.bench                                  # simple_shapes_2 and ct_mnist_2 shapes
    python -m stampnet.bench --config runs/x/1/config.json --save results/bench/NAME.json

For each experiment config: a training step (``train_on_batch``) with the ``separable`` decoder at the
config's batch and with the 2019 ``conv`` decoder (a small batch on a CPU, where it takes seconds a canvas),
and inference (``stampnet.model.predict`` at τ = 1e-4, batch 256, as evaluate runs it); canvases/s from the
median step after two warm-up steps, and the share of the machine's peak each achieves (MFU,
:mod:`stampnet.bench.flops`). Canvases are random binary images: the speed does not depend on what they show.
``--save`` writes the record (command, machine, commit, backend, numbers); a page shows one between
``<!-- bench: FILE -->`` and ``<!-- /bench -->`` (``python -m stampnet.table --render``).
"""
from __future__ import annotations


def table(record: dict) -> str:
    """A saved record as markdown: where and how it was measured, one row per measure, the decoders' speedup."""
    peak = record["peak"]
    lines = [f"`{record['command']}` at {record['commit'] or 'an unknown commit'}, {record['date']}: "
             f"{record['machine']}, load {record['load'][0]} → {record['load'][1]}; "
             + ", ".join(f"{k} {v}" for k, v in record["backend"].items() if k != "backend")
             + f"; peak {peak['gflop_s']:.0f} GFLOP/s ({peak['how']})", "",
             "| config | measure | batch | ms/step | canvases/s | GFLOP/canvas | MFU |",
             "|---|---|---|---|---|---|---|"]
    num = lambda v: f"{v:.3g}" if abs(v) < 100 else f"{v:.0f}"  # noqa: E731
    for r in record["rows"]:
        lines.append(f"| {r['config']} | {r['measure']} | {r['batch']} | {num(r['step_ms'])} | "
                     f"{num(r['canvases_s'])} | {num(r['gflop'])} | {num(100 * r['mfu'])} % |")
    rate = {(r["config"], r["measure"]): r["canvases_s"] for r in record["rows"]}
    speedup = [f"{c} {rate[c, 'training, separable'] / rate[c, 'training, conv (2019)']:.0f}×"
               for c in dict.fromkeys(r["config"] for r in record["rows"]) if (c, "training, conv (2019)") in rate]
    if speedup:
        lines += ["", "training speedup of the separable decoder over the 2019 conv: " + ", ".join(speedup)]
    return "\n".join(lines)
