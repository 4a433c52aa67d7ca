"""The benchmark command, the model's FLOP count, the machine's cached peak and the MFU training prints; mixed
precision keeps the Gumbel softmax and decoder in float32."""
import json

import keras
import numpy as np
import pytest

from stampnet.config import validate
from stampnet.model import build_model
from tests.tiny import TINY, with_

# TINY: 32×32×1 → encoder_1 (8, 3×3 same) → pool 16 → encoder_2 (8) → pool 8 → latent (32, 8×8 valid);
# heads: three encodings 32→16, pre-softmax 16→M·size (y and x: C = 32 − 8 + 1 = 25 each, stamp: K = 4), M = 2.
ENCODER = 2 * (32 * 32 * 8 * 9 * 1 + 16 * 16 * 8 * 9 * 8 + 1 * 1 * 32 * 64 * 8)
HEADS = 2 * (3 * 32 * 16 + 2 * 16 * 2 * 25 + 16 * 2 * 4)
H, S, K, C, M = 32, 8, 4, 25, 2


def tiny_model(decoder="separable"):
    keras.utils.set_random_seed(0)
    lp = with_(TINY, "layer_parameters.decoder_parameters.decoder", decoder)["layer_parameters"]
    return build_model(validate({"layer_parameters": lp})["layer_parameters"])


@pytest.mark.parametrize("decoder, expected", [
    ("separable", 2 * M * (K * S * S + H * S * S + H * H * S)),
    ("conv", 2 * M * C * C * K + 2 * H * H * S * S * K),
])
def test_model_flops_count_the_convolutions_heads_and_decoder(decoder, expected):
    from stampnet.bench.flops import model_flops

    flops = model_flops(tiny_model(decoder))
    assert flops == {"encoder": ENCODER, "heads": HEADS, "decoder": expected, "forward": ENCODER + HEADS + expected}


def test_the_peak_is_measured_once_and_cached(tmp_path, monkeypatch):
    from stampnet.bench import flops

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = flops.peak_flops(n=128)
    assert first["gflop_s"] > 0 and first["how"] == "float32 matmul 128×128, best of 3"
    cache = json.loads((tmp_path / "stampnet" / "peak.json").read_text())
    [key] = cache
    cache[key]["gflop_s"] = 1234.5  # what a later call reads instead of measuring
    (tmp_path / "stampnet" / "peak.json").write_text(json.dumps(cache))
    assert flops.peak_flops(n=128)["gflop_s"] == 1234.5
    assert flops.peak_flops(n=128, refresh=True)["gflop_s"] != 1234.5
    (tmp_path / "stampnet" / "peak.json").write_text("{not json")  # a broken cache is measured again
    assert flops.peak_flops(n=128)["gflop_s"] > 0
    assert list((tmp_path / "stampnet").iterdir()) == [tmp_path / "stampnet" / "peak.json"]  # no temporary left


def test_training_prints_its_flops_and_the_epoch_line_its_mfu(tmp_path, monkeypatch, capsys):
    from stampnet.bench import flops
    from stampnet.callbacks import EpochLine

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(flops, "peak_flops", lambda: {"gflop_s": 3 * (ENCODER + HEADS) / 1e9 * 1000, "how": "x"})
    model = tiny_model()
    full = flops.print_flops(model)
    decoder = flops.model_flops(model)["decoder"]
    assert full == pytest.approx(1000 * (ENCODER + HEADS) / (ENCODER + HEADS + decoder))
    assert "×3 a training step" in capsys.readouterr().out
    line = EpochLine(1, 64, full_mfu=200.0)
    line.on_epoch_begin(0)
    line._start -= 1.0  # 64 canvases in a second: 32 % of 200 canvases/s
    line.on_epoch_end(0, {"loss": 1.0})
    out = capsys.readouterr().out
    assert out.startswith("epoch 1/1  loss 1  ") and out.rstrip().endswith("img/s  MFU 32 %"), out


def test_a_record_renders_as_a_table_with_the_speedup():
    from stampnet.bench import table

    row = {"config": "ct_mnist_2", "batch": 64, "steps": 10, "step_ms": 200.0, "gflop": 1.5, "mfu": 0.12}
    record = {"command": "python -m stampnet.bench", "commit": "abc123", "date": "2026-01-01 00:00 UTC",
              "machine": "CPU: X, 2 cores", "load": [1.0, 1.5], "backend": {"backend": "tensorflow", "keras": "3"},
              "peak": {"gflop_s": 300.0, "how": "float32 matmul 2048×2048, best of 3"},
              "rows": [{**row, "measure": "training, separable", "canvases_s": 320.0},
                       {**row, "measure": "training, conv (2019)", "batch": 2, "canvases_s": 0.5, "mfu": 0.001}]}
    text = table(record)
    assert text.startswith("`python -m stampnet.bench` at abc123, 2026-01-01 00:00 UTC: CPU: X, 2 cores, load 1.0")
    assert "| ct_mnist_2 | training, separable | 64 | 200 | 320 | 1.5 | 12 % |" in text
    assert text.endswith("over the 2019 conv: ct_mnist_2 640×")


@pytest.mark.slow  # trains
def test_bench_measures_a_config_and_saves_its_record(tmp_path, monkeypatch, capsys):
    from stampnet.bench.__main__ import main

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    config, saved = tmp_path / "config.json", tmp_path / "bench.json"
    config.write_text(json.dumps(TINY))
    assert main(["--config", str(config), "--steps", "1", "--save", str(saved)]) == 0
    record = json.loads(saved.read_text())
    assert record["command"] == f"python -m stampnet.bench --config {config} --steps 1 --save {saved}"
    assert record["backend"]["backend"] == keras.backend.backend() and record["machine"] and record["commit"]
    assert [(r["measure"], r["batch"]) for r in record["rows"]] == [
        ("training, separable", 8), ("inference, separable", 256), ("training, conv (2019)", 2)]
    for r in record["rows"]:
        assert r["canvases_s"] > 0 and 0 < r["mfu"] < 1 and r["config"] == str(config), r
    assert capsys.readouterr().out.startswith(f"`{record['command']}` at ")


@pytest.mark.slow  # reads the tiny run the session trains
def test_a_training_prints_its_flops_and_mfu(tiny_run):
    cout = (tiny_run / "cout.txt").read_text()
    assert "FLOPs per canvas: " in cout and "100 % MFU = " in cout
    assert "img/s  MFU " in next(line for line in cout.splitlines() if line.startswith("epoch 2/2"))


@pytest.mark.slow  # trains a step
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
    loss = model.train_on_batch(x, x)   # the loss and its terms
    assert np.all(np.isfinite(loss))
