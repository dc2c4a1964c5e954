"""Feed a run's augmented batches to `fit` as a tf.data pipeline without the autotuner.

Given a PyDataset, Keras builds `from_generator(...).prefetch(AUTOTUNE)`. The autotuner's
optimisation thread sleeps for up to a minute between rounds, and replacing the epoch's
iterator waits for it to wake (gdb: `~RootDataset::Iterator` waiting on
`model::Model::OptimizeLoop`): on the 2-core AMX machine about half the epochs of the
whitened preset took 82 s instead of 44, idle for the difference. A fixed prefetch of two
batches keeps the one step of look-ahead that matters and nothing that sleeps.
"""

from __future__ import annotations

import keras
import tensorflow as tf

PREFETCH_BATCHES = 2


def without_autotune(batches: keras.utils.PyDataset) -> tf.data.Dataset:
    """One epoch of `batches` (in index order) as a dataset of known length, autotune off.
    Pair it with `AdvanceEpoch(batches)`: `fit` calls `on_epoch_end` only on a PyDataset."""
    x, y = batches[0]  # for the signature; batches are pure functions of (epoch, index)
    dataset = tf.data.Dataset.from_generator(
        lambda: (batches[i] for i in range(len(batches))),
        output_signature=(tf.TensorSpec((None, *x.shape[1:]), tf.float32),
                          tf.TensorSpec((None, *y.shape[1:]), tf.float32)),
    ).apply(tf.data.experimental.assert_cardinality(len(batches)))
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options).prefetch(PREFETCH_BATCHES)


class AdvanceEpoch(keras.callbacks.Callback):
    """Moves the batches to the next epoch's order and augmentation seeds."""

    def __init__(self, batches: keras.utils.PyDataset) -> None:
        super().__init__()
        self.batches = batches

    def on_epoch_end(self, epoch, logs=None):
        self.batches.on_epoch_end()
