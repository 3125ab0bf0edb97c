"""Turn an original image's bytes into a small JPEG thumbnail, decoding as little of it as possible.

Pure work: no I/O, no AWS. The Lambda handler fetches the original, calls `make_thumbnail` and stores the
result; a `JobError` carries the text shown to the user.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError

from annotation_core.errors import JobError
from annotation_core.image_decoding import DECODE_ERRORS, open_image

JPEG_QUALITY = 85
_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = frozenset({5, 6, 7, 8})  # these rotate by 90 degrees, so width and height swap
_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_PROFILE_SPACE = {"RGB": "RGB", "L": "GRAY"}  # output mode -> ICC colour space that describes it


@dataclass(frozen=True)
class Thumbnail:
    """A finished thumbnail: JPEG bytes and their pixel size."""

    data: bytes
    width: int
    height: int
    content_type: str = "image/jpeg"


def make_thumbnail(data: bytes, box: tuple[int, int], max_pixels: int = 100_000_000) -> Thumbnail:
    """Decode `data`, apply its EXIF orientation and shrink it to fit `box` (never enlarge) as a JPEG."""
    if box[0] < 1 or box[1] < 1:
        raise ValueError(f"thumbnail box must be at least 1x1, got {box!r}")
    try:
        with open_image(data) as img:
            _check_pixels(img, max_pixels)
            icc = img.info.get("icc_profile") or None
            small = _decode_to_fit(img, box, icc)
            out = io.BytesIO()
            small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=_matching_profile(icc, small.mode))
    except Image.DecompressionBombError as exc:
        raise JobError("The original has more pixels than we can process; upload a smaller image.") from exc
    except UnidentifiedImageError as exc:
        raise JobError(
            "The original is not in an image format we can read; upload it again as JPEG, PNG, GIF or WebP."
        ) from exc
    except DECODE_ERRORS as exc:
        reason = str(exc) or type(exc).__name__
        raise JobError(f"The original could not be decoded as an image ({reason}); upload it again.") from exc
    return Thumbnail(data=out.getvalue(), width=small.width, height=small.height)


def _check_pixels(img: Image.Image, max_pixels: int) -> None:
    """Refuse an image whose header claims more than `max_pixels`, before any pixel is decoded."""
    width, height = img.size
    if width * height > max_pixels:
        raise JobError(
            f"The original is {width}x{height} pixels, more than the limit of {max_pixels:,}; upload a smaller image."
        )


def _decode_to_fit(img: Image.Image, box: tuple[int, int], icc: bytes | None) -> Image.Image:
    """Decode at reduced size where the format allows, orient, shrink and convert to a JPEG mode."""
    # getexif() also reads an XMP orientation, exactly as exif_transpose() will; on JPEG it decodes nothing.
    swaps = img.getexif().get(_ORIENTATION_TAG, 1) in _SWAPPING_ORIENTATIONS
    width, height = (img.height, img.width) if swaps else img.size
    scale = min(box[0] / width, box[1] / height, 1.0)
    target = (max(1, round(width * scale)), max(1, round(height * scale)))
    if swaps:
        target = (target[1], target[0])  # draft works in the stored, not yet rotated frame
    # JPEG only (a no-op elsewhere): decode at the smallest DCT scale still >= 2x the target, so
    # reducing_gap=2 keeps full quality. The mode only acts on RGB files ("L" would drop colour);
    # grey and CMYK files keep their own mode whatever is asked.
    img.draft("RGB", (2 * target[0], 2 * target[1]))
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


def _matching_profile(icc: bytes | None, mode: str) -> bytes | None:
    """Return the source ICC profile if it describes the output's colour space, else None."""
    if not icc or mode not in _PROFILE_SPACE:
        return None
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space
    except (ImageCms.PyCMSError, OSError):
        return None  # an unreadable profile would only confuse viewers
    return icc if space.strip() == _PROFILE_SPACE[mode] else None
