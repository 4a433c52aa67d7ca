"""Training / validation splits as in 2019 and their tf.data feeding."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

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


def as_dataset(images: np.ndarray, batch_size: int, repeat: bool = True) -> tf.data.Dataset:
    """(image, image) batches for an autoencoder in the given order, prefetched so the model never waits on
    Python."""
    ds = tf.data.Dataset.from_tensor_slices(images.astype(np.float32, copy=False))
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=repeat).map(lambda x: (x, x), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def epoch_dataset(images: np.ndarray, batch_size: int, shuffle: bool, seed: int, first_epoch: int = 0) -> tf.data.Dataset:
    """(image, image) batches, epoch after epoch from ``first_epoch`` on; ``images`` is exactly one epoch
    (steps_per_epoch · batch_size canvases, as split_train_validation gives), so epoch e starts at its start.

    With ``shuffle`` every epoch is a permutation drawn from (seed, epoch) alone, so a resumed run sees the
    same data order as an uninterrupted one."""
    n = len(images)
    if not shuffle:
        return as_dataset(images, batch_size)
    data = tf.constant(images.astype(np.float32, copy=False))
    seed = int(seed) % (2 ** 31)

    def one_epoch(epoch):
        order = tf.random.experimental.stateless_shuffle(tf.range(n), seed=tf.stack([tf.constant(seed, tf.int64), epoch]))
        return tf.data.Dataset.from_tensor_slices(order)

    ds = tf.data.Dataset.range(first_epoch, 2 ** 62).flat_map(one_epoch)
    ds = ds.batch(batch_size, drop_remainder=True).map(lambda i: (tf.gather(data, i),) * 2)
    return ds.prefetch(tf.data.AUTOTUNE)
