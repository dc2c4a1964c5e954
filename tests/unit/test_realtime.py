"""The real-time batching loop, with a stand-in engine (pure scheduling logic): concurrent
requests share batches, a lone one waits at most max_wait, a bad image is its own error, and
too many waiting images are refused at once."""

import asyncio
import io
import time

import numpy as np
import pytest
from PIL import Image

from labeler.bundle import load_bundle
from labeler.settings import DEFAULT_BUNDLE
from labeler.web.realtime import RealtimeBusy, RealtimeLabeller


class SlowEngine:
    model_id = "stand-in"

    def __init__(self, classes: int, seconds: float) -> None:
        self.classes, self.seconds = classes, seconds

    def run(self, pixels: np.ndarray) -> np.ndarray:
        time.sleep(self.seconds)
        probs = np.full((len(pixels), self.classes), 0.01, dtype=np.float32)
        probs[:, 0] = 1 - 0.01 * (self.classes - 1)
        return probs


def _labeller(seconds: float = 0.02, **options) -> RealtimeLabeller:
    bundle = load_bundle(DEFAULT_BUNDLE)
    labeller = RealtimeLabeller(bundle, **options)
    engine = SlowEngine(len(bundle.classes), seconds)
    labeller.warm = lambda: engine  # every runner thread shares the stand-in
    return labeller


def _image() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 32), (90, 120, 30)).save(out, "PNG")
    return out.getvalue()


def test_concurrent_requests_share_batches_and_get_their_own_results():
    labeller = _labeller(max_batch=8, runners=1)

    async def many():
        return await asyncio.gather(*(labeller.label([_image()]) for _ in range(20)))

    replies = asyncio.run(many())
    assert [len(r) for r in replies] == [1] * 20
    assert replies[0][0]["label"] == labeller.bundle.classes[0]
    assert asyncio.run(labeller.label([b"not an image"]))[0].startswith("not-an-image")
    assert sum(labeller.batches) == 20 and max(labeller.batches) == 8
    assert len(labeller.batches) < 20


def test_a_lone_request_waits_at_most_the_batch_wait():
    labeller = _labeller(seconds=0.0, max_wait=0.05)

    async def one():
        clock = time.perf_counter()
        await labeller.label([_image()])
        return time.perf_counter() - clock

    assert asyncio.run(one()) < 0.5
    assert labeller.batches == [1]


def test_more_waiting_images_than_allowed_are_refused_at_once():
    labeller = _labeller(seconds=0.2, max_pending=4)

    async def flood():
        first = asyncio.ensure_future(labeller.label([_image()] * 4))
        await asyncio.sleep(0.01)
        with pytest.raises(RealtimeBusy) as refused:
            await labeller.label([_image()])
        assert refused.value.retry_after >= 1
        return await first

    assert len(asyncio.run(flood())) == 4
