"""Build StampNet (the 2019 architecture) and reach into it: analysis outputs, τ, noise, stamps, hard inference."""
from __future__ import annotations

import weakref
from typing import Optional

import keras
import numpy as np
from keras import layers

from stampnet.layers import (BatchNorm, ColourChoice, CoordinateMap, GumbelSoftmax, OverBackground, PairedChoice,
                             StampDecoder, UsageBalance, sum_squared_error)
from stampnet.spec import ModelSpec

LEAKY_SLOPE = 0.3  # Keras 2's LeakyReLU default, used throughout the 2019 model


def conv_block(x, filters, kernel, padding, dropout, name, pool):
    """Conv → LeakyReLU → BatchNorm → Dropout (→ MaxPool 2×2): the 2019 ``conv_layer``."""
    x = layers.Conv2D(filters, kernel, padding=padding, name=f"{name}_conv")(x)
    x = layers.LeakyReLU(LEAKY_SLOPE, name=f"{name}_act")(x)
    x = BatchNorm(name=f"{name}_bn")(x)
    x = layers.Dropout(dropout, name=f"{name}_dropout")(x)
    if pool:
        x = layers.MaxPooling2D(2, padding="same", name=f"{name}_pool")(x)
    return x


def encoder(image, spec: ModelSpec):
    """Convolutional encoder down to a 1×1 latent; (B, H, W, 1) → (B, 1, 1, final_conv_size)."""
    x = image
    for i, filters in enumerate(spec.conv_layer_sizes, start=1):
        x = conv_block(x, filters, spec.conv_kernel, "same", spec.dropout, f"encoder_{i}", pool=True)
    return conv_block(x, spec.final_conv_size, spec.final_conv_kernel, "valid", spec.dropout, "latent", pool=False)


def _encoding(latent, size, role):
    """1×1 conv with LeakyReLU, then BatchNorm: the per-head 'dense' encoding; (B, 1, 1, size)."""
    x = layers.Conv2D(size, 1, name=f"{role}_encoding")(latent)
    x = layers.LeakyReLU(LEAKY_SLOPE, name=f"{role}_encoding_act")(x)
    return BatchNorm(name=f"{role}_encoding_bn")(x)


def _gumbel_head(encoding, size, spec: ModelSpec, role):
    """1×1 conv to M·size logits → LeakyReLU → BatchNorm(0.8) → flatten → Gumbel softmax; (B, M, size).
    The stamp head's logits pass the usage-balancing term when the spec sets one (off in 2019)."""
    x = layers.Conv2D(size * spec.slots, 1, name=f"pre_softmax_{role}")(encoding)
    x = layers.LeakyReLU(LEAKY_SLOPE, name=f"pre_softmax_{role}_act")(x)
    x = BatchNorm(momentum=0.8, name=f"pre_softmax_{role}_bn")(x)
    x = layers.Flatten(name=f"pre_softmax_{role}_flat")(x)                    # (B, M·size)
    if role == "stamp" and spec.usage_balance:
        x = UsageBalance(size, spec.slots, spec.usage_balance, name="usage_balance")(x)  # adds to the loss
    return GumbelSoftmax(size, spec.slots, tau_init=spec.tau_init, name=f"softmax_{role}",
                         straight_through=spec.straight_through)(x)


