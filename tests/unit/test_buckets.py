"""Bucket URLs, the streamed chunking of a listing, read failures as reasons, and a listed
job's life in the store (real Redis)."""

import asyncio

import pytest

from labeler.bucket_reads import BucketReader, bucket_sources
from labeler.buckets import ListedObject, _listed, bucket_root, is_bucket_url
from labeler.errors import UsageError
from labeler.scan import ScannedFile, StreamedChunks, tapered_chunks
from labeler.settings import Settings, SettingsError


def test_bucket_urls_are_told_from_folders_and_normalised():
    assert is_bucket_url("s3://b/p") and is_bucket_url("gs://b")
    assert not is_bucket_url("/data/photos") and not is_bucket_url("file:///data")
    assert not is_bucket_url("photos")
    root = bucket_root("s3://bucket/photos/2024/")
    assert (root.url, root.object_url("a/b.jpg")) == (
        "s3://bucket/photos/2024", "s3://bucket/photos/2024/a/b.jpg")
    with pytest.raises(UsageError):
        bucket_root("s3://")


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest", "https://example.org/a",
                                 "memory://b", "s3://b/../c", "s3://b//c", "s3://user@b/p",
                                 "s3://b/./c"])
def test_only_object_stores_with_plain_paths_are_buckets(url):
    with pytest.raises(UsageError):
        bucket_root(url)


@pytest.mark.parametrize("key", ["../other/x.jpg", "a/../../x.jpg", "/abs.jpg", "", "a/./b"])
def test_a_key_that_leaves_the_prefix_is_refused(key):
    with pytest.raises(ValueError):
        bucket_root("s3://bucket/photos").object_path(key)


def test_a_root_is_within_an_allowed_prefix_only_at_a_path_boundary():
    root = bucket_root("s3://bucket/photos/2024")
    assert root.within("s3://bucket") and root.within("s3://bucket/photos")
    assert not root.within("s3://bucket/pho") and not root.within("gs://bucket")
    assert not root.within("s3://bucket/photos/2024/june")


def test_a_task_for_a_bucket_outside_the_allowed_ones_reads_nothing():
    reader = BucketReader()
    sources, failed = bucket_sources(reader, "s3://other/x", [(0, "a.jpg"), (1, "b.jpg")],
                                     ("s3://bucket",))
    assert sources == [] and failed == dict.fromkeys(
        (0, 1), "refused: bucket outside LABELER_ALLOWED_BUCKETS")


def test_listing_entries_keep_images_relative_to_the_prefix():
    root = bucket_root("s3://b/p")
    assert _listed(root, {"name": "b/p/x/y.JPG", "size": 5, "ETag": '"e"', "type": "file"}
                   ) == ListedObject("x/y.JPG", 5, '"e"')
    assert _listed(root, {"name": "b/p/notes.txt", "size": 5, "type": "file"}) is None
    assert _listed(root, {"name": "b/p/dir.jpg", "size": 0, "type": "directory"}) is None


@pytest.mark.parametrize("count", [0, 1, 40, 512, 1000, 1536, 1537, 5000])
def test_streamed_chunks_are_the_chunks_of_the_whole_list(count):
    files = [ScannedFile(f"{i:05d}.jpg", 1000 + i % 7) for i in range(count)]
    chunker = StreamedChunks(512, 400_000)
    streamed = []
    for start in range(0, count, 333):  # pages of another size than a chunk
        streamed += chunker.feed(files[start:start + 333])
        assert len(chunker.held) < 3 * 512
    streamed += chunker.finish()
    assert streamed == list(tapered_chunks(files, 512, 400_000))


@pytest.mark.parametrize(("error", "reason"), [
    (FileNotFoundError("photos/x.jpg"), "missing: deleted after listing"),
    (PermissionError("Access Denied"), "unreadable: AccessDenied (Access Denied)"),
    (TimeoutError(), "timeout: no answer from the store in 5 s"),
    (OSError("Read timeout on endpoint URL"), "timeout: no answer from the store in 5 s"),
    (ConnectionRefusedError("refused"), "unreadable: cannot reach the store (refused)"),
    (OSError("[Errno 22] bad"), "unreadable: OSError ([Errno 22] bad)"),
])
def test_read_failures_become_item_reasons(error, reason):
    assert BucketReader(timeout=5).reason(error) == reason


