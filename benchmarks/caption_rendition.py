"""What a caption costs before the model is asked: the JPEG rendition a 12 MP photo becomes (bytes sent
against the original's), and the time to make it against the same run's 256 px thumbnail."""

from __future__ import annotations

from functools import partial

from PIL import Image, ImageChops

from annotation_core.settings import Settings
from benchmarks.photos import encode, photo
from benchmarks.report import Report
from benchmarks.thumbnail import one_thumbnail
from benchmarks.timing import measure, ratio
from lambda_functions.annotation_lambda.caption_rendition import make_caption_rendition

BYTES_GOAL = 0.05  # of the original, for a 12 MP JPEG
GRAIN_SIGMA = 8  # sensor noise, which makes a camera's JPEG as large as it is (about 5 MB at 12 MP)


def camera_jpeg(size: tuple[int, int]) -> bytes:
    """A photo-like JPEG with a camera's grain, encoded as phones do (quality 92)."""
    grain = Image.effect_noise(size, GRAIN_SIGMA).convert("RGB")
    return encode(ImageChops.add(photo(size, seed=3), grain, offset=-128), "JPEG", quality=92)


def run(quick: bool) -> Report:
    size, rounds = ((2000, 1500), 5) if quick else ((4000, 3000), 30)
    settings = Settings()
    original = camera_jpeg(size)
    rendition = make_caption_rendition(original, settings.caption_max_pixels, settings.max_image_pixels)
    stats = measure(
        {
            "thumbnail 256 px (ref)": partial(one_thumbnail, original, (256, 256)),
            "caption rendition": partial(
                make_caption_rendition, original, settings.caption_max_pixels, settings.max_image_pixels
            ),
        },
        rounds=rounds,
    )
    report = Report(
        "caption_rendition",
        f"caption rendition of a {size[0] * size[1] / 1e6:.0f} MP JPEG (longest side {settings.caption_max_pixels} px)",
        {
            "image": f"{size[0]}x{size[1]}",
            "original_kib": len(original) // 1024,
            "max_side": settings.caption_max_pixels,
        },
    )
    report.results = {name: case.as_dict() for name, case in stats.items()}
    report.results["bytes sent"] = {
        "n": 1,
        "rendition_kib": len(rendition) / 1024,
        "original_kib": len(original) / 1024,
    }
    share = len(rendition) / len(original)
    report.ratios["bytes sent / original"] = share
    report.ratios["caption rendition / thumbnail 256 px"] = ratio(
        stats["caption rendition"], stats["thumbnail 256 px (ref)"]
    )
    verdict = "PASS" if share <= BYTES_GOAL else "FAIL"
    report.checks[f"bytes sent ≤ {BYTES_GOAL:.0%} of the original"] = f"{verdict} ({share:.1%})"
    report.notes.append(
        f"synthetic photo (benchmarks/photos.py) with grain sigma {GRAIN_SIGMA}, quality 92: its 1024 px rendition "
        "is busier than most real photos at that size, so real photographs send less"
    )
    return report
