"""A job whose items arrive while they are listed (a bucket): opened before the first key is
known, items appended with their versions a chunk at a time, and closed when the listing ends.

While `listing` is set in its record the job's total is only what has been listed so far, so
it does not end when its workers catch up with the listing. Each item's version (its ETag,
hashed to 8 bytes) sits in one string at 8 x its index, so a resubmission tells a changed
object from one labelled already.
"""

from __future__ import annotations

import hashlib
import json

from labeler.signature import BYTES as SIGNATURE_BYTES
from labeler.store.index import mark_bits
from labeler.store.keys import (
    accepted_bits_key,
    accepts_key,
    attempts_key,
    bits_key,
    ended_key,
    job_key,
    paths_key,
    rank_key,
    results_key,
    reviews_key,
    signatures_key,
    steps_key,
    versions_key,
)
from labeler.store.reads import BLOCK

VERSION_BYTES = 8


def version_digest(etag: str) -> bytes:
    """The 8 bytes an item's version is kept as."""
    return hashlib.blake2b(etag.encode(), digest_size=VERSION_BYTES).digest()


class Listing:
    """The job store's listed jobs (a part of labeler.store.JobStore)."""

    def begin_listing(self, job_id: str) -> None:
        """The job's items are being listed (again): unfinished until `end_listing`, and its
        chunks counted afresh (a resubmission numbers them from 0)."""
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), "listing", 1)
        pipe.hdel(job_key(job_id), "finished")
        pipe.delete(ended_key(job_id), attempts_key(job_id), steps_key(job_id))
        pipe.execute()

    def append_listed(self, job_id: str, paths: list[str], etags: list[str]) -> int:
        """Add listed items with their versions; the index of the first. The job's total
        follows, so progress counts what has been listed."""
        first = self.add_paths(job_id, paths)
        pipe = self.redis.pipeline()
        # The items run on from `first`: their versions are one range.
        pipe.setrange(versions_key(job_id), first * VERSION_BYTES,
                      b"".join(version_digest(e) for e in etags))
        pipe.expire(versions_key(job_id), self.ttl)
        pipe.hset(job_key(job_id), "total", first + len(paths))
        pipe.execute()
        return first

    def set_versions(self, job_id: str, etags: dict[int, str]) -> None:
        """New versions of items listed before (objects changed since)."""
        pipe = self.redis.pipeline()
        for index, etag in etags.items():
            pipe.setrange(versions_key(job_id), index * VERSION_BYTES, version_digest(etag))
        pipe.expire(versions_key(job_id), self.ttl)
        pipe.execute()

    def versions(self, job_id: str) -> bytes:
        """Every item's version digest, 8 bytes at 8 x its index (zeros: not known)."""
        return self.redis.get(versions_key(job_id)) or b""

    def reset_items(self, job_id: str, indices: list[int], changed: bool = False) -> None:
        """These items count as not done again (a failed one). With `changed` (another object
        under the same key) nothing said of the old one stays: its class, people's reviews
        and acceptances, its near-duplicate signature."""
        classes = len(json.loads(self.job_record(job_id).get("classes") or "[]"))
        accepts = int(self.redis.llen(accepts_key(job_id))) if changed else 0
        for start in range(0, len(indices), BLOCK):
            block = indices[start:start + BLOCK]
            pipe = self.redis.pipeline()
            for index in block:
                pipe.lset(results_key(job_id), index, "")
            pipe.zrem(rank_key(job_id), *block)
            stale = ["failed", "done", *range(classes)] + (["reviewed"] if changed else [])
            for which in stale:
                mark_bits(pipe, bits_key(job_id, which), block, 0)
            if changed:
                pipe.hdel(reviews_key(job_id), *block)
                for action in range(accepts):
                    mark_bits(pipe, accepted_bits_key(job_id, action), block, 0)
                for index in block:
                    pipe.setrange(signatures_key(job_id), index * SIGNATURE_BYTES,
                                  bytes(SIGNATURE_BYTES))
            pipe.execute()

    def end_listing(self, job_id: str, **fields: str | int) -> int:
        """Every item is listed: the total is final (and returned), and the job ends now if
        its workers have done them all (else the chunk that does the last one ends it)."""
        total = self.redis.llen(paths_key(job_id))
        pipe = self.redis.pipeline()
        pipe.hset(job_key(job_id), mapping={"total": total, **fields})
        pipe.hdel(job_key(job_id), "listing")
        pipe.execute()
        progress = self.progress(job_id)
        if progress and progress.complete and not progress.finished:
            self.mark_ended(job_id)
        return total
