"""The benchmark's report: the table, its targets and the JSON."""
from __future__ import annotations

import math

import numpy as np

TARGETS = {"speedup": 100.0, "decoder_fraction": 0.15, "pipeline_ratio": 1.10, "gen_70k_s": 60.0}
GTX1080_2019_IMG_S = 510.0  # the 2019 authors' CT-MNIST-2 training speed on a GTX 1080 (their log)



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
        ("backend", f"{r['backend']} {r.get(r['backend'], '')} (keras {r['keras']})", ""),
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
        ("train step s in fit: in-memory / NumPy feed (epoch_batches) / tf.data",
         f"{fmt(r.get('fit_step_s_in_memory'))} / {fmt(r.get('fit_step_s_pipeline'))} / "
         f"{fmt(r.get('fit_step_s_tf_data'))}",
         f"fit img/s {fmt(r['batch_separable'] / r['fit_step_s_pipeline'])}" if r.get("fit_step_s_pipeline") else ""),
        ("pipeline / in-memory step time (wall; CPU time)",
         f"{fmt(r.get('pipeline_ratio'))}; {fmt(r.get('pipeline_ratio_cpu'))}",
         f"target <= {TARGETS['pipeline_ratio']}" + target("pipeline_ratio",
                                                           lambda v: v <= TARGETS["pipeline_ratio"])),
        ("tf.data / in-memory step time (wall; CPU time)",
         f"{fmt(r.get('tf_data_ratio'))}; {fmt(r.get('tf_data_ratio_cpu'))}", ""),
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


COMPARED = (  # (row, key) of the side-by-side table of --backends
    ("device", "device"), ("load average at start", "load_start"),
    ("train img/s, separable (train_on_batch)", "train_img_s_separable"), ("train img/s, conv", "train_img_s_conv"),
    ("speedup separable / conv", "speedup"), ("decoder share of a step, separable", "decoder_fraction"),
    ("train step s in fit, NumPy feed", "fit_step_s_pipeline"), ("pipeline / in-memory", "pipeline_ratio"),
    ("inference img/s, soft predict", "infer_img_s"), ("inference img/s, reconstruction", "infer_img_s_reconstruction"),
    ("bench wall time (s)", "wall_s"),
)


def compare_table(by_backend: dict) -> str:
    """One column per backend: {backend: results} → text table."""
    names = list(by_backend)
    rows = [("backend", *[f"{n} {by_backend[n].get(n, '')}".strip() for n in names])]
    rows += [(label, *[fmt(by_backend[n].get(key)) for n in names]) for label, key in COMPARED
             if any(key in r for r in by_backend.values())]
    widths = [max(len(row[i]) for row in rows) for i in range(len(names) + 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows)
