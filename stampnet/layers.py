"""StampNet's layers, one per idea of the paper, written with ``keras.ops``.

Shapes: B batch, M slots (stamps_per_canvas), K stamps (nr_of_stamps), S stamp size,
C coordinates per axis (coord_tensor_size = img − S + 1), H = W = C + S − 1 the image size, Ch the image's
channels (1 in every 2019 config; 3 for colour stamps).
"""
from __future__ import annotations

import keras
import numpy as np
from keras import ops

# 2019 set Keras' fuzz factor to float32's machine epsilon; the Gumbel noise uses it.
EPSILON = float(np.finfo(np.float32).eps)


@keras.saving.register_keras_serializable(package="stampnet")
class UnitInterval(keras.constraints.Constraint):
    """Keeps the stamps' pixels in [0, 1] after every update (2019 ``NonNegMaxOne``)."""

    def __call__(self, w):
        return ops.clip(w, 0.0, 1.0)


@keras.saving.register_keras_serializable(package="stampnet")
class BatchNorm(keras.layers.BatchNormalization):
    """Keras' BatchNormalization (the 2019 layer: same weights, same statistics), computed in training by one
    fused kernel where the backend has one (:func:`stampnet.backend.fused_batch_norm`); (B, H, W, C) → same."""

    def call(self, inputs, training=None, mask=None):
        from stampnet import backend

        fused = None
        if training and self.trainable and mask is None and not self.renorm and self.axis in (3, -1):
            fused = backend.fused_batch_norm(inputs, self.gamma, self.beta, self.epsilon)
        if fused is None:
            return super().call(inputs, training=training, mask=mask)
        outputs, mean, variance = fused
        self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
        self.moving_variance.assign(self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
        return outputs


class RunTimeState(keras.layers.Layer):
    """A layer whose switches (variables listed by ``_run_time_state``) are left out of its weight files, so
    the files keep the 2019 layout whatever is switched."""

    def _run_time_state(self) -> list:
        return []

    def _stored_variables(self):
        skip = {id(v) for v in self._run_time_state()}
        return [v for v in self._trainable_variables + self._non_trainable_variables if id(v) not in skip]

    def save_own_variables(self, store):
        for i, v in enumerate(self._stored_variables()):
            store[f"{i}"] = v

    def load_own_variables(self, store):
        stored = self._stored_variables()
        if len(store.keys()) != len(stored):
            raise ValueError(f"Layer '{self.name}' expected {len(stored)} variables, but received "
                             f"{len(store.keys())} variables during loading")
        for i, v in enumerate(stored):
            v.assign(store[f"{i}"])


@keras.saving.register_keras_serializable(package="stampnet")
class GumbelSoftmax(RunTimeState):
    """Gumbel-softmax sample of M categorical variables of ``size`` classes each.

    Input: flat logits (B, M·size), channel c belonging to slot c // size (the 2019 reshape).
    Output: softmax((logits + g) / τ) with g = −log(−log(U + ε) + ε), U ~ uniform; (B, M, size).
    τ is a non-trainable variable set by :class:`stampnet.callbacks.StepSchedules` (and by evaluation).
    The noise is drawn in training and inference alike, as in 2019; ``noise=False`` switches it off. The switch
    is a variable (``layer.noise = False`` assigns it), so a compiled function follows it without retracing;
    being run-time state it is left out of weight files, which keep their layout.
    ``straight_through=True`` adds a switch (variable ``hard``, off at first) to the one-hot argmax forward
    with the soft gradient (see stampnet/recipe.py).
    """

    def __init__(self, size: int, slots: int, tau_init: float = 7.0, noise: bool = True, seed=None,
                 straight_through: bool = False, **kwargs):
        # float32 under a mixed policy too: the noise's ε (1.2e-7) and logits / τ at τ → 1e-4 need it.
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self._noise_on = self.add_weight(shape=(), initializer=keras.initializers.Constant(float(bool(noise))),
                                         trainable=False, name="noise")  # 1: draw the noise, 0: not
        self.size, self.slots, self.tau_init = size, slots, tau_init
        self.straight_through = straight_through
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.temperature = self.add_weight(shape=(), initializer=keras.initializers.Constant(tau_init),
                                           trainable=False, name="temperature")
        if straight_through:
            # 0: the soft sample (2019); 1: its one-hot argmax forward, soft gradient backward. A variable, so
            # a callback can switch it mid-training without retracing the compiled step.
            self.hard = self.add_weight(shape=(), initializer="zeros", trainable=False, name="hard")

    @property
    def noise(self) -> bool:
        return bool(ops.convert_to_numpy(self._noise_on))

    @noise.setter
    def noise(self, on: bool) -> None:
        self._noise_on.assign(1.0 if on else 0.0)

    def call(self, logits):
        u = keras.random.uniform(ops.shape(logits), seed=self.seed_generator)
        gumbel = -ops.log(-ops.log(u + EPSILON) + EPSILON)                  # (B, M·size)
        logits = logits + ops.cast(self._noise_on, logits.dtype) * gumbel  # exact: 1·g = g, 0·g = 0
        logits = ops.reshape(logits, (-1, self.slots, self.size))      # (B, M, size)
        soft = ops.softmax(logits / ops.cast(self.temperature, logits.dtype), axis=-1)
        if not self.straight_through:
            return soft
        # Straight-through Gumbel-softmax (Jang et al. 2017, §2.2): forward one-hot, backward ∂soft.
        one_hot = ops.one_hot(ops.argmax(soft, axis=-1), self.size, dtype=soft.dtype)  # (B, M, size)
        return soft + ops.cast(self.hard, soft.dtype) * ops.stop_gradient(one_hot - soft)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.slots, self.size)

    def _run_time_state(self):
        return [self._noise_on]

    def get_config(self):
        return {**super().get_config(), "size": self.size, "slots": self.slots, "tau_init": self.tau_init,
                "noise": self.noise, "straight_through": self.straight_through}


