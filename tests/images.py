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


def truncated(fmt: str) -> bytes:
    """The first three quarters of a photo-like PNG or WebP: a header that opens, rows that end early."""
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 60).convert("RGB").save(buffer, fmt)
    data = buffer.getvalue()
    return data[: len(data) * 3 // 4]


def damaged_png() -> bytes:
    """A whole PNG with zeros over the middle of its compressed rows: every chunk there, the data broken."""
    buffer = io.BytesIO()
    Image.effect_noise((256, 256), 60).convert("RGB").save(buffer, "PNG")
    data = bytearray(buffer.getvalue())
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)
    return bytes(data)


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


def heic(size: tuple[int, int] = (64, 48), color="red", **params) -> bytes:
    """A real HEIC, written by pillow-heif (registered by the core's image opener)."""
    from annotation_core.image_decoding import open_image

    with open_image(image_bytes("PNG", (1, 1))):  # registers the HEIF plugin, as the product does
        pass
    return image_bytes("HEIF", size, color=color, **{"quality": 90, **params})


def avif(size: tuple[int, int] = (64, 48), color="red", **params) -> bytes:
    """A real AVIF, written by Pillow's own AVIF plugin."""
    return image_bytes("AVIF", size, color=color, **{"quality": 90, **params})


def animated(fmt: str, colours=("red", "lime", "blue"), size: tuple[int, int] = (80, 60)) -> bytes:
    """An animation in `fmt` (WEBP, AVIF or GIF) whose frames are flat `colours`, first to last."""
    frames = [Image.new("RGB", size, colour) for colour in colours]
    buffer = io.BytesIO()
    frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return buffer.getvalue()


def truncated_heic() -> bytes:
    data = heic((256, 256), color=(40, 120, 200))
    return data[: len(data) // 2]


def photo_exif(*, orientation: int | None = None, gps: bool = True) -> Image.Exif:
    """EXIF as a phone writes it: camera, lens, exposure, date taken and (with `gps`) where, in Amsterdam."""
    from PIL.TiffImagePlugin import IFDRational

    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "Apple", "iPhone 15 Pro"
    if orientation is not None:
        exif[0x0112] = orientation
    details = exif.get_ifd(0x8769)
    details[0x9003] = "2024:05:06 07:08:09"  # DateTimeOriginal
    details[0x829A] = IFDRational(1, 250)  # ExposureTime
    details[0x829D] = IFDRational(18, 10)  # FNumber
    details[0x8827] = 64  # ISO
    details[0x920A] = IFDRational(69, 10)  # FocalLength
    details[0xA434] = "iPhone 15 Pro back triple camera 6.86mm f/1.78"
    if gps:
        where = exif.get_ifd(0x8825)
        where[1], where[2] = "N", (IFDRational(52), IFDRational(22), IFDRational(1080, 100))
        where[3], where[4] = "E", (IFDRational(4), IFDRational(53), IFDRational(3000, 100))
    return exif
