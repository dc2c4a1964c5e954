"""Image decoding: the one function that turns a file into model input.

Training, export calibration and the worker all call `decode_image`, so pixels are prepared the
same way everywhere. Every failure becomes a `DecodeError` with a short reason code.
"""

from __future__ import annotations

import functools
import io
import os
import warnings
from pathlib import Path

import numpy as np
from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from labeler.errors import DecodeError

# Formats Pillow may open; anything else (EPS, PSD, PDF, ...) is refused before parsing.
# AVIF is built into Pillow; HEIF/HEIC comes from the pillow-heif plugin when it is installed.
ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF", "AVIF", "HEIF")
MAX_FILE_BYTES = 64 * 1024 * 1024
MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485
BACKGROUND = (255, 255, 255)

Image.LOAD_TRUNCATED_IMAGES = False


def decode_image(
    source: str | Path | bytes, size: tuple[int, int], *, draft: bool = True
) -> np.ndarray:
    """Decode `source` (a path or the file's bytes) to a uint8 (height, width, 3) RGB array.

    EXIF orientation is applied, any mode becomes RGB (alpha over a white background, 16-bit
    scaled to 8-bit), only the first frame of animations is used, and JPEGs are decoded at a
    reduced scale (`draft`) when the target is much smaller than the picture; `draft=False`
    exists for benchmarks that measure what that saves.
    """
    height, width = size
    rgb = _open_rgb(_read_bytes(source), (width, height) if draft else None)
    if rgb.size != (width, height):
        rgb = rgb.resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def preview_jpeg(source: str | Path | bytes, max_side: int) -> bytes:
    """A JPEG of `source` at most `max_side` pixels on its long side, aspect kept, for people
    to look at (the web page's thumbnails); the same guards as `decode_image`."""
    rgb = _open_rgb(_read_bytes(source), (max_side, max_side))
    rgb.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85)
    return out.getvalue()


def _open_rgb(data: bytes, draft_size: tuple[int, int] | None) -> Image.Image:
    """Open, check and fully load the first frame as upright RGB; `draft_size` lets JPEGs
    decode at a reduced scale no smaller than it. Every failure becomes a `DecodeError`."""
    _register_plugins()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            # From memory: nothing to close, so the loaded image is returned as it is rather
            # than copied out of a `with` block.
            im = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            if im.width * im.height > MAX_PIXELS:
                raise DecodeError("too-large", f"{im.width}x{im.height} pixels")
            if draft_size and im.format == "JPEG":
                im.draft("RGB", draft_size)
            im.seek(0)
            im.load()
            # Most images have no orientation: reading the tag is a third of what a transpose
            # call costs even when it has nothing to do.
            if im.getexif().get(ExifTags.Base.Orientation, 1) != 1:
                ImageOps.exif_transpose(im, in_place=True)
            return _to_rgb(im)
    except DecodeError:
        raise
    except UnidentifiedImageError:
        raise DecodeError("not-an-image", "unknown or unsupported format") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise DecodeError("too-large", str(exc).split(".")[0]) from None
    except (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError) as exc:
        reason = _reason_for(exc)
        # One wording for a cut-off file, whichever Pillow plugin noticed it.
        detail = "image file is truncated" if reason == "truncated" else _short(exc)
        raise DecodeError(reason, detail) from None


@functools.cache
def _register_plugins() -> None:
    """HEIF/HEIC support, registered on first decode so CLI start-up does not pay for it."""
    try:
        from pillow_heif import register_heif_opener
    except ImportError:  # without the plugin HEIC files fail as "not-an-image"
        return
    register_heif_opener()


def _read_bytes(source: str | Path | bytes) -> bytes:
    if isinstance(source, bytes):
        data = source
    else:
        try:
            with open(source, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > MAX_FILE_BYTES:
                    raise DecodeError("too-large", f"file over {MAX_FILE_BYTES // 2**20} MiB")
                # Sized to the file: read(n) allocates n bytes first, and n = the 64 MiB limit
                # cost a map and unmap per image (55 us of a 250 us thumbnail). A size of 0 is
                # a pipe or a special file: read up to the limit.
                data = fh.read((size or MAX_FILE_BYTES) + 1)
        except FileNotFoundError:
            raise DecodeError("missing", "file not found") from None
        except IsADirectoryError:
            raise DecodeError("unreadable", "is a directory") from None
        except OSError as exc:
            raise DecodeError("unreadable", exc.strerror or type(exc).__name__) from None
    if not data:
        raise DecodeError("empty", "zero-byte file")
    if len(data) > MAX_FILE_BYTES:
        raise DecodeError("too-large", f"file over {MAX_FILE_BYTES // 2**20} MiB")
    return data


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode == "RGB":
        return im
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit greyscale: scale to 8 bits rather than letting convert() clip at 255.
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if im.mode.startswith("I;16") or arr.max() > 255 else 255.0
        arr = np.clip(arr * (255.0 / peak), 0, 255).astype(np.uint8)
        return Image.fromarray(arr, "L").convert("RGB")
    if im.mode == "P" and "transparency" in im.info:
        im = im.convert("RGBA")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = im.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (*BACKGROUND, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return im.convert("RGB")


def _reason_for(exc: BaseException) -> str:
    text = str(exc).lower()
    if "truncated" in text or isinstance(exc, EOFError):
        return "truncated"
    return "corrupt"


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:120]
