"""Third-party programs the tests install at test time, each into a venv of its own under the
test cache, from a lock file kept in the repo (locks/). The venv records what it was built
from; a venv whose record differs from today's lock, or whose program does not start, is built
again rather than trusted."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("LABELER_TEST_CACHE", Path.home() / ".cache" / "labeler-tests"))
RECORD = "labeler-lock.sha256"


class ToolFailed(RuntimeError):
    """A pinned program failed to install or to start; the message names it, its version and
    the last lines of its output."""


@dataclass(frozen=True)
class PinnedTool:
    """A program installed from `lock` (pip's requirement format, every package pinned) into
    `cache / venv_name`; `program` is its path inside the venv."""

    name: str
    lock: Path
    program: str
    cache: Path = CACHE

    @property
    def version(self) -> str:
        prefix = f"{self.name}=="
        for line in self.lock.read_text().splitlines():
            if line.lower().startswith(prefix):
                return line[len(prefix):].strip()
        raise ToolFailed(f"{self.lock} pins no {self.name}")

    @property
    def venv(self) -> Path:
        return self.cache / f"{self.name}-{self.version}"

    def wanted_record(self) -> str:
        """What a venv built from today's lock, by this Python, records."""
        built_by = f"{sys.version_info.major}.{sys.version_info.minor}\n"
        return hashlib.sha256(built_by.encode() + self.lock.read_bytes()).hexdigest()

    def is_current(self) -> bool:
        record = self.venv / RECORD
        return ((self.venv / self.program).exists() and record.exists()
                and record.read_text().strip() == self.wanted_record())

    def installed(self, rebuild: bool = False) -> Path:
        """The program's path, (re)built first when the cached venv is missing, was built
        from another lock, or `rebuild` says it is broken (a few minutes for a large one)."""
        if rebuild or not self.is_current():
            self._build()
        return self.venv / self.program

    def _build(self) -> None:
        shutil.rmtree(self.venv, ignore_errors=True)
        log = self.cache / f"{self.name}-install.log"
        self.cache.mkdir(parents=True, exist_ok=True)
        with open(log, "w") as out:
            # The venv gets no pip of its own: the tests' pip installs into it (seconds less).
            for step in ([sys.executable, "-m", "venv", "--without-pip", str(self.venv)],
                         [sys.executable, "-m", "pip", "--python", str(self.venv / "bin" /
                          "python"), "install", "-q", "--disable-pip-version-check", "-r",
                          str(self.lock)]):
                if subprocess.run(step, stdout=out, stderr=subprocess.STDOUT).returncode:
                    shutil.rmtree(self.venv, ignore_errors=True)
                    raise self.failure("install failed", log)
        # Written last: a half-built venv has no record and is built again next time.
        (self.venv / RECORD).write_text(self.wanted_record() + "\n")

    def failure(self, what: str, log: Path, lines: int = 30) -> ToolFailed:
        tail = log.read_text(errors="replace").splitlines()[-lines:] if log.exists() else []
        return ToolFailed(f"{self.name} {self.version}: {what} (log {log}); its last "
                          f"lines:\n" + "\n".join(tail))


LABEL_STUDIO = PinnedTool("label-studio", REPO / "locks" / "label-studio.txt", "bin/label-studio")
