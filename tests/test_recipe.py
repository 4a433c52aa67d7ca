"""The training options beyond 2019 (stampnet/recipe.py): off by default, and each does what it says."""
import json
import keras
import numpy as np
import pytest

from stampnet import ConfigError
from stampnet.config import validate
from stampnet.layers import GumbelSoftmax, StampDecoder, UsageBalance
from stampnet.callbacks import StepSchedules
from stampnet.model import build_model, gumbel_layers
from stampnet.recipe import recompute_batchnorm
from stampnet.spec import from_validated, tau_schedule
from stampnet.schedules import Schedule, TauSchedule, cosine_factor, tau_from_knots, temperature_at
from stampnet.train import train
from tests.conftest import load_script
from tests.tiny import REPO_ROOT, TINY, tiny, with_

SCRIPTS = ["simple_shapes_1.py", "simple_shapes_2.py", "t_mnist_1.py", "t_mnist_2.py", "ct_mnist_1.py",
           "ct_mnist_2.py", "pedestrian.py", "omniglot.py"]


def _script_config(script):
    """The config of an experiment script (its experiment's CONFIG in stampnet/experiments/), validated."""
    from stampnet import experiments

    return validate(experiments.config(script[:-3]))


@pytest.mark.parametrize("script", SCRIPTS)
def test_options_are_off_in_every_2019_script(script):
    cfg = _script_config(script)
    lp = cfg["layer_parameters"]
    gp = lp["decoder_parameters"]["gumbel_parameters"]
    assert gp["tau_schedule"] is None and gp["straight_through_from"] is None and gp["usage_balance"] == 0
    assert all(lp["decoder_parameters"][key] == 0
               for key in ("overdraw_penalty", "overlap_penalty", "slot_ink_penalty"))
    assert lp["decoder_parameters"]["empty_stamp"] is False
    assert lp["learning_rate_decay_from"] is None and cfg["run_parameters"]["precise_bn"] == 0
    schedule = from_validated(cfg)[1].schedule
    # τ only: no straight-through, no slot-ink switch, no learning-rate decay
    assert (schedule.straight_through_from, schedule.slot_ink_penalty_from, schedule.learning_rate_decay_from) \
        == (None, None, None)
    # the 2019 exponential, step for step
    for step in (0, 1000, 50_000, 10 ** 7):
        assert schedule.tau_at(step) == temperature_at(step, gp["tau_init"], gp["anneal_rate"],
                                                       gp["min_temperature"], gp["steps_per_epoch"])
        assert not schedule.hard_at(step) and schedule.learning_rate_at(step) == lp["learning_rate"]


def test_default_model_has_no_straight_through_switch():
    model = build_model(validate(TINY)["layer_parameters"], compile=False)
    assert all(not layer.straight_through and not hasattr(layer, "hard") for layer in gumbel_layers(model))
    # no `hard` variable anywhere: weight files keep the layout they had before the option existed
    assert not any(v.path.endswith("hard") for v in model.variables)
    assert not any(isinstance(layer, UsageBalance) for layer in model.layers) and not model.losses


def test_tau_knots_are_log_linear_and_flat_outside():
    knots = [[0, 8], [0.5, 2], [1.0, 0.5]]
    assert tau_from_knots(0, knots) == 8
    assert tau_from_knots(0.25, knots) == pytest.approx(4.0)  # geometric mean of 8 and 2
    assert tau_from_knots(0.75, knots) == pytest.approx(1.0)
    assert tau_from_knots(2.0, knots) == 0.5
    assert tau_from_knots(0.3, [[0.5, 3.0]]) == 3.0


def test_cosine_factor():
    assert cosine_factor(0.5, None, 0.1) == 1.0
    assert cosine_factor(0.7, 0.8, 0.1) == 1.0
    assert cosine_factor(0.9, 0.8, 0.1) == pytest.approx(0.55)
    assert cosine_factor(1.0, 0.8, 0.1) == pytest.approx(0.1)


def test_straight_through_is_one_hot_forward_with_the_soft_gradient():
    layer = GumbelSoftmax(5, 2, tau_init=1.0, noise=False, straight_through=True)
    logits = keras.ops.convert_to_tensor(np.random.default_rng(0).normal(size=(3, 10)).astype("float32"))
    soft = np.asarray(layer(logits))
    assert not np.allclose(soft.max(-1), 1.0)  # switch off: the soft sample
    layer.hard.assign(1.0)
    hard = np.asarray(layer(logits))
    np.testing.assert_array_equal(hard, np.eye(5)[soft.argmax(-1)])

    import tensorflow as tf  # the gradient check uses the test backend (TensorFlow)

    weights = tf.constant(np.random.default_rng(1).normal(size=(3, 2, 5)).astype("float32"))

    def grad(hard_on):
        layer.hard.assign(hard_on)
        with tf.GradientTape() as tape:
            tape.watch(logits)
            out = tf.reduce_sum(layer(logits) * weights)
        return tape.gradient(out, logits).numpy()

    np.testing.assert_allclose(grad(1.0), grad(0.0), atol=1e-6)


