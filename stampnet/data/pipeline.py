"""Training / validation splits as in 2019 and the training feed: NumPy batches, which every Keras backend takes
(JAX moves them to the device one batch ahead), and on TensorFlow the same batches as a tf.data pipeline, which
trains 1.6× faster there than Keras' wrapping of a Python generator (docs/performance.md)."""
from __future__ import annotations

import itertools
from typing import Iterator

import numpy as np

from stampnet import ConfigError
from stampnet.data import Canvases


def split_train_validation(train: Canvases, steps_per_epoch: int, validation_steps: int, batch_size: int,
                           shuffle: bool = False, seed: int = 0) -> tuple[Canvases, Canvases]:
    """The 2019 split: the first steps_per_epoch·batch training canvases train, the next
    validation_steps·batch validate (cycling through the training canvases when there are fewer).
    ``shuffle`` permutes the training canvases first."""
    if len(train) == 0:
        raise ConfigError("the training split is empty; check run_parameters.img_type_parameters "
                          "(data_path, train_size) or the data folder")
    n_train, n_val = steps_per_epoch * batch_size, validation_steps * batch_size
    order = np.random.default_rng(seed).permutation(len(train)) if shuffle else np.arange(len(train))
    index = np.resize(order, n_train + n_val)
    return train.take(index[:n_train]), train.take(index[n_train:])


def epoch_order(n: int, shuffle: bool, seed: int, epoch: int) -> np.ndarray:
    """The order of epoch ``epoch`` over ``n`` canvases: as given, or (``shuffle``) a permutation drawn from
    (seed, epoch) alone, so a resumed run sees the same order as an uninterrupted one."""
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([int(seed) % 2 ** 32, int(epoch)]).permutation(n)


def epoch_batches(images: np.ndarray, batch_size: int, shuffle: bool, seed: int,
                  first_epoch: int = 0) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(image, image) batches, epoch after epoch from ``first_epoch`` on, without end; ``images`` is exactly one
    epoch (steps_per_epoch · batch_size canvases, as split_train_validation gives), so epoch e starts at its
    start. Give ``model.fit`` the ``steps_per_epoch``."""
    images = np.asarray(images, dtype=np.float32)
    steps = len(images) // batch_size
    for epoch in itertools.count(first_epoch):
        order = epoch_order(len(images), shuffle, seed, epoch)
        for step in range(steps):
            x = images[order[step * batch_size:(step + 1) * batch_size]] if shuffle else \
                images[step * batch_size:(step + 1) * batch_size]
            yield x, x


def tf_epoch_dataset(images: np.ndarray, batch_size: int, shuffle: bool, seed: int, first_epoch: int,
                     epochs: int):
    """The batches of ``epoch_batches`` for epochs ``first_epoch`` … ``epochs - 1`` as a tf.data pipeline (the
    canvases held as one tensor, gathered by the same per-epoch orders, prefetched), for TensorFlow."""
    import tensorflow as tf

    images = np.asarray(images, dtype=np.float32)
    steps = len(images) // batch_size
    order = np.concatenate([epoch_order(len(images), shuffle, seed, e)[:steps * batch_size]
                            for e in range(first_epoch, max(epochs, first_epoch + 1))]).astype(np.int32)
    data = tf.constant(images)  # (canvases, height, width, 1)
    ds = tf.data.Dataset.from_tensor_slices(order).batch(batch_size, drop_remainder=True)
    return ds.map(lambda index: (tf.gather(data, index),) * 2).prefetch(tf.data.AUTOTUNE)


def training_feed(images: np.ndarray, batch_size: int, shuffle: bool, seed: int, first_epoch: int, epochs: int):
    """What ``model.fit`` trains on: ``tf_epoch_dataset`` on TensorFlow, ``epoch_batches`` on the other backends;
    the same batches in the same order either way."""
    import keras

    if keras.backend.backend() == "tensorflow":
        return tf_epoch_dataset(images, batch_size, shuffle, seed, first_epoch, epochs)
    return epoch_batches(images, batch_size, shuffle, seed, first_epoch=first_epoch)
