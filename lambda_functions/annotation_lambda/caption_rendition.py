"""What a caption model sees: the original decoded as the thumbnailer decodes it, at most CAPTION_MAX_PIXELS
on its longest side, as a JPEG. Every provider accepts JPEG, a 12 MP photo costs a few hundred KB instead of
several MB, and models see no more detail than this anyway (Gemini tiles larger images at 768 px)."""

from __future__ import annotations

import io

from annotation_core.image_decoding import decode_to_fit

JPEG_QUALITY = 85
MIME_TYPE = "image/jpeg"


def make_caption_rendition(data: bytes, max_side: int, max_pixels: int) -> bytes:
    """The JPEG a caption model is shown; raises JobError when the original cannot be decoded."""
    image = decode_to_fit(data, (max_side, max_side), max_pixels, draft_ratio=1.0).image
    out = io.BytesIO()
    image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()
