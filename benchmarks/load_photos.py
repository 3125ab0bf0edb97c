"""The load test's uploads: a few photo-like originals per format and size, made once with Pillow, then
stamped so that every upload is different bytes (the same bytes twice would be one image, by design).

Encoding is the slow part (a 12 MP HEIC takes tens of seconds here), so each (format, size) is encoded once
with an EXIF ImageDescription of fixed length; each upload replaces it with its own number, which keeps
every length and offset, so the file stays valid. PNG checksums its chunks: the stamped chunk's CRC is
computed again.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

from PIL import Image

from benchmarks.photos import encode, photo

PLACEHOLDER = b"loadtest-00000000"

# (format, Pillow format, extension, content type, sizes, share of the uploads). Sizes up to 12 MP; HEIC
# stays at 3 MP and below because its encoder needs a minute for 12 MP on a busy machine.
FORMATS = (
    ("jpeg", "JPEG", "jpg", "image/jpeg", ((800, 600), (1600, 1200), (2000, 1500), (3000, 2000), (4000, 3000)), 5),
    ("png", "PNG", "png", "image/png", ((800, 600), (2000, 1500), (4000, 3000)), 2),
    ("webp", "WEBP", "webp", "image/webp", ((800, 600), (2000, 1500), (4000, 3000)), 2),
    ("heic", "HEIF", "heic", "image/heic", ((800, 600), (1152, 864), (2000, 1500)), 1),
)
OPTIONS = {"JPEG": {"quality": 90}, "PNG": {"compress_level": 1}, "WEBP": {"quality": 80, "method": 0}}


@dataclass(frozen=True)
class Original:
    """One encoded photo that uploads are stamped from."""

    fmt: str
    extension: str
    content_type: str
    size: tuple[int, int]
    data: bytes

    @property
    def megapixels(self) -> float:
        return self.size[0] * self.size[1] / 1e6


def make_originals(quick: bool = False) -> list[Original]:
    """Every (format, size) once; `quick` keeps to sizes up to 2 MP (a test's small run)."""
    _register_heif()
    exif = Image.Exif()
    exif[0x010E] = PLACEHOLDER.decode()  # ImageDescription
    made = []
    for seed, (name, pillow_format, extension, content_type, sizes, _share) in enumerate(FORMATS):
        for size in sizes:
            if quick and size[0] * size[1] > 2_000_000:
                continue
            data = encode(photo(size, seed), pillow_format, exif=exif.tobytes(), **OPTIONS.get(pillow_format, {}))
            if data.count(PLACEHOLDER) != 1:
                raise RuntimeError(f"{name} at {size}: the EXIF placeholder is not in the file exactly once")
            made.append(Original(name, extension, content_type, size, data))
    return made


def plan(originals: list[Original], count: int) -> list[Original]:
    """`count` originals in a fixed mixed order: formats by their share, sizes in turn within each."""
    by_format = {name: [o for o in originals if o.fmt == name] for name, *_ in FORMATS}
    cycle = [name for name, *_rest, share in FORMATS for _ in range(share) if by_format[name]]
    turns = dict.fromkeys(by_format, 0)
    chosen = []
    for index in range(count):
        name = cycle[index % len(cycle)]
        chosen.append(by_format[name][turns[name] % len(by_format[name])])
        turns[name] += 1
    return chosen


def stamp(original: Original, number: int) -> bytes:
    """The original's bytes with its own `number` in the placeholder: a distinct, still valid file."""
    mark = f"loadtest-{number:08d}".encode()
    data = original.data.replace(PLACEHOLDER, mark)
    if original.fmt == "png":
        data = _fix_png_crc(data, data.index(mark))
    return data


def _fix_png_crc(data: bytes, offset: int) -> bytes:
    """Recompute the CRC of the PNG chunk holding `offset`."""
    position = 8  # after the signature
    while position < len(data):
        length = struct.unpack(">I", data[position : position + 4])[0]
        end = position + 8 + length
        if position <= offset < end:
            crc = zlib.crc32(data[position + 4 : end]) & 0xFFFFFFFF
            return data[:end] + struct.pack(">I", crc) + data[end + 4 :]
        position = end + 4
    raise ValueError("offset is not inside a PNG chunk")


def _register_heif() -> None:
    """The core's image opener registers pillow-heif (HEIC/AVIF) on first use."""
    from annotation_core.image_decoding import open_image

    with open_image(encode(photo((8, 8)), "JPEG")):
        pass
