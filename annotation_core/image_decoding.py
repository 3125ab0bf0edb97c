"""Opening and decoding image bytes with Pillow the same way everywhere: the upload check, the renditions
and the image a caption model is shown."""

from __future__ import annotations

import functools
import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from annotation_core import vips_decoding
from annotation_core.colour import to_srgb
from annotation_core.decode_budget import DECODES
from annotation_core.errors import JobError
from annotation_core.media_types import SUPPORTED_NAMES

# What Pillow raises for corrupt or truncated files (the set its own fuzz tests accept, plus struct.error);
# UnidentifiedImageError is an OSError. libheif's errors reach us as ValueError, libvips' as VipsDecodeError
# (a ValueError); libavif's, through Pillow's AVIF plugin, as RuntimeError ("Failed to decode frame 0: ...",
# found by tests/integration/test_hostile_uploads).
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error, RuntimeError)

ORIENTATION_TAG = 0x0112
# EXIF orientation -> the transpose that makes the stored pixels upright (the EXIF 2.32 table).
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # these rotate by 90 degrees, so width and height swap


@dataclass(frozen=True)
class Decoded:
    """An image decoded to fit a box: RGB or L pixels in sRGB, upright, no alpha; and the original's EXIF,
    for reading facts (never to be written into anything we make)."""

    image: Image.Image
    exif: Image.Exif


@functools.cache
def _register_plugins() -> None:
    """HEIC/HEIF through pillow-heif, once per process; AVIF is Pillow's own."""
    from pillow_heif import register_heif_opener

    # libheif applies the HEIF rotation and mirror properties itself; pillow-heif then reports orientation 1.
    register_heif_opener()


@contextmanager
def open_image(data: bytes, formats: list[str] | None = None) -> Iterator[Image.Image]:
    """Open `data` lazily; callers check MAX_IMAGE_PIXELS from the header themselves.

    While the block runs, the image's pixels are held from the process's decode budget, so very large images
    are decoded in turns (`annotation_core.decode_budget`). Pillow's DecompressionBombWarning is silenced
    because that check replaces it (pytest would turn it into an error); its DecompressionBombError, far
    above our limit, still propagates.
    """
    _register_plugins()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=formats) as image, DECODES.take(image.width * image.height):
            yield image


def decode_to_fit(
    data: bytes, box: tuple[int, int], max_pixels: int, *, draft_ratio: float = 2.0, keep_alpha: bool = False
) -> Decoded:
    """Decode `data` as little as the format allows, shrink it into `box` (never enlarging), then make it
    upright, sRGB, and RGB or L with transparency flattened onto white (with `keep_alpha`, RGBA where the
    image has transparency, for formats that keep it); the first frame of an animation.

    JPEGs are decoded at the smallest DCT scale still at least `draft_ratio` times the fitted size: 2 keeps
    the full quality of a resize from there; 1 decodes least (a 1440 px preview of a 12 MP photo from the
    half-scale decode instead of the full one, at 1/3 of the time).

    Raises JobError with text for the user when the bytes are not an image we can process.
    """
    if box[0] < 1 or box[1] < 1:
        raise ValueError(f"box must be at least 1x1, got {box!r}")
    try:
        with open_image(data) as img:
            _check_pixels(img, max_pixels)
            exif, icc = _metadata(img, data)
            orientation = exif.get(ORIENTATION_TAG, 1)
            stored_box = (box[1], box[0]) if orientation in _SWAPPING_ORIENTATIONS else box
            if img.format in vips_decoding.FORMATS:
                small = vips_decoding.shrink(data, stored_box)
            else:
                small = _shrink(img, stored_box, draft_ratio)
            method = _UPRIGHT.get(orientation)
            if method is not None:  # after the shrink: a few thousand pixels move instead of the full image
                small = small.transpose(method)
            pixels = _srgb_keeping_alpha(small, icc) if keep_alpha else to_srgb(_flattened(small), icc)
            pixels.info = {}  # nothing of the original's metadata may travel on with the pixels
            return Decoded(pixels, exif)
    except Image.DecompressionBombError as exc:
        raise JobError("The original has more pixels than we can process; upload a smaller image.") from exc
    except UnidentifiedImageError as exc:
        raise JobError(
            f"The original is not in an image format we can read; upload it again as {SUPPORTED_NAMES}."
        ) from exc
    except DECODE_ERRORS as exc:
        reason = str(exc).strip() or type(exc).__name__
        raise JobError(f"The original could not be decoded as an image ({reason}); upload it again.") from exc


