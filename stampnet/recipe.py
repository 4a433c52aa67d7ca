"""Training options beyond the 2019 schedule, each off by default (the 2019 configs train as they did). The
``fast`` named config (``stamp_network.py``) uses some of them; what each was measured to do is in
docs/fast-recipe.md and docs/claims.md. Positions in training are fractions of the run's steps, read from the
step counter (:mod:`stampnet.schedules`), so they stretch with the budget and a resumed run continues them.

- ``gumbel_parameters.tau_schedule``: ``[[0, τ0], [f1, τ1], …]``, τ log-linear between the knots, in place of
  the 2019 exponential (``fast``).
- ``gumbel_parameters.straight_through_from``: from there on, the one-hot argmax of the Gumbel sample forward
  and the soft sample's gradient back (straight-through Gumbel-softmax, Jang et al. 2017) (``fast``).
- ``layer_parameters.learning_rate_decay_from`` / ``learning_rate_decay_to``: a cosine decay of the learning
  rate from there to ``learning_rate × learning_rate_decay_to`` at the end (``fast``).
- ``run_parameters.precise_bn``: after the last epoch, every BatchNorm layer's statistics recomputed without
  dropout on this many training canvases (:func:`recompute_batchnorm`) (``fast``).
- ``gumbel_parameters.usage_balance``: λ · (log K − H(p̄)), p̄ the batch's mean stamp softmax
  (:class:`stampnet.layers.UsageBalance`).
- ``decoder_parameters.overdraw_penalty``: λ · Σ max(0, Σ_m draw_m − 1), the ink the clip at 1 discards.
- ``decoder_parameters.overlap_penalty``: λ · Σ Σ_{m<m'} draw_m · draw_m', the ink slots share.
- ``decoder_parameters.slot_ink_penalty`` (and ``slot_ink_penalty_from``): λ · Σ_m (√(1 + ink_m) − 1), concave
  in each slot's ink, acting from that fraction on.
- ``decoder_parameters.centre_penalty`` (and ``centre_penalty_from``): λ · Σ_k ū_k · |c_k − centre|², c_k
  stamp k's ink centroid and ū_k its share of the batch's slots: keeps the stamps the slots use centred in their
  squares, so the slot's square (the paper's box) sits on the object it draws; acting from that fraction on.
- ``decoder_parameters.background``: a background colour per canvas (a 1×1 conv head on the latent, sigmoid),
  shown where the stamps draw nothing (:class:`stampnet.layers.OverBackground`), for canvases whose background
  is not black (Multi-dSprites' coloured variants).
- ``decoder_parameters.empty_stamp``: a stamp fixed at 0 as the stamp head's last choice.

The penalties and the empty stamp are terms of :class:`stampnet.layers.StampDecoder`.
"""
from __future__ import annotations

import keras
import numpy as np



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
