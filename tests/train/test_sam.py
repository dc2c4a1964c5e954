"""Sharpness-aware minimisation's step, checked against the same arithmetic done by hand."""

import keras
import numpy as np
import tensorflow as tf

from labeler.training.sam import SharpnessAwareModel, sharpest_ascent, sharpness_aware


def _tiny_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,))
    x = keras.layers.Dense(3, name="dense")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.5, name="dense_bn")(x)
    return keras.Model(inputs, keras.layers.Dense(2, name="head")(x))


def _data():
    rng = np.random.default_rng(0)
    return (rng.normal(size=(8, 4)).astype(np.float32),
            np.eye(2, dtype=np.float32)[rng.integers(0, 2, 8)])


def _gradients(model: keras.Model, x, y, shift: list | None = None) -> list[np.ndarray]:
    """The loss gradient at the model's weights plus `shift`, leaving the model as it was."""
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    for weight, step in zip(clone.trainable_variables, shift or [], strict=bool(shift)):
        weight.assign_add(step)
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=True)
    with tf.GradientTape() as tape:
        loss = loss_fn(y, clone(x, training=True))
    return [g.numpy() for g in tape.gradient(loss, clone.trainable_variables)]


def _sam_step(model: keras.Model, rho: float, lr: float, x, y) -> SharpnessAwareModel:
    sam = sharpness_aware(model, rho)
    sam.compile(optimizer=keras.optimizers.SGD(learning_rate=lr),
                loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    sam.train_on_batch(x, y)
    return sam


def test_the_step_uses_the_gradient_at_the_worst_nearby_weights():
    x, y = _data()
    model = _tiny_model()
    before = [w.numpy().copy() for w in model.trainable_variables]
    clean = _gradients(model, x, y)
    ascent = [a.numpy() for a in sharpest_ascent([tf.constant(g) for g in clean], 0.5)]
    expected = _gradients(model, x, y, ascent)
    # Far enough from the clean gradient that a plain SGD step would fail the check below.
    assert max(np.abs(e - g).max() for e, g in zip(expected, clean, strict=True)) > 1e-2
    _sam_step(model, rho=0.5, lr=0.1, x=x, y=y)
    for weight, start, gradient in zip(model.trainable_variables, before, expected, strict=True):
        np.testing.assert_allclose(weight.numpy(), start - 0.1 * gradient, rtol=1e-4, atol=1e-6)
    # The perturbation has the asked length and points up the clean gradient.
    assert np.isclose(np.sqrt(sum((a ** 2).sum() for a in ascent)), 0.5, rtol=1e-6)
    for a, g in zip(ascent, clean, strict=True):
        assert np.sign(a).tolist() == np.sign(g).tolist()


def test_the_batchnorm_statistics_move_once_per_step_as_in_plain_training():
    x, y = _data()
    plain, sharp = _tiny_model(), _tiny_model()
    plain.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1),
                  loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    plain.train_on_batch(x, y)
    _sam_step(sharp, rho=0.5, lr=0.1, x=x, y=y)
    plain_stats, sharp_stats = ([v.numpy() for v in m.get_layer("dense_bn").non_trainable_variables]
                                for m in (plain, sharp))
    for expected, got in zip(plain_stats, sharp_stats, strict=True):  # moving mean, variance
        np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert np.abs(plain_stats[0]).max() > 0  # the step did move them


def test_a_checkpoint_loads_back_as_a_sharpness_aware_model(tmp_path):
    x, y = _data()
    sam = _sam_step(_tiny_model(), rho=0.05, lr=0.1, x=x, y=y)
    sam.save(tmp_path / "last.keras")
    loaded = keras.models.load_model(tmp_path / "last.keras")
    assert isinstance(loaded, SharpnessAwareModel)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), sam.predict(x, verbose=0), atol=1e-6)
    assert sharpness_aware(loaded, 0.1) is loaded and loaded.rho == 0.1
