"""Training options beyond the 2019 schedule, each off by default (the 2019 configs train as they did).

They exist for the ``fast`` named config (``stamp_network.py``), which reaches the paper's numbers with a
fraction of the 2019 training canvases. All positions in training are *fractions of the run's steps*
(``run_parameters.epochs × steps_per_epoch``), so one recipe serves every experiment and stretches with the
budget; they are read from the optimizer's step counter, so a resumed run continues where it stopped.

- ``gumbel_parameters.tau_schedule``: ``[[0, τ0], [f1, τ1], …]`` — τ interpolated log-linearly between the
  knots (constant after the last), in place of the 2019 exponential.
- ``gumbel_parameters.straight_through_from``: from this fraction on, training draws the one-hot argmax of the
  Gumbel sample in the forward pass and keeps the soft sample's gradient (straight-through Gumbel-softmax,
  Jang et al. 2017), so the decoder trains on the hard choices evaluation makes.
- ``gumbel_parameters.usage_balance``: a strength λ ≥ 0; adds λ · (log K − H(p̄)) to the loss, p̄ the stamp
  softmax averaged over the batch and slots, so that no stamp becomes a catch-all
  (:class:`stampnet.layers.UsageBalance`). Not part of ``fast``: not yet measured.
- ``decoder_parameters.overdraw_penalty``: a strength λ ≥ 0; adds λ · Σ max(0, Σ_m draw_m − 1) per canvas to
  the loss, the ink the clip at 1 discards, so that a slot with no object left draws an empty stamp rather
  than redrawing a drawn one (:class:`stampnet.layers.StampDecoder`). Not part of ``fast``. Measured on Simple
  Shapes with 2 slots for 1 shape, it does not: the two slots split each object's ink half and half instead.
- ``decoder_parameters.overlap_penalty``: a strength λ ≥ 0; adds λ · Σ Σ_{m<m'} draw_m · draw_m' per canvas,
  the ink slots share: unlike the overdraw term it also charges two slots that split one object's ink
  between them (what the overdraw term alone led to, README), so a slot with no object left is pushed
  towards an empty stamp (:class:`stampnet.layers.StampDecoder`). Not part of ``fast``. Measured, one stamp
  became empty, and most shapes were split in space into parts that share no pixel instead.
- ``decoder_parameters.slot_ink_penalty``: a strength λ ≥ 0; adds λ · Σ_m (√(1 + ink_m) − 1) per canvas, ink_m
  the ink slot m draws. Concave in each slot's ink, it charges every split of an object between slots (in
  intensity or in space) more than one full stamp beside an empty slot (:class:`stampnet.layers.StampDecoder`).
  Not part of ``fast``. ``decoder_parameters.slot_ink_penalty_from``: a fraction; the term acts from there on
  (:class:`SlotInkFrom`). From the start it empties every stamp: while the positions are still blurred, the
  reconstruction's pull on a stamp pixel is weaker than the term's push; from half-way (λ = 2) the two slots
  kept splitting each object half and half (measured, README).
- ``decoder_parameters.empty_stamp``: True adds a stamp fixed at 0 (not a weight) as the stamp head's last
  choice, so that a slot can draw nothing without the network having to learn an empty stamp first
  (:class:`stampnet.layers.StampDecoder`). Not part of ``fast``. Meant with ``slot_ink_penalty``: without it
  the split of an object between two slots has no cheaper neighbour, with it a slot can move its probability
  to the empty stamp while the shared stamp brightens. Measured (Simple Shapes, 1 shape, 2 slots, a quarter
  of ``fast``): with ``slot_ink_penalty=2`` from half-way 0.80 of the spare slots empty (0.0 without it),
  from a quarter (``slot_ink_penalty_from=0.25``) 0.999 with CorLoc 0.997. λ is in the loss's units: the same
  relative strength is λ ≈ 0.11 · √(mean object ink), λ ≈ 1 on T-MNIST (1 digit, 3 slots), where λ = 2 blanks
  73 % of the canvases and no λ in 0.5–1 met both the empty rate and CorLoc at a quarter budget (README).
- ``layer_parameters.learning_rate_decay_from`` / ``learning_rate_decay_to``: cosine decay of the learning
  rate from that fraction on, down to ``learning_rate × learning_rate_decay_to`` at the end.
- ``run_parameters.precise_bn``: a number of training canvases (0: off); after the last epoch, every
  BatchNorm layer's moving mean and variance are recomputed on them with dropout off
  (:func:`recompute_batchnorm`), and the final weights are saved with these statistics.
"""
from __future__ import annotations

import keras
import numpy as np

