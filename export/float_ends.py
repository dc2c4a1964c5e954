"""Which nodes of a classifier graph stay in float when the rest is quantised to 8 bits.

The convolution stacks are quantised; the input scaling before them and everything after them
(the logits layer, the temperature, the softmax, and a second look's gating, gathering and
scattering) stay float. Probabilities quantised to 8 bits would serve confidences on a 1/255
grid and turn near-ties into exact zeros.

The split is found from the graph's data flow, not from node order, so it holds for every
graph shape the export writes: one pass, a doubled batch, or a second pass over the rows the
first was unsure of (whose input rows are chosen by the first pass's probabilities).
"""

from __future__ import annotations

from collections.abc import Iterable

# Inputs that carry indices, shapes or lengths rather than pixels or features: a value that
# reaches a convolution only through one of these does not feed the convolution's numbers.
_INDEX_INPUTS = {
    "Gather": {1}, "GatherND": {1}, "GatherElements": {1}, "ScatterND": {1},
    "ScatterElements": {1}, "Expand": {1}, "Reshape": {1}, "ReverseSequence": {1},
    "Slice": {1, 2, 3, 4}, "Tile": {1}, "Pad": {1}, "Squeeze": {1}, "Unsqueeze": {1},
}
# Outputs that describe a tensor's shape, not its values.
_SHAPE_OPS = {"Shape", "Size"}
_QDQ_OPS = {"QuantizeLinear", "DequantizeLinear"}


def _data_inputs(node) -> list[str]:
    if node.op_type in _SHAPE_OPS:
        return []
    skip = _INDEX_INPUTS.get(node.op_type, set())
    return [name for i, name in enumerate(node.input) if name and i not in skip]


def _producers(nodes) -> dict[str, int]:
    return {output: i for i, node in enumerate(nodes) for output in node.output}


def _reach(start: Iterable[int], step) -> set[int]:
    seen, todo = set(), list(start)
    while todo:
        index = todo.pop()
        for nxt in step(index):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def float_nodes(graph) -> list[str]:
    """Names of the nodes to keep in float: every non-Conv node that no convolution's numbers
    pass through (the head before each pass's first Conv and the tail after its last)."""
    nodes = list(graph.node)
    made_by = _producers(nodes)
    fed: dict[int, list[int]] = {i: [] for i in range(len(nodes))}
    for i, node in enumerate(nodes):
        for name in _data_inputs(node):
            if name in made_by:
                fed[made_by[name]].append(i)
    convs = [i for i, node in enumerate(nodes) if node.op_type == "Conv"]

    def upstream(i: int) -> list[int]:
        return [made_by[name] for name in _data_inputs(nodes[i]) if name in made_by]

    feeds_a_conv = _reach(convs, upstream)
    after_a_conv = _reach(convs, lambda i: fed[i])
    between = feeds_a_conv & after_a_conv
    return [node.name for i, node in enumerate(nodes)
            if node.op_type != "Conv" and i not in between]


def quantised_probability_nodes(graph) -> list[str]:
    """The classifier nodes (MatMul, Gemm, Softmax) and graph outputs that read or write an
    8-bit tensor: any of them means the served probabilities are quantised."""
    nodes = list(graph.node)
    made_by = _producers(nodes)
    readers: dict[str, list] = {}
    for node in nodes:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    found = []
    for node in nodes:
        if node.op_type not in ("MatMul", "Gemm", "Softmax"):
            continue
        # A DequantizeLinear of a constant weight is allowed only if the node was quantised
        # on purpose; for the classifier none is, so any 8-bit neighbour counts.
        reads_8bit = any(name in made_by and nodes[made_by[name]].op_type in _QDQ_OPS
                         for name in node.input)
        writes_8bit = any(reader.op_type in _QDQ_OPS
                          for name in node.output for reader in readers.get(name, []))
        if reads_8bit or writes_8bit:
            found.append(node.name)
    for output in graph.output:
        if output.name in made_by and nodes[made_by[output.name]].op_type in _QDQ_OPS:
            found.append(f"output {output.name}")
    return found