@keras.saving.register_keras_serializable(package="stampnet")
class StampNet(keras.Model):
    """The functional model of :func:`build_model`; its training logs every term of its loss. Besides ``loss``:
    ``reconstruction`` (the batch mean of :func:`~stampnet.layers.sum_squared_error`, the loss of 2019) and each
    penalty its layers add (their ``loss_terms``, e.g. ``overdraw_penalty``), each a ``keras.metrics.Mean``
    updated in :meth:`compute_loss`, where Keras carries metrics through the compiled step on every backend
    (JAX's stateless one included); evaluation gives their ``val_`` twins. The loss is Keras' own, unchanged;
    metrics hold no weights, so weight files keep their layout."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # In the order of ``self.losses``: layer by layer, each layer's terms in the order it adds them.
        self.loss_terms = ["reconstruction"] + [name for layer in self.layers for name in getattr(layer, "loss_terms", ())]
        self.term_trackers = [keras.metrics.Mean(name=name) for name in self.loss_terms]

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss = super().compute_loss(x, y, y_pred, sample_weight, training)
        penalties = self.losses  # none in Keras' symbolic build on JAX, which runs no forward pass
        if penalties and len(penalties) != len(self.loss_terms) - 1:
            raise RuntimeError(f"the model added {len(penalties)} loss terms, its layers name "
                               f"{self.loss_terms[1:]}")
        ops = keras.ops
        sse = sum_squared_error(y, y_pred)                                        # (B,)
        batch = ops.shape(sse)[0]
        values = [ops.sum(sse) / ops.cast(batch, sse.dtype)] + [ops.sum(term) for term in penalties]
        for tracker, value in zip(self.term_trackers, values):
            tracker.update_state(value, sample_weight=batch)  # weighted as Keras weighs ``loss``
        return loss


def build_model(spec: ModelSpec | dict, compile: bool = True, jit_compile=False, learning_rate=None) -> keras.Model:
    """StampNet as a Keras model: canvas (B, H, W, Ch) → reconstruction (B, H, W, Ch); Ch = img_channels (1 in
    2019; more gives colour stamps, or, with ``spec.colour_choices`` P > 0, grey stamps and a fourth Gumbel head
    per slot choosing one of P learned colours, :class:`~stampnet.layers.ColourChoice`).

    ``spec``: a :class:`~stampnet.spec.ModelSpec`, or the 2019 ``layer_parameters`` (validated into one).
    ``jit_compile``: True, False or "auto" (Keras' choice: XLA with JAX and on GPUs, not with TensorFlow on a
    CPU). ``learning_rate``: Nadam's, a float or a Keras ``LearningRateSchedule`` (training passes its
    schedule's, :meth:`stampnet.schedules.Schedule.optimizer_learning_rate`); default the spec's constant one.
    The stamp distributions, coordinate distributions and coordinate maps are reachable through
    :func:`analysis_model`. Layer roles and weight shapes are those of 2019 (see ``stampnet.legacy``).
    """
    if not isinstance(spec, ModelSpec):
        spec = ModelSpec.from_layer_parameters(spec)
    K, C = spec.n_stamps, spec.coord_size

    image = keras.Input((spec.image_size, spec.image_size, spec.channels), name="main_input")
    latent = encoder(image, spec)                                                 # (B, 1, 1, F)
    # Encodings in the 2019 creation order: stamp, y, x.
    enc = {role: _encoding(latent, spec.encoding_size, role) for role in ("stamp", "y", "x")}
    # Gumbel heads in the 2019 creation order: y, x, stamp.
    y_probs = _gumbel_head(enc["y"], C, spec, "y")                                # (B, M, C)
    x_probs = _gumbel_head(enc["x"], C, spec, "x")                                # (B, M, C)
    # With the empty stamp (off in 2019) the stamp head has one more choice, drawing nothing.
    stamp_probs = _gumbel_head(enc["stamp"], K + spec.empty_stamp, spec, "stamp")  # (B, M, K [+ 1])
    P = spec.colour_choices
    decoded = StampDecoder(spec.stamp_size, K, C, decoder=spec.decoder, overdraw=spec.overdraw_penalty,
                           overlap=spec.overlap_penalty, slot_ink=spec.slot_ink_penalty,
                           centre=spec.centre_penalty, binary=spec.binary_penalty, channels=1 if P else spec.channels,
                           empty_stamp=spec.empty_stamp, per_slot=bool(P),
                           name="stamp_layer")(stamp_probs, y_probs, x_probs)     # (B, H, W, Ch) or (B, M, H, W, 1)
    if P:  # grey stamps, each slot's drawing in the colour its own head picks (off in 2019)
        colour_probs = _gumbel_head(_encoding(latent, spec.encoding_size, "colour"), P, spec, "colour")  # (B, M, P)
        decoded = ColourChoice(P, spec.channels, name="colour_choice")(decoded, colour_probs)  # (B, H, W, Ch)
    if spec.background:  # a colour per canvas from the latent, shown where the stamps draw nothing (off in 2019)
        colour = layers.Conv2D(spec.channels, 1, activation="sigmoid", name="background_colour")(latent)
        colour = layers.Flatten(name="background_colour_flat")(colour)           # (B, Ch)
        decoded = OverBackground(name="over_background")(decoded, colour)        # (B, H, W, Ch)
    model = StampNet(image, decoded, name="stampnet")
    if compile:
        compile_for_training(model, spec.learning_rate if learning_rate is None else learning_rate, jit_compile)
    return model


def compile_for_training(model: keras.Model, learning_rate, jit_compile=False) -> None:
    """Nadam on the summed squared error, as in 2019. Nadam's slots are made now, not inside the first traced
    step: TensorFlow traces a step a second time when the first trace made variables."""
    model.compile(optimizer=keras.optimizers.Nadam(learning_rate), loss=sum_squared_error, jit_compile=jit_compile)
    model.optimizer.build(model.trainable_variables)


def _has_colour_choice(model: keras.Model) -> bool:
    return any(layer.name == "colour_choice" for layer in model.layers)


def _choice_probs(model: keras.Model):
    """The stamp head's output; with colour choices the (stamp, colour) pairs', class k·P + p (B, M, K·P)."""
    stamp = model.get_layer("softmax_stamp").output
    if not _has_colour_choice(model):
        return stamp
    return PairedChoice(name="paired_choice")(stamp, model.get_layer("softmax_colour").output)


def analysis_model(model: keras.Model) -> keras.Model:
    """The same network with every output of interest (shares the weights of ``model``).

    Outputs a dict: reconstruction (B, H, W, Ch), stamp_probs (B, M, K), y_probs / x_probs (B, M, C),
    coord_maps (B, M, C, C). With colour choices stamp_probs is over the (stamp k, colour p) pairs, class
    k·P + p (B, M, K·P), matching :func:`stamps`.
    """
    y, x = model.get_layer("softmax_y").output, model.get_layer("softmax_x").output
    return keras.Model(model.input, {
        "reconstruction": model.output,
        "stamp_probs": _choice_probs(model),
        "y_probs": y,
        "x_probs": x,
        "coord_maps": CoordinateMap(name="coord_maps")(y, x),
    }, name="stampnet_analysis")


def gumbel_layers(model: keras.Model) -> list[GumbelSoftmax]:
    return [layer for layer in model.layers if isinstance(layer, GumbelSoftmax)]


def set_temperature(model: keras.Model, tau: float) -> None:
    """Set τ of every Gumbel-softmax layer (e.g. the test temperature 1e-4)."""
    for layer in gumbel_layers(model):
        layer.temperature.assign(tau)


def set_noise(model: keras.Model, noise: bool) -> None:
    """Switch the Gumbel noise on or off (2019 kept it on at test time)."""
    for layer in gumbel_layers(model):
        layer.noise = noise


def _drawn_stamps(model: keras.Model):
    """The stamps as drawn, (K [+ 1], S, S, Ch); with colour choices each stamp in each colour, (K [+ 1]·P, …)."""
    drawn = model.get_layer("stamp_layer")._stamps()
    return model.get_layer("colour_choice").coloured(drawn) if _has_colour_choice(model) else drawn


def stamps(model: keras.Model):
    """The stamps in drawing orientation, the fixed empty one last when the model has it; numpy (K [+ 1], S, S),
    or (K [+ 1], S, S, Ch) for colour stamps. With colour choices, every (stamp k, colour p) pair at k·P + p,
    the classes of ``stamp_probs``; (K [+ 1]·P, S, S, Ch)."""
    if _has_colour_choice(model):
        return keras.ops.convert_to_numpy(_drawn_stamps(model))
    return keras.ops.convert_to_numpy(model.get_layer("stamp_layer").stamps())


def head_model(model: keras.Model) -> keras.Model:
    """Encoder and Gumbel heads only: canvas → (stamp_probs (B, M, K), y_probs (B, M, C), x_probs (B, M, C));
    with colour choices stamp_probs is over the (stamp, colour) pairs, (B, M, K·P)."""
    return keras.Model(model.input, [_choice_probs(model)] + [model.get_layer(f"softmax_{r}").output
                                                              for r in ("y", "x")], name="stampnet_heads")


def hard_reconstruct(model: keras.Model, heads: keras.Model, images):
    """Hard inference (τ → 0): paste each slot's argmax stamp (in its argmax colour, with colour choices) at its
    argmax (y, x); no soft maps.

    Returns (reconstruction (B, H, W, Ch), stamp_index (B, M) (k·P + p with colour choices), y_index (B, M),
    x_index (B, M))."""
    ops = keras.ops
    stamp_probs, y_probs, x_probs = heads(images, training=False)
    k, y, x = (ops.argmax(p, axis=-1) for p in (stamp_probs, y_probs, x_probs))
    return model.get_layer("stamp_layer").paste(k, y, x, _drawn_stamps(model)), k, y, x


# --------------------------------------------------------------------------------------------------
# Inference: the analysis outputs of a trained model, with seeded test-time noise
# --------------------------------------------------------------------------------------------------

DEFAULT_SEED = 0  # of the test-time Gumbel noise: evaluate twice, get the same numbers
_ANALYSIS_NETS = weakref.WeakKeyDictionary()  # model -> its analysis model, whose compiled predict is reused


def seed_noise(model, seed: int) -> None:
    """Start the test-time Gumbel noise of every Gumbel-softmax layer from ``seed``: the same seed, the same
    noise, the same measures."""
    layers = gumbel_layers(model)
    seeds = np.random.SeedSequence(seed).generate_state(len(layers)) % (2 ** 31)  # one stream per layer
    for layer, layer_seed in zip(layers, seeds):
        state = layer.seed_generator.state
        state.assign(np.array([layer_seed, 0]).astype(state.dtype))


def predict(model, images: np.ndarray, tau: float, batch_size: int = 256, noise: bool = True,
            progress: bool = False, seed: Optional[int] = DEFAULT_SEED, net=None) -> dict:
    """The analysis outputs for ``images`` at temperature ``tau`` (Gumbel noise on, as in 2019, unless
    ``noise=False``; drawn from ``seed``, or unseeded with ``seed=None``): reconstruction, stamp_probs, y_probs,
    x_probs. Runs compiled (Keras' predict function; τ, the noise switch and the noise's generator state are
    variables, so it is traced once per model and batch shape: the analysis model of ``model`` is kept for the
    next call). ``net``: an :func:`~stampnet.model.analysis_model` of ``model`` to use instead."""
    from tqdm import tqdm

    set_temperature(model, tau)
    set_noise(model, noise)
    if seed is not None:
        seed_noise(model, seed)
    net = net if net is not None else _ANALYSIS_NETS.get(model)
    if net is None:
        net = _ANALYSIS_NETS[model] = analysis_model(model)
    if not len(images):
        raise ValueError("predict needs at least one image")
    keys = ("reconstruction", "stamp_probs", "y_probs", "x_probs")
    outputs = None  # filled batch by batch: no list of parts to concatenate (twice the memory)
    starts = range(0, len(images), batch_size)
    for start in tqdm(starts, desc="predicting", unit="batch", disable=not progress):
        out = net.predict_on_batch(images[start:start + batch_size])
        if outputs is None:
            outputs = {k: np.empty((len(images), *np.shape(out[k])[1:]), np.asarray(out[k]).dtype) for k in keys}
        for k in keys:
            outputs[k][start:start + batch_size] = out[k]
    return outputs
