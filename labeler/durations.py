"""Durations as people read them, shared by job progress and training progress."""

from __future__ import annotations


def format_seconds(seconds: float | None) -> str:
    """`1:02:03` or `2:03`; `--:--` when unknown."""
    if seconds is None:
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else f"{rest // 60}:{rest % 60:02d}"