def test_bucket_settings_are_checked():
    settings = Settings.from_env({"LABELER_ALLOWED_BUCKETS": "s3://a/x, gs://b"})
    assert settings.allowed_buckets == ("s3://a/x", "gs://b")
    assert settings.bucket_allowlist == ("s3://a/x", "gs://b")
    assert Settings.from_env({}).bucket_allowlist is None
    assert Settings.from_env({"LABELER_ALLOWED_ROOTS": "/data"}).bucket_allowlist == ()
    with pytest.raises(SettingsError, match="LABELER_ALLOWED_BUCKETS"):
        Settings.from_env({"LABELER_ALLOWED_BUCKETS": "/data"})
    with pytest.raises(SettingsError, match="LABELER_FETCH_TIMEOUT"):
        Settings.from_env({"LABELER_FETCH_TIMEOUT": "95"})


def test_a_listed_job_does_not_end_before_its_listing_does(store):
    store.create_job("j", [], ["a", "b"], root="s3://b/p", listing=1)
    first = store.append_listed("j", ["x.jpg", "y.jpg"], ['"1"', '"2"'])
    assert (first, store.progress("j").total) == (0, 2)
    store.record_chunk("j", {}, {0: "corrupt: x", 1: "corrupt: y"})
    job = store.progress("j")
    assert job.done == job.total == 2 and job.listing and not job.finished
    assert store.append_listed("j", ["z.jpg"], ['"3"']) == 2
    assert store.end_listing("j", chunks=2) == 3
    assert not store.progress("j").finished
    store.record_chunk("j", {}, {2: "corrupt: z"})
    job = store.progress("j")
    assert job.finished and not job.listing and job.record["chunks"] == "2"


def test_a_listing_that_ends_after_its_workers_ends_the_job(store):
    store.create_job("j", [], ["a"], root="s3://b/p", listing=1)
    store.append_listed("j", ["x.jpg"], ['"1"'])
    store.record_chunk("j", {}, {0: "corrupt: x"})
    store.end_listing("j")
    assert store.progress("j").finished


def test_a_short_task_time_limit_shortens_the_default_read_timeout():
    settings = Settings.from_env({"LABELER_TASK_TIME_LIMIT": "6",
                                  "LABELER_VISIBILITY_TIMEOUT": "10"})
    assert settings.fetch_timeout == 3


def test_a_worker_without_the_driver_fails_the_items_instead_of_retrying_the_chunk():
    sources, failed = BucketReader().fetch(bucket_root("oci://b/p"), [(3, "a.jpg")])
    assert sources == [] and failed == {3: "unreadable: reading oci:// needs ocifs: pip install "
                                            "ocifs"}


class _SlowStore:
    """An async filesystem whose every read takes `seconds` and returns 4 bytes."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    async def _cat_file(self, path, start=None, end=None):
        await asyncio.sleep(self.seconds)
        return b"jpeg"


def test_a_chunk_deadline_fails_the_reads_it_cuts_short_and_those_never_started():
    from labeler.bucket_reads import ChunkTimeout, _gather

    reader = BucketReader(timeout=5, concurrency=1, chunk_seconds=0.5)
    got = asyncio.run(_gather(_SlowStore(0.3), ["a", "b", "c", "d"], reader))
    assert got[0] == b"jpeg" and all(isinstance(g, ChunkTimeout) for g in got[1:])
    assert reader.reason(got[1]) == "timeout: the chunk's reads took over 0.5 s"


def test_reads_stop_starting_once_a_chunk_holds_its_bytes():
    from labeler.bucket_reads import ChunkTooLarge, _gather

    reader = BucketReader(timeout=5, concurrency=1, chunk_bytes=5)
    got = asyncio.run(_gather(_SlowStore(0), ["a", "b", "c", "d"], reader))
    assert got[:2] == [b"jpeg", b"jpeg"] and all(isinstance(g, ChunkTooLarge) for g in got[2:])
    assert reader.reason(got[2]).startswith("too-large: the chunk's objects came to over 0 MiB")
