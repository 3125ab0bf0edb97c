"""Opening image bytes with Pillow the same way at upload and in the thumbnail job."""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

# What Pillow raises for corrupt or truncated files (the set its own fuzz tests accept, plus struct.error);
# UnidentifiedImageError is an OSError.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error)


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
