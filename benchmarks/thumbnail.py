"""`thumbnail`: one thumbnail (the shared decode, one JPEG) against the bare reduced JPEG decode (libjpeg-turbo's
floor) and the naive way; `benchmarks.renditions` measures all renditions against it."""

from __future__ import annotations

import io
import json
import statistics
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from PIL import Image, ImageOps

from annotation_core.image_decoding import decode_to_fit, open_image
from benchmarks.photos import encode, jpeg, photo
from benchmarks.report import Report
from benchmarks.timing import measure, ratio
from lambda_functions.thumbnail_lambda.thumbnailer import Encoded, make_renditions
from lambda_functions.thumbnail_lambda.thumbnailer import encode as encode_rendition

BOXES = (128, 512)
MiB = 1024


def one_thumbnail(data: bytes, box: tuple[int, int]) -> Encoded:
    """One thumbnail as before renditions existed: the shared decode into `box`, one JPEG (quality 85)."""
    return encode_rendition(decode_to_fit(data, box, 10**9).image, "jpeg", "grid")


def all_renditions(data: bytes, image_format: str = "webp") -> None:
    """What the thumbnail job makes at the default settings: 256 px grid, 1440 px preview, placeholder."""
    make_renditions(data, grid_box=(256, 256), preview_size=1440, image_format=image_format, max_pixels=10**9)


def bare_decode(data: bytes, scale: int) -> None:
    """The reference: only libjpeg-turbo's DCT-scaled decode, nothing else."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (img.width // scale, img.height // scale))
        img.load()


def full_decode(data: bytes) -> None:
    with open_image(data) as img:
        img.load()


def naive_thumbnail(data: bytes, box: tuple[int, int]) -> None:
    """Transpose first (a copy: the full-size decode), then shrink: what the shared decode avoids."""
    with Image.open(io.BytesIO(data)) as img:
        small = ImageOps.exif_transpose(img)
        small.thumbnail(box, reducing_gap=2.0)
        small.save(io.BytesIO(), "JPEG", quality=85, optimize=True)


def draft_scale(data: bytes, box: tuple[int, int]) -> int:
    """The DCT scale (1, 2, 4 or 8) one_thumbnail decodes an unrotated image at for `box`."""
    with Image.open(io.BytesIO(data)) as img:
        width, height = img.size
        scale = min(box[0] / width, box[1] / height, 1.0)
        img.draft("RGB", (2 * round(width * scale), 2 * round(height * scale)))
        return width // img.width


CASES_BY_NAME = {  # the memory cases, run one per fresh process by benchmarks.peak_rss
    "one_thumbnail": partial(one_thumbnail, box=(128, 128)),
    "naive": partial(naive_thumbnail, box=(128, 128)),
    "full_decode": full_decode,
    "renditions": all_renditions,
}


JPEG_MEMORY_CASES = ("one_thumbnail", "naive", "full_decode")


def peak_growth_mib(case: str, path: Path) -> float:
    """Peak RSS growth of `case` on the file at `path`, measured in a fresh interpreter."""
    command = [sys.executable, "-m", "benchmarks.peak_rss", case, str(path)]
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=Path(__file__).parent.parent)
    return json.loads(done.stdout)["peak_growth_kib"] / MiB


def run(quick: bool) -> Report:
    size, big, rounds, runs = ((2000, 1500), (4000, 3000), 3, 1) if quick else ((4000, 3000), (8000, 6000), 15, 3)
    image = photo(size)
    files = {
        "jpeg": encode(image, "JPEG", quality=90),
        "progressive": encode(image, "JPEG", quality=90, progressive=True),
        "webp": encode(image, "WEBP", quality=85),
    }
    report = Report(
        "thumbnail",
        "one thumbnail vs the bare reduced decode (time) and vs a full decode (memory)",
        {"image": f"{size[0]}x{size[1]}", "rounds": rounds, "memory_image": f"{big[0]}x{big[1]}"}
        | {f"{name}_kib": len(data) // 1024 for name, data in files.items()},
    )
    _time(report, files, rounds)
    _memory(report, jpeg(big), runs)
    return report


def _time(report: Report, files: dict[str, bytes], rounds: int) -> None:
    """Time every case interleaved; ratios against the reduced decode at the scale one_thumbnail uses."""
    groups = {
        "jpeg128": (files["jpeg"], 128),
        "jpeg512": (files["jpeg"], 512),
        "progressive128": (files["progressive"], 128),
    }
    cases = {}
    for group, (data, px) in groups.items():
        scale = draft_scale(data, (px, px))
        report.params[f"{group}_decode_scale"] = f"1/{scale}"
        cases[f"{group}.one_thumbnail"] = partial(one_thumbnail, data, (px, px))
        cases[f"{group}.reduced_decode (ref)"] = partial(bare_decode, data, scale)
        if group.startswith("jpeg"):
            cases[f"{group}.naive_transpose_first"] = partial(naive_thumbnail, data, (px, px))
    cases["webp128.one_thumbnail"] = partial(one_thumbnail, files["webp"], (128, 128))
    cases["webp128.full_decode (ref)"] = partial(full_decode, files["webp"])
    stats = measure(cases, rounds)
    report.results |= {name: s.as_dict() for name, s in stats.items()}
    for group in groups:
        report.ratios[f"{group} one_thumbnail / reduced decode"] = ratio(
            stats[f"{group}.one_thumbnail"], stats[f"{group}.reduced_decode (ref)"]
        )
    for group in ("jpeg128", "jpeg512"):
        report.ratios[f"{group} naive / one_thumbnail (speed-up)"] = ratio(
            stats[f"{group}.naive_transpose_first"], stats[f"{group}.one_thumbnail"]
        )
    report.ratios["webp128 one_thumbnail / full decode"] = ratio(
        stats["webp128.one_thumbnail"], stats["webp128.full_decode (ref)"]
    )
    overhead = report.ratios["jpeg128 one_thumbnail / reduced decode"]
    report.checks["jpeg128 within 1.3x of the reduced decode"] = "PASS" if overhead <= 1.3 else "FAIL"


def _memory(report: Report, big_jpeg: bytes, runs: int) -> None:
    """Peak RSS growth per case (128 px box), each run in a fresh process, cases interleaved."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "big.jpg"
        path.write_bytes(big_jpeg)
        growth = {case: [] for case in JPEG_MEMORY_CASES}
        for _ in range(runs):
            for case in JPEG_MEMORY_CASES:
                growth[case].append(peak_growth_mib(case, path))
    medians = {case: statistics.median(values) for case, values in growth.items()}
    for case, median in medians.items():
        label = f"memory.{case}" + (" (ref)" if case == "full_decode" else "")
        report.results[label] = {"n": runs, "peak_growth_mib": median}
    for case in ("one_thumbnail", "naive"):
        report.ratios[f"memory {case} / full decode"] = medians[case] / medians["full_decode"]
    report.notes.append("memory = peak RSS growth (VmHWM) in a fresh process per case, 128 px box")
