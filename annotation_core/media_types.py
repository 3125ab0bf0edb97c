"""What a file really is, judged by its bytes (python-magic), and the one list of image types we process.

`IMAGE_TYPES` is the only place the accepted types are written down: upload checks, the upload page and its
script, the OpenAPI document and the content types of served objects are all rendered from it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ImageType:
    """One accepted upload type: its sniffed MIME type, key extension, Pillow plugin and name for people."""

    mime_type: str
    extension: str
    pillow_format: str
    name: str


IMAGE_TYPES: tuple[ImageType, ...] = (
    ImageType("image/jpeg", "jpg", "JPEG", "JPEG"),
    ImageType("image/png", "png", "PNG", "PNG"),
    ImageType("image/gif", "gif", "GIF", "GIF"),
    ImageType("image/webp", "webp", "WEBP", "WebP"),
    # iPhones save HEIC ("heic" brand); other HEIF writers may only claim the generic "mif1" brand.
    ImageType("image/heic", "heic", "HEIF", "HEIC"),
    ImageType("image/heif", "heif", "HEIF", "HEIF"),
    ImageType("image/avif", "avif", "AVIF", "AVIF"),
)
SUPPORTED_IMAGE_TYPES = {image_type.mime_type: image_type for image_type in IMAGE_TYPES}


def _names() -> str:
    names = [image_type.name for image_type in IMAGE_TYPES if image_type.name != "HEIF"]  # HEIC's generic brand
    return f"{', '.join(names[:-1])} or {names[-1]}"


SUPPORTED_NAMES = _names()  # "JPEG, PNG, GIF, WebP, HEIC or AVIF"

# libmagic decides from the first bytes; reading more only slows it down.
_SNIFF_BYTES = 64 * 1024


def sniff_mime_type(data: bytes) -> str:
    """Return the MIME type libmagic finds in the bytes, ignoring any name or header."""
    import magic  # only uploads are sniffed: a Lambda's cold start need not load libmagic

    return magic.from_buffer(data[:_SNIFF_BYTES], mime=True)


def content_type_for_key(key: str) -> str:
    """The type of an object whose key we generated from its sniffed type (originals and renditions)."""
    extension = key.rsplit(".", 1)[-1].lower()
    for image_type in IMAGE_TYPES:
        if image_type.extension == extension:
            return image_type.mime_type
    return "application/octet-stream"
