"""The fleet's Prometheus metrics, read from Redis at each scrape (`labeler serve`'s
/metrics): what every worker has written, the queues, the workers online and recent jobs.

One scrape target sees the whole fleet, so its counters are not summed across workers; each
worker's own port (`labeler worker --metrics-port`) adds its stage-time histograms.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from labeler.store import Fleet, JobStore

RECENT_JOBS = 20


class FleetCollector(Collector):
    def __init__(self, store: JobStore, fleet: Fleet) -> None:
        self.store, self.fleet = store, fleet

    def collect(self) -> Iterator[Metric]:
        counters = self.fleet.counters()
        yield _counter("labeler_images_labelled", "Images labelled, by model", "model",
                       counters, "labelled")
        yield _counter("labeler_images_failed", "Images that failed, by reason", "reason",
                       counters, "failed")
        yield _counter("labeler_chunks", "Chunks retried after an error, or given up after "
                       "too many deliveries", "outcome", counters, "chunks")
        workers = self.fleet.workers()
        yield GaugeMetricFamily("labeler_workers_online", "Workers with a live heartbeat",
                                value=len(workers))
        jobs = self.store.recent_jobs(limit=RECENT_JOBS)
        depth = GaugeMetricFamily("labeler_queue_depth", "Chunks waiting in a queue",
                                  labels=["queue"])
        queues = {q for w in workers for q in w.get("queues", [])}
        queues |= {j.record["queue"] for j in jobs if j.record.get("queue")}
        for queue in sorted(queues):
            depth.add_metric([queue], self.fleet.queue_depth(queue))
        yield depth
        images = GaugeMetricFamily("labeler_job_images", "Images of a recent job, by state",
                                   labels=["job", "state"])
        for job in jobs:
            images.add_metric([job.id, "labelled"], job.labelled)
            images.add_metric([job.id, "failed"], job.failed)
            images.add_metric([job.id, "pending"], max(0, job.total - job.done))
        yield images


def _counter(name: str, text: str, label: str, counters: dict[str, int], kind: str
             ) -> CounterMetricFamily:
    family = CounterMetricFamily(name, text, labels=[label])
    for field, value in sorted(counters.items()):
        if field.startswith(f"{kind}:"):
            family.add_metric([field.split(":", 1)[1]], value)
    return family


def metrics_text(store: JobStore, fleet: Fleet) -> tuple[bytes, str]:
    """The exposition text and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(FleetCollector(store, fleet))
    return generate_latest(registry), CONTENT_TYPE_LATEST
