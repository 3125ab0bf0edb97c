"""Turn an original image's bytes into its renditions from one decode: the grid image (the "thumbnail"), a
larger preview and a ThumbHash placeholder, plus the photo facts its EXIF holds.

Pure work: no I/O, no AWS. The Lambda handler fetches the original, calls `make_renditions` and stores the
results; a `JobError` carries the text shown to the user. Renditions are sRGB and carry no metadata at all.
"""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from PIL import Image

from annotation_core.image_decoding import decode_to_fit
from annotation_core.photo_facts import PhotoFacts, read_photo_facts
from lambda_functions.thumbnail_lambda.placeholder import thumbhash_of

# Pillow format, content type, key extension; and the encoder options per rendition. The grid image is
# fetched dozens at a time, so it gets libwebp's default effort (method 4, ~6 ms at 256 px); the preview is
# made once and opened one at a time, so it gets the fastest (method 0: ~50 ms instead of ~130 ms at
# 1440 px, for ~10 % more bytes).
FORMATS = {"webp": ("WEBP", "image/webp", "webp"), "jpeg": ("JPEG", "image/jpeg", "jpg")}
_OPTIONS = {
    ("webp", "grid"): {"quality": 80, "method": 4},
    ("webp", "preview"): {"quality": 80, "method": 0},
    ("jpeg", "grid"): {"quality": 85, "optimize": True},
    ("jpeg", "preview"): {"quality": 85, "optimize": True},
}


@dataclass(frozen=True)
class Encoded:
    """One stored rendition: its bytes, pixel size and content type."""

    data: bytes
    width: int
    height: int
    content_type: str
    extension: str


@dataclass(frozen=True)
class Renditions:
    grid: Encoded
    preview: Encoded
    placeholder: str  # ThumbHash, base64
    facts: PhotoFacts


def make_renditions(
    data: bytes,
    *,
    grid_box: tuple[int, int],
    preview_size: int,
    image_format: str = "webp",
    max_pixels: int = 100_000_000,
    keep_location: bool = False,
) -> Renditions:
    """Decode `data` once, at the smallest scale that covers the preview, and make every rendition from that;
    the grid image comes from the preview (over 5x larger by default, so it stays sharp).

    The preview is encoded on a second thread while this one makes the grid image and the placeholder: Pillow
    releases the GIL in its resize and encoders, so on two cores the grid costs almost nothing extra.
    """
    box = (max(preview_size, grid_box[0]), max(preview_size, grid_box[1]))
    # WebP keeps transparency (pages show it on a checkerboard); JPEG has none, so it is flattened onto white.
    decoded = decode_to_fit(data, box, max_pixels, draft_ratio=1.0, keep_alpha=image_format == "webp")
    preview = decoded.image
    preview.thumbnail((preview_size, preview_size), reducing_gap=2.0)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="preview-encoder") as encoder:
        encoding_preview = encoder.submit(encode, preview, image_format, "preview")
        grid = preview.copy()
        grid.thumbnail(grid_box, reducing_gap=2.0)
        grid_encoded, placeholder = encode(grid, image_format, "grid"), thumbhash_of(grid)
        preview_encoded = encoding_preview.result()
    return Renditions(
        grid=grid_encoded,
        preview=preview_encoded,
        placeholder=placeholder,
        facts=read_photo_facts(decoded.exif, keep_location=keep_location),
    )


def encode(image: Image.Image, image_format: str, rendition: str) -> Encoded:
    """`image` in `image_format` ("webp" or "jpeg") with no metadata: no EXIF, XMP or ICC profile (it is sRGB)."""
    pillow_format, content_type, extension = FORMATS[image_format]
    out = io.BytesIO()
    image.save(out, pillow_format, **_OPTIONS[(image_format, rendition)])
    return Encoded(out.getvalue(), image.width, image.height, content_type, extension)
