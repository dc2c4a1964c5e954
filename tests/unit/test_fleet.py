"""The fleet registry against a real Redis (started by the tests)."""

import os
import socket
import subprocess

from labeler.store import Fleet


def _announce(fleet, name, pid, queues=("qa",)):
    fleet.heartbeat(name, {"name": name, "queue": queues[0], "queues": list(queues),
                           "host": socket.gethostname(), "pid": pid}, ttl=30)


def test_workers_are_listed_by_queue_until_forgotten(store):
    fleet = Fleet(store.redis)
    fleet.heartbeat("w1", {"name": "w1", "queue": "qa", "queues": ["qa", "qb"]}, ttl=30)
    assert [w["name"] for w in fleet.workers("qb")] == ["w1"]
    assert fleet.workers("qc") == []
    fleet.forget_worker("w1")
    assert fleet.workers() == []


def test_a_dead_local_worker_is_left_out_of_reads_and_removed_only_by_prune(store):
    fleet = Fleet(store.redis)
    gone = subprocess.Popen(["true"])
    gone.wait()
    _announce(fleet, "dead", gone.pid)
    _announce(fleet, "remote", os.getpid())
    fleet.heartbeat("elsewhere", {"name": "elsewhere", "queues": ["qa"], "host": "other-host",
                                  "pid": gone.pid}, ttl=30)
    # This test process is no labeler worker either: only another host's record is trusted.
    assert [w["name"] for w in fleet.workers()] == ["elsewhere"]
    assert store.redis.exists("labeler:worker:dead")  # reading deleted nothing
    assert sorted(fleet.prune_dead()) == ["dead", "remote"]
    assert not store.redis.exists("labeler:worker:dead")
    assert store.redis.exists("labeler:worker:elsewhere")


def test_only_one_caller_may_spawn_a_local_worker_at_a_time(store):
    fleet = Fleet(store.redis)
    assert fleet.claim_spawn("q", seconds=30)
    assert not fleet.claim_spawn("q", seconds=30)
    fleet.release_spawn(["q"])
    assert fleet.claim_spawn("q", seconds=30)