def test_usage_balance_is_zero_for_equal_use_and_log_k_for_one_stamp():
    layer = UsageBalance(4, 2, strength=3.0)
    equal = np.zeros((2, 8), "float32")                  # every stamp equally likely in every slot
    one = np.tile(np.array([50, 0, 0, 0], "float32"), (2, 2))  # stamp 0 in both slots of both canvases
    np.testing.assert_array_equal(np.asarray(layer(equal)), equal)  # identity on the logits
    assert float(layer.losses[0]) == pytest.approx(0.0, abs=1e-5)
    layer(one)
    assert float(layer.losses[0]) == pytest.approx(3.0 * np.log(4), rel=1e-4)
    # the batch's usage counts, not one canvas': two canvases choosing different stamps are balanced
    split = np.array([[50, 0, 0, 0, 0, 50, 0, 0], [0, 0, 50, 0, 0, 0, 0, 50]], "float32")
    layer(split)
    assert float(layer.losses[0]) == pytest.approx(0.0, abs=1e-4)


def test_usage_balance_adds_its_term_to_the_training_loss():
    from stampnet.model import set_noise

    plain = build_model(validate(tiny())["layer_parameters"])
    balanced = build_model(validate(with_(
        tiny(), "layer_parameters.decoder_parameters.gumbel_parameters.usage_balance", 1000.0))["layer_parameters"])
    assert [type(layer) for layer in balanced.layers].count(UsageBalance) == 1
    for layer in plain.layers:  # the same weights: the balancing layer has none
        balanced.get_layer(layer.name).set_weights(layer.get_weights())
    for model in (plain, balanced):
        set_noise(model, False)
    x = np.random.default_rng(0).random((8, 32, 32, 1)).astype("float32")
    flat = keras.Model(plain.input, plain.get_layer("pre_softmax_stamp_flat").output)(x)  # (B, M·K)
    logits = keras.ops.convert_to_numpy(flat).reshape(8, 2, -1)                           # (B, M, K)
    p = np.exp(logits - logits.max(-1, keepdims=True))
    usage = (p / p.sum(-1, keepdims=True)).mean((0, 1))
    term = 1000.0 * (np.log(usage.size) + (usage * np.log(usage)).sum())
    logs = balanced.evaluate(x, x, batch_size=8, verbose=0, return_dict=True)
    gap = logs["loss"] - plain.evaluate(x, x, batch_size=8, verbose=0, return_dict=True)["loss"]
    assert term > 0.01 and gap == pytest.approx(term, rel=0.02)
    assert logs["usage_balance"] == pytest.approx(term, rel=0.02)   # logged under its own name


def _two_slots_on_one_place(decoder, stamps):
    """Slot m draws stamp ``stamps[m]`` (one-hot), both slots with the upper-left corner at (1, 1)."""
    K, C = decoder.nr_of_stamps, decoder.coord_size
    p = np.eye(K, dtype="float32")[[list(stamps)]]                          # (1, 2, K)
    y = np.eye(C, dtype="float32")[[[1, 1]]]                                # (1, 2, C)
    return p, y


def test_overdraw_penalty_is_the_ink_the_clip_discards():
    """Two slots on one place: with the same stamp (0.7 everywhere) the clip discards 0.4 per pixel of its
    S×S square, and the penalty is λ times that; with an empty second stamp nothing is discarded and the
    penalty is 0. λ = 0 (2019) adds no loss at all; the drawn canvas is the same either way."""
    S, K, C = 3, 2, 5
    kernel = np.zeros((S, S, K, 1), "float32")
    kernel[..., 0, 0] = 0.7                                                  # stamp 1 stays empty
    layers = {lam: StampDecoder(S, K, C, overdraw=lam) for lam in (0.0, 2.5)}
    for layer in layers.values():
        layer.build(None)
        layer.kernel.assign(kernel)
    canvases = {}
    for lam, layer in layers.items():
        p, y = _two_slots_on_one_place(layer, (0, 0))
        canvases[lam] = keras.ops.convert_to_numpy(layer(p, y, y))
    np.testing.assert_array_equal(canvases[0.0], canvases[2.5])
    assert layers[0.0].losses == []
    assert float(layers[2.5].losses[0]) == pytest.approx(2.5 * S * S * 0.4, rel=1e-5)
    p, y = _two_slots_on_one_place(layers[2.5], (0, 1))
    layers[2.5](p, y, y)
    assert float(layers[2.5].losses[0]) == pytest.approx(0.0, abs=1e-6)