@keras.saving.register_keras_serializable(package="stampnet")
class UsageBalance(keras.layers.Layer):
    """Adds ``strength · (log K − H(p̄))`` to the training loss, p̄ the stamp choice softmax(logits) averaged
    over the batch and the slots: 0 when every stamp is chosen equally often, ``strength · log K`` when one
    stamp takes every slot. It keeps one stamp from becoming the catch-all for several classes (the codebook
    diversity loss of wav2vec 2.0, Baevski et al. 2020). ``strength`` is in the loss' units (the summed squared
    error per canvas). Identity on its input, the flat stamp logits (B, M·K); no weights (see recipe.py)."""

    def __init__(self, size: int, slots: int, strength: float, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.size, self.slots, self.strength = size, slots, float(strength)

    def call(self, logits):
        p = ops.softmax(ops.reshape(logits, (-1, self.slots, self.size)), axis=-1)  # (B, M, K)
        usage = ops.mean(p, axis=(0, 1))                                            # (K,)
        entropy = -ops.sum(usage * ops.log(usage + EPSILON))
        self.add_loss(self.strength * (float(np.log(self.size)) - entropy))
        return logits

    @property
    def loss_terms(self) -> tuple:
        """The name of the term this layer adds to the loss (logged per epoch, see stampnet.model.StampNet)."""
        return ("usage_balance",)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "size": self.size, "slots": self.slots, "strength": self.strength}


