"""Which uploads are accepted, which are refused with which status, and what the user is told."""

from __future__ import annotations

import random
import re

import pytest

from annotation_core.errors import (
    AnnotationError,
    ImageTooLargeError,
    InvalidImageError,
    UnsupportedImageTypeError,
)
from annotation_core.image_inspection import ImageInfo, inspect_upload
from annotation_core.media_types import SUPPORTED_NAMES
from annotation_core.uploads import clean_filename
from tests import images

MAX_BYTES = 5 * 2**20
MAX_PIXELS = 100_000_000


def inspect(data: bytes, max_bytes: int = MAX_BYTES, max_pixels: int = MAX_PIXELS) -> ImageInfo:
    return inspect_upload(data, max_bytes, max_pixels)


@pytest.mark.parametrize(
    ("data", "mime_type", "extension"),
    [
        (images.jpeg((64, 48)), "image/jpeg", "jpg"),
        (images.image_bytes("PNG", (64, 48), mode="RGBA", color=(0, 0, 255, 128)), "image/png", "png"),
        (images.image_bytes("GIF", (64, 48), mode="P", color=3), "image/gif", "gif"),
        (images.image_bytes("WEBP", (64, 48)), "image/webp", "webp"),
        (images.heic((64, 48)), "image/heic", "heic"),
        (images.avif((64, 48)), "image/avif", "avif"),
        (images.animated("WEBP", size=(64, 48)), "image/webp", "webp"),
        (images.animated("AVIF", size=(64, 48)), "image/avif", "avif"),
    ],
    ids=["jpeg", "png", "gif", "webp", "heic", "avif", "animated-webp", "animated-avif"],
)
def test_accepts_supported_images(data, mime_type, extension):
    assert inspect(data) == ImageInfo(mime_type, extension, 64, 48)


def test_reports_the_real_size_of_a_larger_photo():
    info = inspect(images.noisy_jpeg((1600, 1200)))
    assert (info.width, info.height) == (1600, 1200)


def test_an_image_exactly_at_the_limits_is_accepted():
    data = images.image_bytes("PNG", (100, 50))
    assert inspect(data, max_bytes=len(data), max_pixels=100 * 50).width == 100