def test_overdraw_penalty_drives_a_redrawn_stamp_towards_empty():
    """Under the clip alone a second slot redrawing the same object gets no gradient where the canvas is
    saturated, so nothing pushes its stamp down; with the penalty the gradient on both overlapping stamps is
    positive everywhere (descent lowers their ink)."""
    import tensorflow as tf  # the gradient tape; the backend tests cover JAX and PyTorch training

    S, K, C = 3, 2, 5
    kernel = np.full((S, S, K, 1), 0.8, "float32")
    grads = {}
    for lam in (0.0, 1.0):
        layer = StampDecoder(S, K, C, overdraw=lam)
        layer.build(None)
        layer.kernel.assign(kernel)
        p, y = _two_slots_on_one_place(layer, (0, 1))
        target = np.zeros((1, C + S - 1, C + S - 1, 1), "float32")
        target[0, 1:1 + S, 1:1 + S] = 1.0                                    # one object, already covered
        with tf.GradientTape() as tape:
            out = layer(p, y, y)
            loss = tf.reduce_sum(tf.square(out - target)) + tf.add_n(layer.losses or [tf.constant(0.0)])
        grads[lam] = tape.gradient(loss, layer.kernel).numpy()
    np.testing.assert_array_equal(grads[0.0], 0.0)   # saturated: the clip passes no gradient
    assert (grads[1.0] > 0).all()                    # the penalty: lower both overlapping stamps' ink


def _split_and_empty_losses(**penalty):
    """Training losses (squared error + penalty) of one object (an S×S square of ink 1) drawn by two slots on
    one place in two ways that reconstruct it exactly: half the ink in each slot (stamps 0 and 1 both 0.5),
    and all of it in one slot with an empty stamp in the other (stamp 0 at 1, stamp 1 empty)."""
    S, K, C = 3, 2, 5
    target = np.zeros((1, C + S - 1, C + S - 1, 1), "float32")
    target[0, 1:1 + S, 1:1 + S] = 1.0
    losses = {}
    for name, ink in (("split", (0.5, 0.5)), ("empty", (1.0, 0.0))):
        layer = StampDecoder(S, K, C, **penalty)
        layer.build(None)
        kernel = np.zeros((S, S, K, 1), "float32")
        kernel[..., 0, 0], kernel[..., 1, 0] = ink
        layer.kernel.assign(kernel)
        p, y = _two_slots_on_one_place(layer, (0, 1))
        out = keras.ops.convert_to_numpy(layer(p, y, y))
        losses[name] = float(np.sum((out - target) ** 2)) + sum(float(v) for v in layer.losses)
    return losses


def test_overdraw_cannot_tell_a_split_object_from_an_empty_slot_and_overlap_can():
    """Both ways of drawing one object with two slots reconstruct it exactly and overdraw nothing, so the
    overdraw penalty (the README's measured failure) leaves them tied; the overlap penalty charges the split
    λ · 0.5 · 0.5 per pixel of the S×S square and the empty slot nothing."""
    plain = _split_and_empty_losses()
    assert plain["split"] == pytest.approx(0.0, abs=1e-6) and plain["empty"] == pytest.approx(0.0, abs=1e-6)
    overdraw = _split_and_empty_losses(overdraw=2.0)
    assert overdraw["split"] == pytest.approx(overdraw["empty"], abs=1e-6)
    overlap = _split_and_empty_losses(overlap=2.0)
    assert overlap["split"] == pytest.approx(2.0 * 9 * 0.25, rel=1e-5)
    assert overlap["empty"] == pytest.approx(0.0, abs=1e-6)


def test_slot_ink_charges_a_split_object_in_intensity_or_in_space_more_than_an_empty_slot():
    """The concave per-slot cost λ · Σ_m (√(1 + ink_m) − 1): the half-and-half split of the 9-pixel square
    (ink 4.5 per slot) costs more than one full stamp (ink 9) beside an empty one, and so does a split in
    space, which shares no pixel (the overlap penalty's measured failure): two slots drawing the two halves
    of a 3×6 bar side by side against one slot drawing the whole bar."""
    ink = _split_and_empty_losses(slot_ink=2.0)
    assert ink["split"] == pytest.approx(2.0 * 2 * (np.sqrt(5.5) - 1), rel=1e-5)
    assert ink["empty"] == pytest.approx(2.0 * (np.sqrt(10.0) - 1), rel=1e-5)
    assert ink["split"] > ink["empty"]
    S, K, C = 3, 2, 8
    layer = StampDecoder(S, K, C, slot_ink=2.0)
    layer.build(None)
    kernel = np.zeros((S, S, K, 1), "float32")
    kernel[..., 0, 0] = 1.0                                                  # stamp 0: a full 3×3 square
    layer.kernel.assign(kernel)
    p = np.eye(K, dtype="float32")[[[0, 0]]]                                 # both slots stamp 0 ...
    y = np.eye(C, dtype="float32")[[[1, 1]]]
    x = np.eye(C, dtype="float32")[[[1, 4]]]                                 # ... side by side: a 3×6 bar
    layer(p, y, x)
    in_space = float(layer.losses[0])
    assert in_space == pytest.approx(2.0 * 2 * (np.sqrt(10.0) - 1), rel=1e-5)
    assert in_space > 2.0 * (np.sqrt(19.0) - 1)                              # one slot drawing ink 18


