"""Real test files made on the fly: images of every kind the product meets, and things that are not."""

from __future__ import annotations

import io
import os
import struct
import zlib

from PIL import Image


def image_bytes(fmt: str = "JPEG", size: tuple[int, int] = (64, 48), mode: str = "RGB", color="red", **params) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, color).save(buffer, fmt, **params)
    return buffer.getvalue()


def jpeg(size: tuple[int, int] = (64, 48), color="red", **params) -> bytes:
    return image_bytes("JPEG", size, color=color, **params)


def noisy_jpeg(size: tuple[int, int], quality: int = 90) -> bytes:
    """A photo-like JPEG (random detail defeats the encoder's best case), e.g. 4000x3000 = 12 MP."""
    small = Image.frombytes("RGB", (size[0] // 16, size[1] // 16), os.urandom(size[0] // 16 * size[1] // 16 * 3))
    buffer = io.BytesIO()
    small.resize(size, Image.Resampling.BICUBIC).save(buffer, "JPEG", quality=quality)
    return buffer.getvalue()


def truncated_jpeg() -> bytes:
    data = noisy_jpeg((256, 256))
    return data[: len(data) // 2]


def png_claiming_size(width: int, height: int) -> bytes:
    """A 1x1 PNG whose header claims width x height: a decompression bomb by its header."""
    png = bytearray(image_bytes("PNG", (1, 1), mode="L", color=0))
    png[16:24] = struct.pack(">II", width, height)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


SVG = (
    b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="10" height="10">'
    b'<rect width="10" height="10"/></svg>'
)
HTML = b"<!DOCTYPE html><html><head><title>x</title></head><body><script>alert(1)</script></body></html>"
PDF = (
    b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
    b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
)
TEXT = b"just some notes, not a picture\n"