# (data, exception type, HTTP status, words the message must contain to tell the user what to do)
ACTION = f"upload a {SUPPORTED_NAMES}"
REFUSALS = {
    "empty": (b"", InvalidImageError, 400, ["empty", ACTION]),
    "text": (images.TEXT, InvalidImageError, 400, ["not an image", "text/plain", ACTION]),
    "html": (images.HTML, InvalidImageError, 400, ["not an image", "text/html", ACTION]),
    "pdf": (images.PDF, InvalidImageError, 400, ["not an image", "application/pdf", ACTION]),
    "svg": (images.SVG, UnsupportedImageTypeError, 415, ["image/svg+xml", "not supported", ACTION]),
    "bmp": (images.image_bytes("BMP"), UnsupportedImageTypeError, 415, ["image/bmp", "not supported", ACTION]),
    "tiff": (images.image_bytes("TIFF"), UnsupportedImageTypeError, 415, ["image/tiff", "not supported", ACTION]),
    "truncated jpeg": (images.truncated_jpeg(), InvalidImageError, 400, ["damaged or incomplete", "export it again"]),
    "truncated heic": (images.truncated_heic(), InvalidImageError, 400, ["damaged or incomplete", "export it again"]),
    # PNG and WebP are checked through libvips (no full-size canvas): it must refuse them as Pillow did.
    "truncated png": (images.truncated("PNG"), InvalidImageError, 400, ["damaged or incomplete", "export it again"]),
    "truncated webp": (images.truncated("WEBP"), InvalidImageError, 400, ["damaged or incomplete", "export it again"]),
    "damaged png": (images.damaged_png(), InvalidImageError, 400, ["damaged or incomplete", "export it again"]),
    "random bytes": (random.Random(7).randbytes(4096), InvalidImageError, 400, ["not an image", ACTION]),
    "bomb by header": (images.png_claiming_size(30000, 30000), ImageTooLargeError, 413, ["pixels", "scale it down"]),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refuses_with_the_right_error_status_and_an_actionable_message(case):
    data, error_type, status, phrases = REFUSALS[case]
    with pytest.raises(AnnotationError) as caught:
        inspect(data)
    error = caught.value
    assert type(error) is error_type
    assert error.http_status == status
    for phrase in phrases:
        assert phrase in error.message


def test_refuses_files_over_the_byte_limit_before_looking_inside():
    data = images.jpeg((64, 48))
    with pytest.raises(ImageTooLargeError) as caught:
        inspect(data, max_bytes=len(data) - 1)
    assert caught.value.http_status == 413
    assert "limit" in caught.value.message and "upload a smaller" in caught.value.message
    # Even bytes that are not an image are refused for their size first: nothing is sniffed.
    with pytest.raises(ImageTooLargeError):
        inspect(images.TEXT * 10, max_bytes=len(images.TEXT))


def test_reports_the_byte_limit_in_mib():
    with pytest.raises(ImageTooLargeError) as caught:
        inspect(b"\xff\xd8\xff" + bytes(3 * 2**20 - 3), max_bytes=2 * 2**20)
    assert caught.value.message == (
        "The file is 3.0 MiB; the limit is 2 MiB per image: upload a smaller or more compressed copy."
    )


def test_refuses_an_image_over_the_pixel_limit_with_its_dimensions():
    with pytest.raises(ImageTooLargeError) as caught:
        inspect(images.image_bytes("PNG", (200, 100)), max_pixels=19_999)
    assert caught.value.http_status == 413
    assert "200×100" in caught.value.message
    assert "scale it down" in caught.value.message


def test_refuses_a_bomb_under_pillows_own_limit_by_our_pixel_limit():
    # 10000 x 5000 = 50 MP: Pillow alone would open it; our limit refuses it before any decoding.
    with pytest.raises(ImageTooLargeError, match="10000×5000"):
        inspect(images.png_claiming_size(10_000, 5_000), max_pixels=1_000_000)


def test_the_pixel_refusals_state_the_size_and_the_limit_in_megapixels():
    with pytest.raises(ImageTooLargeError) as caught:
        inspect(images.png_claiming_size(10_000, 5_000), max_pixels=1_000_000)
    assert caught.value.message == (
        "The image is 10000×5000 (50 megapixels); the limit is 1 megapixels: scale it down and upload it again."
    )
    # Far beyond the limit, Pillow's own bomb check answers first; the user still hears our limit.
    with pytest.raises(ImageTooLargeError) as caught:
        inspect(images.png_claiming_size(30_000, 30_000))
    assert caught.value.message == (
        "The image has too many pixels (the limit is 100 megapixels): scale it down and upload it again."
    )


def test_megapixels_are_rounded_as_people_expect():
    # 3.5 and 1.5 megapixels sit on a rounding edge: a figure computed a little off would show 3 and 1.
    with pytest.raises(ImageTooLargeError, match=r"\(4 megapixels\); the limit is 2 megapixels"):
        inspect(images.png_claiming_size(3_500, 1_000), max_pixels=1_500_000)
    with pytest.raises(ImageTooLargeError, match=r"\(the limit is 2 megapixels\)"):
        inspect(images.png_claiming_size(30_000, 30_000), max_pixels=1_500_000)


def test_a_damaged_image_is_refused_with_the_decoders_reason():
    with pytest.raises(InvalidImageError) as caught:
        inspect(images.truncated_jpeg())
    assert caught.value.message.startswith("The image is damaged or incomplete (image file is truncated")
    assert caught.value.message.endswith("); export it again and retry.")


def test_a_damaged_png_is_refused_with_libvips_reason():
    # PNG is checked by libvips: the user hears its line naming the PNG loader, not its "unable to call" preamble.
    with pytest.raises(InvalidImageError) as caught:
        inspect(images.damaged_png())
    assert re.fullmatch(
        r"The image is damaged or incomplete \(vipspng: [^()\n]+\); export it again and retry\.", caught.value.message
    )


def test_one_pixel_over_the_limit_is_refused():
    with pytest.raises(ImageTooLargeError):
        inspect(images.image_bytes("PNG", (100, 50)), max_pixels=100 * 50 - 1)


# --- the user's file name, kept as data only ---


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("holiday.jpg", "holiday.jpg"),
        ("../../etc/passwd", "passwd"),
        ("/home/ann/Pictures/cat.png", "cat.png"),
        ("C:\\Users\\Ann\\Pictures\\dog.gif", "dog.gif"),
        ("..\\..\\windows\\win.ini", "win.ini"),
        ("a/b\\c.webp", "c.webp"),
        ("bad\x00na\x1fme\x7f.jpg", "badname.jpg"),
        ("line\nbreak\r\t.jpg", "linebreak.jpg"),
        ("  spaced out.jpg  ", "spaced out.jpg"),
        ("été ☀ 写真.jpg", "été ☀ 写真.jpg"),
        ("right\u202eto-left.jpg", "rightto-left.jpg"),
    ],
)
def test_clean_filename(raw, expected):
    assert clean_filename(raw) == expected


@pytest.mark.parametrize("raw", [None, "", "   ", "/", "C:\\", "\x00\x01", "dir/\x07"])
def test_clean_filename_defaults_to_untitled(raw):
    assert clean_filename(raw) == "untitled"


def test_clean_filename_limits_length():
    cleaned = clean_filename("x" * 1000 + ".jpg")
    assert len(cleaned) == 255
    assert clean_filename("é" * 300) == "é" * 255


def test_unreadable_image_data_is_explained_without_internals():
    header_only_png = images.image_bytes("PNG")[:40]
    with pytest.raises(InvalidImageError) as refused:
        inspect_upload(header_only_png, 10**7, 10**8)
    assert refused.value.message == (
        "The image is damaged or incomplete (its data cannot be read); export it again and retry."
    )