def test_slot_ink_switch_stops_the_term_and_stays_out_of_weight_files(tmp_path):
    """Switched off (as the step schedules hold it before its start) the term adds nothing; the switch is
    run-time state, so a penalised model's weight file loads into a plain one and back."""
    S, K, C = 3, 2, 5
    layer = StampDecoder(S, K, C, slot_ink=2.0)
    layer.build(None)
    layer.kernel.assign(np.full((S, S, K, 1), 0.5, "float32"))
    p, y = _two_slots_on_one_place(layer, (0, 1))
    layer(p, y, y)
    assert float(layer.losses[0]) == pytest.approx(2.0 * 2 * (np.sqrt(1 + 4.5) - 1), rel=1e-5)
    layer.slot_ink_on.assign(0.0)
    layer(p, y, y)
    assert float(layer.losses[0]) == 0.0
    lp = validate(tiny())["layer_parameters"]
    plain = build_model(lp)
    penalised = build_model(validate(with_(tiny(), "layer_parameters.decoder_parameters.slot_ink_penalty", 2.0))
                            ["layer_parameters"])
    penalised.save_weights(tmp_path / "penalised.weights.h5")
    plain.load_weights(tmp_path / "penalised.weights.h5")
    plain.save_weights(tmp_path / "plain.weights.h5")
    penalised.load_weights(tmp_path / "plain.weights.h5")
    for a, b in zip(plain.get_weights(), penalised.get_weights()):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("decoder", ["separable", "conv"])
def test_empty_stamp_is_one_more_choice_that_draws_nothing(decoder):
    """With ``empty_stamp`` the stamp distributions have K + 1 choices; the last draws nothing (soft and
    hard), inks nothing, and a slot moving its probability to it draws proportionally less. The kernel
    keeps its (S, S, K, 1) shape: the empty stamp is not a weight."""
    S, K, C = 3, 2, 5
    layer = StampDecoder(S, K, C, decoder=decoder, slot_ink=2.0, empty_stamp=True)
    layer.build(None)
    assert layer.n_choices == K + 1 and tuple(layer.kernel.shape) == (S, S, K, 1)
    layer.kernel.assign(np.full((S, S, K, 1), 0.8, "float32"))
    drawn = keras.ops.convert_to_numpy(layer.stamps())
    assert drawn.shape == (K + 1, S, S) and not drawn[K].any() and (drawn[:K] == 0.8).all()
    y = np.eye(C, dtype="float32")[[[0, 4]]]                                 # (1, 2, C): apart
    one_full = np.eye(K + 1, dtype="float32")[[[0, K]]]                      # slot 0 stamp 0, slot 1 empty
    out = keras.ops.convert_to_numpy(layer(one_full, y, y))[0, ..., 0]
    assert out.sum() == pytest.approx(0.8 * S * S) and (out[:S, :S] == 0.8).all()
    assert float(layer.losses[0]) == pytest.approx(2.0 * (np.sqrt(1 + 0.8 * S * S) - 1), rel=1e-5)
    pasted = keras.ops.convert_to_numpy(layer.paste(np.array([[0, K]]), np.array([[0, 4]]), np.array([[0, 4]])))
    np.testing.assert_allclose(pasted[0, ..., 0], out, atol=1e-6)
    half = np.array([[[1, 0, 0], [0.5, 0, 0.5]]], "float32")                 # slot 1: half stamp 0, half empty
    out = keras.ops.convert_to_numpy(layer(half, y, y))[0, ..., 0]
    assert out[4:, 4:] == pytest.approx(np.full((S, S), 0.4))
    plain = StampDecoder(S, K, C, decoder=decoder)
    assert plain.n_choices == K and not plain.empty_stamp


