import os

import numpy as np
import pytest

from labeler.label_results import significant, significant_all
from labeler.worker.labelling import DecodePool, label_chunk
from tests.conftest import write_image

CLASSES = ("a", "b", "c")


def _run(pixels):
    probs = np.tile(np.array([0.2, 0.7, 0.1], np.float32), (len(pixels), 1))
    return probs


def test_results_carry_top_k_margin_and_model_and_batches_are_bounded(tmp_path):
    items = [(i, str(write_image(tmp_path / f"{i}.png", seed=i))) for i in range(10)]
    items.append((10, b"not an image"))
    out = label_chunk(items, _run, CLASSES, (32, 32), "m:fp32:abc", 2, 4, DecodePool(2, 5))
    assert out.batch_sizes == [4, 4, 2]
    assert out.errors == {10: "not-an-image: unknown or unsupported format"}
    first = out.results[0]
    assert first.label == "b" and first.confidence == 0.7
    assert first.top_k == (("b", 0.7), ("a", 0.2))
    assert abs(first.margin - 0.5) < 1e-6 and first.model == "m:fp32:abc"


# One decode thread (the abandoned one is replaced), or none: the interval timer interrupts it.
@pytest.mark.parametrize("threads", [1, 0])
def test_a_stuck_decode_fails_only_its_item(tmp_path, threads):
    items = [(i, str(write_image(tmp_path / f"{i}.png", seed=i))) for i in range(4)]
    os.mkfifo(tmp_path / "stuck.png")
    items.insert(1, (4, str(tmp_path / "stuck.png")))
    out = label_chunk(items, _run, CLASSES, (32, 32), "m", 1, 64, DecodePool(threads, 0.5))
    assert list(out.errors) == [4] and out.errors[4].startswith("timeout")
    assert sorted(out.results) == [0, 1, 2, 3]
    if threads:
        with open(os.open(tmp_path / "stuck.png", os.O_RDWR), "wb"):
            pass  # give the abandoned thread its data so it ends


def test_tiny_and_near_certain_probabilities_keep_their_digits(tmp_path):
    def run(pixels):
        row = np.array([1 - 3e-7 - 2e-7, 3e-7, 2e-7], np.float32)
        return np.tile(row, (len(pixels), 1))

    items = [(0, str(write_image(tmp_path / "0.png", seed=0)))]
    result = label_chunk(items, run, CLASSES, (32, 32), "m", 3, 4, DecodePool(1, 5)).results
    top_k = [p for _, p in result[0].top_k]
    assert top_k[1:] == [3e-7, 2e-7]  # not rounded to a 0.0 tie
    assert result[0].confidence < 1.0


def test_rounding_in_numpy_gives_what_formatting_gives_for_every_kind_of_probability():
    rng = np.random.default_rng(1)
    edges = [np.float32(10.0**k) for k in range(-12, 1)]
    values = np.concatenate([
        rng.random(50_000), 10.0 ** rng.uniform(-12, 0, 50_000),  # uniform, and every scale
        rng.integers(1, 256, 500) / 256,  # halfway cases at the eighth digit
        [0.0, 1.0, 1e-4, 9.9999e-5, 1e-38, 1e-45],
        [np.nextafter(e, np.float32(d)) for e in edges for d in (0, 2)], edges,
    ]).astype(np.float32)
    assert significant_all(values) == [significant(v) for v in values.tolist()]


def test_in_process_limit_spares_slow_items_under_it_and_leaves_no_timer():
    import signal
    import time

    pool = DecodePool(0, 0.4)  # ticks every 0.1 s

    def decode(seconds):
        time.sleep(seconds)
        return seconds

    before = signal.getsignal(signal.SIGALRM)
    out = list(pool.map(decode, [0.25, 0.0, 0.3]))
    assert out == [0.25, 0.0, 0.3]  # several ticks passed, none over the limit
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is before
    started = time.monotonic()
    timed_out = list(pool.map(decode, [5.0, 0.0]))
    assert isinstance(timed_out[0], TimeoutError) and timed_out[1] == 0.0
    assert 0.4 <= time.monotonic() - started < 0.4 * (1 + 1 / DecodePool.TICKS) + 0.2
