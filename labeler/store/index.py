"""The paging index of a job's items: every query the web page and the CLI make answers from
these structures in a few round trips, never by reading every item.

An item is known by its index, its position in the job's path list (sorted by path within
each submission). With its result the chunk writes put, in the same round trip:

    labeler:job:{id}:rank          zset    index -> class rank x 10^8 + confidence x 10^7
                                           (failed: -1); whole numbers, so ties are exact
    labeler:job:{id}:bits:{rank}   bitmap  bit index set: labelled with the class of that rank
    labeler:job:{id}:bits:failed   bitmap  bit index set: failed
    labeler:job:{id}:bits:done     bitmap  bit index set: labelled or failed

A person's review moves an item to its class's reviewed band: rank + the number of classes
(store/reviews.py), its confidence kept; `bits:reviewed` marks it too. "Not reviewed yet" is
then the first bands only, and a class is its two bands.

"Class X by confidence" is then a score range, "class X by path" the set bits of a bitmap,
counts are BITCOUNTs and ZCOUNTs, and the order of all items by confidence is merged from
the class ranges (store/paging.py). The score arithmetic lives here and nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

SCALE = 10**7  # confidence steps: what 7 significant digits of a top-1 probability need
STRIDE = 10 * SCALE  # one class's range of scores
FAILED_SCORE = -1


def confidence_step(confidence: float) -> int:
    return round(confidence * SCALE)


def step_score(rank: int, step: int) -> int:
    """The score of an item of class `rank` whose confidence is `step` steps."""
    return rank * STRIDE + step


def step_of(score: int, rank: int) -> int:
    return score - rank * STRIDE


def score(rank: int, confidence: float) -> int:
    return step_score(rank, confidence_step(confidence))


def class_scores(rank: int, below: float | None = None) -> tuple[int, int]:
    """The scores of class `rank`'s items (those less sure than `below`), both ends in."""
    if below is None:
        return step_score(rank, 0), step_score(rank, SCALE)
    return step_score(rank, 0), score(rank, below) - 1


def class_bands(rank: int, classes: int) -> tuple[int, int]:
    """The score bands of class `rank`: not reviewed, reviewed."""
    return rank, classes + rank


def set_bits(bitmap: bytes) -> np.ndarray:
    """Indices of the set bits of a Redis bitmap (bit 0 is the high bit of byte 0)."""
    import numpy as np  # loaded by what reads or writes bitmaps, not by `labeler status`

    return np.flatnonzero(np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8)))


def without_bits(indices: np.ndarray, bitmap: bytes) -> np.ndarray:
    """`indices` (sorted) less those whose bit is set in `bitmap`."""
    import numpy as np

    bits = np.unpackbits(np.frombuffer(bitmap, dtype=np.uint8))
    inside = indices < len(bits)
    keep = np.ones(len(indices), dtype=bool)
    keep[inside] = bits[indices[inside]] == 0
    return indices[keep]


def bit_runs(indices, gap: int = 64) -> list[tuple[int, bytes]]:
    """The bytes of a bitmap with `indices` set, as (first byte, bytes) runs to merge into a
    Redis bitmap: a chunk's items are mostly consecutive, so a chunk is a few dozen bytes
    instead of a command argument per item. A run ends where more than `gap` bytes would
    hold no index, so scattered indices stay small."""
    import numpy as np

    found = np.unique(np.asarray(indices, dtype=np.int64))
    if not len(found):
        return []
    breaks = np.flatnonzero(np.diff(found >> 3) > gap) + 1
    runs = []
    for part in np.split(found, breaks):
        first = int(part[0] >> 3)
        bits = np.zeros((int(part[-1] >> 3) - first + 1) * 8, dtype=np.uint8)
        bits[part - first * 8] = 1
        runs.append((first, np.packbits(bits).tobytes()))
    return runs


# Bits set (ARGV[1] "1") or cleared ("0") in the bitmap KEYS[1], given as (first byte, bytes)
# runs (`bit_runs`): each run's bytes are read, merged and written back.
MERGE_BITS = """
local set = ARGV[1] == '1'
for i = 2, #ARGV, 2 do
    local first, mask = tonumber(ARGV[i]), ARGV[i + 1]
    local old = redis.call('GETRANGE', KEYS[1], first, first + #mask - 1)
    local merged = {}
    for j = 1, #mask do
        local byte, bits = string.byte(old, j) or 0, string.byte(mask, j)
        if set then
            merged[j] = string.char(bit.bor(byte, bits))
        else
            merged[j] = string.char(bit.band(byte, 255 - bits))
        end
    end
    redis.call('SETRANGE', KEYS[1], first, table.concat(merged))
end
return 1
"""


def mark_bits(pipe, key: str, indices: list[int], value: int) -> None:
    """Set (1) or clear (0) the bits of `indices` in the bitmap `key`, on `pipe`, merged a
    run of bytes at a time."""
    if runs := bit_runs(indices):
        pipe.eval(MERGE_BITS, 1, key, value, *[part for run in runs for part in run])