@pytest.mark.slow
def test_empty_stamp_model_has_one_more_stamp_choice_and_trains(tmp_path, capsys):
    """In a whole model: the stamp head outputs K + 1 choices per slot, a tiny run trains and saves its
    figures, and the option is part of the saved model config."""
    from stampnet.model import analysis_model, stamps

    cfg = tiny(epochs=1, steps_per_epoch=2, validation_steps=1)
    cfg["layer_parameters"]["decoder_parameters"].update(empty_stamp=True, slot_ink_penalty=1.0)
    cfg["run_parameters"]["img_type_parameters"]["nr_img_per_canvas"] = 1   # fewer objects than slots
    model = build_model(validate(cfg)["layer_parameters"])
    K = validate(cfg)["layer_parameters"]["decoder_parameters"]["nr_of_stamps"]
    x = np.random.default_rng(0).random((2, 32, 32, 1)).astype("float32")
    assert analysis_model(model).predict(x, verbose=0)["stamp_probs"].shape[-1] == K + 1
    assert stamps(model).shape[0] == K + 1 and not stamps(model)[K].any()
    train(cfg, tmp_path)
    assert (tmp_path / "figures" / "stamps.png").stat().st_size > 1000
    # scripts/slots_per_class.py: per class, the shares of canvases on which no, one, or more slots draw
    (tmp_path / "config.json").write_text(json.dumps(cfg))   # as Sacred's observer writes it
    capsys.readouterr()
    load_script("scripts/slots_per_class.py").main([str(tmp_path), "--n", "8"])
    stdout = capsys.readouterr().out
    rows = {line.split()[0]: [float(v) for v in line.split()[2:]] for line in stdout.splitlines()
            if line.split() and line.split()[0] in {"0", "1", "2", "all"}}
    assert "all" in rows and len(rows) >= 2 and all(abs(sum(v) - 1) < 1e-3 for v in rows.values()), stdout
    assert stdout.splitlines()[-1].count(" ") == K + 1 + 3   # "brightest pixel per stamp:" and K + 1 values


def test_overlap_penalty_is_the_ink_slots_share_and_zero_for_one_slot():
    """Two slots redrawing stamp 0 (ink 0.7) on one place share 0.7 · 0.7 per pixel, as much as three slots
    would share pairwise three times; the canvas drawn is the same with and without the term."""
    S, K, C = 3, 2, 5
    kernel = np.zeros((S, S, K, 1), "float32")
    kernel[..., 0, 0] = 0.7
    layers = {lam: StampDecoder(S, K, C, overlap=lam) for lam in (0.0, 1.5)}
    canvases = {}
    for lam, layer in layers.items():
        layer.build(None)
        layer.kernel.assign(kernel)
        p, y = _two_slots_on_one_place(layer, (0, 0))
        canvases[lam] = keras.ops.convert_to_numpy(layer(p, y, y))
    np.testing.assert_array_equal(canvases[0.0], canvases[1.5])
    assert layers[0.0].losses == []
    assert float(layers[1.5].losses[0]) == pytest.approx(1.5 * S * S * 0.49, rel=1e-5)
    p3 = np.eye(K, dtype="float32")[[[0, 0, 0]]]                             # (1, 3, K): three slots, stamp 0
    y3 = np.eye(C, dtype="float32")[[[1, 1, 1]]]
    layers[1.5](p3, y3, y3)
    assert float(layers[1.5].losses[0]) == pytest.approx(1.5 * 3 * S * S * 0.49, rel=1e-5)
    layers[1.5](p3[:, :1], y3[:, :1], y3[:, :1])                               # one slot shares nothing
    assert float(layers[1.5].losses[0]) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("key", ["overdraw_penalty", "overlap_penalty", "slot_ink_penalty"])
def test_decoder_penalty_adds_to_the_training_loss(key, tmp_path):
    """In a whole model the term is added to the loss Keras trains and evaluates on."""
    plain = build_model(validate(tiny())["layer_parameters"])
    penalised = build_model(validate(with_(
        tiny(), f"layer_parameters.decoder_parameters.{key}", 5.0))["layer_parameters"])
    plain.save_weights(tmp_path / "plain.weights.h5")  # a weight file: the slot-ink switch is not in it
    penalised.load_weights(tmp_path / "plain.weights.h5")
    from stampnet.model import set_noise
    for model in (plain, penalised):
        set_noise(model, False)
        # stamps of ink 20 (far above the unit interval training keeps): the blurred soft draws exceed 1
        model.get_layer("stamp_layer").kernel.assign(np.full(model.get_layer("stamp_layer").kernel.shape, 20.0))
    x = np.random.default_rng(0).random((8, 32, 32, 1)).astype("float32")
    logs = penalised.evaluate(x, x, batch_size=8, verbose=0, return_dict=True)
    gap = logs["loss"] - plain.evaluate(x, x, batch_size=8, verbose=0, return_dict=True)["loss"]
    # the expected term, from the heads' soft choices drawn without the clip
    heads = keras.Model(plain.input, [plain.get_layer(f"softmax_{r}").output for r in ("stamp", "y", "x")])
    slots = keras.ops.convert_to_numpy(plain.get_layer("stamp_layer").slot_drawings(*heads(x)))[..., 0]  # (B, M, H, W)
    if key == "overdraw_penalty":
        per_canvas = np.maximum(slots.sum(1) - 1.0, 0).sum(axis=(1, 2))
    elif key == "overlap_penalty":
        per_canvas = (slots[:, 0] * slots[:, 1]).sum(axis=(1, 2))           # the tiny model has 2 slots
    else:
        per_canvas = (np.sqrt(1.0 + slots.sum(axis=(2, 3))) - 1.0).sum(axis=1)  # each slot's drawn ink
    term = 5.0 * per_canvas.mean()
    assert term > 1.0 and gap == pytest.approx(term, rel=1e-3)
    assert sorted(logs) == sorted(["loss", "reconstruction", key])  # the only term, logged under its own name
    assert logs[key] == pytest.approx(term, rel=1e-3)


