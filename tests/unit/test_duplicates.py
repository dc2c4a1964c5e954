"""The near-duplicate signature and the grouping: pure arithmetic over pixels and bytes."""

import io

import numpy as np
import pytest
from PIL import Image, ImageEnhance

from labeler.duplicates import MAX_RADIUS, RADIUS, find_groups
from labeler.imaging import decode_image
from labeler.signature import BYTES, distance, mirrored, signatures
from tests.conftest import REPO

EXAMPLES = sorted((REPO / "examples" / "images").rglob("*.jpg"))


def _decoded(data: bytes, side: int = 32) -> np.ndarray:
    return decode_image(data, (side, side))


def _jpeg(image: Image.Image, quality: int = 90) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality)
    return out.getvalue()


def _signature(pixels: np.ndarray) -> np.ndarray:
    return signatures(pixels[None])[0]


def test_copies_of_a_photo_stay_within_the_radius_and_other_photos_do_not():
    photo = Image.open(EXAMPLES[0]).convert("RGB")
    original = _signature(_decoded(EXAMPLES[0].read_bytes()))
    copies = {
        "re-encoded": _jpeg(photo, quality=35),
        "resized": _jpeg(photo.resize((128, 128), Image.Resampling.BICUBIC)),
        "brightened": _jpeg(ImageEnhance.Brightness(photo).enhance(1.3)),
        "mirrored": _jpeg(photo.transpose(Image.Transpose.FLIP_LEFT_RIGHT)),
    }
    for kind, data in copies.items():
        assert distance(original, _signature(_decoded(data))) <= RADIUS, kind
    others = [distance(original, _signature(_decoded(p.read_bytes()))) for p in EXAMPLES[1:]]
    assert min(others) > RADIUS


def test_a_mirror_image_is_the_signature_xor_the_mask_at_any_input_size():
    for side in (32, 64):
        pixels = _decoded(EXAMPLES[3].read_bytes(), side)
        assert np.array_equal(_signature(pixels[:, ::-1]), mirrored(_signature(pixels)))


def test_a_blank_image_still_has_a_signature_and_shapes_are_bytes():
    blank = np.full((2, 32, 32, 3), 128, dtype=np.uint8)
    rows = signatures(blank)
    assert rows.shape == (2, BYTES) and rows.dtype == np.uint8 and rows.any(axis=1).all()


def _rows(count: int, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).integers(0, 256, (count, BYTES), dtype=np.uint8)
    rows[:, 0] |= 0x80
    return rows


def _flip(row: np.ndarray, bits: list[int]) -> np.ndarray:
    row = row.copy()
    for bit in bits:
        row[bit // 8] ^= np.uint8(1 << (7 - bit % 8))
    return row


def test_pairs_within_the_radius_are_always_found_and_beyond_it_never():
    rows = _rows(200)
    rng = np.random.default_rng(1)
    near = [_flip(rows[i], list(rng.choice(range(1, 64), RADIUS, replace=False)))
            for i in range(50)]
    far = [_flip(rows[i], list(rng.choice(range(1, 64), RADIUS + 1, replace=False)))
           for i in range(50, 100)]
    found = find_groups(np.vstack([rows, near, far]))
    assert sorted(map(tuple, found.groups)) == [(i, 200 + i) for i in range(50)]
    assert found.compared == 300


def test_identical_rows_are_one_group_and_missing_rows_take_no_part():
    rows = np.vstack([_rows(1)] * 5 + [np.zeros((3, BYTES), np.uint8)] + [_rows(4, seed=2)])
    found = find_groups(rows)
    assert found.groups == [[0, 1, 2, 3, 4]] and found.compared == 9 and found.images == 5


def test_radius_zero_keeps_exact_mirrors_only():
    base = _rows(3)
    rows = np.vstack([base, mirrored(base[:1]), _flip(base[1], [10])])
    assert find_groups(rows, radius=0).groups == [[0, 3]]
    assert find_groups(rows, radius=1).groups == [[0, 3], [1, 4]]


def test_nothing_or_one_image_gives_no_groups():
    assert find_groups(np.zeros((0, BYTES), np.uint8)).groups == []
    one = find_groups(_rows(1))
    assert (one.groups, one.compared) == ([], 1)
    with pytest.raises(ValueError, match="radius"):
        find_groups(_rows(2), radius=MAX_RADIUS + 1)
