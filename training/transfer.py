"""Transfer learning for small photo sets: ImageNet's MobileNetV3Small from keras.applications.

Stage 1 runs the frozen network once over every training image and a few augmented views of
each, caches the pooled features, and trains the new head on them: seconds, not a pass of the
whole network per epoch. Stage 2 fine-tunes the top blocks with the head at a low learning
rate on fresh augmented views (BatchNorm stays in inference mode, as fine-tuning on a few
hundred photos a class needs). Scaling to the range the backbone expects is its first layer,
so the exported graph takes uint8 pixels like every other bundle.
"""

from __future__ import annotations

import math

import keras
import numpy as np

from labeler.errors import LabelerError, UsageError
from labeler.training.augment import AugmentedBatches, resized_crops
from labeler.training.models import LOGITS_DTYPE

SIDE = 224  # the resolution the ImageNet weights were trained at: 56 M multiply-adds a photo
WEIGHTS_FILE = "weights_mobilenet_v3_small_224_1.0_float_no_top_v2.h5"
FEATURE_VIEWS = 4  # augmented views per image whose features the head also trains on
TOP_BLOCKS = ("expanded_conv_9", "expanded_conv_10", "conv_1")  # fine-tuned in stage 2


def backbone(side: int, weights: str | None) -> keras.Model:
    """MobileNetV3Small without its classifier, average-pooled, with ImageNet weights: from
    `weights` (a file) when given, else downloaded by Keras (cached under ~/.keras/models)."""
    try:
        return keras.applications.MobileNetV3Small(
            input_shape=(side, side, 3), include_top=False, pooling="avg",
            weights=weights or "imagenet", include_preprocessing=True)
    except Exception as exc:  # Keras raises a bare Exception when a download fails
        if weights:
            raise LabelerError(f"cannot load ImageNet weights from {weights}: {exc}") from None
        reason = (str(exc).splitlines() or [type(exc).__name__])[0][:200]
        raise UsageError(
            "the transfer recipe needs ImageNet weights, and Keras could not download them "
            f"({reason}): pass --weights FILE, the file {WEIGHTS_FILE} (Keras keeps it in "
            "~/.keras/models/ on a machine that has downloaded it)") from None


def make_transfer(input_shape: tuple[int, int, int], num_classes: int,
                  base: keras.Model | None = None) -> keras.Model:
    """`base` (default: an untrained MobileNetV3Small, for loading a trained model's weights
    into) with BatchNorm in inference mode, and a new dropout-and-dense head named `logits`."""
    base = base or keras.applications.MobileNetV3Small(
        input_shape=input_shape, include_top=False, pooling="avg", weights=None,
        include_preprocessing=True)
    base.trainable = False
    inputs = keras.Input(shape=input_shape, name="pixels")
    features = base(inputs, training=False)
    x = keras.layers.Dropout(0.2, name="dropout")(features)
    logits = keras.layers.Dense(num_classes, name="logits", dtype=LOGITS_DTYPE)(x)
    return keras.Model(inputs, logits, name="transfer_mobilenetv3small")


def fit_head(model: keras.Model, pixels: np.ndarray, larger: np.ndarray, labels: np.ndarray,
             seed: int, label_smoothing: float, epochs: int = 60) -> dict:
    """Stage 1: the head trained on cached features of the images and their views."""
    base = model.layers[1]
    rng = np.random.default_rng((seed, 17))
    views = [pixels] + [resized_crops(larger, rng, pixels.shape[1], 0.35)[0]
                        for _ in range(FEATURE_VIEWS)]
    features = np.concatenate([base.predict(v.astype(np.float32), batch_size=64, verbose=0)
                               for v in views])
    targets = np.tile(labels, len(views))
    head = keras.Sequential([keras.Input(features.shape[1:]), keras.layers.Dropout(0.2),
                             keras.layers.Dense(model.output_shape[-1])])
    head.compile(optimizer=keras.optimizers.Adam(1e-3),
                 loss=keras.losses.CategoricalCrossentropy(
                     from_logits=True, label_smoothing=label_smoothing))
    onehot = np.eye(model.output_shape[-1], dtype=np.float32)[targets]
    history = head.fit(features, onehot, batch_size=64, epochs=epochs, verbose=0,
                       shuffle=True)
    model.get_layer("logits").set_weights(head.layers[-1].get_weights())
    print(f"stage 1: head trained on {len(features):,} cached feature vectors "
          f"({len(views)} views of {len(pixels):,} photos)", flush=True)
    return {"head_loss": [float(v) for v in history.history["loss"]]}


def fine_tune_top(model: keras.Model, larger: np.ndarray, labels: np.ndarray, epochs: int,
                  peak_lr: float, label_smoothing: float, seed: int) -> dict:
    """Stage 2: the top blocks and the head fine-tuned on random-resized crops."""
    base = model.layers[1]
    base.trainable = True
    for layer in base.layers:
        layer.trainable = layer.name.startswith(TOP_BLOCKS) and not isinstance(
            layer, keras.layers.BatchNormalization)
    batches = AugmentedBatches(larger, labels, model.output_shape[-1], 32, seed, cutout=0,
                               crop_area=0.35, side=model.input_shape[1])
    steps = len(batches) * epochs
    schedule = keras.optimizers.schedules.CosineDecay(peak_lr, decay_steps=max(1, steps))
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.CategoricalCrossentropy(
                      from_logits=True, label_smoothing=label_smoothing),
                  metrics=["accuracy"])
    history = model.fit(batches, epochs=epochs, verbose=2)
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def head_epochs(images: int) -> int:
    """Enough passes over the cached features for a few hundred head updates."""
    return max(20, min(100, math.ceil(600 * 64 / max(1, images * (1 + FEATURE_VIEWS)))))
