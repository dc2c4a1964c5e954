"""Float16 for the convolution stacks only: the nodes `float_ends` names stay float32.

onnxconverter-common's block lists loop for tens of minutes on a second-look graph and ONNX
Runtime's converter leaves duplicated casts, so the conversion is done here: the kept nodes
keep float32, every other node computes in float16 with float16 copies of its constants, and a
Cast sits wherever a tensor crosses between the two.
"""

from __future__ import annotations

import numpy as np


def to_float16(model, float32_nodes: list[str]):
    """A copy of `model` with every node not named in `float32_nodes` in float16."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    model = onnx.shape_inference.infer_shapes(model)
    graph = model.graph
    float_tensors = {v.name for v in (*graph.input, *graph.value_info, *graph.output)
                     if v.type.tensor_type.elem_type == TensorProto.FLOAT}
    initializers = {t.name: t for t in graph.initializer}
    float_tensors |= {n for n, t in initializers.items() if t.data_type == TensorProto.FLOAT}
    kept = set(float32_nodes) | {n.name for n in graph.node if n.op_type == "Constant"}
    half_made = {o for n in graph.node if n.name not in kept for o in n.output}

    nodes, casts, halves = [], {}, {}

    def cast(name: str, to: int) -> str:
        key = (name, to)
        if key not in casts:
            casts[key] = f"{name}_as_{'fp16' if to == TensorProto.FLOAT16 else 'fp32'}"
            nodes.append(helper.make_node("Cast", [name], [casts[key]], to=to,
                                          name=f"cast_{casts[key]}"))
        return casts[key]

    def half_constant(name: str) -> str:
        if name not in halves:
            array = numpy_helper.to_array(initializers[name]).astype(np.float16)
            halves[name] = f"{name}_fp16"
            graph.initializer.append(numpy_helper.from_array(array, halves[name]))
        return halves[name]

    for original in graph.node:
        node = onnx.NodeProto()
        node.CopyFrom(original)
        in_half = node.name not in kept
        for index, name in enumerate(node.input):
            if not name or name not in float_tensors:
                continue
            if in_half and name in initializers:
                node.input[index] = half_constant(name)
            elif in_half and name not in half_made:
                node.input[index] = cast(name, TensorProto.FLOAT16)
            elif not in_half and name in half_made:
                node.input[index] = cast(name, TensorProto.FLOAT)
        nodes.append(node)
    for output in graph.output:
        if output.name in half_made and output.name in float_tensors:
            raise ValueError(f"output {output.name} would be float16")
    del graph.value_info[:]
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = {name for node in nodes for name in node.input}
    unused = [t for t in graph.initializer if t.name not in used]
    for tensor in unused:  # the float32 originals of constants only float16 nodes read
        graph.initializer.remove(tensor)
    return model