from stampnet import backend
from stampnet.callbacks import optimizer_step
from stampnet.model import gumbel_layers
from stampnet.schedules import cosine_factor


def _fraction(model: keras.Model, total_steps: int) -> float:
    return optimizer_step(model) / total_steps  # in fit on JAX too (stampnet.backend.fit_step)


class SwitchFrom(keras.callbacks.Callback):
    """Holds switch variables (``switches(model)``) at 0 before ``start`` (a fraction of ``total_steps``) and
    at 1 from then on, set every step from the step counter; logs the state each epoch as ``log_key``."""

    log_key = "switch"

    def __init__(self, start: float, total_steps: int):
        super().__init__()
        self.start, self.total_steps, self._on = start, total_steps, None

    def switches(self, model: keras.Model) -> list:
        raise NotImplementedError

    def on_train_begin(self, logs=None):
        backend.start_fit(self.model)

    def on_train_batch_begin(self, batch, logs=None):
        model = self._model  # not self.model, which on JAX syncs every variable (stampnet.backend.start_fit)
        on = _fraction(model, self.total_steps) >= self.start
        if on != self._on:
            for variable in self.switches(model):
                backend.assign_in_fit(model, variable, 1.0 if on else 0.0)
            self._on = on

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs[self.log_key] = float(bool(self._on))


class StraightThrough(SwitchFrom):
    """Switches the Gumbel layers to straight-through (hard forward, soft gradient) from ``start`` on; the
    layers must be built with ``straight_through=True``."""

    log_key = "hard"

    def switches(self, model):
        return [layer.hard for layer in gumbel_layers(model)]


class SlotInkFrom(SwitchFrom):
    """Switches the decoder's slot-ink penalty on from ``start``; the decoder must be built with it."""

    log_key = "slot_ink"

    def switches(self, model):
        return [model.get_layer("stamp_layer").slot_ink_on]


class LearningRateDecay(keras.callbacks.Callback):
    """Cosine decay of the optimizer's learning rate from ``decay_from`` (fraction of training) to the end,
    set every step from the step counter; logs ``lr`` each epoch."""

    def __init__(self, base: float, decay_from: float, decay_to: float, total_steps: int):
        super().__init__()
        self.base, self.decay_from, self.decay_to, self.total_steps = base, decay_from, decay_to, total_steps

    def on_train_begin(self, logs=None):
        backend.start_fit(self.model)

    def on_train_batch_begin(self, batch, logs=None):
        model = self._model  # not self.model, which on JAX syncs every variable (stampnet.backend.start_fit)
        factor = cosine_factor(_fraction(model, self.total_steps), self.decay_from, self.decay_to)
        backend.assign_in_fit(model, model.optimizer.learning_rate, self.base * factor)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))



def recompute_batchnorm(model: keras.Model, images: np.ndarray, canvases: int, batch_size: int = 256,
                        seed: int = 0, dropout: bool = False) -> int:
    """"Precise BN" (Wu & Johnson 2021) without dropout: set every BatchNorm layer's moving mean and variance to
    the average of its batch statistics over ``canvases`` canvases drawn from ``images`` (B, H, W, 1), in batches
    of ``batch_size``, with every Dropout layer's rate 0. Changes no weight.

    Why: the 2019 encoder is conv → LeakyReLU → BatchNorm → Dropout, so from the second block on each BatchNorm
    collects statistics of dropped-out activations during training, while evaluation runs without dropout: the
    "variance shift" of Li et al. 2019. ``dropout=True`` keeps dropout on (as training saw it: the control).
    The momenta and dropout rates are restored afterwards. Returns the number of canvases used."""
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    drops = [layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    if not norms or canvases <= 0:
        return 0
    net = keras.Model(model.input, [layer.output for layer in norms])  # the encoder and heads, not the decoder
    size = min(batch_size, canvases, len(images))
    n_batches = max(1, min(canvases, len(images)) // size)               # equal batches: equal weights
    order = np.random.default_rng(seed).permutation(len(images))[:n_batches * size]
    saved = [(layer, layer.momentum) for layer in norms], [(layer, layer.rate) for layer in drops]
    try:
        for layer in drops if not dropout else ():
            layer.rate = 0.0
        for i in range(n_batches):
            for layer in norms:
                layer.momentum = i / (i + 1)  # moving = (i · moving + batch) / (i + 1): the running average
            net(images[np.sort(order[i * size:(i + 1) * size])], training=True)
    finally:
        for layer, momentum in saved[0]:
            layer.momentum = momentum
        for layer, rate in saved[1]:
            layer.rate = rate
    return n_batches * size
