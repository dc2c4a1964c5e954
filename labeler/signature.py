"""The near-duplicate signature: 8 bytes an image, from the pixels the model already got.

The signs of the 63 lowest-frequency cosine-transform coefficients of the image's brightness
(a DCT perceptual hash). Re-encoding, resizing and brightening leave them; a horizontal mirror
flips exactly the signs of the odd horizontal frequencies, so a mirrored copy is the signature
XOR a fixed mask (`mirrored`). The place of the constant (DC) coefficient holds a 1: an
all-zero signature is never one, so 8 zero bytes in the job store mean "no signature" (failed,
or not yet labelled). Computed for a whole batch with two matrix products: a few microseconds
an image.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

BYTES = 8
SIDE = 8  # coefficients kept along each axis: 8 x 8 = 64 bits
LUMA = (0.299, 0.587, 0.114)
# numpy is imported by the functions below, not with this module: the job store reads BYTES,
# and `labeler status` should not pay for numpy.


@functools.cache
def _dct_rows(n: int) -> np.ndarray:
    """The first SIDE rows of the orthonormal DCT-II matrix for `n` samples: the low
    frequencies of an image of any side, so a 64-pixel model input and its 32-pixel copy have
    (nearly) the same coefficients."""
    import numpy as np

    k = np.arange(SIDE)[:, None]
    x = np.arange(n)[None, :]
    rows = np.cos(np.pi * (2 * x + 1) * k / (2 * n)) * np.sqrt(2 / n)
    rows[0] /= np.sqrt(2)
    return rows.astype(np.float32)


@functools.cache
def _mask(odd_columns: bool) -> np.ndarray:
    """The odd horizontal frequencies' bits (a mirror flips them), or the constant term's
    (always 1: "a signature is here")."""
    import numpy as np

    bits = np.zeros((SIDE, SIDE), dtype=bool)
    if odd_columns:
        bits[:, 1::2] = True
    else:
        bits[0, 0] = True
    return np.packbits(bits.ravel())


def signatures(pixels: np.ndarray) -> np.ndarray:
    """(n, BYTES) uint8 signatures of `pixels`, a batch of (n, height, width, 3) RGB images."""
    import numpy as np

    grey = pixels.astype(np.float32) @ np.array(LUMA, dtype=np.float32)
    coefficients = _dct_rows(grey.shape[1]) @ grey @ _dct_rows(grey.shape[2]).T
    bits = (coefficients > 0).reshape(len(pixels), SIDE * SIDE)
    return np.packbits(bits, axis=1) | _mask(odd_columns=False)


def mirrored(signature: np.ndarray) -> np.ndarray:
    """The signature(s) of the mirror image(s): the signature XOR the odd columns' mask."""
    return signature ^ _mask(odd_columns=True)


def present(signature_rows: np.ndarray) -> np.ndarray:
    """Which rows of an (n, BYTES) array hold a signature (not the zeros of a missing one)."""
    return signature_rows.any(axis=1)


def distance(a: np.ndarray, b: np.ndarray) -> int:
    """Differing bits between two signatures, mirror or not: what the search's radius bounds."""
    import numpy as np

    straight = int(np.unpackbits(a ^ b).sum())
    return min(straight, int(np.unpackbits(a ^ mirrored(b)).sum()))
