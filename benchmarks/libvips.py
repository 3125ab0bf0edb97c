"""`libvips`: our renditions against libvips (pyvips, in-process) making the same ones in the same run, per
format group, at the grid size (256), the preview sizes (512, 1440) and as the whole job (256 + 1440); the
1/8 JPEG decode floor; peak memory per format, ours and libvips', each in a fresh process."""

from __future__ import annotations

import math
import statistics
import tempfile
from collections import defaultdict
from functools import partial
from pathlib import Path

import pyvips

from annotation_core.image_decoding import decode_to_fit
from benchmarks.corpus import Case, corpus
from benchmarks.report import Report, verdict
from benchmarks.thumbnail import bare_decode, peak_growth_mib
from benchmarks.timing import measure, ratio
from lambda_functions.thumbnail_lambda.thumbnailer import encode, make_renditions

SIZES = (256, 512, 1440)
GRID, PREVIEW = 256, 1440
QUALITY = 80  # thumbnailer._OPTIONS: WebP quality 80; effort (method) 4 for the grid, 0 for previews
TARGETS = {"WebP": 1.2, "PNG": 1.15}  # the issue: ours / libvips per group, at every size
LABELS = (*map(str, SIZES), "job")
PREVIEW_TARGET = 1.05  # preview sizes (512-1440), whole corpus
WEBP_MEMORY_TARGET_MIB = 40  # a 12 MP WebP, above the interpreter


def ours(data: bytes, size: int) -> None:
    """One rendition as the thumbnail job makes it: the shared decode into the box, WebP, no metadata."""
    image = decode_to_fit(data, (size, size), 10**9, draft_ratio=1.0, keep_alpha=True).image
    encode(image, "webp", "grid" if size <= GRID else "preview")


def vips(data: bytes, size: int, srgb: bool) -> None:
    """The same rendition by libvips: shrink-on-load thumbnail, sRGB, WebP at the same quality and effort."""
    thumb = _vips_thumbnail(data, size, srgb)
    thumb.webpsave_buffer(Q=QUALITY, effort=4 if size <= GRID else 0, keep="none")


def vips_job(data: bytes, srgb: bool = True) -> None:
    """The thumbnail job done by libvips: the preview from one shrink-on-load decode, the grid from it."""
    preview = _vips_thumbnail(data, PREVIEW, srgb).copy_memory()
    preview.webpsave_buffer(Q=QUALITY, effort=0, keep="none")
    preview.thumbnail_image(GRID, height=GRID).webpsave_buffer(Q=QUALITY, effort=4, keep="none")


def ours_job(data: bytes) -> None:
    make_renditions(data, grid_box=(GRID, GRID), preview_size=PREVIEW, image_format="webp", max_pixels=10**9)


def _vips_thumbnail(data: bytes, size: int, srgb: bool) -> pyvips.Image:
    # Colour-manage only what carries a profile or is CMYK, as ours does (an untagged image is taken as sRGB).
    options = {"output_profile": "srgb"} if srgb else {}
    return pyvips.Image.thumbnail_buffer(data, size, height=size, size="down", **options)


def needs_colour_management(data: bytes) -> bool:
    header = pyvips.Image.new_from_buffer(data, "")
    return "icc-profile-data" in header.get_fields() or header.interpretation == "cmyk"


def vips_decodes(data: bytes) -> bool:
    """Whether libvips can read the file at all: pyvips-binary's libheif has no HEVC decoder, so no HEIC."""
    try:
        pyvips.Image.thumbnail_buffer(data, 8).avg()
    except pyvips.Error:
        return False
    return True


ANALYSIS = (
    "decision: PNG and WebP are decoded by libvips (pyvips + pyvips-binary: 19 MiB installed, 18 MiB of it "
    "libraries) and handed to Pillow, JPEG stays on Pillow's draft decode, GIF and HEIC on Pillow and pillow-heif; "
    "issue 13's run before it had WebP at 2.1-2.3x libvips and 191 MiB for 12 MP, PNG at 1.33x",
    "what is left between ours and libvips on PNG and WebP is the hand-over (libvips' pixels copied into a "
    "Pillow image, ~4 MiB at 1440 px) and Pillow's WebP encoder (the same libwebp, through its animation "
    "encoder); libvips also runs two worker threads, which win a larger share of a crowded machine",
    "CMYK JPEG: libvips converts every CMYK file through lcms with its built-in CMYK profile; ours uses Pillow's "
    "plain formula when the file carries no profile, so that group is not the same work",
)

MEMORY_CASES = {  # run one per fresh process by benchmarks.peak_rss
    "libvips_renditions": vips_job,
}


