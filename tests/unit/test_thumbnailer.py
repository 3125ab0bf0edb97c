"""The decode every rendition shares (`decode_to_fit`, as the thumbnail job and the caption rendition call it),
checked through a grid-sized JPEG of its output, on images generated here with Pillow (no binary fixtures)."""

from __future__ import annotations

import dataclasses
import io
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import pytest
import pyvips
from PIL import Image, ImageCms, JpegImagePlugin

from annotation_core import vips_decoding
from annotation_core.errors import JobError
from annotation_core.image_decoding import decode_to_fit
from lambda_functions.thumbnail_lambda.thumbnailer import Encoded, encode

ROOT = Path(__file__).resolve().parents[2]
RED, BLUE, GREEN = (220, 30, 30), (30, 30, 220), (30, 200, 30)


def save(img: Image.Image, fmt: str, **params) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **params)
    return buf.getvalue()


def make_thumbnail(data: bytes, box: tuple[int, int], max_pixels: int = 100_000_000) -> Encoded:
    """The shared decode into `box`, stored as a JPEG (no WebP chroma blur in the pixel checks)."""
    return encode(decode_to_fit(data, box, max_pixels).image, "jpeg", "grid")


def decode(thumb: Encoded) -> Image.Image:
    img = Image.open(io.BytesIO(thumb.data))
    assert img.format == "JPEG"
    assert img.size == (thumb.width, thumb.height)
    return img


