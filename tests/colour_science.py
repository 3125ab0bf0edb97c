"""Colour arithmetic for tests, written out from the standards rather than taken from the code under test:
a Display P3 ICC profile, and CIELAB with ΔE to say how far two colours are apart for a human eye."""

from __future__ import annotations

import struct

# Colorants of Display P3 and sRGB adapted to the ICC's D50 white (Bradford), as Apple's and lcms's profiles
# hold them; both use the sRGB tone curve.
P3_D50 = ((0.515121, 0.291977, 0.157104), (0.241196, 0.692245, 0.066574), (-0.001053, 0.041885, 0.784073))
SRGB_D50 = ((0.436066, 0.385147, 0.143066), (0.222488, 0.716873, 0.060608), (0.013916, 0.097076, 0.714096))
D50 = (0.9642, 1.0, 0.8249)


def _s15(value: float) -> bytes:
    return struct.pack(">i", round(value * 65536))


def display_p3_profile() -> bytes:
    """An ICC v2 matrix/TRC display profile of Display P3 (colorants above, the sRGB parametric curve)."""
    xyz = {name: b"XYZ " + bytes(4) + b"".join(_s15(v) for v in values) for name, values in _colorants().items()}
    curve = b"para" + bytes(4) + struct.pack(">HH", 3, 0)
    curve += b"".join(_s15(v) for v in (2.4, 1 / 1.055, 0.055 / 1.055, 1 / 12.92, 0.04045))
    tags = [*xyz.items(), (b"wtpt", b"XYZ " + bytes(4) + b"".join(_s15(v) for v in D50))]
    tags += [(b"rTRC", curve), (b"gTRC", curve), (b"bTRC", curve)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = struct.pack(">I", offset + len(body)) + bytes(4) + bytes((2, 0x10, 0, 0)) + b"mntrRGB XYZ " + bytes(12)
    header += b"acsp" + bytes(28) + b"".join(_s15(v) for v in D50) + bytes(48)
    assert len(header) == 128
    return header + table + body


def _colorants() -> dict[bytes, tuple[float, float, float]]:
    columns = list(zip(*P3_D50, strict=True))
    return {b"rXYZ": columns[0], b"gXYZ": columns[1], b"bXYZ": columns[2]}


def _linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def lab(rgb: tuple[int, int, int], colorants=SRGB_D50) -> tuple[float, float, float]:
    """CIELAB (D50) of an 8-bit RGB pixel in the space whose D50 colorants are given (sRGB by default)."""
    linear = [_linear(channel) for channel in rgb]
    xyz = [sum(m * c for m, c in zip(row, linear, strict=True)) for row in colorants]
    f = [
        t ** (1 / 3) if t > 216 / 24389 else (24389 / 27 * t + 16) / 116
        for t in (v / w for v, w in zip(xyz, D50, strict=True))
    ]
    return (116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2]))


def delta_e(first: tuple[float, ...], second: tuple[float, ...]) -> float:
    """CIE76 ΔE: below about 2.3 people cannot tell the colours apart."""
    return sum((a - b) ** 2 for a, b in zip(first, second, strict=True)) ** 0.5