def run(quick: bool) -> Report:
    rounds = 2 if quick else 5
    cases = corpus(quick)
    report = Report(
        "libvips",
        "our renditions vs libvips making the same ones (ours / libvips, same run), per format group",
        {
            "libvips": ".".join(str(pyvips.version(part)) for part in range(3)),
            "libvips_concurrency": pyvips.concurrency_get(),
            "images": len(cases),
            "real_photographs": sum(case.real for case in cases),
            "rounds": rounds,
            "output": f"WebP q{QUALITY}, sRGB, no metadata",
        },
    )
    per_case = _time(report, cases, rounds)
    _group_ratios(report, cases, per_case)
    _memory(report, [case for case in cases if not quick or case.group == "WebP"], runs=1)
    report.notes.append(
        "ours = annotation_core.image_decoding.decode_to_fit + the thumbnailer's WebP encoder; libvips = "
        "pyvips.Image.thumbnail_buffer (+ output_profile=srgb for tagged or CMYK files) + webpsave_buffer "
        "(keep=none); job = the 1440 px preview and the 256 px grid image from one decode (ours adds the "
        "~2 ms ThumbHash placeholder)"
    )
    report.notes.extend(ANALYSIS)
    report.notes.append(
        "group ratios are geometric means of each image's median paired ratio; HEIC has no libvips reference "
        "(pyvips-binary's libheif decodes AVIF only, no HEVC) and is left out of the whole-corpus ratios"
    )
    return report


def _time(report: Report, cases: list[Case], rounds: int) -> dict[str, dict[str, float]]:
    """Per image: ours and libvips at each size and as the job, interleaved; JPEGs also against 1/8 decode."""
    per_case: dict[str, dict[str, float]] = {}
    for case in cases:
        reference = vips_decodes(case.data)
        srgb = reference and needs_colour_management(case.data)
        timed = {}
        for size in SIZES:
            timed[f"ours {size}"] = partial(ours, case.data, size)
            if reference:
                timed[f"libvips {size}"] = partial(vips, case.data, size, srgb)
        timed["ours job"] = partial(ours_job, case.data)
        if reference:
            timed["libvips job"] = partial(vips_job, case.data, srgb)
        if "JPEG" in case.group and "CMYK" not in case.group:
            timed["1/8 decode"] = partial(bare_decode, case.data, 8)
        stats = measure(timed, rounds, warmup=1)
        row = {"n": len(stats["ours job"].samples_ms), "megapixels": round(case.megapixels, 2)}
        ratios = {}
        for label in LABELS:
            row[f"ours {label} ms"] = stats[f"ours {label}"].median
            if reference:
                row[f"libvips {label} ms"] = stats[f"libvips {label}"].median
                ratios[label] = ratio(stats[f"ours {label}"], stats[f"libvips {label}"])
        if "1/8 decode" in stats:
            row["1/8 decode ms"] = stats["1/8 decode"].median
            ratios["floor"] = ratio(stats[f"ours {GRID}"], stats["1/8 decode"])
        report.results[f"{case.group}: {case.name}"] = row
        per_case[case.name] = ratios
    return per_case


def _group_ratios(report: Report, cases: list[Case], per_case: dict[str, dict[str, float]]) -> None:
    """Geometric means per group and over the corpus; the issue's targets checked against them."""
    groups: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        groups[case.group].append(case.name)
    groups["whole corpus"] = [case.name for case in cases if "job" in per_case[case.name]]
    for group, names in groups.items():
        for label in LABELS:
            compared = [per_case[name][label] for name in names if label in per_case[name]]
            if compared:
                report.ratios[f"{group} {label} ours/libvips"] = _geomean(compared)
        floors = [per_case[name]["floor"] for name in names if "floor" in per_case[name]]
        if floors and group != "whole corpus":
            report.ratios[f"{group} 256 ours / 1/8 decode floor"] = _geomean(floors)
    for group, target in TARGETS.items():
        worst = max(report.ratios[f"{group} {label} ours/libvips"] for label in LABELS)
        report.checks[f"{group} ≤ {target}× libvips at every size"] = verdict(worst, target, "×")
    for label in ("512", "1440"):
        figure = report.ratios[f"whole corpus {label} ours/libvips"]
        report.checks[f"{label} px preview ≤ {PREVIEW_TARGET}× libvips (whole corpus)"] = verdict(
            figure, PREVIEW_TARGET, "×"
        )


def _memory(report: Report, cases: list[Case], runs: int) -> None:
    """Peak RSS growth of the whole job, ours and libvips', for each derived 12 MP case, in fresh processes."""
    with tempfile.TemporaryDirectory() as tmp:
        for case in cases:
            if case.real or case.large:
                continue
            path = Path(tmp) / "image"
            path.write_bytes(case.data)
            who = {"ours": "renditions"} | ({"libvips": "libvips_renditions"} if vips_decodes(case.data) else {})
            growth = {
                side: statistics.median(peak_growth_mib(name, path) for _ in range(runs)) for side, name in who.items()
            }
            report.results[f"memory: {case.name}"] = {"n": runs} | {f"{side}_peak_mib": g for side, g in growth.items()}
            if case.group == "WebP":
                report.checks[f"{case.name} ≤ {WEBP_MEMORY_TARGET_MIB} MiB above the interpreter"] = verdict(
                    growth["ours"], WEBP_MEMORY_TARGET_MIB, " MiB"
                )
    report.notes.append("memory = peak RSS growth (VmHWM) of the whole job in a fresh process per measurement")


def _geomean(values) -> float:
    values = list(values)
    return math.exp(sum(math.log(value) for value in values) / len(values))
