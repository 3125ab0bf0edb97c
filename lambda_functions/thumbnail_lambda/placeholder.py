"""The placeholder a page paints before an image arrives: a ThumbHash (about 25 bytes, kept on the row).

ThumbHash rather than BlurHash: it keeps the aspect ratio and the colours closer, and its browser decoder
is a small ES module (`web_app/static/js/thumbhash.js`). The encoder is the `thumbhash` package, a pure
Python port of the reference; it keeps at most 7x7 frequencies, so a 32 px input holds everything it
encodes and costs ~2 ms instead of ~17 ms at the 100 px it would accept.
"""

from __future__ import annotations

import base64

from PIL import Image
from thumbhash import rgba_to_thumb_hash

ENCODED_SIZE = 32
CHECKERBOARD_GREY = (232, 232, 232, 255)


def thumbhash_of(image: Image.Image) -> str:
    """The base64 ThumbHash of `image` (RGB, L or RGBA). Transparency is flattened onto the light grey that the
    pages' checkerboard averages to: the encoder's alpha path is broken (thumbhash 0.1.2 fails on it)."""
    small = image.convert("RGBA")
    small.thumbnail((ENCODED_SIZE, ENCODED_SIZE), Image.Resampling.BILINEAR)
    if image.mode == "RGBA":
        small = Image.alpha_composite(Image.new("RGBA", small.size, CHECKERBOARD_GREY), small)
    rgba = list(small.tobytes())
    return base64.b64encode(bytes(rgba_to_thumb_hash(small.width, small.height, rgba))).decode("ascii")
