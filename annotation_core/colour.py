"""Colour management: whatever profile an image carries (Display P3 from phones, Adobe RGB, a CMYK press
profile), the pixels we make are sRGB, so they look the same untagged in every browser."""

from __future__ import annotations

import functools
import io

from PIL import Image, ImageCms

_SRGB = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
_SOURCE_SPACES = {"RGB": "RGB", "CMYK": "CMYK"}  # image mode -> the ICC colour space its profile must have


def to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """`img` (no alpha) as sRGB pixels in mode RGB, or L for grey images; its profile applied, then dropped.

    A missing, broken or mismatched profile means the pixels are taken as sRGB already (CMYK then gets
    Pillow's naive formula, which is still roughly right).
    """
    transform = _transform_from(icc, img.mode) if icc else None
    if transform is not None:
        return ImageCms.applyTransform(img, transform)
    return img if img.mode in ("RGB", "L") else img.convert("RGB")


@functools.lru_cache(maxsize=32)
def _transform_from(icc: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """A cached transform from the profile to sRGB (phones embed a handful of profiles), or None."""
    space = _SOURCE_SPACES.get(mode)
    if space is None:  # grey stays grey: a grey profile only adjusts the tone curve slightly
        return None
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if profile.profile.xcolor_space.strip() != space:
            return None
        # NOCACHE: lcms keeps a one-pixel cache in a transform, which threads sharing it would race on.
        return ImageCms.buildTransform(profile, _SRGB, mode, "RGB", flags=ImageCms.Flags.NOCACHE)
    except (ImageCms.PyCMSError, OSError):
        return None