def test_config_rejects_bad_recipe_values():
    with pytest.raises(ConfigError, match="tau_schedule"):
        validate({"layer_parameters": {"decoder_parameters": {"gumbel_parameters": {
            "tau_schedule": [[0.5, 2], [0.2, 1]]}}}})
    with pytest.raises(ConfigError, match="tau_schedule"):
        validate({"layer_parameters": {"decoder_parameters": {"gumbel_parameters": {"tau_schedule": [[0, 0]]}}}})
    with pytest.raises(ConfigError, match="straight_through_from"):
        validate({"layer_parameters": {"decoder_parameters": {"gumbel_parameters": {"straight_through_from": 2}}}})
    with pytest.raises(ConfigError, match="usage_balance"):
        validate({"layer_parameters": {"decoder_parameters": {"gumbel_parameters": {"usage_balance": -1}}}})
    with pytest.raises(ConfigError, match="overdraw_penalty"):
        validate({"layer_parameters": {"decoder_parameters": {"overdraw_penalty": "yes"}}})
    with pytest.raises(ConfigError, match="overlap_penalty"):
        validate({"layer_parameters": {"decoder_parameters": {"overlap_penalty": -0.5}}})
    with pytest.raises(ConfigError, match="slot_ink_penalty"):
        validate({"layer_parameters": {"decoder_parameters": {"slot_ink_penalty": [1]}}})
    with pytest.raises(ConfigError, match="slot_ink_penalty_from"):
        validate({"layer_parameters": {"decoder_parameters": {"slot_ink_penalty": 1, "slot_ink_penalty_from": -1}}})
    with pytest.raises(ConfigError, match="slot_ink_penalty > 0 too"):
        validate({"layer_parameters": {"decoder_parameters": {"slot_ink_penalty_from": 0.5}}})
    with pytest.raises(ConfigError, match="centre_penalty_from"):
        validate({"layer_parameters": {"decoder_parameters": {"centre_penalty": 10, "centre_penalty_from": 2}}})
    with pytest.raises(ConfigError, match="centre_penalty > 0 too"):
        validate({"layer_parameters": {"decoder_parameters": {"centre_penalty_from": 0.5}}})
    with pytest.raises(ConfigError, match="empty_stamp=True"):
        validate({"layer_parameters": {"decoder_parameters": {"empty_stamp": "yes"}}})
    with pytest.raises(ConfigError, match="learning_rate_decay_from"):
        validate({"layer_parameters": {"learning_rate_decay_from": "late"}})
    for bad in (-1, 1.5, True):
        with pytest.raises(ConfigError, match="run_parameters.precise_bn"):
            validate({"run_parameters": {"precise_bn": bad}})


@pytest.mark.slow
def test_recipe_in_a_tiny_run_follows_its_schedules(tmp_path):
    cfg = tiny(epochs=4, steps_per_epoch=4, validation_steps=1, checkpoint_period=2)
    gp = cfg["layer_parameters"]["decoder_parameters"]["gumbel_parameters"]
    gp.update(tau_schedule=[[0, 4.0], [0.5, 1.0], [1.0, 0.25]], straight_through_from=0.75)
    cfg["layer_parameters"].update(learning_rate_decay_from=0.5, learning_rate_decay_to=0.1)
    cfg["layer_parameters"]["decoder_parameters"].update(slot_ink_penalty=1.0, slot_ink_penalty_from=0.5,
                                                         centre_penalty=1.0, centre_penalty_from=0.75)
    logged = {}
    train(cfg, tmp_path, log_scalar=lambda name, value, step: logged.setdefault(name, []).append(value))
    total = 16
    # τ / lr / hard are set at the start of each step; the epoch logs show the last step's (4·e − 1)
    for e, tau in enumerate(logged["tau"], start=1):
        assert tau == pytest.approx(tau_from_knots((4 * e - 1) / total, gp["tau_schedule"]), rel=1e-5)
    assert logged["hard"] == [0.0, 0.0, 0.0, 1.0]  # on from step 12 = 0.75 · 16
    assert logged["slot_ink"] == [0.0, 0.0, 1.0, 1.0]  # on from step 8 = 0.5 · 16
    # the term itself, logged apart from its switch: nothing while off, then part of the loss
    assert logged["slot_ink_penalty"][:2] == [0.0, 0.0] and min(logged["slot_ink_penalty"][2:]) > 0
    assert logged["centre"] == [0.0, 0.0, 0.0, 1.0]  # on from step 12 = 0.75 · 16
    assert logged["centre_penalty"][:3] == [0.0, 0.0, 0.0] and logged["centre_penalty"][3] > 0
    assert logged["lr"][0] == pytest.approx(0.002)
    assert logged["lr"][-1] == pytest.approx(0.002 * cosine_factor(15 / 16, 0.5, 0.1), rel=1e-5)


