"""Stage times of a job a benchmark submitted with timings on: seconds per pipeline stage
summed over chunks, and how many inference batches had each size."""

from __future__ import annotations

from labeler.store.keys import batches_key, stages_key


def add_timings(pipe, job_id: str, timings: dict, ttl: int) -> None:
    """Queue on `pipe` one chunk's `timings` (stages, batch_sizes), added to the job's."""
    for stage, seconds in timings["stages"].items():
        pipe.hincrbyfloat(stages_key(job_id), stage, seconds)
    for size in timings["batch_sizes"]:
        pipe.hincrby(batches_key(job_id), str(size), 1)
    pipe.expire(stages_key(job_id), ttl)
    pipe.expire(batches_key(job_id), ttl)


class StageTimings:
    """The job store's benchmark timings (a part of labeler.store.JobStore)."""

    def stage_times(self, job_id: str) -> tuple[dict[str, float], dict[int, int]]:
        """Seconds per pipeline stage summed over chunks, and the batch-size histogram."""
        stages = {k.decode(): float(v) for k, v in self.redis.hgetall(stages_key(job_id)).items()}
        batches = {int(k): int(v) for k, v in self.redis.hgetall(batches_key(job_id)).items()}
        return stages, batches
