"""What a file really is, judged by its bytes (python-magic), and which types we process."""

from __future__ import annotations

import magic

# Sniffed MIME type -> file extension used in generated object keys.
SUPPORTED_IMAGE_TYPES = {"image/jpeg": "jpg", "image/png": "png", "image/gif": "gif", "image/webp": "webp"}

# libmagic decides from the first bytes; reading more only slows it down.
_SNIFF_BYTES = 64 * 1024


def sniff_mime_type(data: bytes) -> str:
    """Return the MIME type libmagic finds in the bytes, ignoring any name or header."""
    return magic.from_buffer(data[:_SNIFF_BYTES], mime=True)


def content_type_for_key(key: str) -> str:
    """The type of an object whose key we generated from its sniffed type."""
    extension = key.rsplit(".", 1)[-1].lower()
    for mime_type, known in SUPPORTED_IMAGE_TYPES.items():
        if known == extension:
            return mime_type
    return "application/octet-stream"
