"""The Celery and kombu internals the dead-worker hand-back relies on are still there: when an
upgrade moves them, this fails and says what moved, before a fleet loses its chunks for the
length of a visibility timeout."""

from __future__ import annotations

from importlib.metadata import version

from labeler.worker.broker_internals import contract_problems


def test_the_installed_celery_and_kombu_still_offer_what_the_hand_back_uses():
    problems = contract_problems()
    assert not problems, (
        f"celery {version('celery')} / kombu {version('kombu')} moved what "
        "worker/broker_internals.py relies on: " + "; ".join(problems))


def test_a_moved_internal_is_named(monkeypatch):
    from kombu.transport import redis

    monkeypatch.delattr(redis.QoS, "restore_by_tag")
    assert contract_problems() == [
        "kombu.transport.redis.QoS.restore_by_tag(tag, client=...) is gone"]
