"""Every `labeler:*` Redis key, one builder each; nothing else spells a key.

    labeler:job:{id}           hash   root, model, precision, classes, total, created, started,
                                      listing (while a bucket's keys are still listed)...
    labeler:job:{id}:paths     list   the items' paths (an item's index is its position)
    labeler:job:{id}:results   list   beside paths: "" pending, "!reason: detail" failed, or
                                      the result: model, margin, top-k (store/result_text.py)
    labeler:job:{id}:models    list   the model ids results name by position
    labeler:job:{id}:rank      zset   the paging index (store/index.py): index -> class rank
    labeler:job:{id}:bits:*    bitmap   and confidence; items per class, failed and done
    labeler:job:{id}:signatures  string  8 bytes an item at 8 x its index: its near-duplicate
                                      signature (labeler/signature.py), zeros if it has none
    labeler:job:{id}:versions  string  8 bytes an item at 8 x its index: a hash of a bucket
                                      object's ETag when listed (store/listing.py)
    labeler:job:{id}:reviews   hash   index -> JSON label, model, by, at: a person's review
                                      (store/reviews.py); bits:reviewed marks every reviewed item
    labeler:job:{id}:accepts   list   JSON by, at, above, count: each "accept above" action,
                                      bits:accepted:{n} the items action n accepted
    labeler:job:{id}:attempts  hash   chunk index -> deliveries seen
    labeler:job:{id}:steps     hash   chunk index -> JSON steps of a redelivered chunk
                                      (labeler.worker.redelivery), while it runs
    labeler:job:{id}:ended     list   one entry once the job is done (waiters block on it)
    labeler:job:{id}:stages    hash   seconds summed over chunks: queue_wait, decode, infer, write
    labeler:job:{id}:batches   hash   inference batch size -> how many batches had it
                                      (these two only for a job submitted with timings on)
    labeler:jobs               zset   job id by creation time
    labeler:counters           hash   labelled:{model}, failed:{reason}, chunks:{retried,gave-up}
                                      counted as written (a redone chunk counts again)
    labeler:worker:{name}      string JSON description, expires unless refreshed
    labeler:worker-activity:{name}  string time of the worker's last task start or end
    labeler:spawned:{queue}    string a local worker was just started for this queue
"""

from __future__ import annotations

PREFIX = "labeler"
JOBS_INDEX = f"{PREFIX}:jobs"
COUNTERS = f"{PREFIX}:counters"


def job_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}"


def paths_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:paths"


def results_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:results"


def models_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:models"


def rank_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:rank"


def bits_key(job_id: str, which: int | str) -> str:
    """Bitmap of the items labelled with class rank `which`, or "failed", or "done"."""
    return f"{PREFIX}:job:{job_id}:bits:{which}"


def signatures_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:signatures"


def versions_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:versions"


def reviews_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:reviews"


def accepts_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:accepts"


def accepted_bits_key(job_id: str, action: int) -> str:
    return f"{PREFIX}:job:{job_id}:bits:accepted:{action}"


def attempts_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:attempts"


def steps_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:steps"


def ended_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:ended"


def stages_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:stages"


def batches_key(job_id: str) -> str:
    return f"{PREFIX}:job:{job_id}:batches"


def all_job_keys(job_id: str, classes: int, accepts: int = 0) -> list[str]:
    """Every key a job with `classes` classes and `accepts` "accept above" actions may have."""
    return [job_key(job_id), paths_key(job_id), results_key(job_id), models_key(job_id),
            rank_key(job_id), bits_key(job_id, "failed"), bits_key(job_id, "done"),
            bits_key(job_id, "reviewed"), reviews_key(job_id), accepts_key(job_id),
            *(accepted_bits_key(job_id, n) for n in range(accepts)),
            *(bits_key(job_id, rank) for rank in range(classes)), signatures_key(job_id),
            versions_key(job_id),
            attempts_key(job_id),
            steps_key(job_id), ended_key(job_id), stages_key(job_id), batches_key(job_id)]


def worker_key(name: str) -> str:
    return f"{PREFIX}:worker:{name}"


def activity_key(name: str) -> str:
    return f"{PREFIX}:worker-activity:{name}"


def spawn_key(queue: str) -> str:
    return f"{PREFIX}:spawned:{queue}"
