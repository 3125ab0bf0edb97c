"""`upload_memory`: peak memory of upload validation in the web worker (`inspect_upload`), per format, for the
largest file the default settings accept (MAX_IMAGE_PIXELS, within MAX_UPLOAD_MB), each in a fresh process;
the reference is the same image's full-size RGB canvas, which a full decode would hold.

HEIC and AVIF are measured at 12 MP and scaled to the limit: x265 needs minutes for a 100 MP HEIC, and both are
decoded whole, so their peak grows with the pixel count (the scaled figure is labelled as such)."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from PIL import Image

from annotation_core.image_inspection import inspect_upload
from annotation_core.settings import Settings
from benchmarks.photos import encode, heic
from benchmarks.report import Report, verdict
from benchmarks.thumbnail import peak_growth_mib

LIMITS = Settings()  # the defaults: what a fresh deployment accepts
TARGET_MIB = 64  # the issue: validation holds at most this much above the idle worker, any accepted upload
FORMATS = {  # name -> Pillow format and encoder options
    "JPEG": ("JPEG", {"quality": 90}),
    "PNG": ("PNG", {}),
    "WebP": ("WEBP", {"quality": 85}),
    "GIF": ("GIF", {}),
    "HEIC": ("HEIF", {"quality": 60, "enc_params": {"preset": "ultrafast"}}),
    "AVIF": ("AVIF", {"quality": 60, "speed": 10}),
}
SCALED = {"HEIC", "AVIF"}  # measured at SCALED_SIZE, scaled to the limit by pixel count
SCALED_SIZE = (4000, 3000)


def validate(data: bytes) -> None:
    inspect_upload(data, LIMITS.max_upload_bytes, LIMITS.max_image_pixels)


LIMITS_NOTE = (
    "what limits GIF, HEIC and AVIF: Pillow's GIF reader holds the whole first frame (1 byte a pixel, 95 MiB at "
    "100 MP); libheif and libavif decode whole frames to YUV, then RGB (7-9 bytes a pixel), and pillow-heif has "
    "no tile-by-tile decode. Not done (product decisions): check HEIC/AVIF by their container only (every item's "
    "data present) and leave the pixel decode to the thumbnail job, or a lower pixel limit for these formats"
)

MEMORY_CASES = {"validate_upload": validate}  # run one per fresh process by benchmarks.peak_rss


def largest_accepted(fmt: str, size: tuple[int, int]) -> bytes:
    """A `size` image in `fmt`: smooth, so even 100 MP stays under the byte limit."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    pillow_format, options = FORMATS[fmt]
    if pillow_format == "HEIF":
        heic((8, 8))  # registers pillow-heif's writer
    return encode(image, pillow_format, **options)


def run(quick: bool) -> Report:
    side = 1500 if quick else math.isqrt(LIMITS.max_image_pixels)
    scaled_size = (1200, 900) if quick else SCALED_SIZE
    report = Report(
        "upload_memory",
        "upload validation's peak memory per format, for the largest accepted file (fresh process each)",
        {
            "image": f"{side}x{side}",
            "heic_avif_image": f"{scaled_size[0]}x{scaled_size[1]}, scaled to {side}x{side}",
            "max_image_pixels": LIMITS.max_image_pixels,
            "max_upload_mb": LIMITS.max_upload_mb,
        },
    )
    canvas_mib = side * side * 3 / 2**20
    report.results["full-size RGB canvas (ref)"] = {"n": 1, "peak_growth_mib": canvas_mib}
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in FORMATS:
            size = scaled_size if fmt in SCALED else (side, side)
            data = largest_accepted(fmt, size)
            path = Path(tmp) / f"largest.{fmt.lower()}"
            path.write_bytes(data)
            measured = peak_growth_mib("validate_upload", path)
            growth = measured * side * side / (size[0] * size[1])
            row = {"n": 1, "file_kib": len(data) // 1024, "peak_growth_mib": growth}
            report.results[fmt if fmt not in SCALED else f"{fmt} (scaled from {size[0]}x{size[1]})"] = row | (
                {"measured_mib": measured} if fmt in SCALED else {}
            )
            report.ratios[f"{fmt} / full-size canvas"] = max(growth, 0.01) / canvas_mib
            report.checks[f"{fmt} validation ≤ {TARGET_MIB} MiB"] = verdict(growth, TARGET_MIB, " MiB")
    report.notes.append(
        "JPEG is decoded at 1/8 scale; PNG and WebP through libvips into a 64 px image (PNG rows streamed, "
        "WebP scaled by libwebp), which reads every byte without a full-size canvas; GIF, HEIC and AVIF are "
        "decoded in full (Pillow's GIF reader, libheif and libavif decode whole frames)"
    )
    report.notes.append(LIMITS_NOTE)
    return report
