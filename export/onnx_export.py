"""Keras -> ONNX (FP32) with preprocessing and calibrated softmax inside the graph.

Keras 3 + tf2onnx: `from_keras` fails (KeyError keras_tensor_N), so the model is wrapped in a
`tf.function` with an input signature and converted with `from_function`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from labeler.errors import LabelerError, import_extra
from labeler.serving import Serving

OPSET = 17  # run by current ONNX Runtime CPU, CUDA and TensorRT providers
INPUT_NAME = "pixels"
OUTPUT_NAME = "probabilities"


def _import_train_stack():
    return import_extra("tensorflow"), import_extra("keras"), import_extra("tf2onnx")


def load_keras_model(path: Path):
    _, keras, _ = _import_train_stack()
    if not path.is_file():
        raise LabelerError(f"no Keras model at {path}")
    return keras.models.load_model(path, compile=False)


def convert_to_onnx(model, serving: Serving, out_path: Path, metadata: dict) -> None:
    """Write an ONNX graph: uint8 NHWC pixels in, calibrated probabilities out, computed as
    `serving` says (labeler/serving.py computes the same in numpy)."""
    tf, _, tf2onnx = _import_train_stack()
    height, width, channels = model.input_shape[1:]
    spec = (tf.TensorSpec((None, height, width, channels), tf.uint8, name=INPUT_NAME),)

    @tf.function(input_signature=spec)
    def serve(pixels):
        images = tf.cast(pixels, tf.float32)
        if serving.mirror == "always":
            # One pass over a double batch: the provider sees one large batch, not two.
            both = model(tf.concat([images, tf.reverse(images, axis=[2])], 0), training=False)
            logits = tf.reduce_mean(tf.stack(tf.split(both, 2)), axis=0)
            probabilities = tf.nn.softmax(logits / serving.mirror_temperature)
        else:
            logits = model(images, training=False)
            probabilities = tf.nn.softmax(logits / serving.temperature)
        if serving.mirror == "unsure":
            # A second pass over the unsure rows only; both passes share one set of weights.
            unsure = tf.where(tf.reduce_max(probabilities, axis=1) < serving.unsure_below)
            mirrored = model(tf.reverse(tf.gather_nd(images, unsure), axis=[2]), training=False)
            averaged = (tf.gather_nd(logits, unsure) + mirrored) / 2
            probabilities = tf.tensor_scatter_nd_update(
                probabilities, unsure, tf.nn.softmax(averaged / serving.mirror_temperature))
        return tf.identity(probabilities, name=OUTPUT_NAME)

    onnx_model, _ = tf2onnx.convert.from_function(
        serve, input_signature=spec, opset=OPSET, output_path=None
    )
    _rename_io(onnx_model)
    for key, value in metadata.items():
        prop = onnx_model.metadata_props.add()
        prop.key, prop.value = key, value if isinstance(value, str) else json.dumps(value)
    import onnx

    onnx.checker.check_model(onnx_model)
    onnx.save(onnx_model, str(out_path))


def _rename_io(onnx_model) -> None:
    """tf2onnx names outputs after TF tensors (`Identity:0`); give them stable names."""
    graph = onnx_model.graph
    for old, new in ((graph.input[0].name, INPUT_NAME), (graph.output[0].name, OUTPUT_NAME)):
        if old == new:
            continue
        for node in graph.node:
            node.input[:] = [new if n == old else n for n in node.input]
            node.output[:] = [new if n == old else n for n in node.output]
        for value in list(graph.input) + list(graph.output):
            if value.name == old:
                value.name = new


def keras_probabilities(model, pixels: np.ndarray, serving: Serving) -> np.ndarray:
    from labeler.training.keras_reference import predict_logits

    return serving.probabilities(lambda x: predict_logits(model, x, batch_size=256), pixels)
