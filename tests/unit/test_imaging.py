import io

import numpy as np
import pytest
from PIL import Image

from labeler.errors import DecodeError
from labeler.imaging import decode_image
from labeler.scan import is_image_path


def _bytes(im: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _gradient(w=64, h=48) -> Image.Image:
    x = np.linspace(0, 255, w, dtype=np.uint8)[None, :, None].repeat(h, 0).repeat(3, 2)
    return Image.fromarray(x, "RGB")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "BMP", "GIF", "WEBP", "TIFF", "AVIF", "HEIF"])
def test_every_allowed_format_decodes_to_model_input(fmt):
    from labeler.imaging import _register_plugins

    _register_plugins()  # HEIF saving needs the plugin too
    out = decode_image(_bytes(_gradient(), fmt), (32, 32))
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    assert out[:, 0].mean() < out[:, -1].mean()  # the gradient survives


def test_path_and_bytes_give_the_same_pixels(tmp_path):
    data = _bytes(_gradient(), "PNG")
    (tmp_path / "a.png").write_bytes(data)
    assert np.array_equal(decode_image(tmp_path / "a.png", (32, 32)), decode_image(data, (32, 32)))


def test_32x32_rgb_passes_through_unchanged():
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = decode_image(_bytes(Image.fromarray(pixels), "PNG"), (32, 32))
    assert np.array_equal(out, pixels)


def test_alpha_is_composited_over_white():
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    out = decode_image(_bytes(im, "PNG"), (8, 8))
    assert (out == 255).all()


def test_palette_with_transparency_is_composited():
    im = Image.new("P", (8, 8), 0)
    im.putpalette([0, 0, 0] * 256)
    out = decode_image(_bytes(im, "PNG", transparency=0), (8, 8))
    assert (out == 255).all()


def test_16_bit_png_is_scaled_not_clipped():
    arr = np.full((8, 8), 32768, dtype=np.uint16)
    out = decode_image(_bytes(Image.fromarray(arr), "PNG"), (8, 8))
    assert 120 <= out.mean() <= 135  # half scale, not 255


def test_cmyk_jpeg_becomes_rgb():
    out = decode_image(_bytes(Image.new("CMYK", (16, 16), (0, 255, 255, 0)), "JPEG"), (16, 16))
    assert out[..., 0].mean() > 200 and out[..., 1].mean() < 60  # red


def test_exif_orientation_is_applied_before_resizing():
    im = _gradient(64, 32)  # wide: dark left, bright right
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    out = decode_image(_bytes(im, "JPEG", exif=exif), (64, 64))
    # After rotation the gradient runs top to bottom.
    assert out[0].mean() < out[-1].mean()
    assert abs(out[:, 0].mean() - out[:, -1].mean()) < 20


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in ((255, 0, 0), (0, 0, 255))]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    out = decode_image(buf.getvalue(), (8, 8))
    assert out[..., 0].mean() > 200 and out[..., 2].mean() < 50


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        (b"hello, I am text", "not-an-image"),
        (bytes(range(256)) * 8, "not-an-image"),
    ],
)
def test_non_images_fail_with_a_reason(data, reason):
    with pytest.raises(DecodeError) as info:
        decode_image(data, (32, 32))
    assert info.value.reason == reason


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
def test_truncated_files_fail_instead_of_labelling_half_a_picture(fmt):
    noise = np.random.default_rng(1).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    data = _bytes(Image.fromarray(noise), fmt)
    with pytest.raises(DecodeError) as info:
        decode_image(data[: len(data) // 2], (32, 32))
    assert info.value.reason in ("truncated", "corrupt")


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "TIFF"])
def test_a_truncated_file_reads_the_same_whichever_plugin_noticed(fmt):
    noise = np.random.default_rng(2).integers(0, 256, (256, 256, 3), dtype=np.uint8)
    data = _bytes(Image.fromarray(noise), fmt)
    with pytest.raises(DecodeError) as info:
        decode_image(data[: len(data) // 2], (32, 32))
    assert str(info.value) == "truncated: image file is truncated"


def test_decompression_bomb_is_refused():
    data = _bytes(Image.new("1", (12000, 12000)), "PNG")
    assert len(data) < 200_000
    with pytest.raises(DecodeError) as info:
        decode_image(data, (32, 32))
    assert info.value.reason == "too-large"


def test_missing_file(tmp_path):
    with pytest.raises(DecodeError) as info:
        decode_image(tmp_path / "nope.jpg", (32, 32))
    assert info.value.reason == "missing"


def test_disallowed_format_is_refused():
    data = _bytes(Image.new("RGB", (8, 8)), "PPM")
    with pytest.raises(DecodeError) as info:
        decode_image(data, (8, 8))
    assert info.value.reason == "not-an-image"


@pytest.mark.parametrize("name", ["a.JPG", "b.jpeg", "c.Png", "d.bmp", "e.gif", "f.webp",
                                  "g.TIF", "h.tiff", "i.avif", "j.HEIC"])
def test_image_extensions_any_case(name):
    assert is_image_path(name)


@pytest.mark.parametrize("name", ["a.txt", "b.jpg.bak", "c", ".hidden", "d.heic.txt", "e.psd"])
def test_other_files_are_not_images(name):
    assert not is_image_path(name)


def test_multi_page_tiff_uses_the_first_page():
    pages = [Image.new("RGB", (8, 8), c) for c in ((0, 255, 0), (255, 0, 0))]
    buf = io.BytesIO()
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    out = decode_image(buf.getvalue(), (8, 8))
    assert out[..., 1].mean() > 200 and out[..., 0].mean() < 50


@pytest.mark.parametrize("size", [(1, 1), (1, 5000), (5000, 1), (9000, 9000)])
def test_extreme_dimensions_still_give_model_input(size):
    out = decode_image(_bytes(Image.new("L", size, 128), "PNG"), (32, 32))
    assert out.shape == (32, 32, 3)


def test_a_large_jpeg_is_decoded_at_reduced_scale():
    im = Image.new("RGB", (4000, 3000), (10, 120, 200))
    out = decode_image(_bytes(im, "JPEG", quality=90), (32, 32))
    assert out.shape == (32, 32, 3) and abs(int(out[..., 2].mean()) - 200) < 10


@pytest.mark.parametrize("orientation", [3, 8])
def test_every_exif_orientation_but_upright_turns_the_image(orientation):
    im = Image.new("RGB", (64, 32), (0, 0, 0))
    im.paste((255, 255, 255), (0, 0, 32, 32))  # white on the left half
    exif = Image.Exif()
    exif[0x0112] = orientation
    upright = (64, 32) if orientation == 8 else (32, 64)  # (height, width) once turned
    out = decode_image(_bytes(im, "PNG", exif=exif), upright)
    # 3 turns it half round (white on the right); 8 a quarter anticlockwise (white below).
    white, black = ((np.s_[:, 48:], np.s_[:, :16]) if orientation == 3
                    else (np.s_[48:], np.s_[:16]))
    assert out[white].mean() > 200 and out[black].mean() < 50
