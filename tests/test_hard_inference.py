"""Hard inference (argmax stamps pasted, no soft maps) against the soft path at τ = 1e-4 without Gumbel noise."""
import keras
import numpy as np
import pytest

from stampnet.config import merge, validate
from stampnet.model import predict
from stampnet.model import build_model, hard_reconstruct, head_model, set_noise, set_temperature
from tests.tiny import TINY


def _model(decoder: str, sharpen: float = 1.0):
    """A tiny StampNet with random weights; ``sharpen`` scales the heads' logits (their last BatchNorm)."""
    keras.utils.set_random_seed(3)
    lp = validate(merge(TINY, {"layer_parameters": {"decoder_parameters": {"decoder": decoder}}}))["layer_parameters"]
    model = build_model(lp, compile=False)
    kernel = model.get_layer("stamp_layer").kernel  # stamps in [0, 0.6]: two slots can overlap without the clip
    kernel.assign(np.random.default_rng(0).uniform(0, 0.6, kernel.shape).astype("float32"))
    for role in ("stamp", "y", "x"):
        bn = model.get_layer(f"pre_softmax_{role}_bn")
        bn.gamma.assign(np.asarray(bn.gamma) * sharpen)
        bn.beta.assign(np.asarray(bn.beta) * sharpen)
    return model


def _images(n=16):
    return (np.random.default_rng(1).random((n, 32, 32, 1)) > 0.7).astype("float32")


def _hard_and_soft(model, images):
    soft = predict(model, images, tau=1e-4, noise=False)
    set_noise(model, False)
    set_temperature(model, 1e-4)
    recon, k, y, x = (np.asarray(a) for a in hard_reconstruct(model, head_model(model), images))
    return soft, recon, (k, y, x)


@pytest.mark.parametrize("decoder", ["separable", "conv"])
def test_hard_paste_matches_soft_path_at_low_temperature(decoder):
    model = _model(decoder)
    soft, recon, indices = _hard_and_soft(model, _images())
    for index, key in zip(indices, ("stamp_probs", "y_probs", "x_probs")):
        np.testing.assert_array_equal(index, soft[key].argmax(-1))
    assert recon.shape == soft["reconstruction"].shape
    # At τ = 1e-4 a softmax is one-hot unless two logits lie within ~1e-3 of each other, and random heads can
    # hold such a near tie. The soft canvas differs from the hard one by at most 2·max(stamp) times the
    # probability mass off the argmax placements (the clip at 1 only shrinks differences): exactly 0 where
    # the heads are decisive, and small where they are not.
    stamp_max = float(np.asarray(model.get_layer("stamp_layer").kernel).max())
    on_argmax = np.prod([soft[k].max(-1) for k in ("stamp_probs", "y_probs", "x_probs")], axis=0)  # (B, M)
    bound = 2 * stamp_max * (1 - on_argmax).sum(-1)  # (B,)
    diff = np.abs(recon - soft["reconstruction"]).max(axis=(1, 2, 3))
    assert np.all(diff <= bound + 1e-6), (diff, bound)
    decisive = bound < 1e-6
    assert decisive.mean() >= 0.5 and diff[decisive].max() <= 1e-6


def test_hard_paste_equals_soft_path_when_heads_are_decisive():
    model = _model("separable", sharpen=100.0)
    soft, recon, indices = _hard_and_soft(model, _images())
    assert min(soft[k].max(-1).min() for k in ("stamp_probs", "y_probs", "x_probs")) > 1 - 1e-6
    np.testing.assert_allclose(recon, soft["reconstruction"], atol=1e-6)
    assert recon.max() <= 1.0


def test_hard_paste_of_overlapping_slots_sums_then_clips():
    model = _model("separable")
    decoder = model.get_layer("stamp_layer")
    decoder.kernel.assign(np.full(decoder.kernel.shape, 0.7, "float32"))
    same = np.array([[1, 1]])
    pasted = np.asarray(decoder.paste(same, np.array([[3, 3]]), np.array([[2, 2]])))[0, ..., 0]
    assert pasted.max() == pytest.approx(1.0)  # 0.7 + 0.7, clipped
    assert pasted[3:11, 2:10].min() == pytest.approx(1.0) and pasted.sum() == pytest.approx(64.0)
