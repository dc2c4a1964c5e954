"""SGD with a larger learning rate for BatchNorm biases, as airbench does.

The whitened preset's convolutions feed scale-free BatchNorm, so their step size is set by
weight decay; the BatchNorm biases (the only per-channel shift) are not scale-free and learn far
too slowly at the convolutions' rate. Keras has no per-variable learning rate, so the scale is
applied in `update_step`, and the class is registered so a checkpoint (which carries the
optimizer for --resume) loads again.
"""

from __future__ import annotations

import keras


@keras.saving.register_keras_serializable(package="labeler")
class BiasScaledSGD(keras.optimizers.SGD):
    def __init__(self, bias_lr_scale: float = 1.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.bias_lr_scale = bias_lr_scale

    def build(self, variables) -> None:
        super().build(variables)
        # By index: the TensorFlow backend hands update_step bare tf.Variables, without paths.
        self._bias_indices = {i for i, v in enumerate(variables) if is_batchnorm_bias(v.path)}

    def update_step(self, gradient, variable, learning_rate):
        if self.bias_lr_scale != 1.0 and self._get_variable_index(variable) in self._bias_indices:
            learning_rate = learning_rate * self.bias_lr_scale
        return super().update_step(gradient, variable, learning_rate)

    def get_config(self) -> dict:
        return {**super().get_config(), "bias_lr_scale": self.bias_lr_scale}


def is_batchnorm_bias(path: str) -> bool:
    """Keras names a BatchNormalization layer's shift `<layer>/beta`; our layers end in `_bn`."""
    layer, _, name = path.rpartition("/")
    return name == "beta" and layer.endswith("_bn")
