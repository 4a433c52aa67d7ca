"""Colour choices: grey stamps, a fourth Gumbel head per slot choosing one of P learned colours, and the slots'
classes as (stamp, colour) pairs k·P + p for the measures."""

import keras
import numpy as np
import pytest
from keras import ops

from stampnet import ConfigError
from stampnet.layers import ColourChoice, PairedChoice
from stampnet.spec import ModelSpec
from tests.tiny import TINY


def test_each_slot_draws_its_stamp_in_its_colour_clipped_at_1():
    layer = ColourChoice(2, 3)
    layer.palette.assign(np.array([[1.0, 0.0, 0.5], [0.5, 1.0, 0.0]], np.float32))
    drawings = np.zeros((1, 2, 3, 3, 1), np.float32)                      # (B, M, H, W, 1)
    drawings[0, 0, 0:2, 0:2] = 0.6                                         # slot 0: a 2×2 block, top left
    drawings[0, 1, 1:3, 1:3] = 0.8                                         # slot 1: overlapping it at (1, 1)
    probs = np.array([[[1.0, 0.0], [0.25, 0.75]]], np.float32)            # slot 0 colour 0; slot 1 soft
    out = ops.convert_to_numpy(layer(drawings, probs))                    # (1, 3, 3, 3)
    colour0 = np.array([1.0, 0.0, 0.5])
    colour1 = 0.25 * np.array([1.0, 0.0, 0.5]) + 0.75 * np.array([0.5, 1.0, 0.0])  # [0.625, 0.75, 0.125]
    expect = np.zeros((3, 3, 3))
    expect[0:2, 0:2] += 0.6 * colour0
    expect[1:3, 1:3] += 0.8 * colour1
    np.testing.assert_allclose(out[0], np.minimum(expect, 1.0), atol=1e-6)
    # at the overlap the red channel sums to 0.6 + 0.8·0.625 = 1.1: clipped at 1; the others stay below 1
    np.testing.assert_allclose(out[0, 1, 1], [1.0, 0.6, 0.4], atol=1e-6)
    np.testing.assert_allclose(out[0, 2, 2], 0.8 * colour1, atol=1e-6)


def test_a_slots_class_is_its_stamp_and_colour_pair():
    stamp = np.array([[[0.1, 0.7, 0.2], [0.6, 0.3, 0.1]]], np.float32)     # (1, 2, K=3)
    colour = np.array([[[0.2, 0.8], [0.9, 0.1]]], np.float32)              # (1, 2, P=2)
    pairs = ops.convert_to_numpy(PairedChoice()(stamp, colour))            # (1, 2, 6)
    assert pairs.shape == (1, 2, 6)
    np.testing.assert_allclose(pairs[0, 0, 1 * 2 + 1], 0.7 * 0.8, rtol=1e-6)  # stamp 1, colour 1 → 3
    np.testing.assert_allclose(pairs.sum(axis=-1), 1.0, rtol=1e-6)
    assert pairs.argmax(axis=-1).tolist() == [[3, 0]]


def _colour_spec(**changes):
    lp = {**TINY["layer_parameters"], "input_parameters": {**TINY["layer_parameters"]["input_parameters"],
                                                           "img_channels": 3}}
    lp["decoder_parameters"] = {**lp["decoder_parameters"], "colour_choices": 2, **changes}
    return ModelSpec.from_layer_parameters(lp)


def test_colour_choices_are_a_fourth_head_over_grey_stamps():
    from stampnet.model import build_model, gumbel_layers, hard_reconstruct, head_model, predict, stamps

    spec = _colour_spec()
    assert spec.colour_choices == 2
    keras.utils.set_random_seed(0)
    model = build_model(spec, compile=False)
    decoder, colour = model.get_layer("stamp_layer"), model.get_layer("colour_choice")
    assert tuple(decoder.kernel.shape) == (8, 8, 4, 1) and tuple(colour.palette.shape) == (2, 3)
    palette = ops.convert_to_numpy(colour.palette)
    assert palette.min() >= 0 and palette.max() <= 1 and np.ptp(palette) > 0.1   # spread out, not one colour
    # the colour head is a Gumbel layer like the others: τ, the noise and the straight-through switch follow it
    assert "softmax_colour" in [layer.name for layer in gumbel_layers(model)]
    # every (stamp k, colour p) pair at k·P + p: the grey stamp times the colour
    grey, pairs = ops.convert_to_numpy(decoder.stamps()), stamps(model)
    assert pairs.shape == (4 * 2, 8, 8, 3)
    np.testing.assert_allclose(pairs[2 * 2 + 1], grey[2][..., None] * palette[1], atol=1e-6)
    # at evaluation the analysis outputs and the hard paste see the pairs; the paste is the soft model at τ → 0
    images = np.random.default_rng(0).uniform(size=(3, 32, 32, 3)).astype("float32")
    out = predict(model, images, tau=1e-4, noise=False)
    assert out["stamp_probs"].shape == (3, 2, 8) and out["reconstruction"].shape == (3, 32, 32, 3)
    hard, k, _, _ = hard_reconstruct(model, head_model(model), images)
    np.testing.assert_array_equal(ops.convert_to_numpy(k), out["stamp_probs"].argmax(axis=-1))
    # where every head is decided (an untrained head can tie two logits to 1e-5, and τ = 1e-4 then splits them)
    decided = np.all([out[h].max(axis=-1).min(axis=-1) > 0.999 for h in ("stamp_probs", "y_probs", "x_probs")], 0)
    assert decided.any()
    np.testing.assert_allclose(ops.convert_to_numpy(hard)[decided], out["reconstruction"][decided], atol=1e-4)


def test_without_colour_choices_the_model_keeps_its_weights():
    from stampnet.model import build_model

    spec = ModelSpec.from_layer_parameters(TINY["layer_parameters"])
    assert spec.colour_choices == 0
    names = [w.path for w in build_model(spec, compile=False).weights]
    assert not [n for n in names if "colour" in n or "palette" in n]
    assert any(n == "stamp_layer/kernel" for n in names)


@pytest.mark.parametrize("value", [-1, 1.5, True, "6"])
def test_colour_choices_must_be_a_count(value):
    with pytest.raises(ConfigError, match="colour_choices"):
        _colour_spec(colour_choices=value)


def test_the_run_figures_draw_every_stamp_and_colour_pair(tmp_path):
    from stampnet.data import Canvases
    from stampnet.figures import save_run_figures
    from stampnet.model import build_model

    keras.utils.set_random_seed(0)
    model = build_model(_colour_spec(), compile=False)
    images = np.random.default_rng(1).uniform(size=(1, 32, 32, 3)).astype("float32")
    save_run_figures(model, Canvases(images), tmp_path, n_images=1)   # usage counted over the 4 · 2 pairs
    assert (tmp_path / "stamps.png").is_file()