@keras.saving.register_keras_serializable(package="stampnet")
class StampDecoder(RunTimeState):
    """Places the chosen stamps at the chosen coordinates and sums them, clipped at 1.

        image = min(1, Σ_m Σ_k p_stamp[m, k] · place(stamp_k, y_m, x_m))

    ``overdraw`` (λ ≥ 0, off in 2019): adds λ · Σ_pixels max(0, Σ_m draw_m − 1) per canvas to the training
    loss, the ink the clip at 1 throws away. Under the clip a slot that redraws an object another slot already
    drew costs the reconstruction nothing and gets no gradient there; this term charges for it.
    ``overlap`` (λ ≥ 0, off in 2019): adds λ · Σ_pixels Σ_{m<m'} draw_m · draw_m' per canvas, the ink that
    slots share. Two slots drawing one object at half intensity each overdraw nothing, so only this term
    tells that split from one full stamp and an empty one (concave along the split: the split is a saddle).
    Measured (README): one stamp becomes empty, but most objects are then split in space into parts that
    share no pixel, which this term does not charge either.
    ``slot_ink`` (λ ≥ 0, off in 2019): adds λ · Σ_m (√(1 + ink_m) − 1) per canvas, ink_m = Σ_k p[m, k] · ink_k
    the ink slot m draws (every placement keeps the whole stamp on the canvas). The cost is concave in each
    slot's ink, so drawing an object with one full stamp and leaving the other slot empty costs less than
    any split of it between slots, in intensity or in space; and concave along a slot's stamp mixture, so
    it pushes the choice towards one-hot. Its switch (variable ``slot_ink_on``, 1 at first; run-time state,
    not in weight files) lets a callback hold it off early in training (stampnet/recipe.py).
    ``centre`` (λ ≥ 0, off in 2019): adds λ · Σ_k ū_k · |c_k − centre|² per canvas, c_k the ink centroid of
    stamp k (px), centre its square's centre and ū_k the share of the batch's slots that choose it (no gradient
    through ū). Nothing else asks a stamp to be centred: without it a stamp can draw its object off-centre while
    the slot's coordinates compensate, and the slot's square (the paper's box) then misses the object. Its
    switch (variable ``centre_on``, as ``slot_ink_on``) lets a callback hold it off while the stamps form.
    ``binary`` (λ ≥ 0, off in 2019): adds λ · Σ_k ū_k · Σ_px s_k (1 − s_k) per canvas, the grey ink of the chosen
    stamps (ū_k as for ``centre``): 0 where each pixel of a stamp is 0 or 1. Solid sprites (Tetrominoes,
    dSprites) are such masks; a stamp that hedges between shapes is a grey blur, which this term charges.
    ``empty_stamp`` (off in 2019): one more choice for the stamp head, a stamp fixed at 0 (not a weight), so a
    slot can draw nothing without the network having to learn an empty stamp. The stamp distributions are
    then (B, M, K + 1), the empty stamp last; the kernel keeps its 2019 shape.
    ``per_slot`` (off in 2019; on with colour choices): returns each slot's drawing (B, M, H, W, Ch), neither
    summed over the slots nor clipped, for :class:`ColourChoice` to colour; the penalties are those of the sum.

    The stamps are the kernel (S, S, K, Ch) of the 2019 ``stamp_layer`` convolution (Ch = 1 in 2019; ``channels``
    > 1 gives colour stamps, each stamp one shape in one colour), which draws each stamp flipped in both axes
    with its upper-left corner at (y, x). Two exact implementations:

    - ``conv``: the 2019 formulation — placement tensor Σ_m y⊗x⊗p (B, C, C, K), zero-padded by S − 1,
      convolved with the kernel. O(B·C²·K·S²).
    - ``separable``: per slot T_m = Σ_k p[m, k] · flip(stamp_k) (S, S), then A_m · T_m · B_mᵀ with banded
      A_m[i, j] = y_m[i − j], B_m[i, j] = x_m[i − j]. O(B·M·(K·S² + H·S² + H·W·S)).
    """

    def __init__(self, stamp_size: int, nr_of_stamps: int, coord_size: int, decoder: str = "separable",
                 seed=None, overdraw: float = 0.0, overlap: float = 0.0, slot_ink: float = 0.0,
                 empty_stamp: bool = False, centre: float = 0.0, channels: int = 1, per_slot: bool = False,
                 binary: float = 0.0, **kwargs):
        # float32 under a mixed policy too: the sum of up to M·K weighted stamps and the clip at 1 stay exact
        # (the decoder is a small share of a step, so bfloat16 would gain little here).
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if decoder not in ("separable", "conv"):
            raise ValueError(f"decoder must be 'separable' or 'conv', got {decoder!r}")
        self.stamp_size, self.nr_of_stamps, self.coord_size = stamp_size, nr_of_stamps, coord_size
        self.decoder, self.seed, self.overdraw, self.overlap = decoder, seed, float(overdraw), float(overlap)
        self.slot_ink, self.empty_stamp, self.centre = float(slot_ink), bool(empty_stamp), float(centre)
        self.n_choices = nr_of_stamps + int(self.empty_stamp)   # the stamp head's choices
        self.channels, self.per_slot, self.binary = int(channels), bool(per_slot), float(binary)
        if self.slot_ink:
            self.slot_ink_on = self.add_weight(shape=(), initializer=keras.initializers.Constant(1.0),
                                               trainable=False, name="slot_ink_on")
        if self.centre:
            self.centre_on = self.add_weight(shape=(), initializer=keras.initializers.Constant(1.0),
                                             trainable=False, name="centre_on")
        S, K, C = stamp_size, nr_of_stamps, coord_size
        self.kernel = self.add_weight(shape=(S, S, K, self.channels), name="kernel",
                                      initializer=keras.initializers.GlorotUniform(seed),
                                      constraint=UnitInterval())
        # Band index: band[i, j] = i − j, valid where 0 ≤ i − j < C; (H, S).
        band = np.arange(C + S - 1)[:, None] - np.arange(S)[None, :]
        self._band_index = np.clip(band, 0, C - 1).astype("int32")
        self._band_mask = ((band >= 0) & (band < C)).astype("float32")

    def _choices(self):
        """The kernel with the fixed empty stamp appended when there is one; (S, S, K [+ 1], Ch)."""
        if not self.empty_stamp:
            return self.kernel
        return ops.concatenate([self.kernel, ops.zeros_like(self.kernel[:, :, :1])], axis=2)  # (S, S, K + 1, Ch)

    def _stamps(self):
        """The stamps as drawn, with their channels; (K [+ 1], S, S, Ch)."""
        return ops.transpose(ops.flip(self._choices(), axis=(0, 1)), (2, 0, 1, 3))

    def stamps(self):
        """The stamps as they are drawn on the canvas: the kernel flipped in both axes, the empty stamp last
        when there is one; (K [+ 1], S, S) with one channel (every 2019 model), (K [+ 1], S, S, Ch) with more."""
        drawn = self._stamps()
        return drawn[..., 0] if self.channels == 1 else drawn

    def centroid_offsets(self):
        """Each stamp's ink centroid from its square's centre, in kernel orientation (drawn, both signs flip);
        (K, 2) px as (dy, dx). A stamp without ink counts as centred."""
        kernel = ops.sum(self.kernel, axis=-1)                                   # (S, S, K): ink over channels
        pos = ops.arange(self.stamp_size, dtype=kernel.dtype) - (self.stamp_size - 1) / 2.0  # (S,)
        ink = ops.sum(kernel, axis=(0, 1)) + EPSILON                             # (K,)
        dy = ops.einsum("ijk,i->k", kernel, pos) / ink
        dx = ops.einsum("ijk,j->k", kernel, pos) / ink
        return ops.stack([dy, dx], axis=-1)                                      # (K, 2)

    def _usage(self, stamp_probs):
        """ū_k, the batch's share of slots choosing stamp k, without gradient (the weights of the per-stamp
        penalties); (K,)."""
        return ops.stop_gradient(ops.mean(stamp_probs[..., :self.nr_of_stamps], axis=(0, 1)))

    def _centre_loss(self, stamp_probs):
        """Σ_k ū_k · |c_k − centre|²; ()."""
        return ops.sum(self._usage(stamp_probs) * ops.sum(ops.square(self.centroid_offsets()), axis=-1))

    def _binary_loss(self, stamp_probs):
        """Σ_k ū_k · Σ_px s_k (1 − s_k), the chosen stamps' grey ink; ()."""
        grey = ops.sum(self.kernel * (1.0 - self.kernel), axis=(0, 1, 3))                       # (K,)
        return ops.sum(self._usage(stamp_probs) * grey)

    def _banded(self, p):
        """p (B, M, C) → banded placement matrix (B, M, H, S) with [i, j] = p[i − j]."""
        return ops.take(p, self._band_index, axis=-1) * ops.cast(self._band_mask, p.dtype)

    def _rows(self, stamp_probs, y_probs):
        """Each slot's mixed stamp placed along y: A_m · T_m, (B, M, H, S, Ch)."""
        flipped = ops.flip(self._choices(), axis=(0, 1))                         # (S, S, K [+ 1], Ch)
        mixed = ops.einsum("bmk,ijkc->bmijc", stamp_probs, ops.cast(flipped, stamp_probs.dtype))  # (B, M, S, S, Ch)
        return ops.einsum("bmhi,bmijc->bmhjc", self._banded(y_probs), mixed)     # (B, M, H, S, Ch)

    def _separable(self, stamp_probs, y_probs, x_probs):
        rows = self._rows(stamp_probs, y_probs)                                  # (B, M, H, S, Ch)
        return ops.einsum("bmhjc,bmwj->bhwc", rows, self._banded(x_probs))       # (B, H, W, Ch)

    def slot_drawings(self, stamp_probs, y_probs, x_probs):
        """Each slot's own drawing before the sum over slots and the clip, (B, M, H, W, Ch)."""
        rows = self._rows(stamp_probs, y_probs)                                  # (B, M, H, S, Ch)
        return ops.einsum("bmhjc,bmwj->bmhwc", rows, self._banded(x_probs))      # (B, M, H, W, Ch)

    def _conv(self, stamp_probs, y_probs, x_probs):
        S = self.stamp_size
        placement = ops.einsum("bmi,bmj,bmk->bijk", y_probs, x_probs, stamp_probs)  # (B, C, C, K)
        padded = ops.pad(placement, ((0, 0), (S - 1, S - 1), (S - 1, S - 1), (0, 0)))  # (B, C+2S−2, ·, K)
        kernel = ops.cast(self._choices(), padded.dtype)                         # (S, S, K [+ 1], Ch)
        return ops.conv(padded, kernel, padding="valid")                         # (B, H, W, Ch)

    def call(self, stamp_probs, y_probs, x_probs):
        # The terms are added in the order of ``loss_terms``: overlap, overdraw, slot ink, centre, binary.
        slots = None
        if self.overlap:
            slots = self.slot_drawings(stamp_probs, y_probs, x_probs)           # (B, M, H, W, Ch)
            ink = ops.sum(slots, axis=-1)                                        # (B, M, H, W)
            pairs = ops.square(ops.sum(ink, axis=1)) - ops.sum(ops.square(ink), axis=1)  # (B, H, W): 2·Σ_{m<m'}
            self.add_loss(self.overlap * ops.mean(0.5 * ops.sum(pairs, axis=(1, 2))))
        if self.per_slot and slots is None:
            slots = self.slot_drawings(stamp_probs, y_probs, x_probs)           # (B, M, H, W, Ch)
        if slots is not None and (self.decoder == "separable" or self.per_slot):
            canvas = ops.sum(slots, axis=1)                                      # (B, H, W, Ch), one pass
        else:
            draw = self._separable if self.decoder == "separable" else self._conv
            canvas = draw(stamp_probs, y_probs, x_probs)                         # (B, H, W, Ch), unclipped
        if self.overdraw:
            clipped_away = ops.sum(ops.relu(canvas - 1.0), axis=(1, 2, 3))     # (B,)
            self.add_loss(self.overdraw * ops.mean(clipped_away))
        if self.slot_ink:
            stamp_ink = ops.sum(ops.cast(self._choices(), stamp_probs.dtype), axis=(0, 1, 3))  # (K [+ 1],)
            ink = ops.einsum("bmk,k->bm", stamp_probs, stamp_ink)               # (B, M)
            strength = self.slot_ink * ops.cast(self.slot_ink_on, ink.dtype)
            self.add_loss(strength * ops.mean(ops.sum(ops.sqrt(1.0 + ink) - 1.0, axis=1)))
        if self.centre:
            strength = self.centre * ops.cast(self.centre_on, stamp_probs.dtype)
            self.add_loss(strength * self._centre_loss(stamp_probs))
        if self.binary:
            self.add_loss(self.binary * self._binary_loss(stamp_probs))
        return slots if self.per_slot else ops.minimum(canvas, 1.0)

    @property
    def loss_terms(self) -> tuple:
        """The names of the terms this layer adds to the loss, in the order ``call`` adds them (the config keys
        of their strengths; logged per epoch, see stampnet.model.StampNet); () in 2019."""
        on = {"overlap_penalty": self.overlap, "overdraw_penalty": self.overdraw, "slot_ink_penalty": self.slot_ink,
              "centre_penalty": self.centre, "binary_penalty": self.binary}
        return tuple(name for name, strength in on.items() if strength)

    def paste(self, stamp_index, y_index, x_index, stamps=None):
        """Hard inference: paste stamp k at (y, x) for each slot directly, no soft maps.

        Integer inputs (B, M) (indices in range: k < K [+ 1], y, x < C); returns (B, H, W, Ch) — equal to
        ``call`` on one-hot distributions. One scatter-add of the M·S²·Ch chosen values per image (slots
        overlapping sum, then the clip at 1): O(B·M·S²·Ch), no (B, M, H, W) intermediate.
        ``stamps``: the drawn stamps to index instead of this layer's, (K', S, S, Ch') (e.g. each stamp in each
        palette colour, :meth:`ColourChoice.coloured`).
        """
        stamps = self._stamps() if stamps is None else stamps                        # (K, S, S, Ch)
        S, C, Ch = self.stamp_size, self.coord_size, stamps.shape[-1]
        H = C + S - 1
        chosen = ops.take(stamps, ops.cast(stamp_index, "int32"), axis=0)            # (B, M, S, S, Ch)
        shape = ops.shape(chosen)
        span = ops.arange(S, dtype="int32")
        batch = ops.arange(shape[0], dtype="int32")[:, None, None, None, None]       # (B, 1, 1, 1, 1)
        rows = ops.cast(y_index, "int32")[:, :, None, None, None] + span[None, None, :, None, None]  # (B, M, S, 1, 1)
        cols = ops.cast(x_index, "int32")[:, :, None, None, None] + span[None, None, None, :, None]  # (B, M, 1, S, 1)
        chans = ops.arange(Ch, dtype="int32")[None, None, None, None, :]             # (1, 1, 1, 1, Ch)
        where = ops.stack([ops.broadcast_to(i, shape) for i in (batch, rows, cols, chans)], axis=-1)  # (…, 4)
        canvas = ops.scatter(ops.reshape(where, (-1, 4)), ops.reshape(chosen, (-1,)), (shape[0], H, H, Ch))
        return ops.minimum(canvas, 1.0)

    def _run_time_state(self):
        return ([self.slot_ink_on] if self.slot_ink else []) + ([self.centre_on] if self.centre else [])

    def get_config(self):
        return {**super().get_config(), "stamp_size": self.stamp_size, "nr_of_stamps": self.nr_of_stamps,
                "coord_size": self.coord_size, "decoder": self.decoder, "seed": self.seed,
                "overdraw": self.overdraw, "overlap": self.overlap, "slot_ink": self.slot_ink,
                "empty_stamp": self.empty_stamp, "centre": self.centre, "channels": self.channels,
                "per_slot": self.per_slot, "binary": self.binary}