def test_the_schedules_resume_from_the_step_counter():
    lp = validate(TINY)["layer_parameters"]
    gp = {**lp["decoder_parameters"]["gumbel_parameters"], "tau_schedule": [[0, 4.0], [1.0, 1.0]]}
    schedule = Schedule(tau_schedule(gp), 100, 0.002, learning_rate_decay_from=0.5,
                        learning_rate_decay_to=0.1)
    model = build_model(lp, learning_rate=schedule.optimizer_learning_rate())
    model.optimizer.iterations.assign(90)  # as after restoring a run 90 steps in
    callback = StepSchedules(schedule)
    callback.set_model(model)
    callback.on_train_begin()
    callback.on_train_batch_begin(0)
    assert float(gumbel_layers(model)[0].temperature.numpy()) == pytest.approx(tau_from_knots(0.9, gp["tau_schedule"]))
    assert float(model.optimizer.learning_rate.numpy()) == pytest.approx(0.002 * cosine_factor(0.9, 0.5, 0.1))


def test_the_decaying_learning_rate_is_the_schedules_on_every_step():
    schedule = Schedule(TauSchedule(7.0, 0.01, 0.2, 10), 100, 0.002, learning_rate_decay_from=0.37,
                        learning_rate_decay_to=0.1)
    rate = schedule.optimizer_learning_rate()
    assert isinstance(rate, keras.optimizers.schedules.LearningRateSchedule)
    got = [float(rate(step)) for step in range(0, 120)]  # past the end: the last value
    assert got == [float(np.float32(schedule.learning_rate_at(min(step, 100)))) for step in range(0, 120)]
    assert Schedule(schedule.tau, 100, 0.002).optimizer_learning_rate() == 0.002  # constant: Keras' variable


@pytest.mark.parametrize("script", SCRIPTS)
def test_fast_recipe_on_every_script(script):
    """`with fast` on every experiment: a valid config, its knots of τ, straight-through and learning-rate decay,
    hard samples and τ = 1 over the second half, and at most 1.0 M training canvases with the script's batch."""
    from sacred.utils import recursive_update

    from stampnet.experiments import NAMED_CONFIGS

    fast = NAMED_CONFIGS["fast"].config
    cfg = validate(recursive_update(_script_config(script), fast))
    model_spec, spec = from_validated(cfg)
    s = spec.schedule
    gp = cfg["layer_parameters"]["decoder_parameters"]["gumbel_parameters"]
    total = spec.epochs * spec.steps_per_epoch
    assert s.tau.knots is not None and s.learning_rate_decay_from == 0.8
    assert s.tau_at(0) == pytest.approx(7) and s.tau_at(total // 2) == pytest.approx(2)
    assert s.tau_at(total) == pytest.approx(1) and gp["straight_through_from"] == 0.5
    assert not s.hard_at(total // 2 - 1) and s.hard_at(total // 2)
    assert total * spec.batch_size <= 1_000_000
    assert spec.precise_bn == spec.steps_per_epoch * spec.batch_size  # one epoch's canvases


def _norms_and_drops(model):
    return ([layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)],
            [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)])


def _batch_moments(model, images):
    """Each BatchNorm layer's batch mean and variance over ``images``, in training mode with dropout off."""
    norms, drops = _norms_and_drops(model)
    rates = [layer.rate for layer in drops]
    for layer in drops:
        layer.rate = 0.0
    inputs = keras.Model(model.input, [layer.input for layer in norms])(images, training=True)
    for layer, rate in zip(drops, rates):
        layer.rate = rate
    axes = lambda x: tuple(range(len(x.shape) - 1))  # noqa: E731
    return [(np.mean(x, axes(x)), np.var(x, axes(x))) for x in map(keras.ops.convert_to_numpy, inputs)]


