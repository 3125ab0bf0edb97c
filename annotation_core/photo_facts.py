"""Photo facts read once from a photo's EXIF: when it was taken, with what, how, and whether it says where.

Cameras write all sorts of junk, so every value is checked and dropped (None) rather than trusted.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import Image

_EXIF_IFD, _GPS_IFD = 0x8769, 0x8825
_MAKE, _MODEL = 0x010F, 0x0110
_DATE_TAKEN, _DATE_DIGITIZED = 0x9003, 0x9004
_EXPOSURE_TIME, _F_NUMBER, _ISO, _FOCAL_LENGTH, _LENS_MODEL = 0x829A, 0x829D, 0x8827, 0x920A, 0xA434
_LATITUDE_REF, _LATITUDE, _LONGITUDE_REF, _LONGITUDE = 1, 2, 3, 4
_TEXT_LIMITS = {"camera_make": 64, "camera_model": 128, "lens_model": 128}  # the columns' lengths


@dataclass(frozen=True)
class PhotoFacts:
    """What the EXIF says; every field may be None. `taken_at` is the camera clock's local time."""

    taken_at: datetime | None = None
    camera_make: str | None = None
    camera_model: str | None = None
    lens_model: str | None = None
    exposure_seconds: float | None = None
    f_number: float | None = None
    iso: int | None = None
    focal_length_mm: float | None = None
    has_location: bool = False
    latitude: float | None = None
    longitude: float | None = None

    def columns(self) -> dict[str, Any]:
        """The row's columns of the same names."""
        return dataclasses.asdict(self)


def read_photo_facts(exif: Image.Exif, *, keep_location: bool) -> PhotoFacts:
    """The facts in `exif`; GPS coordinates only with `keep_location` (otherwise only that there were some)."""
    details = exif.get_ifd(_EXIF_IFD)
    gps = exif.get_ifd(_GPS_IFD)
    latitude = _coordinate(gps.get(_LATITUDE), gps.get(_LATITUDE_REF), "S")
    longitude = _coordinate(gps.get(_LONGITUDE), gps.get(_LONGITUDE_REF), "W")
    located = latitude is not None and longitude is not None
    return PhotoFacts(
        taken_at=_timestamp(details.get(_DATE_TAKEN)) or _timestamp(details.get(_DATE_DIGITIZED)),
        camera_make=_text(exif.get(_MAKE), _TEXT_LIMITS["camera_make"]),
        camera_model=_text(exif.get(_MODEL), _TEXT_LIMITS["camera_model"]),
        lens_model=_text(details.get(_LENS_MODEL), _TEXT_LIMITS["lens_model"]),
        exposure_seconds=_positive(details.get(_EXPOSURE_TIME)),
        f_number=_positive(details.get(_F_NUMBER)),
        iso=_iso(details.get(_ISO)),
        focal_length_mm=_positive(details.get(_FOCAL_LENGTH)),
        has_location=located,
        latitude=latitude if located and keep_location else None,
        longitude=longitude if located and keep_location else None,
    )


def _timestamp(value: Any) -> datetime | None:
    """EXIF's "YYYY:MM:DD HH:MM:SS" (unknown parts are often blank or zero: then None)."""
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None


def _text(value: Any, limit: int) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if not isinstance(value, str):
        return None
    cleaned = "".join(char for char in value if char.isprintable()).strip()
    return cleaned[:limit] or None


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return number if 0 < number < 1e6 else None  # also refuses nan and inf


def _iso(value: Any) -> int | None:
    if isinstance(value, tuple):  # some cameras write a list of ratings
        value = value[0] if value else None
    number = _positive(value)
    return round(number) if number is not None else None


def _coordinate(value: Any, reference: Any, negative: str) -> float | None:
    """Degrees, minutes and seconds (three rationals) as signed decimal degrees."""
    try:
        degrees, minutes, seconds = (float(part) for part in value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    decimal = degrees + minutes / 60 + seconds / 3600
    if not 0 <= decimal <= 180:
        return None
    if isinstance(reference, bytes):
        reference = reference.decode("ascii", "replace")
    return -decimal if str(reference).strip("\x00 ").upper() == negative else decimal
