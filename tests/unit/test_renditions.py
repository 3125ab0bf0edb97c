"""Renditions from one decode: grid image, preview and ThumbHash placeholder, colour-managed to sRGB, with no
metadata; the photo facts of the EXIF; every input format, made here with Pillow and pillow-heif."""

from __future__ import annotations

import base64
import io
from datetime import datetime

import pytest
from PIL import Image, JpegImagePlugin
from PIL.TiffImagePlugin import IFDRational

from annotation_core.errors import JobError
from annotation_core.image_decoding import decode_to_fit
from annotation_core.photo_facts import read_photo_facts
from annotation_core.schema import images as images_table
from lambda_functions.thumbnail_lambda.thumbnailer import Encoded, Renditions, make_renditions
from tests import images
from tests.colour_science import P3_D50, delta_e, display_p3_profile, lab

RED, BLUE = (220, 30, 30), (30, 30, 220)


def render(data: bytes, image_format: str = "webp", **options) -> Renditions:
    return make_renditions(data, grid_box=(256, 256), preview_size=1024, image_format=image_format, **options)


def opened(encoded: Encoded) -> Image.Image:
    image = Image.open(io.BytesIO(encoded.data))
    assert image.size == (encoded.width, encoded.height)
    assert Image.MIME[image.format] == encoded.content_type
    return image


def centre(encoded: Encoded) -> tuple[int, int, int]:
    image = opened(encoded).convert("RGB")
    return image.getpixel((image.width // 2, image.height // 2))


def near(pixel, expected, tolerance: int = 30) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def test_a_photo_gets_a_grid_image_a_preview_and_a_placeholder_from_one_decode(monkeypatch):
    decodes = []
    real = decode_to_fit

    def counting(*args, **kwargs):
        decodes.append(args[1])
        return real(*args, **kwargs)

    monkeypatch.setattr("lambda_functions.thumbnail_lambda.thumbnailer.decode_to_fit", counting)
    made = render(images.jpeg((4000, 3000), color=BLUE))

    assert decodes == [(1024, 1024)]
    assert (made.grid.width, made.grid.height, made.grid.content_type) == (256, 192, "image/webp")
    assert (made.preview.width, made.preview.height, made.preview.content_type) == (1024, 768, "image/webp")
    assert near(centre(made.grid), BLUE) and near(centre(made.preview), BLUE)
    assert 20 <= len(base64.b64decode(made.placeholder)) <= 25


def test_a_12_mp_photo_s_preview_comes_from_the_half_scale_decode(monkeypatch):
    # The preview needs 1024 px: JPEG's 1/2 scale (2000 px) covers it, so the full 4000 px are never decoded.
    drafted = []
    real_draft = JpegImagePlugin.JpegImageFile.draft

    def draft(self, mode, size):
        result = real_draft(self, mode, size)
        drafted.append(self.size)
        return result

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", draft)
    made = render(images.jpeg((4000, 3000), color=BLUE))
    assert set(drafted) == {(2000, 1500)}  # (thumbnail() asks again, for the same scale)
    assert (made.preview.width, made.preview.height) == (1024, 768)


def test_webp_is_the_default_format():  # as the benchmarks call it
    made = make_renditions(images.jpeg((640, 480)), grid_box=(256, 256), preview_size=400)
    assert (made.grid.content_type, made.preview.content_type, opened(made.grid).format) == (
        "image/webp",
        "image/webp",
        "WEBP",
    )


def test_jpeg_renditions_for_old_clients():
    made = render(images.jpeg((1200, 900), color=RED), image_format="jpeg")
    assert (made.grid.content_type, made.grid.extension, opened(made.grid).format) == ("image/jpeg", "jpg", "JPEG")
    assert opened(made.preview).format == "JPEG"


def test_jpeg_renditions_are_encoded_at_quality_85():
    # The size and quality the JPEG renditions were tuned for: the quantisation tables of quality 85.
    reference = io.BytesIO()
    Image.new("RGB", (8, 8)).save(reference, "JPEG", quality=85)
    made = render(images.noisy_jpeg((1200, 900)), image_format="jpeg")
    for rendition in (made.grid, made.preview):
        assert opened(rendition).quantization == Image.open(reference).quantization


def test_a_small_image_is_never_enlarged():
    made = render(images.image_bytes("PNG", (100, 80), color="green"))
    assert (made.grid.width, made.grid.height) == (100, 80) == (made.preview.width, made.preview.height)


def placeholder_average(placeholder: str) -> tuple[float, float, float]:
    """The average colour a ThumbHash holds in its header (its DC terms), as 0-255 RGB; from the spec."""
    hash_bytes = base64.b64decode(placeholder)
    header = hash_bytes[0] | hash_bytes[1] << 8 | hash_bytes[2] << 16
    lum, p, q = (header & 63) / 63, ((header >> 6) & 63) / 31.5 - 1, ((header >> 12) & 63) / 31.5 - 1
    blue = lum - 2 / 3 * p
    red = (3 * lum - blue + q) / 2
    return (255 * red, 255 * (red - q), 255 * blue)


@pytest.mark.parametrize("colour", [RED, BLUE, (240, 200, 40)])
def test_the_placeholder_holds_the_colour_of_the_image(colour):
    made = render(images.jpeg((640, 480), color=colour))
    assert near(placeholder_average(made.placeholder), colour, tolerance=25)


# --- colour management and metadata ---------------------------------------------------------------------

P3_RED = (200, 50, 40)  # a red inside sRGB's gamut too, so a correct conversion can keep it exactly


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])  # PNG and WebP are decoded by libvips
def test_a_display_p3_red_stays_the_same_red_in_srgb(fmt):
    data = images.image_bytes(fmt, (1600, 1200), color=P3_RED, quality=95, icc_profile=display_p3_profile())
    made = render(data)
    meant = lab(P3_RED, P3_D50)
    assert delta_e(meant, lab(P3_RED)) > 10, "the control: P3 numbers read as sRGB are a visibly different red"
    for rendition in (made.grid, made.preview):
        assert delta_e(meant, lab(centre(rendition))) < 3
        assert "icc_profile" not in opened(rendition).info  # the pixels are sRGB, which needs no tag


