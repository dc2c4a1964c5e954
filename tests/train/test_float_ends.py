"""Which nodes int8 and fp16 keep in float, read off the shipped second-look graph."""

import onnx
import pytest
from onnx import helper

from labeler.export.float_ends import float_nodes, quantised_probability_nodes
from labeler.settings import DEFAULT_BUNDLE


@pytest.fixture(scope="module")
def graph():
    return onnx.load(str(DEFAULT_BUNDLE / "model.onnx")).graph


def _by_type(graph, names):
    kept = set(names)
    return {n.op_type for n in graph.node if n.name in kept}


def test_both_passes_keep_their_classifier_and_gating_in_float(graph):
    kept = set(float_nodes(graph))
    ends = [n for n in graph.node if n.op_type in ("MatMul", "Softmax", "ScatterND", "NonZero")]
    assert len([n for n in ends if n.op_type == "MatMul"]) == 2  # the plain and mirror pass
    assert all(n.name in kept for n in ends)
    assert "Conv" not in _by_type(graph, kept)


def test_the_convolution_stacks_of_both_passes_are_left_to_quantise(graph):
    kept = set(float_nodes(graph))
    convs = [n for n in graph.node if n.op_type == "Conv"]
    assert len(convs) >= 14
    # Between two convolutions (pooling, BatchNorm, activations) nothing stays float.
    inside = {"MaxPool", "Sigmoid"}
    assert not [n.name for n in graph.node if n.op_type in inside and n.name in kept
                and not n.name.endswith(("block3b_act_1/Sigmoid",))]
    # The mirror pass's input scaling (after the first pass's gathering) stays float.
    gathered = [n for n in graph.node if n.op_type == "GatherND"]
    assert gathered and all(n.name in kept for n in gathered)


def test_a_quantised_softmax_is_found(graph):
    assert quantised_probability_nodes(graph) == []
    model = onnx.ModelProto()
    model.graph.CopyFrom(graph)
    softmax = next(n for n in model.graph.node if n.op_type == "Softmax")
    old = softmax.output[0]
    softmax.output[0] = f"{old}_float"
    scale = helper.make_tensor("q_scale", onnx.TensorProto.FLOAT, [], [1 / 255])
    zero = helper.make_tensor("q_zero", onnx.TensorProto.UINT8, [], [0])
    model.graph.initializer.extend([scale, zero])
    model.graph.node.extend([
        helper.make_node("QuantizeLinear", [f"{old}_float", "q_scale", "q_zero"], [f"{old}_q"],
                         name="q"),
        helper.make_node("DequantizeLinear", [f"{old}_q", "q_scale", "q_zero"], [old],
                         name="dq"),
    ])
    assert quantised_probability_nodes(model.graph) == [softmax.name]


def test_the_export_refuses_a_variant_serving_8bit_confidences():
    import numpy as np

    from labeler.export.bundle_export import _failed_floor
    from labeler.export.checks import share_on_8bit_grid

    rng = np.random.default_rng(0)
    floats = rng.uniform(0.3, 0.99, 1000)
    on_grid = np.round(floats * 255) / 255
    assert share_on_8bit_grid(floats) < 0.02 and share_on_8bit_grid(on_grid) == 1.0
    fp32 = {"checks": {"confidences_on_8bit_grid": share_on_8bit_grid(floats)}}
    floors = {"int8": 0.98}
    honest = {"confidences_on_8bit_grid": share_on_8bit_grid(floats), "top1_agreement": 0.99}
    rounded = {"confidences_on_8bit_grid": 1.0, "top1_agreement": 0.99}
    assert _failed_floor("int8", honest, floors, fp32) is None
    assert "1/255 grid" in _failed_floor("int8", rounded, floors, fp32)
