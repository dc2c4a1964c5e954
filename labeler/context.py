"""What every command needs, built lazily: settings, the Redis URL (starting the embedded
server when none is configured) and the job store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING

from labeler.settings import Settings, get_settings

if TYPE_CHECKING:
    from labeler.store import Fleet, JobStore


@dataclass
class Context:
    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def redis_url(self) -> str:
        # redis-py and the store load here, not at import: `--help` needs neither.
        from labeler.redis_server import redis_url

        return redis_url(self.settings)

    @cached_property
    def store(self) -> JobStore:
        from labeler.redis_server import connect
        from labeler.store import JobStore

        return JobStore(connect(self.redis_url), ttl=self.settings.result_ttl)

    @cached_property
    def fleet(self) -> Fleet:
        from labeler.store import Fleet

        return Fleet(self.store.redis)

    @property
    def embedded(self) -> bool:
        return not self.settings.redis_url

    def revive_redis(self) -> None:
        """After an outage: restart the embedded Redis (from its append-only file)."""
        from labeler.redis_server import ensure_redis

        if self.embedded:
            ensure_redis(self.settings.home, self.settings.redis_maxmemory)
