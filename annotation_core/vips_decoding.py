"""Shrink-on-load decoding through libvips for the formats Pillow can only decode at full size.

Pillow decodes a 12 MP WebP into several full-size canvases (~190 MiB, 2x libvips' time) and a PNG always at
full size; libvips asks libwebp for a scaled decode and streams PNG rows through its shrink, so neither
ever holds the full-size pixels. JPEG stays on Pillow's draft mode, which is as fast; the rest (GIF, HEIC,
AVIF) on Pillow, which libvips would not beat. The result comes back as a Pillow image, in the stored frame
(not rotated) and with its colour profile not yet applied, so the rest of the pipeline is shared.
"""

from __future__ import annotations

import pyvips
from PIL import Image

FORMATS = frozenset({"PNG", "WEBP"})  # Pillow's format names of the files decoded here

# fail_on reaches the loader only through the option string (thumbnail's own fail_on does not): without it
# libvips fills the rows a truncated file lacks with grey and carries on.
_STRICT = "fail_on=error"
_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}
_CHECK_SIZE = 64  # the box a file is decoded into only to prove that every byte of it decodes

# libvips keeps recent operations and their pixels (up to 100 operations, 100 MiB) for reuse; every upload is
# decoded once, so in a long-lived web worker or warm Lambda that cache would only hold memory.
pyvips.cache_set_max(0)


class VipsDecodeError(ValueError):
    """libvips could not decode the file (truncated, damaged); the message is libvips' own."""


def shrink(data: bytes, box: tuple[int, int]) -> Image.Image:
    """The image in `data` shrunk to fit `box` (never enlarged), not rotated: mode L, LA, RGB or RGBA, 8 bits."""
    try:
        thumb = pyvips.Image.thumbnail_buffer(
            data, box[0], height=box[1], size="down", no_rotate=True, option_string=_STRICT
        )
        return _to_pillow(thumb)
    except pyvips.Error as error:
        raise VipsDecodeError(_reason(error)) from error


def metadata(data: bytes) -> tuple[bytes | None, bytes | None]:
    """The file's EXIF block and ICC profile, read from its header without decoding pixels."""
    try:
        header = pyvips.Image.new_from_buffer(data, "", access="sequential")
    except pyvips.Error as error:
        raise VipsDecodeError(_reason(error)) from error
    fields = set(header.get_fields())
    exif = header.get("exif-data") if "exif-data" in fields else None
    icc = header.get("icc-profile-data") if "icc-profile-data" in fields else None
    return exif or None, icc or None


def verify(data: bytes) -> None:
    """Decode every byte of `data` into a tiny image (no full-size canvas); raise VipsDecodeError if damaged."""
    try:
        pyvips.Image.thumbnail_buffer(data, _CHECK_SIZE, option_string=_STRICT).avg()
    except pyvips.Error as error:
        raise VipsDecodeError(_reason(error)) from error


def _to_pillow(image: pyvips.Image) -> Image.Image:
    """8-bit pixels in a Pillow image; 16-bit samples are scaled (rounded) onto 0..255, as Pillow's path does."""
    if image.format != "uchar":
        image = (image.cast("double") / 257 + 0.5).cast("uchar")
    mode = _MODES[image.bands]
    return Image.frombytes(mode, (image.width, image.height), image.write_to_memory())


def _reason(error: pyvips.Error) -> str:
    """libvips' detail without its 'unable to call' preamble: the line that says what is wrong."""
    lines = [line.strip() for line in (error.detail or str(error)).splitlines() if line.strip()]
    return lines[-1] if lines else "libvips could not decode it"