def is_near(pixel, expected, tolerance: int = 40) -> bool:
    if isinstance(pixel, int):
        pixel, expected = (pixel,), (expected,)
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def png_claiming_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose IHDR is patched to claim width x height (CRC fixed so Pillow trusts it)."""
    png = bytearray(save(Image.new("L", (1, 1)), "PNG"))
    png[16:24] = struct.pack(">II", width, height)  # IHDR data follows signature(8) + length(4) + type(4)
    png[29:33] = struct.pack(">I", zlib.crc32(bytes(png[12:29])))
    return bytes(png)


def cmyk_profile_mapping_to_blue() -> bytes:
    """A minimal ICC v2 CMYK profile (lut8 A2B0): paper is white, any K is black, any ink is blue.

    Pillow's naive CMYK->RGB formula would give red for pure magenta+yellow; blue proves the profile ran.
    """

    def s15(value: float) -> bytes:
        return struct.pack(">i", round(value * 65536))

    d50 = s15(0.9642) + s15(1.0) + s15(0.8249)
    clut = b""
    for index in range(16):  # 2 grid points per channel, C varies slowest, K fastest; Lab in lut8 encoding
        c, m, y, k = (index >> 3) & 1, (index >> 2) & 1, (index >> 1) & 1, index & 1
        clut += bytes((0, 128, 128) if k else (82, 207, 20) if c or m or y else (255, 128, 128))
    identity = b"".join(s15(v) for v in (1, 0, 0, 0, 1, 0, 0, 0, 1))
    ramps_in, ramps_out = bytes(range(256)) * 4, bytes(range(256)) * 3  # identity input/output curves
    lut = b"mft1" + bytes(4) + bytes((4, 3, 2, 0)) + identity + ramps_in + clut + ramps_out
    tags = [(b"A2B0", lut), (b"wtpt", b"XYZ " + bytes(4) + d50)]
    offset = 128 + 4 + 12 * len(tags)
    table, body = struct.pack(">I", len(tags)), b""
    for signature, data in tags:
        table += signature + struct.pack(">II", offset + len(body), len(data))
        body += data + bytes(-len(data) % 4)
    header = (
        struct.pack(">I", offset + len(body))
        + bytes(4)
        + bytes((2, 0x10, 0, 0))
        + b"prtrCMYKLab "
        + bytes(12)
        + b"acsp"
        + bytes(28)
        + d50
        + bytes(48)
    )
    assert len(header) == 128
    return header + table + body


SRGB_ICC = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


# --- result shape and sizing -------------------------------------------------------------------------


def test_result_is_a_frozen_jpeg_thumbnail():
    thumb = make_thumbnail(save(Image.new("RGB", (400, 300), RED), "JPEG"), (100, 100))
    assert thumb.content_type == "image/jpeg"
    assert thumb.data[:3] == b"\xff\xd8\xff"
    assert (thumb.width, thumb.height) == (100, 75)
    with pytest.raises(dataclasses.FrozenInstanceError):
        thumb.width = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("size", "box"),
    [((4000, 3000), (256, 256)), ((3000, 4000), (256, 256)), ((4000, 3000), (640, 120)), ((1999, 1001), (300, 300))],
)
def test_large_baseline_jpeg_fits_box_and_keeps_aspect(size, box):
    thumb = make_thumbnail(save(Image.new("RGB", size, BLUE), "JPEG", quality=90), box)
    assert thumb.width <= box[0] and thumb.height <= box[1]
    assert thumb.width == box[0] or thumb.height == box[1]  # as large as the box allows
    assert abs(thumb.height - thumb.width * size[1] / size[0]) <= 1
    assert is_near(decode(thumb).getpixel((thumb.width // 2, thumb.height // 2)), BLUE)


def test_tiny_image_is_not_upscaled():
    thumb = make_thumbnail(save(Image.new("RGB", (10, 10), GREEN), "PNG"), (256, 256))
    assert (thumb.width, thumb.height) == (10, 10)
    assert is_near(decode(thumb).getpixel((5, 5)), GREEN)


def test_box_must_be_positive():
    with pytest.raises(ValueError, match="box"):
        make_thumbnail(save(Image.new("RGB", (10, 10)), "PNG"), (0, 10))


# --- EXIF orientation ----------------------------------------------------------------------------------

# Where the displayed top-left corner lies in the stored pixels, read off the EXIF spec's
# "0th row / 0th column" table (not Pillow's), and whether the stored image is rotated by 90 degrees.
STORED_CORNER = {
    1: ("top", "left"),
    2: ("top", "right"),
    3: ("bottom", "right"),
    4: ("bottom", "left"),
    5: ("top", "left"),
    6: ("bottom", "left"),
    7: ("bottom", "right"),
    8: ("top", "right"),
}


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])  # Pillow's draft decode; libvips' shrink-on-load
@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_gives_upright_thumbnail(orientation, fmt):
    # Displayed: 800x200 blue with a red 200x100 block in the top-left corner.
    swapped = orientation >= 5
    width, height = (200, 800) if swapped else (800, 200)
    block = (100, 200) if swapped else (200, 100)
    stored = Image.new("RGB", (width, height), BLUE)
    vertical, horizontal = STORED_CORNER[orientation]
    x = 0 if horizontal == "left" else width - block[0]
    y = 0 if vertical == "top" else height - block[1]
    stored.paste(RED, (x, y, x + block[0], y + block[1]))
    exif = Image.Exif()
    exif[0x0112] = orientation
    # A box much wider than tall: a draft size computed in the wrong frame would shrink too far (100x25).
    thumb = make_thumbnail(save(stored, fmt, quality=95, exif=exif), (200, 50))
    assert (thumb.width, thumb.height) == (200, 50)
    out = decode(thumb)
    assert is_near(out.getpixel((10, 6)), RED), "marker must be top-left"
    for corner in ((10, 43), (190, 6), (190, 43)):
        assert is_near(out.getpixel(corner), BLUE), f"only the top-left corner is red, not {corner}"
    assert 0x0112 not in out.getexif()


# --- colour modes -------------------------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb_with_roughly_right_colour():
    data = save(Image.new("CMYK", (1600, 1200), (0, 255, 255, 0)), "JPEG")
    thumb = make_thumbnail(data, (160, 160))
    out = decode(thumb)
    assert out.mode == "RGB" and (thumb.width, thumb.height) == (160, 120)
    r, g, b = out.getpixel((80, 60))
    assert r > 200 and g < 60 and b < 60


def test_cmyk_jpeg_is_converted_through_its_embedded_profile():
    cmyk = Image.new("CMYK", (400, 300), (0, 255, 255, 0))
    data = save(cmyk, "JPEG", icc_profile=cmyk_profile_mapping_to_blue())
    out = decode(make_thumbnail(data, (100, 100)))
    r, g, b = out.getpixel((50, 37))
    assert b > 200 and r < 150 and g < 60  # the profile's blue, not the naive formula's red
    assert not out.info.get("icc_profile"), "the CMYK profile must not describe RGB output"


def test_cmyk_jpeg_with_unusable_profile_falls_back_to_plain_conversion():
    data = save(Image.new("CMYK", (400, 300), (0, 255, 255, 0)), "JPEG", icc_profile=SRGB_ICC)
    r, g, b = decode(make_thumbnail(data, (100, 100))).getpixel((50, 37))
    assert r > 200 and g < 60 and b < 60


def test_an_srgb_profile_leaves_the_colours_and_is_not_carried_on():
    data = save(Image.new("RGB", (400, 300), RED), "JPEG", icc_profile=SRGB_ICC)
    out = decode(make_thumbnail(data, (100, 100)))
    assert is_near(out.getpixel((50, 37)), RED, tolerance=6)
    assert "icc_profile" not in out.info


def test_grayscale_jpeg_stays_grey():
    data = save(Image.new("L", (2000, 1000), 90), "JPEG")
    out = decode(make_thumbnail(data, (100, 100)))
    assert out.mode == "L" and out.size == (100, 50)
    assert is_near(out.getpixel((50, 25)), 90, tolerance=3)


def test_progressive_jpeg():
    data = save(Image.new("RGB", (3000, 2000), GREEN), "JPEG", progressive=True)
    assert Image.open(io.BytesIO(data)).info.get("progressive")
    thumb = make_thumbnail(data, (150, 150))
    assert (thumb.width, thumb.height) == (150, 100)
    assert is_near(decode(thumb).getpixel((75, 50)), GREEN)


def test_palette_png_resized_in_colour():
    img = Image.new("RGB", (400, 200), RED)
    img.paste(BLUE, (200, 0, 400, 200))
    thumb = make_thumbnail(save(img.quantize(4), "PNG"), (100, 100))
    out = decode(thumb)
    assert out.mode == "RGB" and out.size == (100, 50)
    assert is_near(out.getpixel((10, 25)), RED) and is_near(out.getpixel((90, 25)), BLUE)


def test_palette_png_with_transparency_is_flattened_onto_white():
    img = Image.new("P", (200, 100), 0)
    img.putpalette([*RED, *BLUE] + [0] * 762)
    img.paste(1, (100, 0, 200, 100))
    out = decode(make_thumbnail(save(img, "PNG", transparency=1), (100, 100)))
    assert is_near(out.getpixel((10, 25)), RED) and is_near(out.getpixel((90, 25)), (255, 255, 255), 8)


def test_rgba_png_transparent_pixels_become_white():
    img = Image.new("RGBA", (400, 200), (*BLUE, 255))
    img.paste((0, 0, 0, 0), (200, 0, 400, 200))  # transparent *black*: must not show as black
    out = decode(make_thumbnail(save(img, "PNG"), (100, 100)))
    assert is_near(out.getpixel((90, 25)), (255, 255, 255), 8)
    assert is_near(out.getpixel((10, 25)), BLUE)


def test_la_png_is_flattened_onto_white_and_stays_grey():
    img = Image.new("LA", (400, 200), (60, 255))
    img.paste((0, 0), (200, 0, 400, 200))
    out = decode(make_thumbnail(save(img, "PNG"), (100, 100)))
    assert out.mode == "L"
    assert is_near(out.getpixel((10, 25)), 60, 5) and is_near(out.getpixel((90, 25)), 255, 5)


def test_pa_image_is_flattened_onto_white():
    img = Image.new("PA", (200, 100), (0, 255))
    img.putpalette([*RED] + [0] * 765)
    img.paste((0, 0), (100, 0, 200, 100))
    out = decode(make_thumbnail(save(img, "TIFF"), (100, 100)))
    assert is_near(out.getpixel((10, 25)), RED) and is_near(out.getpixel((90, 25)), (255, 255, 255), 8)


def test_16_bit_png_is_scaled_not_clipped():
    img = Image.new("I;16", (300, 100), 0)
    for left, value in ((100, 32768), (200, 65535)):  # paste(int) is a no-op on I;16, so paste images
        img.paste(Image.new("I;16", (100, 100), value), (left, 0))
    data = save(img, "PNG")
    assert Image.open(io.BytesIO(data)).mode == "I;16"
    out = decode(make_thumbnail(data, (150, 150)))
    assert out.mode == "L" and out.size == (150, 50)
    assert is_near(out.getpixel((25, 25)), 0, 2)
    assert is_near(out.getpixel((75, 25)), 128, 2)
    assert is_near(out.getpixel((125, 25)), 255, 2)


def test_16_bit_grey_decoded_by_pillow_is_scaled_by_rounding():
    # PNGs go through libvips; a 16-bit TIFF takes Pillow's path (as any 16-bit file libvips does not decode).
    levels = [0, 128, 129, 32896, 65535]  # 0.498 rounds down, 0.502 up; 128 and 255 exactly
    img = Image.new("I;16", (len(levels) * 10, 10), 0)
    for index, level in enumerate(levels):
        img.paste(Image.new("I;16", (10, 10), level), (index * 10, 0))
    out = decode_to_fit(save(img, "TIFF"), (100, 100), 10**8).image
    assert (out.mode, out.size) == ("L", (50, 10))
    assert [out.getpixel((index * 10 + 5, 5)) for index in range(len(levels))] == [round(v / 257) for v in levels]


def test_1_bit_image_is_resized_in_grey_not_in_black_and_white():
    img = Image.new("1", (400, 200), 0)
    for x in range(0, 400, 2):  # one-pixel stripes: shrunk by 4 they average to mid-grey
        img.paste(1, (x, 0, x + 1, 200))
    out = decode_to_fit(save(img, "TIFF"), (100, 100), 10**8).image
    assert (out.mode, out.size) == ("L", (100, 50))
    assert is_near(out.getpixel((50, 25)), 128, 8)


def test_a_gif_with_a_transparent_colour_is_flattened_onto_white_or_kept_transparent():
    img = Image.new("P", (200, 100), 0)
    img.putpalette([*RED, *BLUE] + [0] * 762)
    img.paste(1, (100, 0, 200, 100))  # the right half is the transparent colour (blue underneath)
    data = save(img, "GIF", transparency=1)
    flat = decode_to_fit(data, (100, 100), 10**8).image
    assert flat.mode == "RGB"
    assert is_near(flat.getpixel((25, 25)), RED) and is_near(flat.getpixel((75, 25)), (255, 255, 255), 8)
    kept = decode_to_fit(data, (100, 100), 10**8, keep_alpha=True).image
    assert kept.mode == "RGBA" and kept.getpixel((75, 25))[3] == 0 and kept.getpixel((25, 25))[3] == 255
    opaque = decode_to_fit(save(img, "GIF"), (100, 100), 10**8, keep_alpha=True).image
    assert opaque.mode == "RGB", "no alpha channel where nothing is transparent"


def test_the_smallest_box_is_one_pixel():
    data = save(Image.new("RGB", (40, 20), RED), "JPEG")
    assert decode_to_fit(data, (1, 1), 10**8).image.size == (1, 1)
    assert decode_to_fit(data, (1, 50), 10**8).image.size == (1, 1)
    assert decode_to_fit(data, (50, 1), 10**8).image.size == (2, 1)
    with pytest.raises(ValueError, match=r"box must be at least 1x1, got \(50, 0\)"):
        decode_to_fit(data, (50, 0), 10**8)


def test_16_bit_samples_libvips_hands_back_are_scaled_by_rounding():
    # libvips' thumbnail gives 8-bit samples for every 16-bit PNG we could make; should a libvips version hand
    # back 16-bit ones, they are scaled as Pillow's path scales them (v / 257, rounded), not clipped or misread.
    levels = [0, 128, 129, 32896, 65535]  # 0.498 rounds down, 0.502 up; 128 and 255 exactly
    row = pyvips.Image.new_from_array([levels]).cast("ushort")
    for bands, mode in ((1, "L"), (2, "LA"), (3, "RGB"), (4, "RGBA")):
        image = row.bandjoin([row] * (bands - 1)) if bands > 1 else row
        out = vips_decoding._to_pillow(image)
        assert (out.mode, out.size) == (mode, (5, 1))
        expected = [round(level / 257) for level in levels]
        assert [out.getpixel((x, 0)) for x in range(5)] == [
            value if bands == 1 else (value,) * bands for value in expected
        ]


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (200, 100), colour) for colour in (RED, GREEN, BLUE)]
    data = save(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 3
    thumb = make_thumbnail(data, (50, 50))
    assert (thumb.width, thumb.height) == (50, 25)
    assert is_near(decode(thumb).getpixel((25, 12)), RED)


def test_webp():
    img = Image.new("RGBA", (600, 300), (*GREEN, 255))
    img.paste((0, 0, 0, 0), (300, 0, 600, 300))
    thumb = make_thumbnail(save(img, "WEBP", lossless=True), (120, 120))
    out = decode(thumb)
    assert out.size == (120, 60)
    assert is_near(out.getpixel((20, 30)), GREEN) and is_near(out.getpixel((100, 30)), (255, 255, 255), 8)


# --- errors -------------------------------------------------------------------------------------------


def test_truncated_jpeg_raises_actionable_job_error():
    data = save(Image.effect_noise((400, 300), 60).convert("RGB"), "JPEG")
    expected = r"could not be decoded as an image \(.*truncated.*\); upload it again"
    with pytest.raises(JobError, match=expected):
        make_thumbnail(data[: len(data) // 2], (100, 100))


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_truncated_png_and_webp_raise_actionable_job_errors(fmt):
    data = save(Image.effect_noise((400, 300), 60).convert("RGB"), fmt)
    with pytest.raises(JobError, match=r"could not be decoded as an image \(.+\); upload it again"):
        make_thumbnail(data[: len(data) * 3 // 4], (100, 100))


def test_a_png_with_a_damaged_row_raises_a_job_error_with_libvips_reason():
    data = bytearray(save(Image.effect_noise((400, 300), 60).convert("RGB"), "PNG"))
    data[len(data) // 2 : len(data) // 2 + 64] = bytes(64)  # zeros in the middle of the compressed rows
    # The reason is libvips' own line, naming its PNG loader, without its "unable to call ..." preamble.
    reason = r"\(vipspng: [^()\n]+\)"
    with pytest.raises(JobError, match=rf"^The original could not be decoded as an image {reason}; upload it again\.$"):
        make_thumbnail(bytes(data), (100, 100))


@pytest.mark.parametrize(
    "data", [os.urandom(4096), b"", b"GIF89a" + bytes(3)], ids=["random", "empty", "gif-header-only"]
)
def test_non_images_raise_job_error(data):
    with pytest.raises(JobError, match="upload it again"):
        make_thumbnail(data, (100, 100))


def test_pixel_bomb_header_raises_job_error():
    # 30000x30000 is beyond Pillow's own hard limit, so Image.open refuses it before we see it.
    with pytest.raises(JobError) as caught:
        make_thumbnail(png_claiming_size(30_000, 30_000), (100, 100))
    assert caught.value.message == "The original has more pixels than we can process; upload a smaller image."


def test_image_over_max_pixels_raises_job_error_without_warning_escaping():
    # 90 Mpx trips Pillow's DecompressionBombWarning (pytest would make it an error); our limit must answer.
    with pytest.raises(JobError, match=r"9000x10000 pixels, more than the limit of 89,999,999"):
        make_thumbnail(png_claiming_size(9000, 10_000), (100, 100), max_pixels=89_999_999)


def test_small_max_pixels_is_enforced():
    data = save(Image.new("RGB", (100, 100), RED), "JPEG")
    with pytest.raises(JobError, match="limit of 9,999"):
        make_thumbnail(data, (50, 50), max_pixels=9_999)
    assert make_thumbnail(data, (50, 50), max_pixels=10_000).width == 50


# --- draft: large JPEGs are decoded at reduced size ---------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "orientation", "box", "scale"),
    [
        ("RGB", 1, (200, 200), 8),
        ("RGB", 1, (600, 600), 2),
        ("RGB", 6, (200, 200), 8),
        ("RGB", 8, (600, 600), 2),
        ("L", 1, (200, 200), 8),
        ("L", 6, (200, 200), 8),
        ("CMYK", 1, (200, 200), 8),
        ("CMYK", 5, (600, 600), 2),
    ],
)
def test_jpeg_is_decoded_at_smallest_scale_keeping_twice_target(mode, orientation, box, scale, monkeypatch):
    decoded: list[tuple[tuple[int, int], str]] = []
    original_draft = JpegImagePlugin.JpegImageFile.draft

    def spy(self, requested_mode, size):
        result = original_draft(self, requested_mode, size)
        decoded.append((self.size, self.mode))
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    stored = (2000, 4000) if orientation >= 5 else (4000, 2000)  # displayed 4000x2000 either way
    exif = Image.Exif()
    exif[0x0112] = orientation
    colour = {"RGB": RED, "L": 90, "CMYK": (0, 255, 255, 0)}[mode]
    thumb = make_thumbnail(save(Image.new(mode, stored, colour), "JPEG", exif=exif), box)
    assert (thumb.width, thumb.height) == (box[0], box[0] // 2)
    # Wrong-frame target sizes only under-reduce (Pillow takes the smaller ratio), so check the scale itself.
    assert decoded[0] == ((stored[0] // scale, stored[1] // scale), mode), "draft must keep the source's mode"


# --- memory: large JPEGs are decoded at reduced size --------------------------------------------------

# tracemalloc cannot see Pillow's pixel buffers (allocated in C), so measure the peak RSS of a fresh
# interpreter instead, once as shipped and once with draft() disabled to prove the measure can fail.
# VmHWM, not ru_maxrss: the latter survives exec, so the child would inherit the test process's peak.
_PEAK_SCRIPT = textwrap.dedent("""
    import io, re, sys
    from PIL import Image, JpegImagePlugin
    from annotation_core import vips_decoding
    from annotation_core.image_decoding import decode_to_fit
    if sys.argv[2] == "no-draft":
        JpegImagePlugin.JpegImageFile.draft = lambda self, mode, size: None
    if sys.argv[2] == "pillow-only":
        vips_decoding.FORMATS = frozenset()
    def make_thumbnail(data, box):
        return decode_to_fit(data, box, 10**8).image
    for fmt in ("JPEG", "PNG", "WEBP"):  # load plugins, libvips and encoders before measuring
        warm = io.BytesIO()
        Image.new("RGB", (64, 64)).save(warm, fmt)
        make_thumbnail(warm.getvalue(), (32, 32))
    data = open(sys.argv[1], "rb").read()
    def peak_bytes():
        with open("/proc/self/status") as status:
            return int(re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)) * 1024
    before = peak_bytes()
    thumb = make_thumbnail(data, (256, 256))
    print(peak_bytes() - before, thumb.width, thumb.height)
