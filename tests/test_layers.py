"""The decoder's two formulations, the placement geometry, the Gumbel softmax and the stamp constraint."""
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from stampnet.layers import GumbelSoftmax, StampDecoder, UnitInterval, sum_squared_error
from stampnet.schedules import temperature_at


def _random_distributions(rng, B, M, C, K):
    soft = lambda shape: tf.nn.softmax(rng.normal(size=shape) * 3).numpy().astype("float32")
    return soft((B, M, K)), soft((B, M, C)), soft((B, M, C))


def _decoders(S, K, C):
    sep = StampDecoder(S, K, C, decoder="separable", seed=1)
    conv = StampDecoder(S, K, C, decoder="conv", seed=1)
    rng = np.random.default_rng(0)
    kernel = rng.uniform(0, 0.4, size=(S, S, K, 1)).astype("float32")
    sep.kernel.assign(kernel)
    conv.kernel.assign(kernel)
    return sep, conv


@pytest.mark.parametrize("S,K,C,M", [(5, 3, 8, 2), (4, 6, 9, 1), (7, 2, 6, 3)])
def test_separable_equals_conv_output_and_gradients(S, K, C, M):
    rng = np.random.default_rng(S)
    p, y, x = _random_distributions(rng, 3, M, C, K)
    sep, conv = _decoders(S, K, C)
    results = []
    for dec in (sep, conv):
        inputs = [tf.Variable(a) for a in (p, y, x)]
        with tf.GradientTape() as tape:
            # Weight the output so the gradient is informative; keep below the clip at 1.
            out = dec(*inputs)
            loss = tf.reduce_sum(out * np.linspace(0.5, 1.5, out.shape[1] * out.shape[2]).reshape(out.shape[1:3] + (1,)))
        grads = tape.gradient(loss, inputs + [dec.kernel])
        results.append((out.numpy(), [g.numpy() for g in grads]))
    (o1, g1), (o2, g2) = results
    assert o1.shape == (3, C + S - 1, C + S - 1, 1)
    assert np.abs(o1 - o2).max() <= 1e-5
    for a, b in zip(g1, g2):
        assert np.abs(a - b).max() <= 1e-5


@pytest.mark.parametrize("decoder", ["separable", "conv"])
def test_one_hot_draws_flipped_stamp_with_upper_left_corner(decoder):
    S, K, C = 4, 2, 7
    dec = StampDecoder(S, K, C, decoder=decoder)
    kernel = np.zeros((S, S, K, 1), "float32")
    kernel[..., 1, 0] = np.arange(S * S).reshape(S, S) / (S * S)
    dec.kernel.assign(kernel)
    y0, x0 = 2, 3
    p = np.eye(K, dtype="float32")[[[1]]]          # (1, 1, K): stamp 1
    y = np.eye(C, dtype="float32")[[[y0]]]         # (1, 1, C)
    x = np.eye(C, dtype="float32")[[[x0]]]
    out = dec(p, y, x).numpy()[0, ..., 0]
    expected = np.zeros((C + S - 1, C + S - 1), "float32")
    expected[y0:y0 + S, x0:x0 + S] = kernel[::-1, ::-1, 1, 0]
    np.testing.assert_allclose(out, expected, atol=1e-6)
    np.testing.assert_allclose(dec.stamps().numpy()[1], kernel[::-1, ::-1, 1, 0])
    # Hard paste of the same choice gives the same canvas.
    pasted = dec.paste(np.array([[1]]), np.array([[y0]]), np.array([[x0]])).numpy()[0, ..., 0]
    np.testing.assert_allclose(pasted, expected, atol=1e-6)


def test_sum_of_slots_is_clipped_at_one():
    S, K, C = 3, 1, 5
    dec = StampDecoder(S, K, C)
    dec.kernel.assign(np.full((S, S, K, 1), 0.7, "float32"))
    p = np.ones((1, 2, 1), "float32")
    y = np.eye(C, dtype="float32")[[[1, 1]]]
    out = dec(p, y, y).numpy()
    assert out.max() == pytest.approx(1.0)


def test_paste_matches_soft_decoder_on_one_hot_inputs():
    S, K, C, M, B = 5, 4, 9, 3, 2
    rng = np.random.default_rng(3)
    sep, _ = _decoders(S, K, C)
    k, yy, xx = rng.integers(0, K, (B, M)), rng.integers(0, C, (B, M)), rng.integers(0, C, (B, M))
    soft = sep(np.eye(K, dtype="float32")[k], np.eye(C, dtype="float32")[yy], np.eye(C, dtype="float32")[xx])
    np.testing.assert_allclose(sep.paste(k, yy, xx).numpy(), soft.numpy(), atol=1e-6)


