"""Photo-like test pictures for the browser tests: soft gradients with a sun and hills, each one unique."""

from __future__ import annotations

import io
import os

from PIL import Image, ImageDraw, ImageFilter


def landscape(seed: int, size: tuple[int, int] = (640, 427), fmt: str = "JPEG", grain: bool = False) -> bytes:
    """A small scene whose colours follow `seed`; `grain` adds noise so the file is bigger (for slow uploads)."""
    width, height = size
    sky_top = ((40 + seed * 53) % 200, (90 + seed * 31) % 200, 200)
    sky_low = (250, (180 + seed * 17) % 250, (140 + seed * 29) % 220)
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for y in range(height):
        mix = y / height
        colour = tuple(round(a + (b - a) * mix) for a, b in zip(sky_top, sky_low, strict=True))
        draw.line([(0, y), (width, y)], fill=colour)
    sun = (width * (0.2 + (seed % 5) * 0.15), height * 0.35)
    draw.ellipse([sun[0] - 40, sun[1] - 40, sun[0] + 40, sun[1] + 40], fill=(255, 236, 170))
    for layer, shade in enumerate((90, 60, 35)):
        base = height * (0.6 + layer * 0.12)
        points = [(x, base - 30 * ((x * (seed + layer + 2)) % 97) / 97) for x in range(0, width + 40, 40)]
        draw.polygon([(0, height), *points, (width, height)], fill=(shade // 2, shade + seed % 40, shade // 2 + 20))
    image = image.filter(ImageFilter.GaussianBlur(1))
    if grain:
        noise = Image.frombytes("L", size, os.urandom(width * height)).convert("RGB")
        image = Image.blend(image, noise, 0.25)
    buffer = io.BytesIO()
    image.save(buffer, fmt, **({"quality": 92} if fmt == "JPEG" else {}))
    return buffer.getvalue()