""")


def _peak_growth(path: Path, variant: str) -> tuple[int, int, int]:
    result = subprocess.run(
        [sys.executable, "-c", _PEAK_SCRIPT, str(path), variant],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    growth, width, height = (int(word) for word in result.stdout.split())
    return growth, width, height


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for VmHWM")
def test_large_jpeg_is_never_fully_decoded(tmp_path):
    path = tmp_path / "big.jpg"
    Image.new("RGB", (6000, 4000), (90, 140, 200)).save(path, "JPEG", quality=90)
    full_decode = 6000 * 4000 * 3
    growth, width, height = _peak_growth(path, "as-shipped")
    assert (width, height) == (256, 171)
    assert growth < full_decode // 4, f"peak grew {growth:,} bytes; a full decode is {full_decode:,}"
    control, _, _ = _peak_growth(path, "no-draft")
    assert control > full_decode // 2, "the RSS measure must notice a full decode"


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc for VmHWM")
@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
def test_large_png_and_webp_are_never_decoded_at_full_size(tmp_path, fmt):
    # libvips' line buffers and worker threads cost ~30 MiB whatever the image; a full decode grows with it.
    path = tmp_path / f"big.{fmt.lower()}"
    Image.new("RGB", (8000, 6000), (90, 140, 200)).save(path, fmt)
    full_decode = 8000 * 6000 * 3
    growth, width, height = _peak_growth(path, "as-shipped")
    assert (width, height) == (256, 192)
    assert growth < full_decode // 2, f"peak grew {growth:,} bytes; a full decode is {full_decode:,}"
    control, _, _ = _peak_growth(path, "pillow-only")
    assert control > full_decode * 0.9, "the RSS measure must notice a full decode"