def test_gumbel_softmax_shapes_slot_layout_and_temperature():
    layer = GumbelSoftmax(size=4, slots=2, tau_init=1.0, seed=0)
    logits = np.zeros((3, 8), "float32")
    logits[:, 1] = 50.0        # slot 0, class 1
    logits[:, 4 + 3] = 50.0    # slot 1, class 3 (channel c belongs to slot c // size)
    out = layer(logits).numpy()
    assert out.shape == (3, 2, 4)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    assert (out[:, 0].argmax(-1) == 1).all() and (out[:, 1].argmax(-1) == 3).all()
    layer.temperature.assign(1e-4)
    hard = layer(np.random.default_rng(0).normal(size=(5, 8)).astype("float32")).numpy()
    assert np.allclose(hard.max(-1), 1.0, atol=1e-4)  # near one-hot at a low temperature
    layer.noise = False
    a, b = layer(logits).numpy(), layer(logits).numpy()
    np.testing.assert_array_equal(a, b)


def test_temperature_schedule_formula():
    assert temperature_at(0, 7, 0.01, 0.2, 128) == 7
    assert temperature_at(128 * 100, 7, 0.01, 0.2, 128) == pytest.approx(7 * np.exp(-1))
    assert temperature_at(10 ** 9, 7, 0.01, 0.2, 128) == 0.2


def test_unit_interval_constraint_and_loss():
    w = UnitInterval()(np.array([-1.0, 0.5, 2.0], "float32"))
    np.testing.assert_array_equal(ops.convert_to_numpy(w), [0.0, 0.5, 1.0])
    a = np.zeros((2, 3, 3, 1), "float32")
    b = np.full((2, 3, 3, 1), 0.5, "float32")
    np.testing.assert_allclose(ops.convert_to_numpy(sum_squared_error(a, b)), [9 * 0.25] * 2)


def test_colour_stamps_draw_each_channel_the_same_way():
    """With Ch channels the decoder draws each channel as the 1-channel decoder draws that channel's kernel;
    both formulations and the hard paste agree."""
    S, K, C, M, B, Ch = 4, 3, 6, 2, 2, 3
    rng = np.random.default_rng(7)
    p, y, x = _random_distributions(rng, B, M, C, K)
    kernel = rng.uniform(0, 0.4, size=(S, S, K, Ch)).astype("float32")
    drawn = []
    for decoder in ("separable", "conv"):
        dec = StampDecoder(S, K, C, decoder=decoder, channels=Ch)
        dec.kernel.assign(kernel)
        drawn.append(ops.convert_to_numpy(dec(p, y, x)))
    assert drawn[0].shape == (B, C + S - 1, C + S - 1, Ch)
    np.testing.assert_allclose(drawn[0], drawn[1], atol=1e-5)
    for c in range(Ch):
        grey = StampDecoder(S, K, C)
        grey.kernel.assign(kernel[..., c:c + 1])
        np.testing.assert_allclose(drawn[0][..., c:c + 1], ops.convert_to_numpy(grey(p, y, x)), atol=1e-6)
    k, yy, xx = rng.integers(0, K, (B, M)), rng.integers(0, C, (B, M)), rng.integers(0, C, (B, M))
    dec = StampDecoder(S, K, C, channels=Ch)
    dec.kernel.assign(kernel)
    soft = dec(np.eye(K, dtype="float32")[k], np.eye(C, dtype="float32")[yy], np.eye(C, dtype="float32")[xx])
    np.testing.assert_allclose(ops.convert_to_numpy(dec.paste(k, yy, xx)), ops.convert_to_numpy(soft), atol=1e-6)
    assert ops.convert_to_numpy(dec.stamps()).shape == (K, S, S, Ch)


def test_centre_penalty_pulls_an_off_centre_stamp_back():
    """A stamp whose ink sits in a corner of its square: a few gradient steps on the centring term alone move its
    ink centroid towards the square's centre; the term is 0 for a centred stamp and absent when off."""
    S, K, C = 9, 2, 4
    dec = StampDecoder(S, K, C, centre=1.0)
    kernel = np.zeros((S, S, K, 1), "float32")
    kernel[5:9, 5:9, 0] = 0.9             # stamp 0: ink in the lower-right corner, centroid (+2.5, +2.5)
    kernel[3:6, 3:6, 1] = 0.9             # stamp 1: centred
    dec.kernel.assign(kernel)
    usage = np.full((1, 1, K), 0.5, "float32")
    offsets = lambda: np.abs(ops.convert_to_numpy(dec.centroid_offsets()))
    assert offsets()[0] == pytest.approx([2.5, 2.5]) and offsets()[1] == pytest.approx([0.0, 0.0], abs=1e-6)
    before = float(dec._centre_loss(usage))
    assert before == pytest.approx(0.5 * 2 * 2.5 ** 2, rel=1e-4)
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = dec._centre_loss(usage)
        grad = tape.gradient(loss, dec.kernel)
        dec.kernel.assign(np.clip(dec.kernel.numpy() - 0.05 * grad.numpy(), 0, 1))
    assert offsets()[0].max() < 2.0 and float(dec._centre_loss(usage)) < 0.6 * before
    assert StampDecoder(S, K, C).centre == 0.0


