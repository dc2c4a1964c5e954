"""Groups of near-identical images among a job's signatures (labeler.signature).

Identical signatures collapse first (a million-image job of copies has few distinct ones);
the distinct ones go into a faiss multi-index hash, whose range search is exact: with three
21-bit tables probed at up to 2 flipped bits, any two signatures within `MAX_RADIUS` bits share
a probed bucket (pigeonhole). Each signature is searched as it is and mirrored. Pairs become
groups as the connected components of the graph they make (scipy).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

import numpy as np

from labeler.errors import ServiceError
from labeler.signature import BYTES, mirrored, present

# Bits two signatures may differ by and count as one image. Measured on CIFAR-10's test set
# with planted copies (labeler bench duplicates): 8 finds re-encoded, resized, brightened and
# mirrored copies nearly always, at about 95 % precision.
RADIUS = 8
MAX_RADIUS = 8  # what the index's tables and flips guarantee to find
_TABLES, _TABLE_BITS, _FLIPS = 3, 21, 2
_QUERY_BLOCK = 65536  # range-search results are held for this many queries at a time


@dataclass(frozen=True)
class DuplicateGroups:
    """Groups of item indices (each sorted, the groups largest first) and how many items had a
    signature to compare."""

    groups: list[list[int]]
    compared: int

    @property
    def images(self) -> int:
        return sum(len(group) for group in self.groups)


def find_groups(rows: np.ndarray, radius: int = RADIUS) -> DuplicateGroups:
    """Near-duplicate groups among `rows`, an (n, BYTES) uint8 array of signatures by item
    index (zero rows, items without a signature, take no part)."""
    if not 0 <= radius <= MAX_RADIUS:
        raise ValueError(f"radius must be 0 to {MAX_RADIUS} bits, not {radius}")
    items = np.flatnonzero(present(rows))
    if len(items) < 2:
        return DuplicateGroups([], len(items))
    distinct, which = np.unique(rows[items], axis=0, return_inverse=True)
    pairs = _near_pairs(distinct, radius)
    # Every item joins the node of its distinct signature; near pairs join nodes.
    nodes = len(distinct)
    left = np.concatenate([pairs[0], which.ravel()])
    right = np.concatenate([pairs[1], nodes + np.arange(len(items))])
    labels = _components(left, right, nodes + len(items))[nodes:]
    return DuplicateGroups(_groups_of(items, labels), len(items))


def _near_pairs(distinct: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """(i, j) with i < j, indices into `distinct`, of the signatures within `radius` bits,
    straight or mirrored."""
    if len(distinct) < 2:
        return _no_pairs()
    if radius == 0:  # identical signatures are one node already; exact mirror images pair
        return _mirror_pairs(distinct)
    faiss = _library("faiss")

    index = faiss.IndexBinaryMultiHash(BYTES * 8, _TABLES, _TABLE_BITS)
    index.nflip = _FLIPS
    index.add(distinct)
    found = []
    for start in range(0, len(distinct), _QUERY_BLOCK):
        block = distinct[start:start + _QUERY_BLOCK]
        for queries in (block, mirrored(block)):
            limits, _, neighbours = index.range_search(np.ascontiguousarray(queries), radius + 1)
            owners = start + np.repeat(np.arange(len(block)), np.diff(limits).astype(np.int64))
            keep = owners < neighbours
            found.append(np.stack([owners[keep], neighbours[keep]]))
    return tuple(np.concatenate(found, axis=1))


def _mirror_pairs(distinct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys = {row.tobytes(): i for i, row in enumerate(distinct)}
    pairs = [(i, keys[m.tobytes()]) for i, m in enumerate(mirrored(distinct))
             if keys.get(m.tobytes(), -1) > i]
    return tuple(np.array(pairs, dtype=np.int64).reshape(-1, 2).T) if pairs else _no_pairs()


def _no_pairs() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)


def _components(left: np.ndarray, right: np.ndarray, nodes: int) -> np.ndarray:
    sparse = _library("scipy.sparse")
    connected_components = _library("scipy.sparse.csgraph").connected_components
    coo_matrix = sparse.coo_matrix
    graph = coo_matrix((np.ones(len(left), dtype=np.int8), (left, right)), shape=(nodes, nodes))
    return connected_components(graph, directed=False)[1]


def _library(name: str):
    """faiss and scipy, imported when a search runs: large, and left out of worker images."""
    try:
        return importlib.import_module(name)
    except ImportError:
        raise ServiceError("the near-duplicate search needs faiss and scipy, which this "
                           "install lacks: pip install faiss-cpu scipy") from None


def _groups_of(items: np.ndarray, labels: np.ndarray) -> list[list[int]]:
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    groups = [items[part].tolist() for part in np.split(order, bounds) if len(part) > 1]
    groups.sort(key=lambda group: (-len(group), group[0]))
    return groups