def _check_pixels(img: Image.Image, max_pixels: int) -> None:
    """Refuse an image whose header claims more than `max_pixels`, before any pixel is decoded."""
    width, height = img.size
    if width * height > max_pixels:
        raise JobError(
            f"The original is {width}x{height} pixels, more than the limit of {max_pixels:,}; upload a smaller image."
        )


def _metadata(img: Image.Image, data: bytes) -> tuple[Image.Exif, bytes | None]:
    """The original's EXIF and ICC profile, without decoding its pixels.

    Pillow's PNG reader decodes the whole image to look for an EXIF block after the pixels, so files that
    libvips decodes have theirs read from libvips' header instead.
    """
    if img.format not in vips_decoding.FORMATS:
        # getexif also reads an XMP orientation; on JPEG it decodes no pixels
        return img.getexif(), img.info.get("icc_profile") or None
    raw_exif, icc = vips_decoding.metadata(data)
    exif = Image.Exif()
    if raw_exif:
        exif.load(raw_exif)
    return exif, icc


def _shrink(img: Image.Image, stored_box: tuple[int, int], draft_ratio: float) -> Image.Image:
    """Decode at reduced size where the format allows (JPEG) and shrink into `stored_box` in the stored frame.

    A transpose of the lazily opened file would force a full decode, so orientation is left to the caller.
    """
    scale = min(stored_box[0] / img.width, stored_box[1] / img.height, 1.0)
    target = (max(1, round(img.width * scale)), max(1, round(img.height * scale)))
    # JPEG only (a no-op elsewhere). The mode only acts on RGB files ("L" would drop colour); grey and
    # CMYK files keep their own mode whatever is asked.
    img.draft("RGB", (round(draft_ratio * target[0]), round(draft_ratio * target[1])))
    small = _resizable(img)
    small.thumbnail(stored_box, reducing_gap=draft_ratio)
    small.load()  # an image already inside the box is left lazy by thumbnail(); its file closes on return
    return small


def _resizable(img: Image.Image) -> Image.Image:
    """Convert modes that resize badly or not at all into ones that resize well."""
    if img.mode == "P":  # resize() would fall back to nearest-neighbour on palette images
        return img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode == "PA":
        return img.convert("RGBA")
    if img.mode == "1":
        return img.convert("L")
    if img.mode.startswith("I"):
        # 16-bit grey: scale 0..65535 onto 0..255 (rounded); a plain convert("L") clips at 255.
        return img.convert("I").point(lambda v: v * (1 / 257) + 0.5).convert("L")
    return img


def _srgb_keeping_alpha(img: Image.Image, icc: bytes | None) -> Image.Image:
    """The colours made sRGB and the alpha channel put back: RGBA for any image with transparency."""
    if img.mode not in ("RGBA", "LA"):
        return to_srgb(img, icc)
    colour = to_srgb(img.convert(img.mode[:-1]), icc).convert("RGB")
    colour.putalpha(img.getchannel("A"))
    return colour


def _flattened(img: Image.Image) -> Image.Image:
    """Transparency flattened onto white: RGBA becomes RGB, LA becomes L; other modes are left as they are."""
    if img.mode in ("RGBA", "LA"):
        background = Image.new(img.mode[:-1], img.size, "white")
        background.paste(img.convert(background.mode), mask=img.getchannel("A"))
        return background
    return img
