"""What every command needs, built lazily: settings, the Redis URL (starting the embedded
server when none is configured) and the job store."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

from labeler.jobstore import JobStore
from labeler.redis_server import connect, ensure_redis, redis_url
from labeler.settings import Settings, get_settings


@dataclass
class Context:
    settings: Settings = field(default_factory=get_settings)

    @cached_property
    def redis_url(self) -> str:
        return redis_url(self.settings)

    @cached_property
    def store(self) -> JobStore:
        return JobStore(connect(self.redis_url), ttl=self.settings.result_ttl)

    @property
    def embedded(self) -> bool:
        return not self.settings.redis_url

    def revive_redis(self) -> None:
        """After an outage: restart the embedded Redis (from its append-only file)."""
        if self.embedded:
            ensure_redis(self.settings.home, self.settings.redis_maxmemory)
