"""What a worker is started with: set by `labeler worker` (and the local workers `submit`
spawns), carried to every pool process in the environment."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass


@dataclass
class WorkerOptions:
    model: str
    precision: str = "auto"
    provider: str = "auto"
    batch_size: int = 64
    threads: int = 1
    decode_threads: int | None = None  # None: 0 (in-process) on a CPU, 2 on a GPU
    decode_timeout: float = 20.0
    redis_url: str = ""

    ENV = "LABELER_WORKER_OPTIONS"

    def to_env(self) -> None:
        os.environ[self.ENV] = json.dumps(asdict(self))

    @classmethod
    def from_env(cls) -> WorkerOptions:
        return cls(**json.loads(os.environ[cls.ENV]))