def test_centre_penalty_is_off_in_the_2019_configs():
    from pathlib import Path

    from stampnet.spec import from_config

    for script in ("simple_shapes_2", "ct_mnist_2", "pedestrian"):
        text = (Path(__file__).resolve().parents[1] / f"{script}.py").read_text()
        assert "centre_penalty" not in text
    assert from_config({})[0].centre_penalty == 0.0


def test_binary_penalty_charges_grey_ink_of_the_chosen_stamps_and_pushes_it_to_0_or_1():
    """Σ_k ū_k Σ_px s(1 − s): 0 for a stamp of 0s and 1s, the hand sum for a grey one; gradient steps on the term
    alone move grey pixels towards 0 or 1; off by default and in the 2019 configs."""
    from stampnet.spec import from_config

    S, K, C = 4, 2, 3
    dec = StampDecoder(S, K, C, binary=1.0)
    kernel = np.zeros((S, S, K, 1), "float32")
    kernel[:2, :, 0] = 1.0                # stamp 0: a solid mask
    kernel[:, :, 1, 0] = [0.3, 0.6, 0.5, 0.8]  # stamp 1: grey columns
    dec.kernel.assign(kernel)
    usage = np.array([[[0.25, 0.75]]], "float32")
    grey = 4 * (0.3 * 0.7 + 0.6 * 0.4 + 0.5 * 0.5 + 0.8 * 0.2)
    assert float(dec._binary_loss(usage)) == pytest.approx(0.75 * grey, rel=1e-5)
    for _ in range(5):
        with tf.GradientTape() as tape:
            loss = dec._binary_loss(usage)
        dec.kernel.assign(np.clip(dec.kernel.numpy() - 0.1 * tape.gradient(loss, dec.kernel).numpy(), 0, 1))
    after = dec.kernel.numpy()[0, :, 1, 0]
    assert float(dec._binary_loss(usage)) < 0.9 * 0.75 * grey
    assert after[0] < 0.3 and after[1] > 0.6 and after[3] > 0.8 and np.all(dec.kernel.numpy()[..., 0, 0] == kernel[..., 0, 0])
    assert "binary_penalty" in dec.loss_terms and StampDecoder(S, K, C).binary == 0.0
    assert from_config({})[0].binary_penalty == 0.0


def test_background_shows_where_the_stamps_draw_nothing():
    from stampnet.layers import OverBackground

    stamps = np.zeros((1, 2, 2, 3), "float32")
    stamps[0, 0, 0] = [1.0, 0.0, 0.0]          # fully covered: the stamp's colour
    stamps[0, 0, 1] = [0.25, 0.25, 0.0]        # half covered: half the background shows
    colour = np.array([[0.2, 0.4, 0.6]], "float32")
    out = ops.convert_to_numpy(OverBackground()(stamps, colour))
    np.testing.assert_allclose(out[0, 0, 0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(out[0, 0, 1], [0.25 + 0.1, 0.25 + 0.2, 0.3], atol=1e-6)
    np.testing.assert_allclose(out[0, 1, 1], [0.2, 0.4, 0.6])
    assert out.max() <= 1.0


def test_background_head_is_off_in_2019_and_adds_its_own_layer_only_when_on():
    from stampnet.model import build_model
    from stampnet.spec import from_config

    cfg = {"layer_parameters": {"input_parameters": {"img_rows": 32, "img_cols": 32, "img_channels": 3},
                                "encoder_parameters": {"conv_layer_sizes": [8, 8], "final_conv_size": 16,
                                                       "final_conv_kernel": [8, 8]},
                                "decoder_parameters": {"nr_of_stamps": 3, "stamp_size": 8, "stamps_per_canvas": 2,
                                                       "decoder_enc_size": 8}}}
    plain = build_model(from_config(cfg)[0], compile=False)
    assert not any(layer.name.startswith("background") for layer in plain.layers)
    cfg["layer_parameters"]["decoder_parameters"]["background"] = True
    model = build_model(from_config(cfg)[0], compile=False)
    assert model.get_layer("background_colour") is not None
    x = np.zeros((2, 32, 32, 3), "float32")
    assert ops.convert_to_numpy(model(x)).shape == (2, 32, 32, 3)
