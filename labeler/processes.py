"""Processes on this host, read from /proc: alive or not, a labeler worker or not, who is in a
process group."""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path


def group_members(pgid: int) -> list[int]:
    """Live processes of the process group `pgid` other than its leader."""
    members = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != pgid and _alive(int(entry.name)):
            with contextlib.suppress(OSError):
                if os.getpgid(int(entry.name)) == pgid:
                    members.append(int(entry.name))
    return members


def wait_for_exit(pids: list[int], timeout: float) -> list[int]:
    """Wait until every process in `pids` has exited; those still running after `timeout`."""
    deadline = time.monotonic() + timeout
    while (running := [p for p in pids if _alive(p)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie has exited; only its parent has not
    collected it yet)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def is_labeler_worker(pid: int | None) -> bool:
    """The process is alive and is a labeler worker (a recycled pid is not)."""
    if not pid or not _alive(pid):
        return False
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"worker" in command and b"labeler" in b" ".join(command)
