"""Multiply-adds per image, counted from the layers, so budgets are checked, not estimated."""

from __future__ import annotations

import math

import keras


def count_macs(model: keras.Model) -> int:
    """Multiply-adds of one forward pass on one image: convolutions and dense layers (the
    rest, BatchNorm, pooling, activations, is small and not multiply-adds of weights)."""
    total = 0
    for layer in _leaf_layers(model):
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            h, w, c = layer.output.shape[1:]
            total += h * w * c * math.prod(layer.kernel_size)
        elif isinstance(layer, keras.layers.Conv2D):
            h, w, out = layer.output.shape[1:]
            groups = getattr(layer, "groups", 1)
            total += h * w * out * math.prod(layer.kernel_size) * (layer.input.shape[-1] // groups)
        elif isinstance(layer, keras.layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)


def _leaf_layers(model: keras.Model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
