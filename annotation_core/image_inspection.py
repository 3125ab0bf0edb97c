"""Decide whether uploaded bytes are an image we can process, before anything is stored."""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from annotation_core import vips_decoding
from annotation_core.errors import ImageTooLargeError, InvalidImageError, UnsupportedImageTypeError
from annotation_core.image_decoding import DECODE_ERRORS, open_image
from annotation_core.media_types import SUPPORTED_IMAGE_TYPES, SUPPORTED_NAMES, sniff_mime_type


@dataclass(frozen=True)
class ImageInfo:
    """What the upload turned out to be."""

    mime_type: str
    extension: str
    width: int
    height: int


def inspect_upload(data: bytes, max_bytes: int, max_pixels: int) -> ImageInfo:
    """Check size, sniffed type, pixel count and that the pixels decode; raise a user-facing error if not."""
    if not data:
        raise InvalidImageError(f"The file is empty: upload a {SUPPORTED_NAMES}.")
    if len(data) > max_bytes:
        raise ImageTooLargeError(
            f"The file is {len(data) / 2**20:.1f} MiB; the limit is {max_bytes / 2**20:.0f} MiB per image: "
            "upload a smaller or more compressed copy."
        )
    mime_type = sniff_mime_type(data)
    if mime_type not in SUPPORTED_IMAGE_TYPES:
        if mime_type.startswith("image/"):
            raise UnsupportedImageTypeError(f"{mime_type} images are not supported: upload a {SUPPORTED_NAMES}.")
        raise InvalidImageError(f"The file is not an image (it looks like {mime_type}): upload a {SUPPORTED_NAMES}.")
    image_type = SUPPORTED_IMAGE_TYPES[mime_type]
    width, height = _decode(data, image_type.pillow_format, max_pixels)
    return ImageInfo(mime_type, image_type.extension, width, height)


def _decode(data: bytes, pillow_format: str, max_pixels: int) -> tuple[int, int]:
    """Open the image, refuse pixel bombs by their header, then decode all of it to find damage, holding as
    few pixels as the format allows: JPEGs at 1/8 scale, PNG and WebP through libvips into a tiny image
    (PNG rows streamed, WebP scaled by libwebp); the rest in full (Pillow cannot do better for them)."""
    try:
        with open_image(data, formats=[pillow_format]) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _too_many_pixels(width, height, max_pixels)
            if pillow_format in vips_decoding.FORMATS:
                vips_decoding.verify(data)
            else:
                image.draft("RGB", (max(1, width // 8), max(1, height // 8)))
                image.load()
    except Image.DecompressionBombError as error:
        raise ImageTooLargeError(
            f"The image has too many pixels (the limit is {max_pixels / 1e6:.0f} megapixels): "
            "scale it down and upload it again."
        ) from error
    except DECODE_ERRORS as error:
        # Pillow's "cannot identify image file <_io.BytesIO object at 0x...>" means nothing to a user.
        reason = "its data cannot be read" if isinstance(error, UnidentifiedImageError) else error
        raise InvalidImageError(f"The image is damaged or incomplete ({reason}); export it again and retry.") from error
    return width, height


def _too_many_pixels(width: int, height: int, max_pixels: int) -> ImageTooLargeError:
    return ImageTooLargeError(
        f"The image is {width}×{height} ({width * height / 1e6:.0f} megapixels); "
        f"the limit is {max_pixels / 1e6:.0f} megapixels: scale it down and upload it again."
    )
