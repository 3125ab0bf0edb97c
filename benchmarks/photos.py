"""Photo-like test images: seeded random low-resolution noise, upscaled, so JPEG sizes are realistic."""

from __future__ import annotations

import io
import random

from PIL import Image


def photo(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """An RGB image of `size` whose detail looks like a photo's to an encoder (noise at 1/16, upscaled)."""
    small_size = (max(1, size[0] // 16), max(1, size[1] // 16))
    noise = random.Random(seed).randbytes(small_size[0] * small_size[1] * 3)
    return Image.frombytes("RGB", small_size, noise).resize(size, Image.Resampling.BICUBIC)


def encode(image: Image.Image, fmt: str = "JPEG", **params) -> bytes:
    """The image's bytes in `fmt` (e.g. `quality=90`, `progressive=True`)."""
    buffer = io.BytesIO()
    image.save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(size: tuple[int, int], seed: int = 0, **params) -> bytes:
    """A photo-like baseline JPEG at quality 90 unless `params` say otherwise."""
    return encode(photo(size, seed), "JPEG", **{"quality": 90, **params})


def heic(size: tuple[int, int], seed: int = 0, **params) -> bytes:
    """A photo-like HEIC (written by pillow-heif, which the core's image opener registers)."""
    from annotation_core.image_decoding import open_image

    with open_image(jpeg((8, 8))):
        pass
    return encode(photo(size, seed), "HEIF", **{"quality": 80, **params})
