"""CPU time the hypervisor gave to other guests: on a shared virtual machine it moves a
benchmark's wall time by more than the code under test does."""

from __future__ import annotations

import os
from pathlib import Path

_PROC_STAT = Path("/proc/stat")


def stolen_seconds() -> float | None:
    """Seconds of CPU time stolen from this machine since boot, summed over its CPUs (the
    'steal' column of /proc/stat); None where the system does not count it."""
    try:
        fields = _PROC_STAT.read_text().split("\n", 1)[0].split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def stolen_since(start: float | None) -> float | None:
    """Seconds stolen since `stolen_seconds()` returned `start`."""
    now = stolen_seconds()
    return None if start is None or now is None else round(now - start, 2)


def unstolen_rate(images: int, seconds: float, stolen: float | None, cores: int) -> float | None:
    """Images per second of the CPU time the machine was given: `images` over `seconds` of
    wall time on `cores`, less what was stolen in that window, expressed per wall second of
    all cores (so with nothing stolen it equals images / seconds)."""
    if stolen is None:
        return None
    given = seconds * cores - stolen
    return images * cores / given if given > 0 else None
