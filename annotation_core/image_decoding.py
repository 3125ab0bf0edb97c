"""Opening and decoding image bytes with Pillow the same way everywhere: the upload check, the thumbnail
and the image a caption model is shown."""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from annotation_core.errors import JobError

# What Pillow raises for corrupt or truncated files (the set its own fuzz tests accept, plus struct.error);
# UnidentifiedImageError is an OSError.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)

_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # these rotate by 90 degrees, so width and height swap
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


@dataclass(frozen=True)
class Decoded:
    """An image decoded to fit a box: RGB or L pixels, upright, no alpha, and its source ICC profile."""

    image: Image.Image
    icc_profile: bytes | None


@contextmanager
def open_image(data: bytes, formats: list[str] | None = None) -> Iterator[Image.Image]:
    """Open `data` lazily; callers check MAX_IMAGE_PIXELS from the header themselves.

    Pillow's DecompressionBombWarning is silenced because that check replaces it (pytest would turn it into
    an error); its DecompressionBombError, far above our limit, still propagates.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with Image.open(io.BytesIO(data), formats=formats) as image:
            yield image


def decode_to_fit(data: bytes, box: tuple[int, int], max_pixels: int, oversample: float = 2.0) -> Decoded:
    """Decode `data` as little as the format allows, apply its EXIF orientation and shrink it into `box`
    (never enlarging), as RGB or L with transparency flattened onto white; the first frame of an animation.

    JPEGs decode at the smallest scale still `oversample` times the target: 2 keeps a thumbnail's full
    sharpness; 1 is plenty for what a caption model sees, and decodes a quarter of the pixels.

    Raises JobError with text for the user when the bytes are not an image we can process.
    """
    if box[0] < 1 or box[1] < 1:
        raise ValueError(f"box must be at least 1x1, got {box!r}")
    try:
        with open_image(data) as img:
            _check_pixels(img, max_pixels)
            icc = img.info.get("icc_profile") or None
            return Decoded(_shrink(img, box, icc, oversample), icc)
    except Image.DecompressionBombError as exc:
        raise JobError("The original has more pixels than we can process; upload a smaller image.") from exc
    except UnidentifiedImageError as exc:
        raise JobError(
            "The original is not in an image format we can read; upload it again as JPEG, PNG, GIF or WebP."
        ) from exc
    except DECODE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise JobError(f"The original could not be decoded as an image ({reason}); upload it again.") from exc


def _check_pixels(img: Image.Image, max_pixels: int) -> None:
    """Refuse an image whose header claims more than `max_pixels`, before any pixel is decoded."""
    width, height = img.size
    if width * height > max_pixels:
        raise JobError(
            f"The original is {width}x{height} pixels, more than the limit of {max_pixels:,}; upload a smaller image."
        )


def _shrink(img: Image.Image, box: tuple[int, int], icc: bytes | None, oversample: float) -> Image.Image:
    """Decode at reduced size where the format allows, orient, shrink and convert to a JPEG mode."""
    # getexif() also reads an XMP orientation, exactly as exif_transpose() will; on JPEG it decodes nothing.
    swaps = img.getexif().get(_ORIENTATION_TAG, 1) in _SWAPPING_ORIENTATIONS
    width, height = (img.height, img.width) if swaps else img.size
    scale = min(box[0] / width, box[1] / height, 1.0)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if swaps:
        target = (target[1], target[0])  # draft works in the stored, not yet rotated frame
    # JPEG only (a no-op elsewhere): decode at the smallest DCT scale still >= `oversample` x the target
    # (2 lets reducing_gap=2 keep full quality). The mode only acts on RGB files ("L" would drop colour);
    # grey and CMYK files keep their own mode whatever is asked.
    img.draft("RGB", (round(oversample * target[0]), round(oversample * target[1])))
    ImageOps.exif_transpose(img, in_place=True)
    small = _resizable(img)
    small.thumbnail(box, reducing_gap=2.0)
    return _jpeg_mode(small, icc)


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


def _jpeg_mode(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Return `img` in a mode JPEG stores: RGB or L, transparency flattened onto white."""
    if img.mode in ("RGBA", "LA"):
        background = Image.new(img.mode[:-1], img.size, "white")
        background.paste(img.convert(background.mode), mask=img.getchannel("A"))
        return background
    if img.mode == "CMYK":
        return _cmyk_to_rgb(img, icc)
    return img if img.mode in ("RGB", "L") else img.convert("RGB")


def _cmyk_to_rgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert CMYK to sRGB through its embedded profile; Pillow's naive formula if that fails."""
    if icc:
        try:
            cmyk = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            return ImageCms.profileToProfile(img, cmyk, _SRGB, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError):
            pass  # broken or non-CMYK profile: the naive conversion is still roughly right
    return img.convert("RGB")