def test_a_transparent_display_p3_image_keeps_its_red_and_its_transparency():
    # AVIF is decoded by Pillow: the colour is converted apart from the alpha channel, which is put back.
    picture = Image.new("RGBA", (800, 400), (*P3_RED, 255))
    picture.paste((0, 0, 0, 0), (400, 0, 800, 400))
    buffer = io.BytesIO()
    picture.save(buffer, "AVIF", quality=95, icc_profile=display_p3_profile())
    grid = opened(render(buffer.getvalue()).grid).convert("RGBA")
    assert grid.getpixel((grid.width * 3 // 4, grid.height // 2))[3] == 0
    red = grid.getpixel((grid.width // 4, grid.height // 2))
    assert red[3] == 255 and delta_e(lab(P3_RED, P3_D50), lab(red[:3])) < 3


def test_renditions_of_a_photo_with_gps_carry_no_metadata_at_all():
    data = images.jpeg((1200, 900), exif=images.photo_exif(gps=True), icc_profile=display_p3_profile())
    assert Image.open(io.BytesIO(data)).getexif().get_ifd(0x8825), "the original has GPS"
    assert decode_to_fit(data, (64, 64), 10**8).image.info == {}, "the decoded pixels carry nothing on"
    made = render(data)
    for rendition in (made.grid, made.preview):
        image = opened(rendition)
        assert not image.getexif() and not ({"exif", "xmp", "icc_profile"} & image.info.keys())
        assert b"Exif" not in rendition.data and b"iPhone" not in rendition.data


def test_photo_facts_are_read_and_coordinates_kept_only_when_asked():
    data = images.jpeg((640, 480), exif=images.photo_exif(gps=True))
    facts = render(data).facts
    assert facts.taken_at.isoformat() == "2024-05-06T07:08:09"
    assert (facts.camera_make, facts.camera_model) == ("Apple", "iPhone 15 Pro")
    assert facts.lens_model.startswith("iPhone 15 Pro back")
    assert (facts.exposure_seconds, facts.f_number, facts.iso, facts.focal_length_mm) == (0.004, 1.8, 64, 6.9)
    assert facts.has_location and facts.latitude is None and facts.longitude is None
    kept = render(data, keep_location=True).facts
    assert kept.latitude == pytest.approx(52.3697, abs=1e-4) and kept.longitude == pytest.approx(4.8917, abs=1e-4)


def test_a_picture_without_exif_has_no_facts():
    facts = render(images.image_bytes("PNG", (64, 48))).facts
    assert facts == read_photo_facts(Image.Exif(), keep_location=True)
    assert facts.taken_at is None and facts.has_location is False


def test_junk_in_the_exif_is_dropped_not_trusted():
    exif = Image.Exif()
    exif[0x010F] = "  \x00"
    exif.get_ifd(0x8769)[0x9003] = "0000:00:00 00:00:00"
    exif.get_ifd(0x8769)[0x829D] = 0
    exif.get_ifd(0x8825)[2] = "north"
    facts = read_photo_facts(exif, keep_location=True)
    assert (facts.camera_make, facts.taken_at, facts.f_number, facts.has_location) == (None, None, None, False)


def exif_with(*, main=None, details=None, gps=None) -> Image.Exif:
    """EXIF holding exactly these tags: the main IFD's, the Exif IFD's (`details`) and the GPS IFD's."""
    exif = Image.Exif()
    for tag, value in (main or {}).items():
        exif[tag] = value
    for ifd, tags in ((0x8769, details), (0x8825, gps)):
        for tag, value in (tags or {}).items():
            exif.get_ifd(ifd)[tag] = value
    return exif


def degrees(d: int, m: int, s_hundredths: int) -> tuple[IFDRational, IFDRational, IFDRational]:
    return IFDRational(d), IFDRational(m), IFDRational(s_hundredths, 100)


def test_the_date_digitized_stands_in_for_a_missing_date_taken_and_padding_is_ignored():
    facts = read_photo_facts(exif_with(details={0x9004: "2023:12:31 23:59:58\x00 "}), keep_location=False)
    assert facts.taken_at == datetime(2023, 12, 31, 23, 59, 58)
    both = exif_with(details={0x9003: "2024:01:02 03:04:05", 0x9004: "2023:12:31 23:59:58"})
    assert read_photo_facts(both, keep_location=False).taken_at == datetime(2024, 1, 2, 3, 4, 5)
    # Sub-seconds after the 19 characters of the date are dropped; a number is no date at all.
    with_fraction = exif_with(details={0x9003: "2024:01:02 03:04:05.123"})
    assert read_photo_facts(with_fraction, keep_location=False).taken_at == datetime(2024, 1, 2, 3, 4, 5)
    assert read_photo_facts(exif_with(details={0x9003: 20240102}), keep_location=False).taken_at is None


def test_camera_texts_are_cleaned_and_cut_to_their_columns():
    exif = exif_with(
        main={0x010F: b"  Canon\x00\x00", 0x0110: "M" * 200},
        details={0xA434: "EF 50mm\tf/1.8\n" + "L" * 200},
    )
    facts = read_photo_facts(exif, keep_location=False)
    assert facts.camera_make == "Canon"  # bytes as some cameras write them, NULs and spaces dropped
    assert facts.camera_model == "M" * 128
    assert facts.lens_model == ("EF 50mmf/1.8" + "L" * 200)[:128]
    long_make = read_photo_facts(exif_with(main={0x010F: "K" * 100}), keep_location=False).camera_make
    assert long_make == "K" * 64
    assert read_photo_facts(exif_with(main={0x0110: 42}), keep_location=False).camera_model is None
    # Bytes that are not UTF-8 are kept as far as they read, not a reason to fail the job.
    assert read_photo_facts(exif_with(main={0x010F: b"Ni\xffkon"}), keep_location=False).camera_make == "Ni\ufffdkon"


def test_exposure_values_outside_a_camera_s_range_are_dropped():
    def exposure(value):
        return read_photo_facts(exif_with(details={0x829A: value}), keep_location=False).exposure_seconds

    assert exposure(IFDRational(1, 8000)) == 1 / 8000
    assert exposure(IFDRational(999_999)) == 999_999
    for junk in (IFDRational(0), IFDRational(-1), IFDRational(1_000_000), IFDRational(1, 0), "fast", None):
        assert exposure(junk) is None, junk


def test_iso_is_a_whole_number_and_the_first_of_a_list():
    def iso(value):
        return read_photo_facts(exif_with(details={0x8827: value}), keep_location=False).iso

    assert iso(IFDRational(1275, 10)) == 128  # 127.5 rounds to even
    assert iso(IFDRational(1265, 10)) == 126
    assert iso((400, 800)) == 400
    assert iso(()) is None
    assert iso(0) is None


@pytest.mark.parametrize(
    ("lat_ref", "lon_ref", "signs"),
    [("N", "E", (1, 1)), ("S", "W", (-1, -1)), (b"S\x00", b"w", (-1, -1)), ("N", None, (1, 1)), (b"\xd3", "E", (1, 1))],
    ids=["north-east", "south-west", "bytes-and-lower-case", "no-reference", "junk-reference"],
)
def test_coordinates_are_signed_by_their_hemisphere(lat_ref, lon_ref, signs):
    gps = {2: degrees(33, 51, 3540), 4: degrees(151, 12, 3000), 1: lat_ref, 3: lon_ref}
    facts = read_photo_facts(exif_with(gps={tag: value for tag, value in gps.items() if value}), keep_location=True)
    assert facts.has_location is True
    assert facts.latitude == pytest.approx(signs[0] * (33 + 51 / 60 + 35.4 / 3600), abs=1e-9)
    assert facts.longitude == pytest.approx(signs[1] * (151 + 12 / 60 + 30 / 3600), abs=1e-9)


def test_a_location_needs_both_coordinates_each_within_180_degrees():
    def located(gps):
        return read_photo_facts(exif_with(gps=gps), keep_location=True)

    only_latitude = located({1: "N", 2: degrees(52, 22, 1080)})
    assert (only_latitude.has_location, only_latitude.latitude, only_latitude.longitude) == (False, None, None)
    edge = located({2: degrees(0, 0, 0), 4: degrees(180, 0, 0)})
    assert (edge.has_location, edge.latitude, edge.longitude) == (True, 0.0, 180.0)
    beyond = located({2: degrees(10, 0, 0), 4: degrees(180, 0, 1)})
    assert (beyond.has_location, beyond.longitude) == (False, None)
    broken = located({2: (IFDRational(10), IFDRational(1, 0), IFDRational(0)), 4: degrees(10, 0, 0)})
    assert broken.has_location is False and broken.latitude is None


def test_the_facts_are_columns_of_the_images_table():
    facts = read_photo_facts(images.photo_exif(gps=True), keep_location=True)
    columns = facts.columns()
    assert set(columns) <= set(images_table.c.keys())
    assert (columns["camera_make"], columns["iso"], columns["has_location"]) == ("Apple", 64, True)
    assert columns["latitude"] == facts.latitude


# --- input formats -------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [images.heic, images.avif], ids=["heic", "avif"])
def test_heic_and_avif_become_webp_renditions(make):
    made = render(make((1600, 1200), color=RED))
    assert (made.grid.width, made.grid.height) == (256, 192)
    assert near(centre(made.grid), RED) and near(centre(made.preview), RED)


def test_an_exif_rotated_heic_comes_out_upright():
    stored = Image.new("RGB", (800, 400), BLUE)  # the stored pixels: red left half, blue right half
    stored.paste(RED, (0, 0, 400, 400))
    buffer = io.BytesIO()
    images.heic((1, 1))  # registers the HEIF writer
    stored.save(buffer, "HEIF", quality=90, exif=images.photo_exif(orientation=6, gps=False).tobytes())
    grid = opened(render(buffer.getvalue()).grid).convert("RGB")
    assert grid.size == (128, 256), "rotated by 90 degrees: portrait"
    assert near(grid.getpixel((64, 20)), RED) and near(grid.getpixel((64, 236)), BLUE), "the left half is on top"


@pytest.mark.parametrize("fmt", ["WEBP", "AVIF"])
def test_an_animation_is_rendered_from_its_first_frame(fmt):
    made = render(images.animated(fmt, colours=("red", "lime", "blue"), size=(320, 240)))
    assert near(centre(made.grid), (255, 0, 0), tolerance=40)


def test_a_truncated_heic_fails_the_job_with_an_actionable_reason():
    with pytest.raises(JobError, match="upload it again"):
        render(images.truncated_heic())


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_webp_renditions_keep_transparency_and_jpeg_ones_are_flattened_onto_white(mode):
    picture = Image.new("RGBA", (400, 200), (*BLUE, 255))
    picture.paste((0, 0, 0, 0), (200, 0, 400, 200))  # the right half is transparent (black underneath)
    if mode == "LA":
        picture = picture.convert("LA")
    elif mode == "P":
        picture = picture.convert("RGB").quantize(4)
        picture.info["transparency"] = picture.getpixel((300, 100))
    buffer = io.BytesIO()
    picture.save(buffer, "PNG", **({"transparency": picture.info["transparency"]} if mode == "P" else {}))

    webp = render(buffer.getvalue())
    for encoded in (webp.grid, webp.preview):
        image = opened(encoded).convert("RGBA")
        assert image.getpixel((image.width * 3 // 4, image.height // 2))[3] == 0, "transparent stays transparent"
        assert image.getpixel((image.width // 4, image.height // 2))[3] == 255
    assert webp.placeholder, "a placeholder (flattened onto light grey) all the same"

    jpeg = opened(render(buffer.getvalue(), "jpeg").grid)
    assert jpeg.mode in ("RGB", "L")
    assert near(jpeg.convert("RGB").getpixel((jpeg.width * 3 // 4, jpeg.height // 2)), (255, 255, 255), 8)
