"""The benchmark command runs and reports its JSON; mixed precision keeps the Gumbel softmax and decoder in float32.

The benchmark's targets (speedup, decoder share, pipeline, generation time) are numbers of the benchmark's
report (docs/performance.md), not assertions: here a toy-sized run (``--tiny``) checks that every measure is
produced and positive.
"""
import json

import keras
import numpy as np
import pytest

from stampnet.config import validate
from stampnet.model import build_model
from tests.tiny import TINY

pytestmark = pytest.mark.slow  # trains: left out of the quick lane (-m "not slow")

REQUIRED = ("train_img_s_conv", "train_img_s_separable", "speedup", "decoder_fraction", "infer_img_s", "device")
POSITIVE = ("train_img_s_conv", "train_img_s_separable", "speedup", "infer_img_s", "infer_img_s_hard",
            "infer_img_s_reconstruction", "fit_step_s_in_memory", "fit_step_s_pipeline", "pipeline_ratio",
            "gen_s", "gen_70k_s")


def test_bench_reports_json(tmp_path, capsys):
    from stampnet.bench.__main__ import main

    saved = tmp_path / "bench.json"
    assert main(["--tiny", "--json", "--only", "pipeline,inference", "--save", str(saved)]) == 0
    stdout = capsys.readouterr().out
    report = json.loads(stdout.strip().splitlines()[-1])
    assert json.loads(saved.read_text()) == report
    assert "speedup separable / conv" in stdout  # the table came first
    for key in REQUIRED + POSITIVE:
        assert key in report, key
    assert isinstance(report["device"], str) and report["device"]
    for key in POSITIVE:
        assert report[key] > 0, (key, report[key])
    assert 0 <= report["decoder_fraction"] <= 1
    assert report["hard_vs_soft_argmax_agree"] == 1.0
    assert set(report["targets"]) == {"speedup", "decoder_fraction", "pipeline_ratio", "gen_70k_s"}


def test_mixed_bfloat16_keeps_gumbel_and_decoder_in_float32():
    lp = validate(TINY)["layer_parameters"]
    keras.utils.set_random_seed(0)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = build_model(lp)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert model.get_layer("encoder_1_conv").compute_dtype == "bfloat16"
    for name in ("softmax_stamp", "softmax_y", "softmax_x", "stamp_layer"):
        assert model.get_layer(name).compute_dtype == "float32", name
    assert model.output.dtype == "float32"
    x = (np.random.default_rng(0).random((8, 32, 32, 1)) > 0.7).astype("float32")
    loss = model.train_on_batch(x, x)
    assert np.isfinite(loss)


def test_compare_refuses_an_unknown_revision(capsys):
    from stampnet.bench.__main__ import main

    assert main(["--compare", "no-such-revision"]) == 2
    assert "is not a revision of this repository" in capsys.readouterr().err


def test_compare_alternates_the_trees_round_by_round(monkeypatch):
    from stampnet.bench import compare

    trained = []
    monkeypatch.setattr(compare, "train_rate", lambda tree, *args: trained.append(tree) or 100.0 + len(trained))
    seen = []
    result = compare.compare("HEAD", rounds=3, epochs=2, steps=2, progress=seen.append)
    assert [line.split(": ")[1] for line in seen] == ["this tree", "HEAD", "HEAD", "this tree", "this tree", "HEAD"]
    assert trained[0] == compare.checkout() and trained[1] != compare.checkout() and trained[2] == trained[1]
    assert result["rates"] == {"this tree": [101.0, 104.0, 105.0], "HEAD": [102.0, 103.0, 106.0]}
    assert result["ratio"] == pytest.approx(104.0 / 103.0)


def test_compare_trains_both_trees():
    from stampnet.bench.compare import compare, report

    result = compare("HEAD", rounds=1, epochs=2, steps=2, progress=lambda line: None)
    assert all(len(v) == 1 and v[0] > 0 for v in result["rates"].values()) and result["ratio"] > 0
    assert "ratio this tree / HEAD" in report(result)


def test_roofline_counts_the_flops_and_times_every_block(tmp_path):
    """The roofline's FLOP count is the analytic one (2·H·W·C_out·k²·C_in forward; weights' and, after the first
    block, the input's gradient the same again), and every block, the step and the peak are timed."""
    from stampnet.bench import roofline

    report = roofline.run("tiny", batch=8, rounds=1, steps=1, n=64)
    blocks = report["blocks"]
    # TINY: 32×32×1 → conv 8 (same, 3×3) → pool → 16 → pool → 16 → pool → latent 32 (valid 4×4 on 4×4).
    assert [b["name"] for b in blocks] == ["encoder_1", "encoder_2", "encoder_3", "latent"]
    assert blocks[0]["fwd_mflop"] * 1e6 == 2 * 32 * 32 * 8 * 9 * 1
    assert blocks[0]["train_mflop"] == 2 * blocks[0]["fwd_mflop"]
    assert blocks[1]["fwd_mflop"] * 1e6 == 2 * 16 * 16 * 16 * 9 * 8
    assert blocks[1]["train_mflop"] == 3 * blocks[1]["fwd_mflop"]
    assert blocks[3]["fwd_mflop"] * 1e6 == 2 * 1 * 1 * 32 * 16 * 16
    assert report["encoder_train_mflop"] == sum(b["train_mflop"] for b in blocks)
    for key in ("peak_gflop_s", "step_ms", "step_gflop_s", "canvases_s"):
        assert report[key] > 0, key
    for b in blocks:
        assert b["conv_ms"] > 0 and b["block_ms"] > 0
    text = roofline.table(report)
    assert "| encoder_1 | 32×32×1 |" in text and "% of the matmul peak" in text
