"""Keep glibc from handing training's freed memory back to the kernel after every step.

tf.data's generator dataset (which a Keras PyDataset runs through) calls
mallopt(M_TRIM_THRESHOLD, 128 KB), which also freezes glibc's mmap threshold at 128 KB. Every
activation tensor of a training step (tens of MB) is then a fresh mmap: page faults and page
zeroing took ~40 % of training CPU time on the 2-core machine (perf: clear_page, page faults),
and a step cost ~1.6x its CPU time without them. Raising both thresholds after the dataset
has started keeps the memory in the heap for the next step.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import keras

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
_LARGEST_MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's ceiling on 64-bit
_TRIM_THRESHOLD = 1 << 30


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds; False where the C library is not glibc."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, _LARGEST_MMAP_THRESHOLD)
                and mallopt(M_TRIM_THRESHOLD, _TRIM_THRESHOLD))


class KeepFreedMemory(keras.callbacks.Callback):
    """Applies `keep_freed_memory` once the epoch's data iterator exists (it resets them)."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 0:
            keep_freed_memory()