@keras.saving.register_keras_serializable(package="stampnet")
class ColourChoice(keras.layers.Layer):
    """Colours each slot's grey drawing with the palette colour its colour head chose, sums the slots, clips at 1:

        image = min(1, Σ_m drawing_m ⊗ Σ_p q[m, p] · palette_p)

    The palette: P learned colours (P, Ch) in [0, 1], initialised uniformly at random (from Keras' seed). Off in
    2019 (``decoder_parameters.colour_choices``). (B, M, H, W, 1) and (B, M, P) → (B, H, W, Ch)."""

    def __init__(self, colours: int, channels: int, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        self.colours, self.channels, self.seed = int(colours), int(channels), seed
        self.palette = self.add_weight(shape=(self.colours, self.channels), name="palette",
                                       initializer=keras.initializers.RandomUniform(0.0, 1.0, seed),
                                       constraint=UnitInterval())

    def call(self, drawings, colour_probs):
        colours = ops.einsum("bmp,pc->bmc", colour_probs, ops.cast(self.palette, colour_probs.dtype))  # (B, M, Ch)
        canvas = ops.einsum("bmhw,bmc->bhwc", drawings[..., 0], colours)         # (B, H, W, Ch)
        return ops.minimum(canvas, 1.0)

    def coloured(self, stamps):
        """Each grey stamp (K, S, S[, 1]) in each palette colour: (K·P, S, S, Ch), stamp k in colour p at k·P + p."""
        grey = ops.reshape(stamps, ops.shape(stamps)[:3])                        # (K, S, S)
        pairs = ops.einsum("kij,pc->kpijc", grey, ops.cast(self.palette, grey.dtype))  # (K, P, S, S, Ch)
        return ops.reshape(pairs, (-1, *pairs.shape[2:]))                        # (K·P, S, S, Ch)

    def compute_output_shape(self, drawings_shape, colour_probs_shape):
        return (*drawings_shape[:1], *drawings_shape[2:4], self.channels)

    def get_config(self):
        return {**super().get_config(), "colours": self.colours, "channels": self.channels, "seed": self.seed}


@keras.saving.register_keras_serializable(package="stampnet")
class PairedChoice(keras.layers.Layer):
    """A slot's choice of a (stamp k, colour p) pair as one class k·P + p: the outer product of the two heads'
    distributions, so the measures see what the slot drew; (B, M, K) and (B, M, P) → (B, M, K·P). Its argmax is
    the pair of the two argmaxes."""

    def call(self, stamp_probs, colour_probs):
        pairs = ops.einsum("bmk,bmp->bmkp", stamp_probs, colour_probs)           # (B, M, K, P)
        return ops.reshape(pairs, (-1, pairs.shape[1], pairs.shape[2] * pairs.shape[3]))

    def compute_output_shape(self, stamp_probs_shape, colour_probs_shape):
        return (stamp_probs_shape[0], stamp_probs_shape[1], stamp_probs_shape[2] * colour_probs_shape[2])


@keras.saving.register_keras_serializable(package="stampnet")
class OverBackground(keras.layers.Layer):
    """The stamps drawn over a background colour: where the stamps' ink (summed over channels) covers a pixel
    fully, the stamps; where they draw nothing, the canvas' background colour b (one per canvas, from its own
    head); in between, both in proportion:

        image = stamps + b · (1 − min(1, Σ_ch stamps))

    Off in 2019 (the canvases are black). Each channel stays in [0, 1]. (B, H, W, Ch) and (B, Ch) → (B, H, W, Ch)."""

    def call(self, stamps, colour):
        cover = ops.minimum(ops.sum(stamps, axis=-1, keepdims=True), 1.0)     # (B, H, W, 1)
        return stamps + colour[:, None, None, :] * (1.0 - cover)              # (B, H, W, Ch)


@keras.saving.register_keras_serializable(package="stampnet")
class CoordinateMap(keras.layers.Layer):
    """Soft placement of each slot: the outer product y ⊗ x; (B, M, C) × 2 → (B, M, C, C)."""

    def call(self, y_probs, x_probs):
        return ops.einsum("bmi,bmj->bmij", y_probs, x_probs)


def sum_squared_error(y_true, y_pred):
    """Per-image sum of squared errors (2019 ``my_loss``: channel mean, summed over pixels); (B,)."""
    return ops.sum(ops.mean(ops.square(y_true - y_pred), axis=-1), axis=(1, 2))
