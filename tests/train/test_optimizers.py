"""The whitened preset's two airbench details: BatchNorm biases learn at a scaled rate, and the
block convolutions start as the identity."""

import keras
import numpy as np
import pytest

from labeler.training.models import init_identity, make_whitened
from labeler.training.optimizers import BiasScaledSGD, is_batchnorm_bias


def test_only_batchnorm_shifts_count_as_biases():
    assert is_batchnorm_bias("block1a_bn/beta")
    assert not is_batchnorm_bias("block1a_bn/gamma")
    assert not is_batchnorm_bias("block1a_conv/kernel")
    assert not is_batchnorm_bias("logits/beta")


def _one_step(bias_lr_scale: float) -> dict[str, np.ndarray]:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, use_bias=False, name="dense")(inputs)
    x = keras.layers.BatchNormalization(scale=False, name="dense_bn")(x)
    model = keras.Model(inputs, keras.layers.Dense(1, name="head")(x))
    before = {v.path: v.numpy().copy() for v in model.trainable_variables}
    model.compile(optimizer=BiasScaledSGD(bias_lr_scale=bias_lr_scale, learning_rate=0.01),
                  loss="mse")
    data = np.random.default_rng(0).normal(size=(8, 4)).astype(np.float32)
    model.train_on_batch(data, np.ones((8, 1), np.float32))
    return {v.path: v.numpy() - before[v.path] for v in model.trainable_variables}


def test_batchnorm_biases_move_scale_times_as_far_and_nothing_else_changes():
    plain, scaled = _one_step(1.0), _one_step(64.0)
    np.testing.assert_allclose(scaled["dense_bn/beta"], 64 * plain["dense_bn/beta"], rtol=1e-4)
    assert np.abs(plain["dense_bn/beta"]).max() > 0
    for path in ("dense/kernel", "head/kernel", "head/bias"):
        np.testing.assert_allclose(scaled[path], plain[path], rtol=1e-5, atol=1e-8)


def test_the_scale_survives_a_config_round_trip():
    config = keras.optimizers.serialize(BiasScaledSGD(bias_lr_scale=64.0, momentum=0.9))
    restored = keras.optimizers.deserialize(config)
    assert isinstance(restored, BiasScaledSGD)
    assert (restored.bias_lr_scale, restored.momentum) == (64.0, pytest.approx(0.9))


def test_identity_init_passes_the_first_channels_through_each_block_convolution():
    model = make_whitened((32, 32, 3), 10)
    init_identity(model)
    conv = model.get_layer("block2b_conv")  # 176 -> 176: every channel is the identity
    x = np.random.default_rng(0).normal(size=(1, 7, 7, 176)).astype(np.float32)
    np.testing.assert_allclose(conv(x).numpy(), x, atol=1e-6)
    widen = model.get_layer("block2a_conv")  # 64 -> 176: the first 64 are
    y = np.random.default_rng(1).normal(size=(1, 15, 15, 64)).astype(np.float32)
    out = widen(y).numpy()
    np.testing.assert_allclose(out[..., :64], y, atol=1e-6)
    assert np.abs(out[..., 64:]).max() > 0.01  # the rest keep their random start
