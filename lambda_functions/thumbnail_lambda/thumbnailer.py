"""Turn an original image's bytes into a small JPEG thumbnail, decoding as little of it as possible.

Pure work: no I/O, no AWS. The Lambda handler fetches the original, calls `make_thumbnail` and stores the
result; a `JobError` carries the text shown to the user.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import ImageCms

from annotation_core.image_decoding import decode_to_fit

JPEG_QUALITY = 85
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
    decoded = decode_to_fit(data, box, max_pixels)
    small = decoded.image
    out = io.BytesIO()
    icc = _matching_profile(decoded.icc_profile, small.mode)
    small.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, icc_profile=icc)
    return Thumbnail(data=out.getvalue(), width=small.width, height=small.height)


def _matching_profile(icc: bytes | None, mode: str) -> bytes | None:
    """Return the source ICC profile if it describes the output's colour space, else None."""
    if not icc or mode not in _PROFILE_SPACE:
        return None
    try:
        space = ImageCms.ImageCmsProfile(io.BytesIO(icc)).profile.xcolor_space
    except (ImageCms.PyCMSError, OSError):
        return None  # an unreadable profile would only confuse viewers
    return icc if space.strip() == _PROFILE_SPACE[mode] else None
