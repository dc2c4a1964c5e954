import os

import pytest

from labeler.scan import (
    InsideResolver,
    ScannedFile,
    chunk_files,
    resolve_inside,
    scan_images,
    tail_sizes,
    tapered_chunks,
)


def test_scan_finds_images_recursively_sorted_and_ignores_others(tmp_path):
    for name in ["b/x.JPG", "a/y.png", "a/deep/z.webp", "notes.txt", "a/raw.cr2", "é/ü ñ.jpeg"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"12345")
    found = scan_images(tmp_path)
    assert [f.path for f in found] == ["a/deep/z.webp", "a/y.png", "b/x.JPG", "é/ü ñ.jpeg"]
    assert all(f.size == 5 for f in found)


def test_scan_does_not_follow_symlinks_out_of_the_root(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.jpg").write_bytes(b"x")
    root = tmp_path / "root"
    root.mkdir()
    os.symlink(outside, root / "link")
    os.symlink(outside / "secret.jpg", root / "file.jpg")
    assert scan_images(root) == []


def _files(*sizes):
    return [ScannedFile(f"{i}.jpg", s) for i, s in enumerate(sizes)]


def test_chunks_are_bounded_by_count():
    chunks = list(chunk_files(_files(*[1] * 10), max_images=4, max_bytes=10**9))
    assert [len(c) for c in chunks] == [4, 4, 2]


def test_chunks_are_bounded_by_bytes_and_an_oversize_file_stands_alone():
    chunks = list(chunk_files(_files(40, 40, 40, 500, 10), max_images=100, max_bytes=100))
    assert [[f.size for f in c] for c in chunks] == [[40, 40], [40], [500], [10]]


def test_chunking_keeps_every_file_once():
    files = _files(*range(1, 200))
    chunks = list(chunk_files(files, max_images=7, max_bytes=300))
    assert [f for c in chunks for f in c] == files


def test_resolve_inside_refuses_escapes(tmp_path):
    (tmp_path / "a").mkdir()
    assert resolve_inside(tmp_path, "a/b.jpg") == tmp_path.resolve() / "a" / "b.jpg"
    for bad in ["../x.jpg", "/etc/passwd", "a/../../x.jpg"]:
        with pytest.raises(ValueError):
            resolve_inside(tmp_path, bad)


def test_the_folder_caching_resolver_refuses_the_same_escapes(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "link.jpg").symlink_to("/etc/hostname")
    (tmp_path / "out").symlink_to("/etc")
    resolver = InsideResolver(tmp_path)
    assert resolver.resolve("a/b.jpg") == str(tmp_path.resolve() / "a" / "b.jpg")
    assert resolver.resolve("top.jpg") == str(tmp_path.resolve() / "top.jpg")
    for bad in ["../x.jpg", "/etc/passwd", "a/../../x.jpg", "a/link.jpg", "out/hostname",
                "a/b/../../../x.jpg"]:
        with pytest.raises(ValueError):
            resolver.resolve(bad)


def test_a_jobs_last_chunks_are_smaller_so_workers_finish_together():
    files = _files(*[1] * 1000)
    chunks = list(tapered_chunks(files, max_images=256, max_bytes=10**9))
    assert [len(c) for c in chunks] == [256, 232, 128, 128, 64, 64, 32, 32, 16, 16, 16, 16]
    assert [f for c in chunks for f in c] == files
    assert tail_sizes(100, 512) == [25, 25, 16, 16, 18]
    assert tail_sizes(20, 512) == [20] and tail_sizes(2, 256) == [2]
    assert sum(tail_sizes(1024, 512)) == 1024 and tail_sizes(1024, 512)[:2] == [256, 256]