def test_recompute_batchnorm_sets_the_statistics_of_the_network_without_dropout():
    """One batch: every BatchNorm layer's moving mean and variance become the batch statistics its input has
    when dropout is off; the momenta and dropout rates are as before; no weight changes."""
    model = build_model(validate(TINY)["layer_parameters"], compile=False)
    images = np.random.default_rng(0).random((16, 32, 32, 1)).astype("float32")
    norms, drops = _norms_and_drops(model)
    assert len(norms) == 9 and len(drops) == 3 and all(layer.rate == 0.2 for layer in drops)
    weights = [keras.ops.convert_to_numpy(w) for w in model.trainable_weights]
    expected = _batch_moments(model, images)
    assert recompute_batchnorm(model, images, canvases=16, batch_size=16) == 16
    for layer, (mean, var) in zip(norms, expected):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_mean), mean, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(layer.moving_variance), var, rtol=1e-4, atol=1e-5)
    assert [layer.momentum for layer in norms] == [0.99] * 6 + [0.8] * 3
    assert all(layer.rate == 0.2 for layer in drops)
    for before, after in zip(weights, model.trainable_weights):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after))


def test_recompute_batchnorm_averages_batches_and_dropout_shifts_the_variance():
    model = build_model(validate(TINY)["layer_parameters"], compile=False)
    images = np.random.default_rng(1).random((32, 32, 32, 1)).astype("float32")
    norms, _ = _norms_and_drops(model)
    assert recompute_batchnorm(model, images, canvases=32, batch_size=8) == 32  # 4 batches of 8, equal weights
    # The first BatchNorm sees conv → LeakyReLU of the image alone: its mean is the mean over all 32 canvases.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(norms[0].moving_mean), _batch_moments(model, images)[0][0],
                               rtol=1e-4, atol=1e-5)
    without = keras.ops.convert_to_numpy(norms[1].moving_variance)
    recompute_batchnorm(model, images, canvases=32, batch_size=8, dropout=True)  # the control: as training saw it
    with_dropout = keras.ops.convert_to_numpy(norms[1].moving_variance)
    # The second block's BatchNorm follows a dropout layer (rate 0.2, kept units scaled by 1/0.8): its statistics
    # with dropout are those of a wider distribution than evaluation feeds it (Li et al. 2019).
    assert np.mean(with_dropout) > 1.1 * np.mean(without)


@pytest.mark.slow
def test_precise_bn_in_a_tiny_run_saves_the_recomputed_statistics(tmp_path):
    """With run_parameters.precise_bn the final weights carry statistics without dropout: recomputing them again
    on the same canvases changes nothing (as trained, they would move)."""
    from stampnet.data import load_data
    from stampnet.data.pipeline import split_train_validation

    cfg = tiny(epochs=2, steps_per_epoch=4, validation_steps=1, checkpoint_period=1, precise_bn=32)
    result = train(cfg, tmp_path)
    assert result["precise_bn"] == 32 and np.isfinite(result["val_loss_precise_bn"])
    cfg_v = validate(cfg)
    splits = load_data(cfg_v["run_parameters"], cfg_v["layer_parameters"]["input_parameters"], cfg_v["seed"])
    images = split_train_validation(splits.train, 4, 1, 8, seed=cfg_v["seed"])[0].images

    def statistics(weights):
        model = build_model(cfg_v["layer_parameters"], compile=False)
        model.load_weights(weights)
        norms, _ = _norms_and_drops(model)
        before = [keras.ops.convert_to_numpy(layer.moving_variance) for layer in norms]
        recompute_batchnorm(model, images, 32, seed=cfg_v["seed"])
        return before, [keras.ops.convert_to_numpy(layer.moving_variance) for layer in norms]

    saved, again = statistics(result["weights"])
    for a, b in zip(saved, again):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    as_trained, recomputed = statistics(str(next((tmp_path / "trained").glob("weights.01-*"))))
    assert max(np.max(np.abs(a - b)) for a, b in zip(as_trained, recomputed)) > 1e-3


@pytest.mark.parametrize("script", SCRIPTS + ["folder.py"])
@pytest.mark.parametrize("named", ["quick", "cpu", "fast"])
def test_every_named_config_fits_every_script(script, named):
    """Each named config is a valid config on every experiment (its keys reach every loader), and the
    experiment's Sacred named config is the same data."""
    from sacred.utils import recursive_update

    from stamp_network import ex
    from stampnet.experiments import NAMED_CONFIGS

    updates = NAMED_CONFIGS[named].config
    assert {k: v for k, v in ex.named_configs[named]().items() if k != "__doc__"} == updates
    validate(recursive_update(_script_config(script), updates))
