"""Probabilities into results: the top-k classes, the confidence and the margin of each image,
to the 7 significant digits a float32 holds. The workers and the real-time endpoint both call
`label_results`, so a label reads the same whichever path made it."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from labeler.protocol import LabelResult


def significant(p: float) -> float:
    """A probability to 7 significant digits: what float32 holds, so a tiny probability stays
    distinct from its neighbours (never a rounded 0 tie) and none below 1 becomes 1."""
    return float(f"{float(p):.7g}")


# At or above this, a float32 times the power of ten that leaves it 7 digits before the point
# (at most 10**10) is exact in float64, so rounding it there rounds as formatting does.
_EXACT_ABOVE = 1e-4


def significant_all(values: np.ndarray) -> list[float]:
    """`significant` of each of the float32 `values`, in numpy: formatting and parsing each
    probability cost more than the rest of a result. Scaled by a power of ten that leaves
    7 digits before the point, rounded half to even and scaled back (each step exact or
    correctly rounded); values too small for that go through `significant`."""
    x = values.astype(np.float64).ravel()
    plain = x >= _EXACT_ABOVE
    shift = 6 - np.floor(np.log10(np.where(plain, x, 1.0))).astype(np.int64)
    power = 10.0 ** shift
    rounded = np.where(plain, np.rint(x * power) / power, x).tolist()
    for i in np.flatnonzero(~plain).tolist():
        rounded[i] = significant(rounded[i])
    return rounded


def label_results(probs: np.ndarray, classes: Sequence[str], model_id: str, top_k: int,
                  signatures: np.ndarray | None = None) -> list[LabelResult]:
    """One LabelResult per row of `probs` (n, classes); `signatures` (n, 8) ride along."""
    k = max(1, min(top_k, probs.shape[1]))
    order = np.argsort(-probs, axis=1)[:, :k]
    ranked = np.take_along_axis(probs, order, axis=1)
    second = ranked[:, 1] if k > 1 else np.sort(probs, axis=1)[:, -2]
    margins = significant_all(ranked[:, 0] - second)
    # Plain lists: indexing numpy arrays one element at a time cost more than the rest.
    labels = np.asarray(classes, dtype=object)[order].tolist()
    confidences = significant_all(ranked)
    results = []
    for row in range(len(probs)):
        top = tuple(zip(labels[row], confidences[row * k:row * k + k], strict=True))
        signature = signatures[row].tobytes() if signatures is not None else None
        results.append(LabelResult(top[0][0], top[0][1], margins[row], top, model_id,
                                   signature))
    return results
