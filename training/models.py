"""Model definitions. Each takes uint8-range pixels (NHWC) and returns logits.

Normalisation is the first layer, so the exported graph carries its own preprocessing and the
worker only decodes and resizes. Softmax (and the calibration temperature) are applied at export
time, once, so training and serving cannot disagree about the output.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np
from keras import layers

# Per-channel CIFAR-10 statistics on 0..255 pixels; close enough for any natural-image dataset.
MEAN = (125.3, 123.0, 113.9)
STD = (63.0, 62.1, 66.7)
# The whitened net's widths for photos (inputs of 64 px a side or more).
PHOTO_WIDTHS = (48, 128, 128)
# The logits layers compute in float32 even under mixed precision: bfloat16 keeps 8 bits of
# mantissa, too coarse for the loss and for the confidences the temperature is fitted to.
LOGITS_DTYPE = "float32"


def _normalise(x):
    # Rescaling with per-channel constants rather than Normalization: Normalization keeps its
    # statistics as captured tensors, which tf2onnx turns into extra graph inputs.
    return layers.Rescaling(
        scale=[1.0 / s for s in STD], offset=[-m / s for m, s in zip(MEAN, STD, strict=True)],
        name="normalise",
    )(x)


def make_wide_resnet(
    input_shape: tuple[int, int, int],
    num_classes: int,
    depth: int = 16,
    width: int = 2,
    weight_decay: float = 2.5e-4,
) -> keras.Model:
    """Zagoruyko and Komodakis's (2016) pre-activation Wide ResNet, WRN-depth-width (16-2:
    0.69 M parameters, 101 M multiply-adds): a third of ResNet-56's depth at twice its width,
    so fewer, fatter convolutions, which a CPU runs closer to its peak. The paper's weight
    decay of 5e-4 is 2.5e-4 as a Keras L2 factor (whose gradient is twice the factor)."""
    blocks_per_stage = (depth - 4) // 6
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = _conv(_normalise(inputs), 16, weight_decay, "stem")
    for stage, stage_width in enumerate((16 * width, 32 * width, 64 * width)):
        for index in range(blocks_per_stage):
            stride = 2 if stage > 0 and index == 0 else 1
            x = _preact_block(x, stage_width, stride, weight_decay,
                              f"stage{stage + 1}_{index + 1}")
    x = _bn_relu(x, "final")
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    logits = layers.Dense(num_classes, name="logits", dtype=LOGITS_DTYPE,
                          kernel_regularizer=keras.regularizers.l2(weight_decay))(x)
    return keras.Model(inputs, logits, name=f"wrn{depth}_{width}")


def _preact_block(x, filters: int, stride: int, weight_decay: float, name: str):
    activated = _bn_relu(x, f"{name}a")
    y = _conv(activated, filters, weight_decay, f"{name}a", strides=stride)
    y = _conv(_bn_relu(y, f"{name}b"), filters, weight_decay, f"{name}b")
    if stride != 1 or x.shape[-1] != filters:
        # As in the original: where the shape changes, the shortcut too starts from the
        # normalised, activated input rather than the raw sum of the previous block.
        x = _projection(activated, filters, stride, weight_decay, name)
    return layers.Add(name=f"{name}_add")([x, y])


def _projection(x, filters: int, stride: int, weight_decay: float, name: str):
    """The 1x1 shortcut convolution where a residual block changes shape."""
    return layers.Conv2D(filters, 1, strides=stride, use_bias=False, name=f"{name}_proj",
                         kernel_regularizer=keras.regularizers.l2(weight_decay))(x)


def _bn_relu(x, name: str):
    x = layers.BatchNormalization(momentum=0.9, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def make_whitened(
    input_shape: tuple[int, int, int],
    num_classes: int,
    widths: tuple[int, int, int] | None = None,
    weight_decay: float = 5e-4,
) -> keras.Model:
    """After airbench94 (Jordan, 2024), narrowed to ~1 M parameters and ~74 M multiply-adds,
    so a horizontal-flip average still fits 150 M: a fixed 2x2 patch-whitening layer (set from
    the training images by `init_whitening`), then three blocks of conv-pool-BN-act-conv-BN-act
    (SiLU). BatchNorm has no scale, and the logits are scaled down as in the original.

    The convolutions feed scale-free BatchNorm, so weight decay sets their effective step size:
    5e-4 (L2) over ~20 epochs at batch 256 shrinks the weights as much in total (the sum of
    lr x decay over the steps) as airbench94's decoupled 0.0153 does in 10 epochs at batch 1024.

    For photos (a side of 64 or more) the whitening patches do not overlap (stride 2), so
    every pixel reaches the first layer at a quarter of the cost, and the widths default to
    (48, 128, 128): at 64x64, 52 M multiply-adds a pass.
    """
    stem_stride = 2 if input_shape[0] >= 64 else 1
    widths = widths or ((64, 176, 176) if stem_stride == 1 else PHOTO_WIDTHS)
    inputs = keras.Input(shape=input_shape, name="pixels")
    x = _normalise(inputs)
    x = layers.Conv2D(2 * 4 * input_shape[-1], 2, strides=stem_stride, padding="valid",
                      name="whiten", trainable=False)(x)
    x = layers.Activation("silu", name="whiten_act")(x)
    for index, width in enumerate(widths, start=1):
        x = _conv(x, width, weight_decay, f"block{index}a")
        x = layers.MaxPooling2D(name=f"block{index}_pool")(x)
        x = _bn_act(x, f"block{index}a")
        x = _conv(x, width, weight_decay, f"block{index}b")
        x = _bn_act(x, f"block{index}b")
    x = layers.GlobalMaxPooling2D(name="pool")(x)
    logits = layers.Dense(num_classes, use_bias=False, name="logits", dtype=LOGITS_DTYPE,
                          kernel_regularizer=keras.regularizers.l2(weight_decay))(x)
    logits = layers.Rescaling(1 / 9, name="logit_scale", dtype=LOGITS_DTYPE)(logits)
    return keras.Model(inputs, logits, name="whitened")


def _conv(x, filters: int, weight_decay: float, name: str, strides: int = 1):
    return layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                         name=f"{name}_conv",
                         kernel_regularizer=keras.regularizers.l2(weight_decay))(x)


def _bn_act(x, name: str):
    # SiLU where airbench has GELU: as smooth, and tf2onnx has no Erfc for Keras's exact GELU.
    x = layers.BatchNormalization(momentum=0.4, epsilon=1e-12, scale=False, name=f"{name}_bn")(x)
    return layers.Activation("silu", name=f"{name}_act")(x)


def init_whitening(model: keras.Model, pixels: np.ndarray, eps: float = 5e-4) -> None:
    """Set the `whiten` layer to the inverse square root of the covariance of normalised 2x2
    patches (both signs, so the activation keeps the information); a no-op for other models."""
    try:
        layer = model.get_layer("whiten")
    except ValueError:
        return
    sample = pixels[: 5000].astype(np.float32)
    normalised = (sample - np.array(MEAN, np.float32)) / np.array(STD, np.float32)
    n, h, w, c = normalised.shape
    patches = np.stack([normalised[:, i:h - 1 + i, j:w - 1 + j] for i in (0, 1) for j in (0, 1)],
                       axis=3).reshape(-1, 4 * c)  # (row, col, channel) order of the kernel
    patches -= patches.mean(0)
    values, vectors = np.linalg.eigh(patches.T @ patches / len(patches))
    kernel = (vectors / np.sqrt(values + eps)).T.reshape(4 * c, 2, 2, c).transpose(1, 2, 3, 0)
    layer.set_weights([np.concatenate([kernel, -kernel], -1), np.zeros(8 * c, np.float32)])


def init_identity(model: keras.Model) -> None:
    """Start each `block*` convolution as the identity on its first input-many output channels
    (airbench's dirac initialisation): the signal passes the untrained net unchanged, so early
    steps refine features instead of undoing noise. A no-op for models without such layers."""
    for layer in model.layers:
        if not (layer.name.startswith("block") and layer.name.endswith("_conv")):
            continue
        kernel = layer.get_weights()[0]  # (3, 3, in, out)
        kh, kw, channels_in, channels_out = kernel.shape
        identity = min(channels_in, channels_out)
        kernel[..., :identity] = 0.0
        kernel[kh // 2, kw // 2, np.arange(identity), np.arange(identity)] = 1.0
        layer.set_weights([kernel])


def make_transfer(input_shape: tuple[int, int, int], num_classes: int) -> keras.Model:
    """MobileNetV3Small with a new head (labeler.training.transfer); untrained here: training
    starts it from ImageNet weights."""
    from labeler.training.transfer import make_transfer as build

    return build(input_shape, num_classes)


# The presets the recipes use (training/recipes/); the others tried are in docs/models.md.
PRESETS: dict[str, Callable[..., keras.Model]] = {
    "whitened": make_whitened,
    "wrn16": make_wide_resnet,
    "transfer": make_transfer,
}
